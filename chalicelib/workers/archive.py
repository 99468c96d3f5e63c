"""Scheduled handler: the events archiver (EventBridge, every STRATA_ARCHIVE_MINUTES)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.settings import Settings
from chalicelib.workers.standalone import with_app_middleware

bp = Blueprint(__name__)
_MINUTES = Settings.from_env().archive_minutes  # read at import: the rule is deployed with it


@bp.schedule(Rate(_MINUTES, unit=Rate.MINUTES), name="events_archiver")
def events_archiver(event: Any) -> dict[str, object]:
    return bootstrap.event_archiver().run().to_dict()


with_app_middleware(events_archiver)

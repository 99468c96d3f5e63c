"""Scheduled handler: the refresh sweep (EventBridge, every STRATA_SWEEP_MINUTES)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.settings import Settings
from chalicelib.workers.sqs_batch import remaining_millis
from chalicelib.workers.standalone import with_app_middleware

bp = Blueprint(__name__)
_MINUTES = Settings.from_env().sweep_minutes  # read at import: the rule is deployed with it


@bp.schedule(Rate(_MINUTES, unit=Rate.MINUTES), name="refresh_sweep")
def refresh_sweep(event: Any) -> dict[str, object]:
    return bootstrap.sweeper().run(remaining_millis(event.context)).to_dict()


with_app_middleware(refresh_sweep)

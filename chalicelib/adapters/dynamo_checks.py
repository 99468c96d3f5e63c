"""DynamoCheckStore: check runs on `{prefix}-checks` (key repository_id + check_id).

AWS: table `{prefix}-checks` (TTL on `expires_at`). IAM: dynamodb:PutItem, dynamodb:GetItem,
dynamodb:UpdateItem, dynamodb:Query.

Every transition is one conditional write: start only from `queued`, finish only from
`queued` or `running`; complete_batch adds the batch to `done_batches` and its counters only
if the set did not hold it and the check is running, so a redelivered batch counts once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import CheckItem, Models
from chalicelib.domain.checks import COUNTERS, UNFINISHED, Check, CheckStatus, validate_level
from chalicelib.errors import AlreadyExists

CHECK_TTL_SECONDS = 30 * 24 * 3600  # the bucket's lifecycle keeps reports as long (infra/)


def _check(item: CheckItem) -> Check:
    paths = tuple(json.loads(item.paths)) if item.paths else ()
    stats = json.loads(item.stats) if item.stats else {}
    return Check(
        repository_id=item.repository_id,
        check_id=item.check_id,
        sha=item.sha,
        level=validate_level(item.level),
        paths=paths,
        status=CheckStatus(item.status),
        created_at=float(item.created_at),
        updated_at=float(item.updated_at),
        message=item.message,
        total_batches=int(item.total_batches or 0),
        outstanding=int(item.outstanding or 0),
        counts={name: int(getattr(item, name) or 0) for name in COUNTERS},
        stats=stats,
        actor=item.actor,
    )


class DynamoCheckStore:
    def __init__(self, models: Models) -> None:
        self._model = models.checks

    def create(self, check: Check) -> None:
        item = self._model(
            check.repository_id,
            check.check_id,
            sha=check.sha,
            level=check.level,
            paths=json.dumps(list(check.paths)) if check.paths else None,
            status=check.status.value,
            created_at=check.created_at,
            updated_at=check.updated_at or check.created_at,
            actor=check.actor,
            expires_at=int(check.created_at + CHECK_TTL_SECONDS),
        )
        try:
            item.save(condition=self._model.check_id.does_not_exist())
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                raise AlreadyExists(f"check {check.check_id} exists already") from exc
            raise translate(exc, f"create check {check.check_id}") from exc

    def get(self, repository_id: str, check_id: str) -> Check | None:
        with translated(f"get check {check_id}"):
            try:
                return _check(self._model.get(repository_id, check_id, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def recent(self, repository_id: str, limit: int) -> list[Check]:
        with translated(f"list checks of {repository_id}"):
            items = self._model.query(
                repository_id, scan_index_forward=False, limit=limit, consistent_read=True
            )
            return [_check(i) for i in items][:limit]

    def start(
        self,
        repository_id: str,
        check_id: str,
        *,
        total_batches: int,
        stats: Mapping[str, object],
        now: float,
    ) -> bool:
        m = self._model
        actions: list[Action] = [
            m.status.set(CheckStatus.RUNNING.value),
            m.total_batches.set(total_batches),
            m.outstanding.set(total_batches),
            m.stats.set(json.dumps(dict(stats), separators=(",", ":"))),
            m.updated_at.set(now),
        ]
        condition = m.status == CheckStatus.QUEUED.value
        return self._update(repository_id, check_id, actions, condition) is not None

    def complete_batch(
        self,
        repository_id: str,
        check_id: str,
        batch: int,
        *,
        counts: Mapping[str, int],
        now: float,
    ) -> int | None:
        m = self._model
        actions: list[Action] = [
            m.done_batches.add({batch}),
            m.outstanding.add(-1),
            m.updated_at.set(now),
        ]
        actions += [getattr(m, name).add(int(counts.get(name, 0))) for name in COUNTERS]
        first_time = (m.status == CheckStatus.RUNNING.value) & ~m.done_batches.contains(batch)
        item = self._update(repository_id, check_id, actions, first_time)
        return None if item is None else int(item.outstanding)

    def finish(
        self,
        repository_id: str,
        check_id: str,
        status: CheckStatus,
        *,
        message: str | None,
        now: float,
    ) -> bool:
        m = self._model
        actions: list[Action] = [m.status.set(status.value), m.updated_at.set(now)]
        actions.append(m.message.set(message) if message else m.message.remove())
        condition = m.status.is_in(*(s.value for s in UNFINISHED))
        return self._update(repository_id, check_id, actions, condition) is not None

    def _update(
        self, repository_id: str, check_id: str, actions: list[Action], condition: Condition
    ) -> CheckItem | None:
        """The updated item, or None when `condition` did not hold (or there is no item)."""
        item = self._model(repository_id, check_id)
        try:
            item.update(actions=actions, condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return None
            raise translate(exc, f"update check {check_id}") from exc
        return item

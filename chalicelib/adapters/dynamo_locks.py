"""DynamoLockManager: lease locks with a monotonic fence on the `{prefix}-locks` table.

AWS: table `{prefix}-locks`. IAM: dynamodb:UpdateItem, dynamodb:GetItem.

A lock item is never deleted, so its `fence` never resets. `owner` absent means released.
Acquire is a conditional UpdateItem in at most two attempts, because DynamoDB cannot make an
ADD depend on the old value:
1. take over (`owner` absent, or another owner's lease expired): SET owner, lease_until,
   ADD fence 1;
2. otherwise extend when the lock is already ours (even if our lease lapsed, as long as no one
   took it): SET lease_until, fence unchanged.
When neither condition holds, another owner's lease is live: LeaseHeld.
"""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import LockItem, Models
from chalicelib.domain.models import Lease
from chalicelib.errors import LeaseHeld, LeaseLost


def held_by(model: type[LockItem], lease: Lease, now: float | None = None) -> Condition:
    """The lock item still names `lease`'s owner and fence (and is unexpired at `now`)."""
    condition: Condition = (model.owner == lease.owner) & (model.fence == lease.fence)
    if now is not None:
        condition &= model.lease_until >= now
    return condition


def lease_of(item: LockItem) -> Lease:
    return Lease(
        lock_id=item.lock_id,
        owner=item.owner or "",
        fence=int(item.fence or 0),
        lease_until=float(item.lease_until or 0),
    )


class DynamoLockManager:
    """LockManager over pynamodb. `get()` returns a Lease with owner "" for a released lock."""

    def __init__(self, models: Models) -> None:
        self._model = models.locks

    def acquire(self, lock_id: str, owner: str, ttl_seconds: float, now: float) -> Lease:
        m = self._model
        until = now + ttl_seconds
        vacant = m.owner.does_not_exist() | ((m.lease_until < now) & (m.owner != owner))
        taken = self._try_update(
            lock_id, [m.owner.set(owner), m.lease_until.set(until), m.fence.add(1)], vacant
        )
        if taken is None:
            taken = self._try_update(lock_id, [m.lease_until.set(until)], m.owner == owner)
        if taken is None:
            raise LeaseHeld(f"lock {lock_id} is held by another owner")
        return lease_of(taken)

    def heartbeat(self, lease: Lease, ttl_seconds: float, now: float) -> Lease:
        m = self._model
        item = self._try_update(
            lease.lock_id, [m.lease_until.set(now + ttl_seconds)], held_by(m, lease)
        )
        if item is None:
            raise LeaseLost(
                f"lock {lease.lock_id}: lease of {lease.owner} (fence {lease.fence}) was taken over"
            )
        return lease_of(item)

    def release(self, lease: Lease) -> None:
        m = self._model
        # A lost lease belongs to someone else now: leave it alone.
        self._try_update(lease.lock_id, [m.owner.remove(), m.lease_until.set(0)], held_by(m, lease))

    def get(self, lock_id: str) -> Lease | None:
        with translated(f"get lock {lock_id}"):
            try:
                return lease_of(self._model.get(lock_id, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def _try_update(
        self, lock_id: str, actions: list[Action], condition: Condition
    ) -> LockItem | None:
        """The updated item, or None when `condition` did not hold."""
        item = self._model(lock_id)
        try:
            item.update(actions=actions, condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return None
            raise translate(exc, f"update lock {lock_id}") from exc
        return item

"""What the local stack acknowledged is on disk first.

Two acknowledgements reach a caller, and each waits for a commit (store.py) before it goes:
- an API request with a state-changing method (POST, PUT, PATCH, DELETE) answered 2xx: the
  HTTP front calls `before_reply`, which persists; a failed commit turns the reply into 503;
- an SQS message that the pump deletes after its handler succeeded: the pump persists between
  the handler and `delete_message_batch`; a failed commit leaves the messages to be
  redelivered. A message deleted after a commit may come back once after a crash (the delete
  itself is made durable by the next commit): at-least-once, as SQS promises anyway.

`persist()` waits for a commit covering every state-changing request the embedded AWS admitted
before the call (the write gate counts them), not only the caller's own: whatever the caller
read and passes on is durable too. When nothing changed since the last commit it returns at
once. (Every API request records its key's use and rate bucket in DynamoDB, so in practice
each 2xx POST, /search included, waits for one commit, shared with concurrent ones.)

Group commit: one commit at a time, run by the first caller that finds none running; callers
that arrive meanwhile share the next one, so concurrent acknowledgements share one capture and
one set of fsyncs. A thread also commits every `interval` seconds, the backstop for what
nobody acknowledges (scheduled sweeps, messages moved to a DLQ); a commit that finds nothing
changed writes nothing.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.local.embedded import EmbeddedAws
from chalicelib.local.gate import WriteGate
from chalicelib.local.snapshot import (
    Capturer,
    Resources,
    SnapshotInfo,
    legacy_snapshot,
    moto_state,
    remove_legacy,
    restore,
    restore_legacy,
)
from chalicelib.local.store import CommitStats, StateStore

log = logging.getLogger(__name__)

STORE_DIR = "aws"  # under the state dir, beside git-cache/
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PersistFailed(Exception):
    """The state could not be made durable; nothing that depends on it may be acknowledged."""


@dataclass
class CommitLog:
    """Figures of the commits so far (for benchmarks and the stop message)."""

    commits: int = 0
    unchanged: int = 0  # captures that found nothing to write
    failures: int = 0
    written_bytes: int = 0
    fsyncs: int = 0
    compactions: int = 0
    seconds: list[float] = field(default_factory=list)  # capture + write, per commit

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.seconds) or [0.0]
        return {
            "commits": self.commits,
            "unchanged_captures": self.unchanged,
            "failures": self.failures,
            "written_mb": round(self.written_bytes / 2**20, 2),
            "fsyncs": self.fsyncs,
            "compactions": self.compactions,
            "commit_p50_ms": round(statistics.median(ordered) * 1000, 2),
            "commit_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "commit_total_s": round(sum(self.seconds), 3),
        }


class GroupCommit:
    """Commits for whoever asks, one commit at a time, and every `interval` seconds.

    A caller that finds no commit running runs one itself (no thread hand-off on the way to
    the disk: with the GIL each costs up to a switch interval); callers that arrive while
    one runs wait for it, and if it did not cover them (its capture began before their
    changes), the first of them runs the next, covering all of them at once.

    `commit()` makes the state durable and returns the mutation count its capture covered;
    `mutations()` is the count now."""

    def __init__(
        self,
        commit: Callable[[], int],
        mutations: Callable[[], int],
        interval: float,
        durable: int = 0,
    ) -> None:
        self._commit = commit
        self._mutations = mutations
        self._interval = interval
        self._cond = threading.Condition()
        self._durable = durable  # mutations covered by the last successful commit
        self._running = False  # a commit is under way
        self._stop = False
        self.waits = 0  # persist() calls that had to wait for a commit
        self._thread = threading.Thread(target=self._run, name="strata-persist", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def persist(self) -> None:
        """Return once everything admitted so far is on disk; PersistFailed if it cannot be."""
        target = self._mutations()
        with self._cond:
            if self._durable >= target:
                return
            self.waits += 1
            while self._running:
                self._cond.wait()
                if self._durable >= target:
                    return
            if self._stop:
                raise PersistFailed("the local stack is stopping")
            self._running = True
        if not self._commit_once():
            raise PersistFailed("the local stack could not save its state")

    def _commit_once(self) -> bool:
        """Run one commit (the caller set _running); whether it succeeded."""
        try:
            covered = self._commit()
        except Exception:
            log.exception("could not save the local stack's state")
            return False
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()
        with self._cond:
            self._durable = max(self._durable, covered)
        return True

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        """The backstop: a commit every `interval` seconds unless one is running."""
        while True:
            with self._cond:
                if self._cond.wait_for(lambda: self._stop, self._interval) or self._running:
                    if self._stop:
                        return
                    continue
                self._running = True
            self._commit_once()


class DurableState:
    """The state of one running stack on disk: restored on start, committed while it runs
    (when durable), committed once more on a clean stop."""

    def __init__(
        self,
        aws: EmbeddedAws,
        state_dir: Path,
        names: Resources,
        gate: WriteGate | None,
        *,
        interval: float = 5.0,
        compact_min_bytes: int | None = None,
    ) -> None:
        kwargs = {} if compact_min_bytes is None else {"compact_min_bytes": compact_min_bytes}
        self.store = StateStore(state_dir / STORE_DIR, **kwargs)
        self.capturer = Capturer(moto_state(aws), names)
        # Without durability nothing runs beside the final commit: a private gate suffices.
        self.gate = gate if gate is not None else WriteGate()
        self.log = CommitLog()
        self._aws = aws
        self._state_dir = state_dir
        self._names = names
        self._durable = gate is not None
        self._interval = interval
        self._legacy = False
        self._group: GroupCommit | None = None
        self._one_commit = threading.Lock()  # the group thread's and the final one

    def restore(self) -> SnapshotInfo | None:
        info = restore(self._aws, self.store, self._names)
        if info is not None:
            self.capturer.mark_current(self.store.object_names())
            return info
        legacy = legacy_snapshot(self._state_dir)
        if legacy is None:
            return None
        self._legacy = True
        return restore_legacy(self._aws, legacy, self._names)

    def start(self) -> None:
        """Commit what the start made (keys, secrets, a restored older layout), then keep
        committing; nothing to do without durability."""
        if not self._durable:
            return
        covered = self.commit()
        self._group = GroupCommit(self.commit, lambda: self.gate.mutations, self._interval, covered)
        self._group.start()

    def persist(self) -> None:
        if self._group is not None:
            self._group.persist()

    def before_reply(self, method: str, status: int) -> None:
        """The HTTP front's hook: a 2xx answer to a state-changing method waits for disk."""
        if method in MUTATING_METHODS and 200 <= status < 300:
            self.persist()

    def commit(self) -> int:
        """Capture and commit now; the mutation count the capture covered."""
        with self._one_commit:
            started = time.perf_counter()
            capture = self.capturer.capture(self.gate)
            try:
                stats = self.store.commit(capture.changes)
            except Exception:
                self.log.failures += 1
                self.capturer.uncommitted(capture)
                raise
            self.capturer.committed(capture)
            self._count(stats, time.perf_counter() - started)
            if self._legacy:
                remove_legacy(self._state_dir)
                self._legacy = False
            return capture.covers

    def _count(self, stats: CommitStats | None, seconds: float) -> None:
        if stats is None:
            self.log.unchanged += 1
            return
        self.log.commits += 1
        self.log.written_bytes += stats.written_bytes
        self.log.fsyncs += stats.fsyncs
        self.log.compactions += int(stats.compacted)
        self.log.seconds.append(seconds)

    def close(self, final: bool) -> SnapshotInfo | None:
        """Stop committing in the background; with `final`, commit once more (the clean-stop
        save). Idempotent."""
        if self._group is not None:
            self._group.close()  # later persist() calls fail: nothing commits any more
        if not final:
            return None
        started = time.perf_counter()
        self.commit()
        return self.info(time.perf_counter() - started)

    def figures(self) -> dict[str, float | int]:
        waits = self._group.waits if self._group is not None else 0
        return {**self.log.summary(), "persist_waits": waits}

    def info(self, seconds: float = 0.0) -> SnapshotInfo:
        small = self.store.small or {}
        return SnapshotInfo(
            path=self.store.directory,
            objects=self.store.object_count,
            object_bytes=self.store.object_bytes,
            items=sum(len(rows) for rows in small.get("tables", {}).values()),
            messages=sum(len(bodies) for bodies in small.get("queues", {}).values()),
            seconds=round(seconds, 3),
        )

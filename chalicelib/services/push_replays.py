"""Is a push behind what the index already follows? (a replayed or late delivery)

A push's signature covers its body but not `X-GitHub-Delivery`, so a captured push can be
sent again under a new delivery id, and GitHub itself delivers out of order. Such a push
names an `after` that the branch has left: indexing it would roll the index back and report
it `ready` and fresh. So a push is accepted as it stands only when its `after` is the newest
SHA the repository item knows (requested, else indexed: a no-op), or when it continues from
that SHA: `before` is it and the push is not forced (a push that is not forced moves its
branch forward from `before`), and the git cache does not show `after` behind it.

Anything else is suspect, and only then is the remote asked (one ls-remote through the
engine, so through the egress proxy): the push is stale unless the branch head really is
`after`, as after a force push back to an older commit, which is accepted. Suspect are a
force push (or its replay); `after` equal to the indexed SHA while a newer one is requested;
`after` an ancestor of, or diverged from, what the index follows, when the git cache can tell
(`is_ancestor`); and a push that does not continue from the newest SHA (a replay, a late
delivery, or a push after one we never received).

`is_ancestor` answers None (unknown) when the commits are not in this process's git cache,
which is the usual case in AWS: the webhook runs in the API function, which never fetches.
Unknown only ever adds nothing: it never accepts a push by itself (that would let every
replay in where the cache is cold); the decision then rests on what the signed payload says
(`before`, `forced`), and on the remote when that is not enough.

A branch deletion is checked against the remote every time (one ls-remote): it is acted on
only when the branch is really gone, so a replayed deletion cannot drop a live index.

Not covered: the replay of an ordinary push whose `before` is the branch head again (after a
force push back to that very commit) moves the index forward to a commit the branch left;
the sweep puts it back at the head within `sweep_minutes`.
"""

from __future__ import annotations

import logging

from chalicelib.domain.models import Repository
from chalicelib.domain.webhooks import Push
from chalicelib.errors import BranchNotFound
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.credentials import repository_credentials

log = logging.getLogger(__name__)


class PushReplays:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def is_stale(self, repo: Repository, push: Push) -> bool:
        """True when the push must be ignored: it would move the index back."""
        newest = repo.requested_sha or repo.indexed_sha
        if newest is None or push.after == newest or not self._suspect(repo, push, newest):
            return False
        head = self._remote_head(repo)
        if head == push.after:
            return False  # the remote is at `after`: a force push back, or a missed push
        log.info("stale push to %s: after %s, branch head %s", repo.id, push.after, head)
        return True

    def deletion_is_stale(self, repo: Repository) -> bool:
        """A branch deletion is acted on only when the remote really lacks the branch: a
        replayed deletion must not mark a live branch deleted (or drop its index)."""
        head = self._remote_head(repo)
        if head is not None:
            log.info("stale deletion of %s's branch: it is at %s", repo.id, head)
        return head is not None

    def _suspect(self, repo: Repository, push: Push, newest: str) -> bool:
        """True when `after` may lie behind what the index follows: only the remote can say."""
        if push.forced:  # a force push back, or the replay of one
            return True
        known = list(dict.fromkeys(sha for sha in (newest, repo.indexed_sha) if sha))
        if push.after in known:  # the indexed SHA while a newer one is requested
            return True
        git = self._p.git
        for head in known:  # what the cache can tell only ever adds suspicion
            behind = git.is_ancestor(repo.remote, push.after, head)
            if behind is True:
                return True  # it moves back
            if behind is False and git.is_ancestor(repo.remote, head, push.after) is False:
                return True  # it diverged: a history rewritten
        return push.before != newest  # does it continue from the newest SHA?

    def _remote_head(self, repo: Repository) -> str | None:
        credentials = repository_credentials(self._p, self._c, repo)
        try:
            _, head = self._p.git.resolve_head(repo.remote, repo.branch, credentials)
        except BranchNotFound:
            return None  # the branch is gone: it is not at `after`
        return head

"""What a client sees of each use case's result: domain objects turned into the wire shapes
of api/models.py (camelCase keys; `reply` validates them against the route's model)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from pydantic.alias_generators import to_camel

from chalicelib.domain.checks import Check, public_stats
from chalicelib.domain.commit_outcomes import CommitOutcome, CommitResult
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.events import Event
from chalicelib.domain.freshness import Freshness, lag_seconds
from chalicelib.domain.graph import Node
from chalicelib.domain.identity import ApiKey
from chalicelib.domain.models import Repository, Stats, Status
from chalicelib.services.chat import ChatAnswer
from chalicelib.services.check_reports import CheckedAt
from chalicelib.services.check_requests import CheckResult
from chalicelib.services.events import EventsPage
from chalicelib.services.graph_queries import BuildWaves, Incomplete, Neighbourhood, SymbolMatches
from chalicelib.services.index_requests import IndexOutcome
from chalicelib.services.keys import CreatedKey
from chalicelib.services.retriever import Passage
from chalicelib.services.search import SearchResult
from chalicelib.services.webhooks import WebhookOutcome

Json = dict[str, Any]
CHECK_COUNTS = (
    "files",
    "units",
    "reused",
    "tool_runs",
    "errors",
    "warnings",
    "undecided",
    "unchecked",
    "batches",
)


def iso_time(ts: float | None, timespec: str = "auto") -> str | None:
    """ISO 8601 in UTC with a `Z`; None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def freshness(f: Freshness) -> Json:
    return {
        "indexedSha": f.indexed_sha,
        "headSha": f.head_sha,
        "stale": f.stale,
        "lagSeconds": f.lag_seconds,
    }


def hit(repository_id: str, p: Passage) -> Json:
    return {
        "repositoryId": repository_id,
        "path": p.path,
        "lines": [p.start_line, p.end_line],
        "score": round(p.score, 4),
        "snippet": p.snippet,
        "language": p.language,
        **p.extra,
    }


def search_result(r: SearchResult) -> Json:
    """One repository: its freshness at the top level. Several: `repositories` that
    answered, with theirs, and `unavailable` ones."""
    q = r.query
    hits = [hit(f.repository_id, f.passage) for f in r.hits]
    if q.single:
        rid = q.repository_ids[0]
        head = {"repositoryId": rid, "query": q.query, "mode": q.mode, "hits": hits}
        return {**head, **freshness(r.answered[rid]), "semantic": r.semantic}
    scope: Json = {"owner": q.owner} if q.owner else {"repositoryIds": list(r.scope)}
    return {
        **scope,
        "query": q.query,
        "mode": q.mode,
        "hits": hits,
        "repositories": [{"repositoryId": k, **freshness(v)} for k, v in r.answered.items()],
        "unavailable": [
            {"repositoryId": u.repository_id, "status": u.status, "message": u.message}
            for u in r.unavailable
        ],
        "semantic": r.semantic,
    }


def chat_answer(a: ChatAnswer) -> Json:
    return {
        "response": a.text,
        "conversationId": a.conversation_id,
        "sources": [{"path": s.path, "lines": [s.start_line, s.end_line]} for s in a.sources],
        "answerer": a.answerer,
        "model": a.model,
        "droppedCitations": a.dropped_citations,
        "fallback": a.fallback,
        **freshness(a.freshness),
    }


def index_outcome(outcome: IndexOutcome) -> Json:
    repo = outcome.repository
    return {
        "repositoryId": repo.id,
        "status": outcome.status.value,
        "message": outcome.message,
        "indexedAt": iso_time(repo.indexed_at),
        "stats": repo.stats.to_public(),
    }


def repository_status(repo: Repository, now: float) -> Json:
    """What a client may see of the item: no remote, token, keys or job internals."""
    stats = repo.stats if repo.status is not Status.IDLE else Stats()
    return {
        "repositoryId": repo.id,
        "status": repo.status.value,
        "branch": repo.branch,
        "indexedAt": iso_time(repo.indexed_at),
        "indexedSha": repo.indexed_sha,
        "headSha": repo.head_sha,
        "lagSeconds": lag_seconds(repo, now),
        "stats": stats.to_public(),
        "progress": {
            "filesProcessed": repo.files_processed,
            "numFiles": repo.num_files,
            "filesEmbedded": repo.files_embedded,
        },
        "error": repo.error,
        "vectors": repo.vectors.value,
    }


def node(n: Node, **extra: object) -> Json:
    return {
        "name": n.name,
        "kind": n.kind,
        "path": n.path,
        "lines": [n.start_line, n.end_line],
        **extra,
    }


def symbol_matches(r: SymbolMatches) -> Json:
    found = [node(n, score=score) for score, n in r.matches]
    return {"repositoryId": r.repository_id, "symbols": found, **freshness(r.freshness)}


def _checked(n: Node, statuses: Mapping[int, str]) -> Json:
    """A Lean declaration's checked status, for nodes that have one."""
    return {"checked": statuses[n.id]} if n.id in statuses else {}


def check_ref(checked: CheckedAt | None) -> Json | None:
    if checked is None:
        return None
    c = checked.check
    return {"checkId": c.check_id, "level": c.level, "sha": c.sha, "status": c.status.value}


def neighbourhood(r: Neighbourhood) -> Json:
    s = r.statuses
    return {
        "repositoryId": r.repository_id,
        "node": node(r.node, external=r.external, **_checked(r.node, s)),
        "direction": r.direction,
        "depth": r.depth,
        "nodes": [node(n, distance=d, **_checked(n, s)) for n, d in r.nodes],
        **freshness(r.freshness),
        "check": check_ref(r.checked),
    }


def build_waves(r: BuildWaves) -> Json:
    waves = [
        {
            "level": w.level,
            "nodes": [node(n) for n in w.nodes],
            "cycles": [[node(n) for n in c] for c in w.cycles],
        }
        for w in r.waves
    ]
    return {"repositoryId": r.repository_id, "waves": waves, **freshness(r.freshness)}


def incomplete(r: Incomplete) -> Json:
    s = r.statuses
    return {
        "repositoryId": r.repository_id,
        "incomplete": [node(n, **_checked(n, s)) for n in r.incomplete],
        "blocked": [node(n, **_checked(n, s)) for n in r.blocked],
        "errors": [node(n, **_checked(n, s)) for n in r.errors],
        **freshness(r.freshness),
        "check": check_ref(r.checked),
    }


def _diagnostic(d: Diagnostic) -> Json:
    return {
        "path": d.path,
        "line": d.line,
        "column": d.column,
        "endLine": d.end_line,
        "endColumn": d.end_column,
        "severity": d.severity,
        "message": d.message,
        "tool": d.tool,
    }


def check_accepted(c: Check) -> Json:
    return {
        "checkId": c.check_id,
        "repositoryId": c.repository_id,
        "status": c.status.value,
        "sha": c.sha,
        "level": c.level,
    }


def check_summary(c: Check) -> Json:
    stats = public_stats(c)
    counts = {k: int(v) for k, v in stats.items() if isinstance(v, int)}
    return {
        **check_accepted(c),
        "paths": list(c.paths),
        "createdAt": iso_time(c.created_at, "milliseconds"),
        "updatedAt": iso_time(c.updated_at, "milliseconds"),
        "message": c.message,
        "stats": {
            **{to_camel(k): counts.get(k, 0) for k in CHECK_COUNTS},
            "skipped": dict(_counts(stats.get("skipped"))),
            "unsupported": dict(_counts(stats.get("unsupported"))),
        },
    }


def _counts(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


def check_view(r: CheckResult) -> Json:
    report = r.report
    return {
        **check_summary(r.check),
        "diagnostics": [_diagnostic(d) for d in report.diagnostics] if report else [],
        "truncated": bool(report and report.truncated),
    }


def check_list(repository_id: str, checks: list[Check]) -> Json:
    return {"repositoryId": repository_id, "checks": [check_summary(c) for c in checks]}


def commit_outcome(o: CommitOutcome) -> tuple[int, Json]:
    """(status, body) of a commit's answer: 200 committed, 409 branch moved, 422 check failed."""
    if o.result is CommitResult.COMMITTED:
        return 200, {
            "repositoryId": o.repository_id,
            "branch": o.branch,
            "baseSha": o.base_sha,
            "sha": o.sha,
            "indexStatus": o.index_status,
            "checkId": o.check_id,
            "message": o.message,
        }
    error = {"code": o.result.value, "message": o.message}
    if o.result is CommitResult.BRANCH_MOVED:
        return 409, {"error": error, "currentSha": o.current_sha}
    diagnostics = [_diagnostic(d) for d in o.diagnostics]
    return 422, {"error": error, "diagnostics": diagnostics, "truncated": o.truncated}


def event(e: Event) -> Json:
    at = iso_time(e.at, "milliseconds")
    return {"id": e.key, "type": e.type, "at": at, "actor": e.actor, "data": dict(e.data)}


def events_page(page: EventsPage) -> Json:
    return {
        "repositoryId": page.repository_id,
        "events": [event(e) for e in page.events],
        "nextCursor": page.next_cursor,
    }


def key(k: ApiKey) -> Json:
    """What a client may see of a key: everything but the digest (and the secret, never kept)."""
    return {
        "keyId": k.key_id,
        "tenant": k.tenant,
        "scope": k.scope.label,
        "name": k.name,
        "createdAt": iso_time(k.created_at, "seconds"),
        "createdBy": k.created_by,
        "revokedAt": iso_time(k.revoked_at, "seconds"),
        "revokedBy": k.revoked_by,
        "lastUsedAt": iso_time(k.last_used_at, "seconds"),
    }


def created_key(c: CreatedKey) -> Json:
    return {**key(c.key), "key": c.token}


def webhook_outcome(o: WebhookOutcome) -> Json:
    """The fields that say something about this delivery (None ones are left out)."""
    given = ((f.name, getattr(o, f.name)) for f in fields(o))
    return {to_camel(name): value for name, value in given if value is not None}

"""What the CLI prints for humans: status, stats, search hits, answers, and index progress."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

_BAR = 30


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def counts(mapping: Mapping[str, int]) -> str:
    ranked = sorted(mapping.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in ranked) or "none"


def stats_lines(stats: Mapping[str, Any]) -> list[str]:
    lines = [
        f"  {stats.get('totalFiles', 0)} files, {size(stats.get('totalSize', 0))}, "
        f"{stats.get('chunks', 0)} chunks "
        f"(parsed {stats.get('blobsParsed', 0)}, reused {stats.get('blobsReused', 0)})",
        f"  languages: {counts(stats.get('languages') or {})}",
    ]
    if stats.get("embeddingModel"):
        lines.append(
            f"  vectors: {stats['embeddingModel']}, {stats.get('chunksEmbedded', 0)} chunks "
            f"embedded, {stats.get('vectorsReused', 0)} reused"
        )
    if stats.get("skipped"):
        lines.append(f"  skipped: {counts(stats['skipped'])}")
    return lines


def _short(sha: object) -> str:
    return str(sha)[:12] if sha else "-"


def indexing_phase(progress: Mapping[str, Any]) -> str | None:
    """What the files are being: parsed, then embedded; then finalizing; None while planning."""
    total = progress.get("numFiles") or 0
    if not total:
        return None
    if (progress.get("filesProcessed") or 0) < total:
        return "parsed"
    embedded = progress.get("filesEmbedded")
    if embedded is not None and embedded < total:
        return "embedded"
    return "finalizing"


def progress_text(progress: Mapping[str, Any]) -> str:
    phase = indexing_phase(progress)
    if phase is None:
        return "planning"
    parsed = f"{progress.get('filesProcessed', 0)}/{progress['numFiles']} files parsed"
    embedded = progress.get("filesEmbedded")
    return parsed if embedded is None else f"{parsed}, {embedded} embedded"


def status_text(status: Mapping[str, Any]) -> str:
    lines = [f"{status.get('repositoryId')}: {status.get('status')}"]
    if status.get("branch"):
        lines.append(
            f"  branch {status['branch']}, indexed {_short(status.get('indexedSha'))}"
            f" at {status.get('indexedAt') or '-'} (head {_short(status.get('headSha'))})"
        )
    if status.get("status") == "indexing":
        lines.append(f"  progress: {progress_text(status.get('progress') or {})}")
    if status.get("indexedSha"):
        lines.extend(stats_lines(status.get("stats") or {}))
    if status.get("error"):
        lines.append(f"  error: {status['error']}")
    return "\n".join(lines)


def hits_text(reply: Mapping[str, Any]) -> str:
    hits = reply.get("hits") or []
    if not hits:
        return f"no matches for {reply.get('query')!r}"
    blocks = []
    for hit in hits:
        start, end = hit["lines"]
        head = f"{hit['path']}:{start}-{end}  (score {hit.get('score')})"
        snippet = "\n".join("    " + line for line in str(hit.get("snippet", "")).splitlines())
        blocks.append(f"{head}\n{snippet}" if snippet else head)
    return "\n\n".join(blocks)


def answer_text(reply: Mapping[str, Any]) -> str:
    lines = [str(reply.get("response", "")).rstrip(), ""]
    sources = reply.get("sources") or []
    lines.append("Sources:" if sources else "Sources: none")
    lines.extend(f"  {s['path']}:{s['lines'][0]}-{s['lines'][1]}" for s in sources)
    notes = []
    if reply.get("model"):
        notes.append(f"answered by {reply.get('answerer')} (model {reply['model']})")
    if reply.get("fallback"):
        notes.append(f"the model's reply was {reply['fallback']}: extractive answer instead")
    if reply.get("droppedCitations"):
        notes.append(f"{reply['droppedCitations']} citation(s) dropped: they did not verify")
    if notes:
        lines.append("(" + "; ".join(notes) + ")")
    if reply.get("conversationId"):
        lines.append(f"\n(follow up with --conversation {reply['conversationId']})")
    return "\n".join(lines)


class Progress:
    """Index progress from the status endpoint: one updating line on a terminal, plain
    lines (at most one every `every` seconds, and on each change of state) otherwise."""

    def __init__(self, out: TextIO, tty: bool, every: float = 2.0) -> None:
        self._out = out
        self._tty = tty
        self._every = every
        self._last: tuple[str, float] = ("", 0.0)

    def update(self, status: Mapping[str, Any], *, final: bool = False) -> None:
        line = self._line(status)
        if self._tty:
            self._out.write("\r" + line.ljust(_BAR + 40)[: _BAR + 40] + ("\n" if final else ""))
            self._out.flush()
            return
        previous, at = self._last
        now = time.monotonic()
        if line != previous and (final or not previous or now - at >= self._every):
            self._out.write(line + "\n")
            self._out.flush()
            self._last = (line, now)

    @staticmethod
    def _line(status: Mapping[str, Any]) -> str:
        progress = status.get("progress") or {}
        state = str(status.get("status"))
        total = int(progress.get("numFiles") or 0)
        if state != "indexing":
            return f"{state}: {_bar(total, total)} {total}/{total} files" if total else state
        phase = indexing_phase(progress)
        if phase is None or phase == "finalizing":
            return f"indexing: {phase or 'planning'}..."
        done = int(progress.get("filesEmbedded" if phase == "embedded" else "filesProcessed") or 0)
        return f"indexing: {_bar(done, total)} {done}/{total} files {phase}"


def _bar(done: int, total: int) -> str:
    filled = min(_BAR, int(_BAR * done / total))
    return f"[{'#' * filled}{'.' * (_BAR - filled)}]"


def diagnostic_lines(diagnostics: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each diagnostic as `path:line:column: severity: message [tool]`."""
    return [
        f"{d['path']}:{d['line']}:{d['column']}: {d['severity']}: {d['message']} [{d['tool']}]"
        for d in diagnostics
    ]


def commit_text(commit: Mapping[str, Any]) -> str:
    """A commit that landed: its SHA and branch, what the index does, its build check."""
    line = (
        f"committed {_short(commit.get('sha'))} on {commit.get('branch')} "
        f"(index: {commit.get('indexStatus')})"
    )
    if commit.get("checkId"):
        line += f"\n  build check {commit['checkId']} queued"
    return line


def check_text(check: Mapping[str, Any]) -> str:
    """A finished check: its diagnostics as `path:line:column: severity: message [tool]`,
    then one line with the outcome and the counts."""
    lines = diagnostic_lines(check.get("diagnostics") or [])
    if check.get("truncated"):
        lines.append("(more diagnostics were found than are listed)")
    s = check.get("stats") or {}
    summary = (
        f"{check.get('status')}: {check.get('level')} check of {_short(check.get('sha'))}, "
        f"{s.get('files', 0)} files, {s.get('errors', 0)} errors, {s.get('warnings', 0)} "
        f"warnings ({s.get('units', 0)} results, {s.get('reused', 0)} reused)"
    )
    if check.get("message"):
        summary += f"\n  {check['message']}"
    return "\n".join([*lines, summary])

"""What the MCP tools answer: the API's answers reshaped for a model and an editor, every
place in code as a `Location` (path from the repository root, first and last line, 1-based;
`uri` too when the repository is a directory this server indexed) that a client can open."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from chalicelib.api.models import (
    ChatResponse,
    CheckLevelName,
    CheckState,
    CheckView,
    DiagnosticView,
    GraphNode,
    RepositoryStatus,
    SearchHit,
    StatusResponse,
    Unavailable,
    VectorsState,
    WireModel,
)


class Location(WireModel):
    repository_id: str | None = None
    path: str = Field(description="from the repository root")
    line: int = Field(description="first line, 1-based")
    end_line: int = Field(description="last line, inclusive")
    location: str = Field(description="path:line-endLine, as editors and terminals link it")
    uri: str | None = Field(default=None, description="file URI, for a local repository")


class CodeHit(Location):
    score: float
    language: str
    snippet: str
    symbol: str | None = None
    kind: str | None = None


class SymbolLocation(Location):
    name: str
    kind: str
    score: float | None = None
    distance: int | None = Field(default=None, description="hops from the asked node")


class SearchResult(WireModel):
    query: str
    mode: str
    hits: list[CodeHit]
    unavailable: list[Unavailable] = Field(
        default_factory=list, description="repositories in scope that could not answer"
    )


class SymbolResult(WireModel):
    repository_id: str
    symbols: list[SymbolLocation]


class WaveLevel(WireModel):
    level: int
    nodes: list[SymbolLocation]
    cycles: list[list[SymbolLocation]]


class GraphResult(WireModel):
    repository_id: str
    view: str
    node: SymbolLocation | None = Field(default=None, description="deps/dependents: the node")
    nodes: list[SymbolLocation] = Field(default_factory=list, description="deps/dependents")
    waves: list[WaveLevel] = Field(default_factory=list, description="waves: build order")
    incomplete: list[SymbolLocation] = Field(default_factory=list, description="sorry")
    blocked: list[SymbolLocation] = Field(default_factory=list, description="sorry")


class Answer(WireModel):
    answer: str
    sources: list[Location] = Field(description="what the answer cites, verified in the code")
    conversation_id: str = Field(description="pass back to ask a follow-up")
    indexed_sha: str | None
    stale: bool


class IndexOutcome(WireModel):
    repository_id: str
    status: RepositoryStatus
    message: str
    indexed_sha: str | None = None
    files: int | None = None
    chunks: int | None = None
    error: str | None = None
    # `embedding`: searchable now, semantic ranking partial until the vectors are complete.
    vectors: VectorsState | None = None


class Finding(Location):
    """A check's diagnostic; `column` and `endColumn` are 1-based characters, the end
    exclusive."""

    column: int
    end_column: int
    severity: str
    message: str
    tool: str


class CheckResult(WireModel):
    check_id: str
    repository_id: str
    status: CheckState = Field(description="queued, running, passed, failed or error")
    sha: str
    level: CheckLevelName
    message: str | None = Field(default=None, description="why it ended in `error`")
    diagnostics: list[Finding] = Field(description="once ended, ordered by path and position")
    truncated: bool = Field(description="more diagnostics were found than are listed")
    files: int
    reused: int = Field(description="results reused by content: no tool ran for them")
    tool_runs: int


class CommitOutcome(WireModel):
    outcome: Literal["committed", "conflict", "rejected"] = Field(
        description="conflict: the branch moved (rebase on currentSha); rejected: the check "
        "found errors (see diagnostics), nothing was committed"
    )
    repository_id: str
    branch: str
    message: str
    sha: str | None = Field(default=None, description="committed: the new commit")
    index_status: str | None = Field(default=None, description="committed: the index's answer")
    check_id: str | None = Field(default=None, description="committed: the queued build check")
    current_sha: str | None = Field(default=None, description="conflict: the branch head")
    diagnostics: list[Finding] = Field(default_factory=list, description="rejected: why")


class Locator:
    """Makes Locations; knows the directories of local repositories (for `uri`)."""

    def __init__(self) -> None:
        self._roots: dict[str, Path] = {}

    def remember(self, repository_id: str, root: Path) -> None:
        self._roots[repository_id] = root

    def at(self, repository_id: str | None, path: str, lines: list[int]) -> Location:
        return Location(**self._fields(repository_id, path, lines))

    def hit(self, hit: SearchHit) -> CodeHit:
        return CodeHit(
            **self._fields(hit.repository_id, hit.path, hit.lines),
            score=hit.score,
            language=hit.language,
            snippet=hit.snippet,
            symbol=hit.symbol,
            kind=hit.kind,
        )

    def node(self, repository_id: str, node: GraphNode) -> SymbolLocation:
        return SymbolLocation(
            **self._fields(repository_id, node.path, node.lines),
            name=node.name,
            kind=node.kind,
            score=node.score,
            distance=node.distance,
        )

    def answer(self, repository_id: str, chat: ChatResponse) -> Answer:
        sources = [self.at(repository_id, s.path, s.lines) for s in chat.sources]
        return Answer(
            answer=chat.response,
            sources=sources,
            conversation_id=chat.conversation_id,
            indexed_sha=chat.indexed_sha,
            stale=chat.stale,
        )

    def finding(self, repository_id: str, found: DiagnosticView) -> Finding:
        return Finding(
            **self._fields(repository_id, found.path, [found.line, found.end_line]),
            column=found.column,
            end_column=found.end_column,
            severity=found.severity,
            message=found.message,
            tool=found.tool,
        )

    def check(self, found: CheckView) -> CheckResult:
        rid = found.repository_id
        return CheckResult(
            check_id=found.check_id,
            repository_id=rid,
            status=found.status,
            sha=found.sha,
            level=found.level,
            message=found.message,
            diagnostics=[self.finding(rid, d) for d in found.diagnostics],
            truncated=found.truncated,
            files=found.stats.files,
            reused=found.stats.reused,
            tool_runs=found.stats.tool_runs,
        )

    def _fields(self, repository_id: str | None, path: str, lines: list[int]) -> dict[str, Any]:
        start, end = lines
        root = self._roots.get(repository_id or "")
        return {
            "repository_id": repository_id,
            "path": path,
            "line": start,
            "end_line": end,
            "location": f"{path}:{start}-{end}",
            "uri": (root / path).as_uri() if root is not None else None,
        }


def index_outcome(status: StatusResponse, message: str) -> IndexOutcome:
    return IndexOutcome(
        repository_id=status.repository_id,
        status=status.status,
        message=message,
        indexed_sha=status.indexed_sha,
        files=status.stats.total_files,
        chunks=status.stats.chunks,
        error=status.error,
        vectors=status.vectors,
    )

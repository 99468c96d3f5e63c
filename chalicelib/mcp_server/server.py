"""`strata mcp`: Strata's code search, symbols, graph and answers as MCP tools on stdio.

Each tool is one or two calls of `StrataClient` against a Strata API (the local stack by
default: `strata mcp --api URL --api-key KEY`). A failure the API explains (not indexed yet,
unknown repository, a key without the scope) is a tool error with the API's message, for the
model to read; anything else is the SDK's "error executing tool". Tools are plain functions
(no `from __future__ import annotations` here: the SDK reads their signatures at runtime) and
run on the SDK's worker threads, as the client is synchronous.
"""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from chalicelib.api.models import (
    CheckLevelName,
    CommitFileChange,
    DiagnosticView,
    SearchMode,
    StatusResponse,
)
from chalicelib.client import (
    ClientError,
    Conflict,
    NotATarget,
    NotReady,
    StrataClient,
    Unprocessable,
    index_target,
)
from chalicelib.mcp_server.results import (
    Answer,
    CheckResult,
    CommitOutcome,
    GraphResult,
    IndexOutcome,
    Locator,
    SearchResult,
    SymbolResult,
    WaveLevel,
    index_outcome,
)

P = ParamSpec("P")
T = TypeVar("T")

INSTRUCTIONS = """\
Strata indexes git repositories and answers questions about their code.
Start with index_repository (a local directory, an https URL, owner/repo or a repository id);
it returns the repositoryId the other tools take. search_code finds code (modes: hybrid,
lexical, semantic, symbol); find_symbol and symbol_graph walk definitions and dependencies;
ask answers a question with the sources it used. check_code finds syntax or build errors at
a commit; commit_changes commits edited files to a branch (only if it is still at baseSha).
Every place in code comes as path, line and endLine from the repository root (and a file uri
for a local repository)."""

RepositoryIdArg = Annotated[
    str, Field(description="as index_repository returned it, e.g. github:owner:repo")
]
GraphView = Literal["deps", "dependents", "waves", "sorry"]
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHECKING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
WRITING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)


def _explained(tool: Callable[P, T]) -> Callable[P, T]:
    """The API's own explanation of a failure, as a tool error."""

    @functools.wraps(tool)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return tool(*args, **kwargs)
        except NotReady as exc:
            hint = " (call repository_status until it is ready)" if exc.state == "indexing" else ""
            raise ToolError(f"{exc.message}{hint}") from exc
        except ClientError as exc:
            raise ToolError(exc.message) from exc

    return call


class StrataTools:
    def __init__(
        self,
        client: StrataClient,
        *,
        index_timeout: float = 600.0,
        check_timeout: float = 600.0,
    ) -> None:
        self._client = client
        self._where = Locator()
        self._index_timeout = index_timeout
        self._check_timeout = check_timeout

    def index_repository(
        self,
        target: Annotated[
            str, Field(description="a local directory, an https URL, owner/repo, or an id")
        ],
        branch: Annotated[str | None, Field(description="default: the remote's HEAD")] = None,
        force: Annotated[bool, Field(description="rebuild even if up to date")] = False,
        wait: Annotated[bool, Field(description="return once it is ready (or failed)")] = True,
    ) -> IndexOutcome:
        """Index a repository (or bring its index up to date) and return its repositoryId."""
        try:
            fields = index_target(target)
        except NotATarget as exc:
            raise ToolError(str(exc)) from exc
        requested = self._client.index_repository(**fields, branch=branch, force=force)
        rid = requested.repository_id
        if "url" in fields and Path(fields["url"]).is_dir():
            self._where.remember(rid, Path(fields["url"]))
        if not wait:
            status = self._client.status(rid)
            return index_outcome(status, requested.message)
        done = self._client.wait_until_indexed(rid, timeout=self._index_timeout)
        return index_outcome(done, requested.message)

    def repository_status(self, repository_id: RepositoryIdArg) -> StatusResponse:
        """A repository's index: ready, indexing (with progress), idle or error."""
        return self._client.status(repository_id)

    def search_code(
        self,
        query: Annotated[str, Field(description="words, an identifier, or a question")],
        *,
        repository_id: Annotated[
            str | None, Field(description="scope: one repository (give one scope)")
        ] = None,
        repository_ids: Annotated[
            list[str] | None, Field(description="scope: several repositories")
        ] = None,
        owner: Annotated[
            str | None, Field(description="scope: every repository of a GitHub owner")
        ] = None,
        mode: Annotated[
            SearchMode, Field(description="hybrid (default), lexical, semantic or symbol")
        ] = "hybrid",
        k: Annotated[int, Field(ge=1, le=100, description="how many hits")] = 10,
    ) -> SearchResult:
        """Ranked code search; each hit is a path and lines with a snippet."""
        found = self._client.search(
            query,
            repository_id=repository_id,
            repository_ids=repository_ids,
            owner=owner,
            k=k,
            mode=mode,
        )
        return SearchResult(
            query=found.query,
            mode=found.mode,
            hits=[self._where.hit(h) for h in found.hits],
            unavailable=found.unavailable or [],
        )

    def find_symbol(
        self,
        repository_id: RepositoryIdArg,
        name: Annotated[str, Field(description="a name or part of one; qualified names work")],
        kind: Annotated[str | None, Field(description="function, class, method, ...")] = None,
        limit: Annotated[int, Field(ge=1, le=200)] = 20,
    ) -> SymbolResult:
        """Where symbols are defined, best match first."""
        found = self._client.symbols(repository_id, name, kind=kind, limit=limit)
        return SymbolResult(
            repository_id=found.repository_id,
            symbols=[self._where.node(repository_id, n) for n in found.symbols],
        )

    def symbol_graph(
        self,
        repository_id: RepositoryIdArg,
        view: Annotated[
            GraphView,
            Field(
                description="deps: what `name` uses; dependents: what uses `name`; "
                "waves: every node in dependency order; sorry: incomplete proofs and what "
                "they block"
            ),
        ],
        name: Annotated[
            str | None, Field(description="deps/dependents: a symbol or file path")
        ] = None,
        depth: Annotated[int, Field(ge=1, le=10, description="deps/dependents: hops")] = 1,
    ) -> GraphResult:
        """The code graph around a symbol, or of the whole repository."""
        where = self._where
        if view in ("deps", "dependents"):
            if not name:
                raise ToolError(f"the {view} view needs a name")
            direction = "dependencies" if view == "deps" else "dependents"
            around = self._client.graph_node(repository_id, name, direction=direction, depth=depth)
            return GraphResult(
                repository_id=repository_id,
                view=view,
                node=where.node(repository_id, around.node),
                nodes=[where.node(repository_id, n) for n in around.nodes],
            )
        if view == "waves":
            waves = self._client.waves(repository_id).waves
            levels = [
                WaveLevel(
                    level=w.level,
                    nodes=[where.node(repository_id, n) for n in w.nodes],
                    cycles=[[where.node(repository_id, n) for n in c] for c in w.cycles],
                )
                for w in waves
            ]
            return GraphResult(repository_id=repository_id, view=view, waves=levels)
        sorry = self._client.sorry(repository_id)
        return GraphResult(
            repository_id=repository_id,
            view=view,
            incomplete=[where.node(repository_id, n) for n in sorry.incomplete],
            blocked=[where.node(repository_id, n) for n in sorry.blocked],
        )

    def ask(
        self,
        repository_id: RepositoryIdArg,
        question: Annotated[str, Field(description="about the code, in plain words")],
        conversation_id: Annotated[
            str | None, Field(description="from a previous answer, to follow up")
        ] = None,
    ) -> Answer:
        """An answer about the repository, with the sources (path and lines) it rests on."""
        chat = self._client.ask(repository_id, question, conversation_id=conversation_id)
        return self._where.answer(repository_id, chat)

    def check_code(
        self,
        repository_id: RepositoryIdArg,
        level: Annotated[
            CheckLevelName, Field(description="syntax: parsers, fast; build: the toolchains")
        ] = "syntax",
        paths: Annotated[
            list[str] | None, Field(description="files or directories; default: the whole tree")
        ] = None,
        sha: Annotated[str | None, Field(description="default: the indexed commit")] = None,
        wait: Annotated[bool, Field(description="return once it has ended")] = True,
    ) -> CheckResult:
        """Check a commit's files for errors; each diagnostic is a place in code."""
        accepted = self._client.request_check(repository_id, level=level, sha=sha, paths=paths)
        if wait:
            found = self._client.wait_for_check(
                repository_id, accepted.check_id, timeout=self._check_timeout
            )
        else:
            found = self._client.check(repository_id, accepted.check_id)
        return self._where.check(found)

    def commit_changes(
        self,
        repository_id: RepositoryIdArg,
        *,
        branch: Annotated[str, Field(description="the branch to move")],
        base_sha: Annotated[str, Field(description="the commit the changes were made on")],
        message: Annotated[str, Field(description="the commit message")],
        author_name: str,
        author_email: str,
        changes: Annotated[
            list[CommitFileChange],
            Field(description="each: path and content (text), contentBase64, or delete: true"),
        ],
        check: Annotated[
            CheckLevelName | None, Field(description="refuse the commit on syntax errors")
        ] = None,
        idempotency_key: Annotated[
            str | None, Field(description="repeat it to retry safely after no answer")
        ] = None,
    ) -> CommitOutcome:
        """Commit file changes to a branch, pushed only if the branch is still at base_sha."""
        try:
            done = self._client.commit(
                repository_id,
                branch=branch,
                base_sha=base_sha,
                message=message,
                author=(author_name, author_email),
                changes=[c.dump() for c in changes],
                check=check,
                idempotency_key=idempotency_key,
            )
        except Conflict as exc:
            return CommitOutcome(
                outcome="conflict",
                message=exc.message,
                current_sha=exc.current_sha,
                repository_id=repository_id,
                branch=branch,
            )
        except Unprocessable as exc:
            if not exc.diagnostics:
                raise
            found = [DiagnosticView.model_validate(d) for d in exc.diagnostics]
            return CommitOutcome(
                outcome="rejected",
                message=exc.message,
                diagnostics=[self._where.finding(repository_id, d) for d in found],
                repository_id=repository_id,
                branch=branch,
            )
        return CommitOutcome(
            outcome="committed",
            message=done.message,
            sha=done.sha,
            index_status=done.index_status,
            check_id=done.check_id,
            repository_id=repository_id,
            branch=branch,
        )


def build_server(client: StrataClient) -> MCPServer:
    tools = StrataTools(client)
    server = MCPServer("strata", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")
    server.add_tool(_explained(tools.index_repository))
    server.add_tool(_explained(tools.repository_status), annotations=READ_ONLY)
    server.add_tool(_explained(tools.search_code), annotations=READ_ONLY)
    server.add_tool(_explained(tools.find_symbol), annotations=READ_ONLY)
    server.add_tool(_explained(tools.symbol_graph), annotations=READ_ONLY)
    server.add_tool(_explained(tools.ask), annotations=READ_ONLY)
    server.add_tool(_explained(tools.check_code), annotations=CHECKING)
    server.add_tool(_explained(tools.commit_changes), annotations=WRITING)
    return server


def serve_stdio(client: StrataClient) -> None:
    """Serve MCP on stdin/stdout until the client closes them (stdout carries only MCP)."""
    build_server(client).run("stdio")

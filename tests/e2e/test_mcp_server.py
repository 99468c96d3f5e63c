"""`strata mcp` end to end: the MCP SDK's own stdio client starts the server as a process,
which talks to a local stack running in this process; every tool is called over stdio and
its places in code are checked against the files of a repository made in tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pygit2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from pygit2.enums import CheckoutStrategy

from chalicelib.local.stack import LocalStack
from tests.gitrepo import init_repo
from tests.localstack import ADMIN_KEY, running_stack

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = '''\
"""Where a generation becomes the one that queries read."""


def publish_generation(store, generation, lease):
    """Publish a generation: move the pointer, under the lease."""
    lease.check()
    store.put_pointer(generation.id)
    return generation.id
'''
BUILDER = '''\
"""Builds a generation from parsed files, then hands it to the publisher."""

from ledger.publisher import publish_generation


def build_generation(store, files, lease):
    generation = store.new_generation(files)
    return publish_generation(store, generation, lease)
'''
FILES = {
    "README.md": "# Ledger\n\nBooks of generations.\n",
    "ledger/__init__.py": "",
    "ledger/publisher.py": PUBLISHER,
    "ledger/builder.py": BUILDER,
}
TOOLS = {"index_repository", "repository_status", "search_code", "find_symbol", "symbol_graph"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("mcp") / "state") as running:
        yield running


@pytest.fixture(scope="module")
def repo(stack: LocalStack) -> Path:
    path = stack.options.state_dir.parent / "ledger"  # inside the stack's local roots
    init_repo(path, FILES)
    # A working tree, as a developer's checkout has: the `uri` of a source must open.
    checkout = pygit2.Repository(str(path)).checkout_head
    checkout(strategy=CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
    return path


def _server(stack: LocalStack, key: str, flags: list[str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "chalicelib.local.cli", "mcp", "--api", stack.api_url, *flags],
        env={"STRATA_API_KEY": key, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def _session(
    stack: LocalStack,
    script: Any,
    timeout: float = 60,
    *,
    key: str = ADMIN_KEY,
    flags: list[str] | None = None,
) -> Any:
    """Run `script(session)` against a fresh `strata mcp` process; its result. The process
    ends with the session (the SDK closes its stdin, then stops it)."""

    async def run() -> Any:
        with anyio.fail_after(timeout):
            async with (
                stdio_client(_server(stack, key, flags or []), errlog=sys.stderr) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await script(session)

    return anyio.run(run)


async def _call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _covers(place: dict[str, Any], path: str, line: int) -> bool:
    return bool(place["path"] == path and place["line"] <= line <= place["endLine"])


@pytest.mark.slow
def test_an_mcp_client_indexes_a_repository_and_finds_where_a_generation_is_published(
    stack: LocalStack, repo: Path
) -> None:
    publish_line = _line_of(repo / "ledger/publisher.py", "def publish_generation")

    async def script(session: ClientSession) -> dict[str, dict[str, Any]]:
        listed = {t.name for t in (await session.list_tools()).tools}
        assert TOOLS | {"ask"} <= listed
        indexed = await _call(session, "index_repository", target=str(repo))
        rid = indexed["repositoryId"]
        symbols = await _call(session, "find_symbol", repository_id=rid, name="publish_generation")
        graph = await _call(
            session,
            "symbol_graph",
            repository_id=rid,
            view="dependents",
            name=symbols["symbols"][0]["name"],  # as the graph names it
        )
        question = "where is a generation published?"
        missing = await session.call_tool(
            "ask", {"repository_id": "local:nothing", "question": "?"}
        )
        return {
            "indexed": indexed,
            "status": await _call(session, "repository_status", repository_id=rid),
            "answer": await _call(session, "ask", repository_id=rid, question=question),
            "hits": await _call(
                session, "search_code", query="publish generation", repository_id=rid
            ),
            "symbols": symbols,
            "graph": graph,
            "missing": missing.model_dump(),
        }

    got = _session(stack, script)
    assert got["indexed"]["status"] == "ready" and got["indexed"]["files"] == len(FILES)
    assert got["status"]["status"] == "ready"

    sources = got["answer"]["sources"]
    assert sources, got["answer"]
    assert any(_covers(s, "ledger/publisher.py", publish_line) for s in sources), sources
    for source in sources:  # every source names a real file and lines inside it
        lines = (repo / source["path"]).read_text().splitlines()
        assert 1 <= source["line"] <= source["endLine"] <= len(lines)
        assert source["uri"] == (repo / source["path"]).as_uri()
        assert source["location"] == f"{source['path']}:{source['line']}-{source['endLine']}"

    top = got["hits"]["hits"][0]
    assert top["path"] in ("ledger/publisher.py", "ledger/builder.py") and top["snippet"]
    assert _covers(got["symbols"]["symbols"][0], "ledger/publisher.py", publish_line)
    callers = {n["path"] for n in got["graph"]["nodes"]}
    assert "ledger/builder.py" in callers, got["graph"]
    assert got["missing"]["is_error"] and "not" in got["missing"]["content"][0]["text"]


@pytest.fixture(scope="module")
def strata_code(stack: LocalStack) -> Path:
    """Strata's own package as one commit: the issue's question is asked of real code, and
    the test does not depend on how this checkout was made (shallow, detached, owned by
    another user)."""
    files = {
        str(path.relative_to(ROOT)): path.read_bytes()
        for path in sorted((ROOT / "chalicelib").rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    path = stack.options.state_dir.parent / "strata-code"
    init_repo(path, files)
    return path


@pytest.mark.slow
def test_an_mcp_client_answers_where_strata_publishes_a_generation(
    stack: LocalStack, strata_code: Path
) -> None:
    """The issue's own question, over Strata's own code."""

    async def index(session: ClientSession) -> dict[str, Any]:
        return await _call(session, "index_repository", target=str(strata_code))

    async def ask(session: ClientSession) -> dict[str, Any]:
        question = "where is a generation published?"
        return await _call(session, "ask", repository_id=rid, question=question)

    indexed = _session(stack, index, timeout=240)  # about 10 s here
    assert indexed["status"] == "ready", indexed
    rid = indexed["repositoryId"]
    answer = _session(stack, ask)
    publisher = "chalicelib/services/generation_publisher.py"
    cited = [s for s in answer["sources"] if s["path"] == publisher]
    assert cited, answer
    lines = (ROOT / publisher).read_text().splitlines()  # the bytes that were committed
    lines = lines[cited[0]["line"] - 1 : cited[0]["endLine"]]
    assert any("publish" in line for line in lines), lines


def test_the_key_flag_beats_the_environment_and_a_refusal_is_a_tool_error(
    stack: LocalStack,
) -> None:
    wrong = "strata_wrongkey0001_" + "W" * 43

    async def script(session: ClientSession) -> Any:
        return await session.call_tool("repository_status", {"repository_id": "github:a:b"})

    refused = _session(stack, script, key=wrong)
    assert refused.is_error and "(HTTP 401)" in refused.content[0].text
    allowed = _session(stack, script, key=wrong, flags=["--api-key", ADMIN_KEY])
    assert not allowed.is_error and allowed.structured_content["status"] == "idle"


SHOP = {
    "shop/cart.py": "def total(items):\n    return sum(items)\n",
    "shop/broken.py": "def tax(rate:\n    return rate\n",
}


def test_an_mcp_client_checks_a_commit_and_commits_changes_under_compare_and_swap(
    stack: LocalStack,
) -> None:
    remote = stack.options.state_dir.parent / "shop.git"  # inside the stack's local roots
    init_repo(remote, SHOP, bare=True)
    base = str(pygit2.Repository(str(remote)).references["refs/heads/main"].target)
    author = {"author_name": "Ada Lovelace", "author_email": "ada@example.com"}

    async def script(session: ClientSession) -> dict[str, Any]:
        listed = {t.name for t in (await session.list_tools()).tools}
        assert {"check_code", "commit_changes"} <= listed
        rid = (await _call(session, "index_repository", target=str(remote)))["repositoryId"]
        common = {"repository_id": rid, "branch": "main", "message": "add tax", **author}
        good = [{"path": "shop/tax.py", "content": "RATE = 0.2\n"}]
        bad = [{"path": "shop/more.py", "content": "def f(:\n"}]
        return {
            "check": await _call(session, "check_code", repository_id=rid, level="syntax"),
            "rejected": await _call(
                session, "commit_changes", base_sha=base, changes=bad, check="syntax", **common
            ),
            "committed": await _call(
                session, "commit_changes", base_sha=base, changes=good, **common
            ),
            "conflict": await _call(
                session, "commit_changes", base_sha=base, changes=good, **common
            ),
        }

    got = _session(stack, script, timeout=120)
    check = got["check"]
    assert check["status"] == "failed" and check["level"] == "syntax", check
    assert {d["path"] for d in check["diagnostics"]} == {"shop/broken.py"}
    first = check["diagnostics"][0]
    assert first["line"] == 1 and first["severity"] == "error" and first["location"]

    assert got["rejected"]["outcome"] == "rejected" and got["rejected"]["sha"] is None
    assert {d["path"] for d in got["rejected"]["diagnostics"]} == {"shop/more.py"}

    committed = got["committed"]
    head = pygit2.Repository(str(remote)).references["refs/heads/main"].target
    assert committed["outcome"] == "committed" and committed["sha"] == str(head)
    shop = pygit2.Repository(str(remote)).revparse_single("main:shop")
    assert isinstance(shop, pygit2.Tree)
    assert "tax.py" in shop and "more.py" not in shop

    conflict = got["conflict"]
    assert conflict["outcome"] == "conflict" and conflict["currentSha"] == str(head)

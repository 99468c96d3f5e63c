"""Pygit2GitEngine against real repositories: local paths under the engine's local root, and a
smart-HTTPS server on 127.0.0.1 reached the deployed way, through the egress proxy (its name,
`git.test:<port>`, is allow-listed explicitly; see tests/egress.py)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pygit2
import pytest

from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.domain.models import TreeEntry
from chalicelib.domain.remote_policy import REFUSED_REMOTE
from chalicelib.errors import (
    AccessDenied,
    BranchNotFound,
    CommitNotOnBranch,
    InvalidRequest,
    RemoteNotFound,
    RemoteRefused,
    RemoteUnreachable,
)
from tests.egress import GIT_HOST, Guarded, guarded_engine, server_context
from tests.gitrepo import add_submodule_entry, add_symlink, commit_files, init_repo
from tests.integration.git_http_server import GitHttpServer

FILES: dict[str, bytes | str] = {
    "README.md": "# demo\n",
    "src/app.py": "print('hi')\n",
    "src/pkg/util.py": "x = 1\n",
    "data/table.bin": bytes(range(256)) * 4,
}
USER_TOKEN = "ghu_user-token-that-is-wrong"
SERVER_TOKEN = "ghs_server-token-that-is-right"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Guarded]:
    setup = guarded_engine(tmp_path / "cache", [str(tmp_path)])
    yield setup
    setup.proxy.stop()


@pytest.fixture
def engine(guarded: Guarded) -> Pygit2GitEngine:
    return guarded.engine


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(tmp_path_factory.mktemp("tls"))


@contextmanager
def https_server(
    root: Path, guarded: Guarded, tls: ssl.SSLContext, **options: Any
) -> Iterator[GitHttpServer]:
    """The test git server over HTTPS as `git.test:<port>`, on the proxy's allow-list."""
    with GitHttpServer(root, tls=tls, host=GIT_HOST, **options) as server:
        guarded.allow(server.netloc)
        yield server


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A directory of repositories for the HTTP server."""
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def private_server(served: Path, guarded: Guarded, tls: ssl.SSLContext) -> Iterator[GitHttpServer]:
    init_repo(served / "private", FILES)
    with https_server(served, guarded, tls, password=SERVER_TOKEN) as server:
        yield server


def _blob_oid(data: bytes | str) -> str:
    return str(pygit2.hash(data.encode() if isinstance(data, str) else data))


def _size(data: bytes | str) -> int:
    return len(data.encode() if isinstance(data, str) else data)


def _messages(exc: BaseException) -> str:
    """Every message in the exception chain, as a log line would show them."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 10:
        seen.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- resolve_head -----------------------------------------------------------------------------


def test_resolves_default_branch_from_remote_head(tmp_path: Path, engine: Pygit2GitEngine) -> None:
    sha = init_repo(tmp_path / "src", FILES, branch="trunk")

    assert engine.resolve_head(str(tmp_path / "src"), None, [None]) == ("trunk", sha)


def test_resolves_named_branch(tmp_path: Path, engine: Pygit2GitEngine) -> None:
    init_repo(tmp_path / "src", FILES)
    feature = commit_files(tmp_path / "src", {"new.txt": "new"}, branch="feature")

    assert engine.resolve_head(str(tmp_path / "src"), "feature", [None]) == ("feature", feature)


def test_falls_back_to_main_when_remote_head_is_detached(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    sha = init_repo(tmp_path / "src", FILES)
    pygit2.Repository(str(tmp_path / "src")).set_head(pygit2.Oid(hex=sha))

    assert engine.resolve_head(str(tmp_path / "src"), None, [None]) == ("main", sha)


def test_unknown_branch_raises_remote_not_found(tmp_path: Path, engine: Pygit2GitEngine) -> None:
    init_repo(tmp_path / "src", FILES)

    with pytest.raises(BranchNotFound, match="branch 'nope' was not found on the remote"):
        engine.resolve_head(str(tmp_path / "src"), "nope", [None])


@pytest.mark.parametrize("name", ["plain-directory", "missing"])
def test_path_that_is_not_a_repository_raises_remote_not_found(
    tmp_path: Path, engine: Pygit2GitEngine, name: str
) -> None:
    (tmp_path / "plain-directory").mkdir()

    with pytest.raises(RemoteNotFound, match=r"^the remote repository was not found$") as resolving:
        engine.resolve_head(str(tmp_path / name), None, [None])
    with pytest.raises(RemoteNotFound, match=r"^the remote repository was not found$") as fetching:
        engine.fetch(str(tmp_path / name), "main", "a" * 40, [None])
    for raised in (resolving.value, fetching.value):  # the path stays in the log
        assert str(tmp_path) not in str(raised)


@pytest.mark.parametrize(
    ("remote", "branch", "sha"),
    [
        ("ssh://git@example.com/repo.git", "main", "a" * 40),
        ("relative/path", "main", "a" * 40),
        ("/abs", "main:refs/heads/evil", "a" * 40),
        ("/abs", "main", "HEAD"),
    ],
)
def test_rejects_unsupported_remotes_branches_and_shas(
    engine: Pygit2GitEngine, remote: str, branch: str, sha: str
) -> None:
    with pytest.raises(InvalidRequest):
        engine.fetch(remote, branch, sha, [None])


# --- fetch, list_tree, read_blob --------------------------------------------------------------


def test_lists_every_blob_symlink_and_submodule_with_sizes(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    library = init_repo(tmp_path / "library", {"lib.py": "pass\n"})
    init_repo(tmp_path / "src", FILES)
    add_submodule_entry(tmp_path / "src", "vendor/library", library)
    sha = add_symlink(tmp_path / "src", "docs/readme-link", "../README.md")

    engine.fetch(str(tmp_path / "src"), "main", sha, [None])
    entries = list(engine.list_tree(str(tmp_path / "src"), sha))

    expected = [
        TreeEntry(path, _blob_oid(data), 0o100644, _size(data)) for path, data in FILES.items()
    ]
    expected += [
        TreeEntry("docs/readme-link", _blob_oid("../README.md"), 0o120000, 12),
        TreeEntry("vendor/library", library, 0o160000, 0),
    ]
    assert entries == sorted(expected, key=lambda entry: entry.path)


def test_read_blob_returns_the_stored_bytes(tmp_path: Path, engine: Pygit2GitEngine) -> None:
    sha = init_repo(tmp_path / "src", FILES)
    engine.fetch(str(tmp_path / "src"), "main", sha, [None])

    data = engine.read_blob(str(tmp_path / "src"), _blob_oid(FILES["data/table.bin"]))

    assert data == FILES["data/table.bin"]


def test_read_blob_of_unknown_oid_raises_remote_not_found(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    sha = init_repo(tmp_path / "src", FILES)
    engine.fetch(str(tmp_path / "src"), "main", sha, [None])

    with pytest.raises(RemoteNotFound, match="blob"):
        engine.read_blob(str(tmp_path / "src"), "b" * 40)


def test_list_tree_of_unfetched_remote_raises_remote_not_found(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    sha = init_repo(tmp_path / "src", FILES)

    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        engine.list_tree(str(tmp_path / "src"), sha)


def test_fetch_of_a_sha_already_cached_needs_no_remote(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    sha = init_repo(tmp_path / "src", FILES)
    engine.fetch(str(tmp_path / "src"), "main", sha, [None])
    (tmp_path / "src").rename(tmp_path / "gone")
    (tmp_path / "src").mkdir()  # a plain directory now: any network use would fail

    engine.fetch(str(tmp_path / "src"), "main", sha, [None])

    assert len(list(engine.list_tree(str(tmp_path / "src"), sha))) == len(FILES)


def test_new_commit_becomes_readable_after_fetching_its_sha(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    first = init_repo(tmp_path / "src", FILES)
    engine.fetch(str(tmp_path / "src"), "main", first, [None])
    second = commit_files(tmp_path / "src", {"src/app.py": None, "CHANGES": "v2\n"})

    engine.fetch(str(tmp_path / "src"), "main", second, [None])

    paths = {entry.path for entry in engine.list_tree(str(tmp_path / "src"), second)}
    assert paths == (set(FILES) - {"src/app.py"}) | {"CHANGES"}
    assert "src/app.py" in {entry.path for entry in engine.list_tree(str(tmp_path / "src"), first)}


def test_fetch_of_a_sha_not_on_the_branch_raises_remote_not_found(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    head = init_repo(tmp_path / "src", FILES)

    with pytest.raises(
        CommitNotOnBranch, match=r"^commit cccccccccccc is not on branch 'main'$"
    ) as not_on:
        engine.fetch(str(tmp_path / "src"), "main", "c" * 40, [None])
    assert not_on.value.branch_head == head  # what the branch really holds
    with pytest.raises(BranchNotFound, match=r"^branch 'nope' was not found on the remote$"):
        engine.fetch(str(tmp_path / "src"), "nope", "c" * 40, [None])


# --- cache ------------------------------------------------------------------------------------


def test_evicts_the_other_clone_when_over_budget_but_never_the_one_just_fetched(
    tmp_path: Path,
) -> None:
    engine = guarded_engine(tmp_path / "cache", [str(tmp_path)], max_cache_bytes=1).engine
    sha_a = init_repo(tmp_path / "a", FILES)
    sha_b = init_repo(tmp_path / "b", {**FILES, "b.txt": "b"})
    engine.fetch(str(tmp_path / "a"), "main", sha_a, [None])

    engine.fetch(str(tmp_path / "b"), "main", sha_b, [None])

    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        engine.list_tree(str(tmp_path / "a"), sha_a)
    assert len(list(engine.list_tree(str(tmp_path / "b"), sha_b))) == len(FILES) + 1


def _disk_usage(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file())


def test_evicts_the_least_recently_used_clone_first(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    roomy = guarded_engine(cache, [str(tmp_path)]).engine
    shas = {name: init_repo(tmp_path / name, {**FILES, name: name}) for name in "abc"}
    roomy.fetch(str(tmp_path / "a"), "main", shas["a"], [None])
    roomy.fetch(str(tmp_path / "b"), "main", shas["b"], [None])
    roomy.read_blob(str(tmp_path / "a"), _blob_oid(FILES["README.md"]))  # a is now newer than b
    usage = _disk_usage(cache)
    # Room for about half a clone more: fetching c must evict exactly one clone, the LRU one.
    tight = guarded_engine(cache, [str(tmp_path)], max_cache_bytes=usage + usage // 6).engine

    tight.fetch(str(tmp_path / "c"), "main", shas["c"], [None])

    with pytest.raises(RemoteNotFound):
        tight.list_tree(str(tmp_path / "b"), shas["b"])
    for name in "ac":
        assert len(list(tight.list_tree(str(tmp_path / name), shas[name]))) == len(FILES) + 1


def test_fetches_from_concurrent_threads_succeed(tmp_path: Path, engine: Pygit2GitEngine) -> None:
    shas = {name: init_repo(tmp_path / name, {**FILES, name: name}) for name in "ab"}
    jobs = [name for name in "ab" for _ in range(3)]  # the same remote twice at once, too

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: engine.fetch(str(tmp_path / n), "main", shas[n], [None]), jobs))

    for name, sha in shas.items():
        assert len(list(engine.list_tree(str(tmp_path / name), sha))) == len(FILES) + 1


# --- HTTPS through the egress proxy: credentials and errors ------------------------------------


def test_reads_public_repository_over_https_anonymously(
    served: Path, guarded: Guarded, tls: ssl.SSLContext
) -> None:
    engine = guarded.engine
    sha = init_repo(served / "public", FILES)
    with https_server(served, guarded, tls) as server:
        assert engine.resolve_head(server.url("public"), None, [None]) == ("main", sha)
        engine.fetch(server.url("public"), "main", sha, [None])

    assert len(list(engine.list_tree(server.url("public"), sha))) == len(FILES)


@pytest.mark.parametrize("refusal", [401, 403])
def test_falls_back_to_the_server_token_when_the_user_token_is_refused(
    served: Path, guarded: Guarded, tls: ssl.SSLContext, refusal: int
) -> None:
    engine = guarded.engine
    init_repo(served / "private", FILES)
    with https_server(
        served, guarded, tls, password=SERVER_TOKEN, wrong_password_status=refusal
    ) as server:
        remote = server.url("private")
        branch, sha = engine.resolve_head(remote, None, [USER_TOKEN, SERVER_TOKEN])
        engine.fetch(remote, branch, sha, [None, USER_TOKEN, SERVER_TOKEN])

    assert len(list(engine.list_tree(remote, sha))) == len(FILES)
    # Five attempts; each costs libgit2's unauthenticated challenge and at most one refused
    # try (a refused token is never replayed, which libgit2 would do up to 15 times).
    refused = [status for _, _, status in server.requests if status in (401, 403)]
    assert len(refused) <= 2 * 5


def test_fetch_of_a_cached_sha_makes_no_request(
    private_server: GitHttpServer, engine: Pygit2GitEngine
) -> None:
    remote = private_server.url("private")
    branch, sha = engine.resolve_head(remote, None, [SERVER_TOKEN])
    engine.fetch(remote, branch, sha, [SERVER_TOKEN])
    before = len(private_server.requests)

    engine.fetch(remote, branch, sha, [SERVER_TOKEN])

    assert len(private_server.requests) == before


@pytest.mark.parametrize("credentials", [[None, None], [USER_TOKEN, "ghs_another-wrong-token"]])
def test_raises_access_denied_without_revealing_tokens_when_all_are_refused(
    private_server: GitHttpServer, engine: Pygit2GitEngine, credentials: list[str | None]
) -> None:
    remote = private_server.url("private")

    with pytest.raises(AccessDenied, match="refused every credential") as resolving:
        engine.resolve_head(remote, None, credentials)
    with pytest.raises(AccessDenied, match="refused every credential") as fetching:
        engine.fetch(remote, "main", "a" * 40, credentials)

    for raised in (resolving.value, fetching.value):
        assert not any(token and token in _messages(raised) for token in credentials)


def test_missing_http_repository_raises_remote_not_found(
    private_server: GitHttpServer, engine: Pygit2GitEngine
) -> None:
    with pytest.raises(RemoteNotFound, match=r"^the remote repository was not found$"):
        engine.resolve_head(private_server.url("nope"), None, [SERVER_TOKEN])


def test_closed_port_is_unreachable_retryable_and_reads_like_refused(guarded: Guarded) -> None:
    port = _closed_port()
    guarded.allow(f"{GIT_HOST}:{port}")
    remote = f"https://user:{SERVER_TOKEN}@{GIT_HOST}:{port}/repo"

    # Unreachable reads like refused (a caller cannot probe which ports are open), but it is
    # transient: a network blip is retried, never the end of a job.
    with pytest.raises(RemoteUnreachable, match=f"^{REFUSED_REMOTE}$") as raised:
        guarded.engine.fetch(remote, "main", "a" * 40, [SERVER_TOKEN])

    assert SERVER_TOKEN not in _messages(raised.value)
    assert GIT_HOST not in str(raised.value)  # the remote is named in the log only


def test_plain_http_is_refused_before_any_connection(engine: Pygit2GitEngine) -> None:
    with pytest.raises(RemoteRefused, match=f"^{REFUSED_REMOTE}$"):
        engine.resolve_head(f"http://127.0.0.1:{_closed_port()}/repo", None, [None])


def test_history_lists_commits_newest_first_with_changed_paths(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    path = tmp_path / "repo"
    first = init_repo(path, {"a.py": "a = 1\n", "b.py": "b = 1\n"}, message="initial")
    second = commit_files(path, {"a.py": "a = 2\n"}, message="Fix the value of a")
    third = commit_files(path, {"b.py": None, "c.py": "c\n"}, message="Replace b by c")
    engine.fetch(str(path), "main", third, [None])
    walked = engine.history(str(path), third, None, 10)
    assert walked is not None
    assert [(c.oid, c.message.strip(), c.paths) for c in walked] == [
        (third, "Replace b by c", ("b.py", "c.py")),
        (second, "Fix the value of a", ("a.py",)),
    ]  # the root commit has no parent to diff against: not kept
    since = engine.history(str(path), third, second, 10)
    assert since is not None and [c.oid for c in since] == [third]
    assert engine.history(str(path), third, third, 10) == []
    assert engine.history(str(path), second, third, 10) is None  # not an ancestor
    assert engine.history(str(path), third, None, 1) == walked[:1]
    assert first not in {c.oid for c in walked}

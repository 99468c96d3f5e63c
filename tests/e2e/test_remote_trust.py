"""POST /repositories/index cannot probe the network or the disk: every refused, unreachable
or unreadable remote answers one generic 400 `remote_refused`, and nothing is connected to or
stored. The engine keeps the deployed egress policy (allow-list, public addresses only); only
its resolver is injected, so an allow-listed name resolves where an attacker's DNS would point
it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.git_egress_proxy import EgressPolicy, EgressProxy
from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.domain.remote_policy import REFUSED_REMOTE
from tests.e2e.conftest import Stack, with_settings
from tests.egress import Listener
from tests.gitrepo import init_repo

FILES = {"README.md": "# trusted\n"}


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def assert_generic_refusal(resp: Any, *hidden: str) -> None:
    assert resp.status_code == 400, resp.body
    assert resp.json_body == {"error": {"code": "remote_refused", "message": REFUSED_REMOTE}}
    for text in hidden:
        assert text not in resp.body.decode()


def resolving(stack: Stack, hosts: tuple[str, ...], answers: dict[str, list[str]]) -> EgressProxy:
    """The stack's engine, with an egress proxy whose DNS answers from `answers`."""
    with_settings(stack, git_hosts=hosts)
    c = bootstrap.container()
    proxy = EgressProxy(EgressPolicy(hosts, lambda host, port: answers[host]))
    s = stack.settings
    engine = Pygit2GitEngine(s.git_cache_dir, s.git_cache_max_bytes, egress=proxy)
    bootstrap.configure(s, replace(c, ports=replace(c.ports, git=engine)))
    return proxy


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254"])
def test_an_allowed_name_resolving_to_a_private_address_is_refused_generically(
    stack: Stack, listener: Listener, address: str
) -> None:
    netloc = f"git.test:{listener.port}"
    proxy = resolving(stack, ("github.com", netloc), {"git.test": [address]})

    resp = stack.post("/repositories/index", {"url": f"https://{netloc}/acme/widgets"})

    proxy.stop()
    assert_generic_refusal(resp, address, "git.test")
    assert listener.accepted == 0  # the loopback listener was never reached
    assert bootstrap.repo_store().get(f"git:git.test_{listener.port}:acme:widgets") is None
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/acme/widgets",
        "https://2130706433:{port}/acme/widgets",
        "https://[::1]:{port}/acme/widgets",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/acme/widgets",
        "https://evil.test:{port}/acme/widgets",
    ],
)
def test_addresses_and_hosts_off_the_list_are_refused_before_any_connection(
    stack: Stack, listener: Listener, url: str
) -> None:
    resp = stack.post("/repositories/index", {"url": url.format(port=listener.port)})
    assert_generic_refusal(resp, str(listener.port))
    assert listener.accepted == 0


def test_local_paths_outside_the_roots_read_like_missing_ones(
    stack: Stack, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # outside the stack's root (tmp_path)
    init_repo(elsewhere / "secret", FILES)
    (tmp_path / "escape").symlink_to(elsewhere / "secret")
    (tmp_path / "plain").mkdir()
    hostile = [
        elsewhere / "secret",
        tmp_path / "escape",  # a symlink inside the root to a repository outside
        Path("/etc"),
        tmp_path / "missing",
        tmp_path / "plain",
    ]
    for path in hostile:
        resp = stack.post("/repositories/index", {"url": str(path)})
        assert_generic_refusal(resp, str(path), "etc", "secret")
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0


def test_a_repository_and_its_git_directory_register_one_id(stack: Stack, tmp_path: Path) -> None:
    init_repo(tmp_path / "widgets", FILES)
    ids = {
        stack.post("/repositories/index", {"url": url}).json_body["repositoryId"]
        for url in (
            str(tmp_path / "widgets"),
            str(tmp_path / "widgets" / ".git"),
            f"file://{tmp_path / 'widgets'}/",
        )
    }
    assert len(ids) == 1
    stack.pump.drain()
    (rid,) = ids
    assert stack.get(f"/repositories/{rid}/status").json_body["status"] == "ready"

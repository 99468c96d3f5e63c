"""Which remotes, addresses and token destinations the policy allows: tables of hostile cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chalicelib.domain.ids import ref_from_id, ref_from_url
from chalicelib.domain.remote_policy import (
    REFUSED_REMOTE,
    address_is_public,
    host_allowed,
    local_repository,
    numeric_host,
    split_host,
    token_in_scope,
)
from chalicelib.errors import InvalidRequest, RemoteRefused

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    "2001:db8::1",  # documentation
    "not an address",
]
PUBLIC_ADDRESSES = ["140.82.112.3", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not address_is_public(address)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_is_public(address)


@pytest.mark.parametrize(
    ("host", "means"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("github.com", None),
        ("deadbeef.example", None),
    ],
)
def test_numeric_hosts_in_every_notation_are_recognised(host: str, means: str | None) -> None:
    assert numeric_host(host) == means


ALLOWED = ["github.com", "git.example.com:8443", "*.corp.example"]


@pytest.mark.parametrize(
    ("netloc", "ok"),
    [
        ("github.com", True),
        ("GitHub.com.", True),
        ("github.com:443", True),
        ("github.com:22", False),
        ("api.github.com", False),
        ("github.com.evil.net", False),
        ("evilgithub.com", False),
        ("git.example.com:8443", True),
        ("git.example.com", False),
        ("a.corp.example", True),
        ("corp.example", False),
        ("2130706433", False),
        ("127.0.0.1", False),
        ("[::1]", False),
        ("0x7f.1", False),
        ("169.254.169.254", False),
        ("localhost", False),
    ],
)
def test_only_allow_listed_host_names_pass(netloc: str, ok: bool) -> None:
    host, port = split_host(netloc)
    assert host_allowed(host, port, ALLOWED) is ok


@pytest.mark.parametrize(
    ("remote", "ok"),
    [
        ("https://github.com/my-org/repo.git", True),
        ("https://github.com/My-Org/repo", True),
        ("https://github.com/my-org", False),  # the organisation itself is not a repository
        ("https://github.com/other/repo.git", False),
        ("https://github.com/my-org-evil/repo.git", False),
        ("https://github.com.evil.net/my-org/repo.git", False),
        ("https://evil.net/github.com/my-org/repo.git", False),
        ("http://github.com/my-org/repo.git", False),
        ("https://x@github.com/my-org/repo.git", False),
        ("https://github.com:8443/my-org/repo.git", False),
        ("https://git.internal/any/repo", True),
        ("/srv/git/my-org/repo", False),
    ],
)
def test_the_server_token_goes_only_to_scoped_remotes(remote: str, ok: bool) -> None:
    assert token_in_scope(remote, ["github.com/my-org", "git.internal"]) is ok


def test_no_scope_means_the_server_token_goes_nowhere() -> None:
    assert not token_in_scope("https://github.com/my-org/repo.git", [])


# --- URLs as a client sends them: ref_from_url and ref_from_id ----------------------------------

HOSTILE_URLS = [
    # addresses, in every notation
    "https://127.0.0.1/a/b",
    "https://127.1/a/b",
    "https://2130706433/a/b",  # decimal
    "https://0177.0.0.1/a/b",  # octal
    "https://0x7f.0.0.1/a/b",  # hex
    "https://0x7f000001/a/b",
    "https://169.254.169.254/latest/meta-data",
    "https://0xa9fea9fe/latest/meta-data",
    "https://10.0.0.1/a/b",
    "https://[::1]/a/b",
    "https://[::ffff:127.0.0.1]/a/b",
    "https://[::ffff:a9fe:a9fe]/a/b",
    "https://[fe80::1%25eth0]/a/b",
    "https://[2606:4700:4700::1111]/a/b",  # public, still an address
    # names off the list, and look-alikes
    "https://localhost/a/b",
    "https://evil.net/a/b",
    "https://github.com.evil.net/a/b",
    "https://evilgithub.com/a/b",
    "https://api.github.com/a/b",
    "https://g\u0456thub.com/a/b",  # Cyrillic i
    "https://\uff47ithub.com/a/b",  # full-width g
    "https://xn--gthub-n4a.com/a/b",  # punycode of a look-alike
    "https://github.com%2eevil.net/a/b",
    "https://github.com\u3002evil.net/a/b",  # ideographic full stop
    # ports
    "https://github.com:22/a/b",
    "https://github.com:8443/a/b",
    "https://github.com:99999/a/b",
    "https://github.com:/a/b",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_urls_naming_an_address_or_a_host_off_the_list_are_refused(url: str) -> None:
    with pytest.raises(RemoteRefused, match=f"^{REFUSED_REMOTE}$"):
        ref_from_url(url, allow_local=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://github.com@evil.net/a/b", "credentials"),  # userinfo: the host is evil.net
        ("https://github.com:443@evil.net/a/b", "credentials"),
        ("https://@github.com/a/b", "credentials"),
        ("https://github.com\\@evil.net/a/b", "credentials"),
        ("https://evil.net#@github.com/a/b", "query or a fragment"),  # the host is evil.net
        ("https://evil.net?@github.com/a/b", "query or a fragment"),
        ("https://evil.net/#/github.com/a/b", "query or a fragment"),
        ("https://github.com/a/b?", "query or a fragment"),
        ("https://git\thub.com/a/b", "control characters"),  # urlsplit drops the tab
        ("https://github.com/a/b\n", "control characters"),
        ("http://github.com/a/b", "https"),
        ("git://github.com/a/b", "https"),
        ("ssh://git@github.com/a/b", "https"),
        ("file:relative", "https"),
    ],
)
def test_credential_fragment_and_scheme_tricks_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        ref_from_url(url, allow_local=False)


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("https://127.0.0.1/a/b", ["127.0.0.1"]),  # an address, even when listed
        ("https://2130706433/a/b", ["2130706433"]),
        ("https://10.1.2.3/a/b", ["*.2.3"]),
        ("https://git.\u212aernel.org/a/b", ["*.kernel.org"]),  # Kelvin sign: lowercases to k
    ],
)
def test_the_allow_list_cannot_be_met_by_an_address_or_a_non_ascii_name(
    url: str, hosts: list[str]
) -> None:
    with pytest.raises(RemoteRefused, match=f"^{REFUSED_REMOTE}$"):
        ref_from_url(url, allow_local=False, hosts=hosts)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/widgets",
        "https://GitHub.com/acme/widgets.git",
        "https://github.com./acme/widgets",  # the trailing dot of a fully qualified name
        "https://github.com:443/acme/widgets",
    ],
)
def test_spellings_of_an_allowed_host_name_one_canonical_remote(url: str) -> None:
    ref = ref_from_url(url, allow_local=False)
    assert (ref.id, ref.remote) == ("github:acme:widgets", "https://github.com/acme/widgets.git")


def test_a_listed_host_with_a_port_round_trips_through_its_id() -> None:
    hosts = ["git.example.com:8443"]
    ref = ref_from_url("https://Git.Example.com:8443/g/p.git", allow_local=False, hosts=hosts)
    assert (ref.id, ref.remote) == (
        "git:git.example.com_8443:g:p",
        "https://git.example.com:8443/g/p.git",
    )
    assert ref_from_id(ref.id, hosts=hosts).remote == "https://git.example.com:8443/g/p"
    with pytest.raises(RemoteRefused):
        ref_from_id(ref.id)  # not on the default list


@pytest.mark.parametrize(
    "rid",
    [
        "git:169.254.169.254:latest:meta-data",
        "git:127.0.0.1_8443:a",
        "git:2130706433:a:b",
        "git:evil.net:a:b",
        "git:github.com_22:a:b",
    ],
)
def test_ids_naming_an_address_or_a_host_off_the_list_are_refused(rid: str) -> None:
    with pytest.raises(RemoteRefused, match=f"^{REFUSED_REMOTE}$"):
        ref_from_id(rid)


def test_github_ids_follow_the_list_too() -> None:
    assert ref_from_id("github:acme:widgets").remote == "https://github.com/acme/widgets.git"
    with pytest.raises(RemoteRefused):
        ref_from_id("github:acme:widgets", hosts=["git.example.com"])


# --- local paths: only under the roots, symlinks resolved first ---------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(root, outside): a repository in each, and a symlink in root to the one outside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    for base in (root, outside):
        (base / "repo" / ".git").mkdir(parents=True)
    (root / "plain").mkdir()
    (root / "escape").symlink_to(outside / "repo")
    (root / "etc").symlink_to("/etc")
    (root / "alias").symlink_to(root / "repo")
    return root, outside


def test_local_paths_outside_the_roots_missing_or_not_repositories_read_alike(
    roots: tuple[Path, Path],
) -> None:
    root, outside = roots
    hostile = [
        outside / "repo",  # outside the root
        root / "escape",  # a symlink inside the root, to a repository outside
        root / "escape" / ".git",
        root / "etc",  # a symlink to /etc
        Path("/etc"),
        root / "missing",
        root / "plain",  # exists, not a repository
        root / "repo" / ".." / ".." / "outside" / "repo",
    ]
    for path in hostile:
        for url in (str(path), f"file://{path}"):
            with pytest.raises(RemoteRefused, match=f"^{REFUSED_REMOTE}$") as raised:
                ref_from_url(url, allow_local=True, local_roots=[str(root)])
            assert str(path) not in str(raised.value) and "etc" not in str(raised.value)


def test_a_repository_and_its_git_directory_are_one_id(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    refs = [
        ref_from_url(str(path), allow_local=True, local_roots=[str(root)])
        for path in (root / "repo", root / "repo" / ".git", root / "repo/", root / "alias")
    ]
    assert {r.id for r in refs} == {refs[0].id}
    assert {r.remote for r in refs} == {os.path.realpath(root / "repo")}


def test_no_roots_means_no_local_path(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    with pytest.raises(RemoteRefused):
        ref_from_url(str(root / "repo"), allow_local=True)
    assert local_repository(str(root / "repo"), []) is None


def test_hosts_and_roots_come_from_the_environment() -> None:
    from chalicelib.settings import Settings

    s = Settings.from_env({"STRATA_GIT_HOSTS": " github.com, git.example.com:8443 ,"})
    assert s.git_hosts == ("github.com", "git.example.com:8443")
    assert s.local_roots == ()
    assert Settings.from_env({}).git_hosts == ("github.com",)
    assert Settings.from_env({"STRATA_LOCAL_ROOTS": "/home/me:/srv/git:"}).local_roots == (
        "/home/me",
        "/srv/git",
    )

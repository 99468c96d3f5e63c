"""The local stack's admin key on moto: made once and saved 0600, reused, adopted from
STRATA_API_KEY, replaced when revoked; and the CLI's way of finding it."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import bootstrap
from chalicelib.domain.identity import Scope, parse_key
from chalicelib.local.admin_key import AdminKeyRefused, provide_admin_key, write_key_file
from chalicelib.local.config import LocalConfig
from chalicelib.local.provision import provision
from chalicelib.settings import Settings

PRESET = "strata_localadmin01_" + "P" * 43


@pytest.fixture
def configured(aws_env: None) -> Iterator[Settings]:
    settings = Settings(resource_prefix="local-admin")
    provision(settings)
    bootstrap.configure(settings)
    yield settings
    bootstrap.reset()


def authenticate(token: str) -> Scope:
    return bootstrap.authenticator().authenticate(f"Bearer {token}").scope


def test_the_first_start_makes_an_admin_key_and_saves_it_0600(
    configured: Settings, tmp_path: Path
) -> None:
    key = provide_admin_key(tmp_path)
    assert key.origin == "created"
    assert authenticate(key.token) is Scope.ADMIN
    saved = tmp_path / "api-key"
    assert saved.read_text().strip() == key.token
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    [record] = bootstrap.container().keys.find("admin")
    assert record.key_id == parse_key(key.token).key_id
    assert f"export STRATA_API_KEY={key.token}" in key.banner("local:x-1")
    assert 'strata search local:x-1 "fenced publish"' in key.banner("local:x-1")


def test_a_later_start_reuses_the_saved_key_and_prints_no_secret(
    configured: Settings, tmp_path: Path
) -> None:
    first = provide_admin_key(tmp_path)
    again = provide_admin_key(tmp_path)
    assert (again.token, again.origin) == (first.token, "file")
    assert parse_key(first.token).secret not in again.banner()
    assert len(bootstrap.container().keys.find()) == 1


def test_a_wiped_state_recreates_the_record_of_the_saved_key(
    configured: Settings, tmp_path: Path
) -> None:
    write_key_file(tmp_path / "api-key", PRESET)
    key = provide_admin_key(tmp_path)
    assert (key.token, key.origin) == (PRESET, "file")
    assert authenticate(PRESET) is Scope.ADMIN


def test_a_revoked_saved_key_is_replaced(configured: Settings, tmp_path: Path) -> None:
    first = provide_admin_key(tmp_path)
    admin = bootstrap.key_admin()
    other = admin.create_admin(name="other", by="tests")
    admin.revoke(parse_key(first.token).key_id, by="tests")
    replaced = provide_admin_key(tmp_path)
    assert replaced.origin == "created" and replaced.token != first.token
    assert (tmp_path / "api-key").read_text().strip() == replaced.token
    assert authenticate(other) is Scope.ADMIN


def test_strata_api_key_becomes_the_admin_key(configured: Settings, tmp_path: Path) -> None:
    key = provide_admin_key(tmp_path, PRESET)
    assert (key.token, key.origin) == (PRESET, "environment")
    assert authenticate(PRESET) is Scope.ADMIN
    assert provide_admin_key(tmp_path, PRESET).origin == "environment"  # the record exists
    assert PRESET not in key.banner()
    assert (tmp_path / "api-key").read_text().strip() == PRESET


@pytest.mark.parametrize("problem", ["malformed", "other secret", "revoked", "not admin"])
def test_an_unusable_strata_api_key_stops_the_start(
    configured: Settings, tmp_path: Path, problem: str
) -> None:
    admin = bootstrap.key_admin()
    preset = PRESET
    if problem == "malformed":
        preset = "strata_oops"
    elif problem == "other secret":
        admin.adopt(PRESET[:-1] + "Q", name="x", by="tests")
    elif problem == "revoked":
        admin.create_admin(name="keeper", by="tests")
        admin.adopt(PRESET, name="x", by="tests")
        admin.revoke(parse_key(PRESET).key_id, by="tests")
    else:
        preset = admin.create("acme", "read", None, by="tests").token
    with pytest.raises(AdminKeyRefused, match="STRATA_API_KEY cannot be used") as raised:
        provide_admin_key(tmp_path, preset)
    assert preset[-43:] not in str(raised.value)
    assert not (tmp_path / "api-key").exists()


def test_the_cli_prefers_strata_api_key_then_the_saved_file(tmp_path: Path) -> None:
    env = {"STRATA_STATE_DIR": str(tmp_path)}
    assert LocalConfig.from_env(env).client_api_key() is None
    write_key_file(tmp_path / "api-key", PRESET)
    assert LocalConfig.from_env(env).client_api_key() == PRESET
    chosen = LocalConfig.from_env({**env, "STRATA_API_KEY": " strata_x "})
    assert chosen.client_api_key() == "strata_x"
    assert "strata_x" not in repr(chosen)

"""`strata serve` and its admin key: STRATA_API_KEY becomes it (never printed); one that
cannot be used stops the start with a one-line reason, and the stack is stopped again.

A module of its own: moto's state is process-wide, so one stack runs at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chalicelib.local.cli import build_parser
from chalicelib.local.config import LocalConfig
from chalicelib.local.serve import serve
from chalicelib.local.stack import StackOptions
from chalicelib.settings import Settings

PRESET = "strata_presetadmin1_" + "K" * 43


def options(state: Path) -> StackOptions:
    settings = Settings(resource_prefix="e2e-admin-key", embedder="none")
    return StackOptions(state_dir=state, port=0, workers={}, settings=settings)


def stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()  # announce, then stop at once
    return stop


def test_strata_api_key_reaches_serve_from_the_environment() -> None:
    parsed = build_parser(LocalConfig(api_key=PRESET)).parse_args(["serve"])
    assert parsed.preset_key == PRESET


def test_serve_adopts_strata_api_key_and_never_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert serve(options(state), demo=False, stop=stopped(), api_key=PRESET) == 0
    out = capsys.readouterr().out
    assert "Admin API key: STRATA_API_KEY" in out and PRESET not in out
    assert (state / "api-key").read_text().strip() == PRESET
    assert serve(options(state), demo=False, stop=stopped()) == 0  # later: the saved key
    out = capsys.readouterr().out
    assert f"Admin API key: {state / 'api-key'}" in out and PRESET not in out


def test_an_unusable_strata_api_key_stops_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert serve(options(state), demo=False, stop=stopped(), api_key="strata_oops") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("strata: cannot start the local stack: STRATA_API_KEY cannot be used")
    assert "strata_oops" not in err and len(err.splitlines()) == 1
    assert serve(options(state), demo=False, stop=stopped()) == 0  # the stack was stopped

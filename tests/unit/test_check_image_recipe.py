"""The check-toolchains image recipe (functions/check-toolchains/Dockerfile) cannot be built
on these machines (no container engine), so what it must agree with is held here: its
handler is the one Chalice names for the check queue's consumer, it provides a binary for
every build tool the check worker knows, its check PATH is the one Settings reads, and it
installs Strata with the same pins as the zip functions."""

from __future__ import annotations

import re
from pathlib import Path

import app
from chalicelib.domain.build_units import SPEC_BY_TOOL
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "functions" / "check-toolchains" / "Dockerfile"
# The executable each tool runs (py_compile runs the image's own Python).
BINARY = {"node-check": "node", "bash-n": "bash", "py_compile": None}


def recipe() -> str:
    return RECIPE.read_text()


def env(name: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", recipe())
    assert found, f"the recipe sets no {name}"
    return found.group(1)


def test_the_image_runs_the_handler_chalice_names_for_the_check_queue() -> None:
    (cmd,) = re.findall(r'^CMD \["([^"]+)"\]$', recipe(), re.M)
    consumers = {e.handler_string: getattr(e, "queue", None) for e in app.app.event_sources}
    assert consumers[cmd] == Settings.from_env({}).names.queues["check"]


def test_every_build_tool_the_worker_knows_has_its_binary_in_the_image() -> None:
    wanted = {b for b in (BINARY.get(tool, tool) for tool in SPEC_BY_TOOL) if b is not None}
    (listed,) = re.findall(r"^# Strata's tools: (.+)$", recipe(), re.M)
    assert set(listed.split()) == wanted
    links = " ".join(line for line in recipe().splitlines() if "ln -s" in line)
    for tool in wanted - {"bash"}:  # bash is the image's own /usr/bin/bash
        assert re.search(rf"/{re.escape(tool)}(?=[\s\"])", links), (
            f"{tool} is not linked into the PATH"
        )


def test_the_check_path_is_the_toolchains_then_the_system_and_settings_read_it() -> None:
    path = env("STRATA_CHECK_PATH")
    assert path.split(":")[0] == env("TOOLCHAINS") + "/bin"
    assert Settings.from_env({"STRATA_CHECK_PATH": path}).check_path == path
    assert env("STRATA_CHECK_SANDBOX") == "auto"  # repository code runs only in a sandbox


def test_strata_is_installed_with_the_zip_functions_pins_and_its_own_code() -> None:
    text = recipe()
    assert "COPY requirements.txt" in text and "pip install --no-cache-dir -r" in text
    assert re.search(r"^COPY chalicelib ", text, re.M) and re.search(r"^COPY app.py ", text, re.M)
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:3\.13$", text, re.M)

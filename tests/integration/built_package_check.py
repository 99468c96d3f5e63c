"""The built deployment package, as Lambda's python3.13 runtime would load it. Run by
`make package-check` (it builds the package first); the file name is not `test_*.py`, so
`make test` never collects it: building needs PyPI and a minute or more.

The package (build/$STRATA_PACKAGE_STAGE, default dev) is unzipped as Lambda lays it out:
the function code in /var/task, the layer in /opt (its python/ and
python/lib/python3.13/site-packages/ on sys.path). A fresh `python3.13 -I -S` with only
those on sys.path imports every function's Handler from the template (its module only, as
Lambda does), and `app` with every top-level package of requirements.txt (numpy, pygit2,
the tree-sitter grammars, ...). Every
compiled extension must be built for CPython 3.13 (or the stable ABI) on manylinux x86_64
with a glibc no newer than the runtime's (Amazon Linux 2023: 2.34), and the unzipped
function plus layer must fit Lambda's 250 MB.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from infra.package import Package, find_runtime_python, sizes
from infra.plan import ROOT
from tests.lambda_package import handlers, import_handler, unzip

STAGE = os.environ.get("STRATA_PACKAGE_STAGE", "dev")
BUILD = ROOT / "build" / STAGE
RUNTIME_GLIBC = (2, 34)
UNZIPPED_LIMIT = 262_144_000  # Lambda: function + layers, unzipped
# requirements.txt distribution -> the module it installs
MODULES = {"pynamodb": "pynamodb", "aws-lambda-powertools": "aws_lambda_powertools"}


def requirement_modules() -> list[str]:
    names = [
        line.split("==")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    return [MODULES.get(n, n.replace("-", "_")) for n in names]


@pytest.fixture(scope="module")
def lambda_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    task = unzip(BUILD / "deployment.zip", tmp_path_factory.mktemp("var-task"))
    opt = unzip(BUILD / "layer-deployment.zip", tmp_path_factory.mktemp("opt"))
    return task, opt


def test_the_runtime_python_imports_every_handler_and_requirement(
    lambda_layout: tuple[Path, Path],
) -> None:
    python = find_runtime_python()
    assert python is not None, "no python3.13 here: `make package` would have failed too"
    task, opt = lambda_layout
    template = json.loads((BUILD / "sam.json").read_text())
    wanted = handlers(template)
    paths = [task, opt / "python" / "lib" / "python3.13" / "site-packages", opt / "python"]
    env = {"AWS_REGION": "us-east-1", "STRATA_RESOURCE_PREFIX": f"strata-{STAGE}"}

    for function, handler in wanted.items():
        found = import_handler(python, paths, handler, env=env)
        assert found["callable"], function
        assert found["files"][handler.rpartition(".")[0]].startswith(str(task)), function
    found = import_handler(python, paths, "app.app", requirement_modules(), env=env)
    for module, where in found["files"].items():
        if module != "app":
            assert where is not None and where.startswith(str(opt)), (module, where)


def test_every_extension_is_built_for_the_runtime(lambda_layout: tuple[Path, Path]) -> None:
    _, opt = lambda_layout
    wheels = list(opt.rglob("*.dist-info/WHEEL"))
    assert len(wheels) > 10
    for wheel in wheels:
        tags = [
            line.split(": ", 1)[1]
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag: ")
        ]
        for tag in tags:
            _, abi, platform = tag.split("-")
            if platform == "any":
                continue
            # CPython 3.13's ABI, the stable ABI, or no Python ABI at all (a plain binary).
            assert abi == "cp313" or abi in {"abi3", "none"}, (wheel, tag)
            glibc = re.match(r"manylinux_(\d+)_(\d+)_x86_64$", platform)
            legacy = re.match(r"manylinux(1|2010|2014)_x86_64$", platform)
            assert glibc or legacy, (wheel, tag)
            if glibc:
                assert (int(glibc[1]), int(glibc[2])) <= RUNTIME_GLIBC, (wheel, tag)
    for extension in opt.rglob("*.so"):
        name = extension.name
        assert "cpython" not in name or "cpython-313-x86_64" in name, extension


def test_the_package_fits_lambda() -> None:
    measured = sizes(Package(BUILD, {}))
    assert set(measured) == {"deployment.zip", "layer-deployment.zip"}
    assert sum(unzipped for _, unzipped in measured.values()) < UNZIPPED_LIMIT

"""Import a Lambda package the way the runtime does: a fresh interpreter in isolated mode
without site (`-I -S`: no venv, no .pth files, no PYTHONPATH, no working directory), with
sys.path set to the function's code and its layers, then each function's Handler (from the
template) imported as the runtime does: its module only, in a process of its own. Shared by
tests/integration/test_lambda_package.py (the app zip, offline) and
tests/integration/built_package_check.py (`make package-check`).
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# As Lambda's Python runtime does: import the Handler's module (only), get the attribute.
_IMPORT_HANDLER = r"""
import importlib, json, sys
paths, handler, modules = json.loads(sys.argv[1])
sys.path[:] = paths + [p for p in sys.path if "site-packages" not in p]
module, _, attribute = handler.rpartition(".")
function = getattr(importlib.import_module(module), attribute)
for name in modules:
    importlib.import_module(name)
middleware = getattr(function, "middleware_handlers", None)
print(json.dumps({
    "callable": callable(function),
    "middleware": None if middleware is None else len(list(middleware)),
    "app_imported": "app" in sys.modules,
    "files": {m: getattr(sys.modules[m], "__file__", None) for m in [module, *modules]},
}))
"""


def unzip(archive: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive) as z:
        z.extractall(into)
    return into


def handlers(template: Mapping[str, Any]) -> dict[str, str]:
    """Function logical id -> its Handler, from a SAM template."""
    return {
        name: resource["Properties"]["Handler"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def import_handler(
    python: str,
    paths: Sequence[Path],
    handler: str,
    modules: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Import `handler` (module.attribute) in a fresh `python -I -S` with only `paths`."""
    argument = json.dumps([[str(p) for p in paths], handler, list(modules)])
    result = subprocess.run(
        [python, "-I", "-S", "-c", _IMPORT_HANDLER, argument],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=paths[0],
        env=dict(env or {}),
    )
    assert result.returncode == 0, f"{handler}: {result.stderr[-4000:]}"
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out

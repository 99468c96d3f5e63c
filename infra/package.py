"""Build a stage's deployable package: `python -m infra.package --stage dev [--out DIR]`.

1. Find the Lambda runtime's Python (RUNTIME; Chalice targets the version it runs on and
   fetches wheels for that runtime's glibc) and keep a virtualenv of it in .venv-lambda with
   infra/requirements-package.txt (the app's requirements and Chalice: it imports app.py).
2. Write the stage's merge template (template.py) to DIR/merge-template.json.
3. Run `chalice package --merge-template` there: DIR/sam.json (the merged SAM template),
   DIR/deployment.zip (the app code) and DIR/layer-deployment.zip (the dependencies, Chalice's
   automatic layer, rebuilt only when requirements.txt changes).
4. Check the merged template (`problems`): every function planned and no other, each on
   RUNTIME, each SQS source reporting batch item failures from a queue of the template, no
   role left with the deny-all placeholder. Any problem fails the build.

The Python is LAMBDA_PYTHON if set, else `python3.13` on PATH, else one under pyenv.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.plan import ROOT, StagePlan, plan_stage
from infra.template import merge_template

RUNTIME = "python3.13"
VENV = ROOT / ".venv-lambda"
REQUIREMENTS = ROOT / "infra" / "requirements-package.txt"
PLACEHOLDER_SID = "ReplacedByInfraAtPackageTime"  # .chalice/policy-replaced-by-infra.json


class PackageError(RuntimeError):
    pass


def runtime_version() -> str:
    return RUNTIME.removeprefix("python")


def _runs_as_runtime(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == runtime_version()


def find_runtime_python() -> str | None:
    """A Python of the Lambda runtime's version, or None (see the module docstring)."""
    version = runtime_version()
    pyenv = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = [
        os.environ.get("LAMBDA_PYTHON", ""),
        shutil.which(f"python{version}") or "",
        *sorted(glob.glob(f"{pyenv}/versions/{version}*/bin/python{version}"), reverse=True),
    ]
    return next((c for c in candidates if c and _runs_as_runtime(c)), None)


def _stamp(python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for path in (REQUIREMENTS, ROOT / "requirements.txt"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(python: str, venv: Path = VENV) -> Path:
    """The packaging virtualenv, (re)made when the Python or the requirements changed."""
    stamp_file, stamp = venv / ".installed", _stamp(python)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, cwd=ROOT)
    stamp_file.write_text(stamp)
    return venv


@dataclass(frozen=True)
class Package:
    out: Path
    template: dict[str, Any]

    @property
    def zips(self) -> dict[str, Path]:
        return {p.name: p for p in sorted(self.out.glob("*.zip"))}


def run_chalice(venv: Path, stage: str, merge: Path, out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    command = [
        str(venv / "bin" / "chalice"),
        "package",
        "--stage",
        stage,
        "--pkg-format",
        "cloudformation",
        "--template-format",
        "json",
        "--merge-template",
        str(merge),
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or "Could not install dependencies" in result.stdout + result.stderr:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")


def build(stage: str, out: Path | None = None, python: str | None = None) -> Package:
    python = python or find_runtime_python()
    if python is None:
        raise PackageError(
            f"no Python {runtime_version()} found for the {RUNTIME} runtime: install one "
            f"(e.g. `pyenv install {runtime_version()}`) or set LAMBDA_PYTHON"
        )
    plan = plan_stage(stage)
    out = out or ROOT / "build" / stage
    for stale in ("sam.json", "deployment.zip", "layer-deployment.zip"):
        (out / stale).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge-template.json"
    merge.write_text(json.dumps(merge_template(plan), indent=2) + "\n")
    run_chalice(ensure_venv(python), stage, merge, out)
    template = json.loads((out / "sam.json").read_text())
    found = problems(template, plan)
    if found:
        raise PackageError("the merged template is wrong:\n- " + "\n- ".join(found))
    return Package(out, template)


def _functions(template: Mapping[str, Any]) -> dict[str, Any]:
    resources = template["Resources"]
    return {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}


def _event_problems(
    name: str, events: Mapping[str, Any], resources: Mapping[str, Any]
) -> list[str]:
    found = []
    for event_id, event in events.items():
        if "Type" not in event:
            found.append(f"{name}: event {event_id} is not one Chalice made (a merge typo?)")
        if event.get("Type") != "SQS":
            continue
        properties = event.get("Properties", {})
        if properties.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            found.append(f"{name}: {event_id} ignores partial batch responses")
        queue = str(properties.get("Queue", {}).get("Fn::Sub", "")).removeprefix("${")
        if queue.removesuffix(".Arn}") not in resources:
            found.append(f"{name}: {event_id} reads a queue the template does not define")
    return found


def problems(template: Mapping[str, Any], plan: StagePlan) -> list[str]:
    resources = template["Resources"]
    functions = _functions(template)
    found = []
    planned = {f.logical_id for f in plan.functions}
    if set(functions) != planned:
        found.append(f"functions {sorted(functions)} != deploy.json's {sorted(planned)}")
    for name, function in functions.items():
        properties = function["Properties"]
        if properties.get("Runtime") != RUNTIME:
            found.append(f"{name} runs {properties.get('Runtime')}, not {RUNTIME}")
        found += _event_problems(name, properties.get("Events", {}), resources)
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::IAM::Role" and PLACEHOLDER_SID in json.dumps(resource):
            found.append(f"{name} kept the deny-all placeholder policy")
    return found


def sizes(package: Package) -> dict[str, tuple[int, int]]:
    """Per zip: (zipped, unzipped) bytes."""
    out = {}
    for name, path in package.zips.items():
        with zipfile.ZipFile(path) as z:
            out[name] = (path.stat().st_size, sum(i.file_size for i in z.infolist()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    args = parser.parse_args(argv)
    try:
        package = build(args.stage, args.out)
    except (PackageError, ValueError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    for name, (zipped, unzipped) in sizes(package).items():
        print(
            f"{package.out / name}: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped"
        )
    print(f"{package.out / 'sam.json'}: {len(package.template['Resources'])} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())

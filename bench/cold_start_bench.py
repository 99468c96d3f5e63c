"""Cold-start import time of each Lambda handler, as Lambda's Python runtime loads it.

    python bench/cold_start_bench.py                 # build/dev if built, else the checkout
    python bench/cold_start_bench.py --runs 10
    python bench/cold_start_bench.py --source        # the checkout on this venv's Python

For each function of the stage's template (app.api_handler and every worker of app.py), a
fresh interpreter per run imports the function's Handler the way Lambda does (its module
only), then builds the composition root (`bootstrap.container()`: Settings, SDK clients,
adapters; no request is sent), which the first invocation would do. Against the built
package (`make package`: build/<stage>/), that is `python3.13 -I -S` with only the unzipped
function code and layer on sys.path, as in /var/task and /opt; with --source, this venv's
Python on the checkout. Times are wall milliseconds inside the child (interpreter start-up
excluded): median, min and max over --runs. Local figures, not Lambda's (different CPU,
disk and no Firecracker snapshot); they rank handlers and catch regressions.
Results also go to bench/results/cold_start.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import _env  # noqa: F401  (repository on sys.path, fake credentials)

from infra.package import find_runtime_python
from infra.plan import ROOT

RESULTS = ROOT / "bench" / "results" / "cold_start.json"

CHILD = r"""
import importlib, json, sys, time
paths, handler = json.loads(sys.argv[1])
if paths:
    sys.path[:] = paths + [p for p in sys.path if "site-packages" not in p]
t0 = time.perf_counter()
module, _, attribute = handler.rpartition(".")
getattr(importlib.import_module(module), attribute)
t1 = time.perf_counter()
from chalicelib import bootstrap
bootstrap.container()
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "container_ms": (t2 - t1) * 1000,
                  "modules": len(sys.modules)}))
"""


def handlers(template: dict) -> dict[str, str]:
    return {
        name: r["Properties"]["Handler"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def stage_template(stage: str, build: Path) -> dict:
    built = build / "sam.json"
    if built.exists():
        return json.loads(built.read_text())
    from infra.sam import build_template

    return build_template(stage, Path(tempfile.mkdtemp()) / "template")


def run_once(python: str, flags: list[str], paths: list[str], handler: str, env: dict) -> dict:
    out = subprocess.run(
        [python, *flags, "-c", CHILD, json.dumps([paths, handler])],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths[0] if paths else ROOT,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{handler}: {out.stderr[-2000:]}")
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", action="store_true", help="the checkout, not build/<stage>")
    args = parser.parse_args()
    build = ROOT / "build" / args.stage
    template = stage_template(args.stage, build)
    env = {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "STRATA_RESOURCE_PREFIX": f"strata-{args.stage}",
        "STRATA_BUCKET": f"strata-{args.stage}-index-123456789012-us-east-1",
        "POWERTOOLS_SERVICE_NAME": "strata",
        "PATH": os.environ.get("PATH", ""),
    }
    packaged = not args.source and (build / "layer-deployment.zip").exists()
    python = find_runtime_python() if packaged else None
    with tempfile.TemporaryDirectory() as scratch:
        if packaged and python:
            task, opt = Path(scratch) / "task", Path(scratch) / "opt"
            zipfile.ZipFile(build / "deployment.zip").extractall(task)
            zipfile.ZipFile(build / "layer-deployment.zip").extractall(opt)
            layer = opt / "python" / "lib" / "python3.13" / "site-packages"
            paths, flags, where = (
                [str(task), str(layer), str(opt / "python")],
                ["-I", "-S"],
                "package",
            )
        else:
            python, paths, flags, where = sys.executable, [], [], "source"
            env["PYTHONPATH"] = str(ROOT)
        rows = {}
        for function, handler in handlers(template).items():
            runs = [run_once(str(python), flags, paths, handler, env) for _ in range(args.runs)]
            rows[function] = {
                "handler": handler,
                "modules": runs[-1]["modules"],
                **{
                    key: {
                        "median": statistics.median(r[key] for r in runs),
                        "min": min(r[key] for r in runs),
                        "max": max(r[key] for r in runs),
                    }
                    for key in ("import_ms", "container_ms")
                },
            }
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"cold start, {where} on Python {version}, {args.runs} runs each (ms: median [min-max])")
    print(f"{'function':<16} {'handler':<44} {'import':>20} {'container':>18} {'modules':>8}")
    for function, row in rows.items():
        i, c = row["import_ms"], row["container_ms"]
        print(
            f"{function:<16} {row['handler']:<44} "
            f"{i['median']:7.0f} [{i['min']:4.0f}-{i['max']:4.0f}] "
            f"{c['median']:6.0f} [{c['min']:3.0f}-{c['max']:4.0f}] {row['modules']:>8}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "where": where,
                "python": version,
                "runs": args.runs,
                "machine": platform.machine(),
                "functions": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"-> {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

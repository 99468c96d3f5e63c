"""The app zip of the deployment package (deployment.zip: app.py, chalicelib/, Chalice's
runtime) carries every module the handlers import: each function's Handler, from the merged
template, resolves in a fresh `python -I -S` (its module only, as Lambda imports it) with only
the unzipped app and, standing in for the dependencies layer, this virtualenv's site-packages.

Offline and in seconds (infra/sam.py builds the real app zip; only the layer is a
placeholder). The built layer itself, on python3.13, is checked by `make package-check`
(tests/integration/built_package_check.py), which needs PyPI to build it.
"""

from __future__ import annotations

import sys
import sysconfig
import zipfile
from pathlib import Path

from infra.plan import plan_stage
from tests.cfn_stack import sam_template
from tests.lambda_package import handlers, import_handler, unzip

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "STRATA_RESOURCE_PREFIX": "strata-dev",
}


def test_the_app_zip_alone_resolves_every_handler(tmp_path: Path) -> None:
    template = sam_template("dev", tmp_path / "build")
    app = unzip(tmp_path / "build" / "deployment.zip", tmp_path / "app")
    wanted = handlers(template)
    planned = {f.logical_id for f in plan_stage("dev").functions}  # infra/deploy.json's
    assert set(wanted) == planned and wanted["APIHandler"] == "app.app"
    site_packages = Path(sysconfig.get_paths()["purelib"])  # the layer's stand-in

    for function, handler in wanted.items():
        found = import_handler(sys.executable, [app, site_packages], handler, env=ENV)
        assert found["callable"], function
        module = handler.rpartition(".")[0]
        assert found["files"][module].startswith(str(app)), "not the checkout's"


def test_every_worker_runs_with_the_apps_middleware_as_lambda_imports_it(tmp_path: Path) -> None:
    template = sam_template("dev", tmp_path / "build")
    app = unzip(tmp_path / "build" / "deployment.zip", tmp_path / "app")
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for function, handler in handlers(template).items():
        if function == "APIHandler":
            continue
        found = import_handler(sys.executable, [app, site_packages], handler, env=ENV)
        assert found["middleware"], f"{function}: {handler} runs without middleware"


def test_the_app_zip_holds_the_app_and_no_deploy_or_test_code(tmp_path: Path) -> None:
    sam_template("dev", tmp_path)
    with zipfile.ZipFile(tmp_path / "deployment.zip") as z:
        tops = {name.split("/")[0] for name in z.namelist()}
    assert tops == {"app.py", "chalicelib", "chalice"}  # chalice: its Lambda runtime

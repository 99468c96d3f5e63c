"""A stage's merged SAM template without building its zips, offline and in seconds:

    python -m infra.sam --stage dev [--out DIR]      # DIR/sam.json (default build/template-dev)

`make check` lints this template with cfn-lint, and tests/e2e/test_cloudformation_stack.py
deploys it into moto's CloudFormation. It is the template `python -m infra.package` writes
(tests/integration/test_lambda_package.py compares the two), made the same way: Chalice's own
packager, in this process, with the stage's merge template. Two things differ, neither of
which shows in the template:
- the dependencies layer is an empty placeholder zip: building it pip-installs the
  requirements for the runtime, which needs the registry. The app zip (deployment.zip:
  app.py, chalicelib/, Chalice's runtime) is the real one, built by Chalice's own
  AppOnlyDeploymentPackager, which downloads nothing;
- Chalice names the runtime after the Python it runs on; here it is told RUNTIME instead,
  the runtime infra/package.py builds for (with that Python).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from botocore.session import Session
from chalice.awsclient import TypedAWSClient
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.deploy.deployer import (
    BaseDeployStep,
    BuildStage,
    InjectDefaults,
    LambdaEventSourcePolicyInjector,
    PolicyGenerator,
    SwaggerBuilder,
    WebsocketPolicyInjector,
)
from chalice.deploy.packager import AppOnlyDeploymentPackager
from chalice.deploy.swagger import CFNSwaggerGenerator
from chalice.package import (
    AppPackager,
    CompositePostProcessor,
    JSONTemplateSerializer,
    PackageOptions,
    ResourceBuilder,
    SAMCodeLocationPostProcessor,
    SAMTemplateGenerator,
    TemplateDeepMerger,
    TemplateMergePostProcessor,
)
from chalice.policy import AppPolicyGenerator
from chalice.utils import UI, OSUtils

from infra.package import RUNTIME, problems
from infra.plan import CONFIG_PATH, ROOT, load_json, plan_stage
from infra.template import merge_template

Json = dict[str, Any]


class _RuntimeConfig(Config):
    """Chalice's Config, on the Lambda runtime infra/package.py builds for."""

    @property
    def lambda_python_version(self) -> str:
        return RUNTIME


class _AppZipOnly(BaseDeployStep):
    """Chalice's ManagedLayerDeploymentPackager step without its pip half: the functions get
    the real app zip, the layer an empty placeholder (the template only names the file)."""

    def __init__(self, directory: Path) -> None:
        self._packager = AppOnlyDeploymentPackager(
            osutils=OSUtils(),
            dependency_builder=None,  # type: ignore[arg-type]  # the app-only half never builds
            ui=UI(),
            architecture="x86_64",
        )
        self._layer = self._empty_zip(directory / "layer-placeholder.zip")

    @staticmethod
    def _empty_zip(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w"):
            pass
        return str(path)

    def handle_lambdafunction(self, config: Config, resource: Any) -> None:
        if isinstance(resource.deployment_package.filename, models.Placeholder):
            resource.deployment_package.filename = self._packager.create_deployment_package(
                config.project_dir, config.lambda_python_version
            )

    def handle_lambdalayer(self, config: Config, resource: Any) -> None:
        if isinstance(resource.deployment_package.filename, models.Placeholder):
            resource.deployment_package.filename = self._layer


def _config(stage: str) -> Config:
    """What CLIFactory.create_config_obj makes for `chalice package --stage`, on RUNTIME."""
    # Chalice sets the stage's variables in `environ` to import app.py: a copy, not ours.
    factory = CLIFactory(project_dir=str(ROOT), environ=dict(os.environ))
    params: dict[str, Any] = {}
    config = _RuntimeConfig(
        chalice_stage=stage,
        user_provided_params=params,
        config_from_disk=load_json(CONFIG_PATH),
        default_params={
            "project_dir": str(ROOT),
            "api_gateway_stage": "api",
            "api_gateway_endpoint_type": "EDGE",
            "autogen_policy": True,
        },
    )
    params["chalice_app"] = functools.partial(
        factory.load_chalice_app, config.environment_variables
    )
    return config


def _packager(config: Config, merge: Path, scratch: Path) -> AppPackager:
    """create_app_packager's cloudformation packager, with _AppZipOnly for its pip step."""
    osutils = OSUtils()
    steps = [
        InjectDefaults(),
        _AppZipOnly(scratch),
        PolicyGenerator(policy_gen=AppPolicyGenerator(osutils=osutils), osutils=osutils),
        SwaggerBuilder(swagger_generator=CFNSwaggerGenerator()),
        LambdaEventSourcePolicyInjector(),
        WebsocketPolicyInjector(),
    ]
    serializer = JSONTemplateSerializer()
    post = CompositePostProcessor(
        [
            SAMCodeLocationPostProcessor(osutils=osutils),
            TemplateMergePostProcessor(
                osutils=osutils,
                merger=TemplateDeepMerger(),
                template_serializer=serializer,
                merge_template=str(merge),
            ),
        ]
    )
    resources = ResourceBuilder(ApplicationGraphBuilder(), DependencyBuilder(), BuildStage(steps))
    session = Session()
    if not session.get_config_variable("region"):  # it only picks service principals
        session.set_config_variable("region", "us-east-1")
    options = PackageOptions(TypedAWSClient(session=session))
    return AppPackager(SAMTemplateGenerator(config, options), resources, post, serializer, osutils)


def build_template(stage: str, out: Path | None = None) -> Json:
    """Write DIR/merge-template.json, DIR/sam.json, DIR/deployment.zip (the app code) and
    an empty DIR/layer-deployment.zip; return
    the merged template. Raises ValueError when the template has problems()."""
    plan = plan_stage(stage)
    out = out or ROOT / "build" / f"template-{stage}"
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge-template.json"
    merge.write_text(json.dumps(merge_template(plan), indent=2) + "\n")
    config = _config(stage)
    _packager(config, merge, out / "placeholders").package_app(config, str(out), stage)
    template: Json = json.loads((out / "sam.json").read_text())
    found = problems(template, plan)
    if found:
        raise ValueError("the merged template is wrong:\n- " + "\n- ".join(found))
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sam", description=__doc__)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: build/template-<stage>")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "build" / f"template-{args.stage}"
    try:
        template = build_template(args.stage, out)
    except ValueError as exc:
        print(f"sam: {exc}", file=sys.stderr)
        return 1
    print(f"{out / 'sam.json'}: {len(template['Resources'])} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())

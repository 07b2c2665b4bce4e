"""CDK Pipelines stack in the CI/CD account: deploys the backbone (both regions) and then
every application's stacks into their own accounts, with cross-account KMS keys.

Target accounts must be bootstrapped with ``--trust <cicd account>`` (README).
"""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import pipelines
from constructs import Construct

from infra.config import DeploymentConfig
from infra.stages import ApplicationStage, BackboneStage


class DeliveryPipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if config.source is None:
            raise ValueError("the delivery pipeline needs config.source")
        source = pipelines.CodePipelineSource.connection(
            config.source.repository, config.source.branch, connection_arn=config.source.connection_arn
        )
        synth = pipelines.ShellStep(
            "Synth",
            input=source,
            install_commands=["npm ci", "python3 -m venv .venv", ".venv/bin/pip install -e '.[dev]'"],
            commands=[
                ".venv/bin/python -m pytest tests/unit -q",
                f"npx cdk synth -c config={config.config_file}",
            ],
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=synth,
            cross_account_keys=True,
            enable_key_rotation=True,
            docker_enabled_for_synth=False,
        )
        backbone = self.pipeline.add_wave("Backbone")
        for region in config.regions:
            backbone.add_stage(BackboneStage(
                self, f"Backbone-{region}", config=config, region=region,
                env=Environment(account=config.backbone.account, region=region),
            ))
        applications = self.pipeline.add_wave("Applications")
        for app in config.applications:
            applications.add_stage(ApplicationStage(
                self, f"App-{app.name}", config=config, application=app,
                env=Environment(account=app.account, region=app.region),
            ))


"""What gets deployed where: the backbone in both regions, each application's stacks in
its own account. Used directly by app.py and, unchanged, by the delivery pipeline's stages."""

from __future__ import annotations

from aws_cdk import Environment, Stack, Stage
from constructs import Construct

from infra.config import Application, DeploymentConfig, bus_arn
from infra.stacks.application_bus import ApplicationBusStack
from infra.stacks.backbone import BackboneStack
from infra.stacks.transaction_pipeline import TransactionPipelineStack


def add_backbone(scope: Construct, config: DeploymentConfig, region: str) -> Stack:
    primary = region == config.backbone.region
    return BackboneStack(
        scope,
        "Backbone" if primary else "BackboneSecondRegion",
        config=config,
        primary=primary,
        env=Environment(account=config.backbone.account, region=region),
        description=f"Event backbone ({'primary' if primary else 'second'} region {region})",
    )


def add_application(scope: Construct, config: DeploymentConfig, app: Application) -> list[Stack]:
    env = Environment(account=app.account, region=app.region)
    prefix = app.name.title()
    bus = ApplicationBusStack(
        scope, f"{prefix}Bus", config=config, application=app, env=env,
        description=f"{app.name}: application bus on the backbone",
    )
    stacks: list[Stack] = [bus]
    if app.runs_transaction_pipeline:
        pipeline = TransactionPipelineStack(
            scope,
            f"{prefix}TransactionPipeline",
            settings=config.pipeline,
            application=app,
            # Straight onto the global bus: EventBridge forwards an event bus-to-bus once only,
            # so the backbone's own forwarding to subscribers must be that one hop.
            domain_bus_arn=bus_arn(config.backbone.account, config.backbone.region, config.global_bus_name),
            env=env,
            description=f"{app.name}: immutable transaction pipeline",
        )
        stacks.append(pipeline)
    return stacks


class BackboneStage(Stage):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, region: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        add_backbone(self, config, region)


class ApplicationStage(Stage):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, application: Application, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        add_application(self, config, application)

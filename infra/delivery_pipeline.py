"""CDK Pipelines stack in the CI/CD account: deploys the backbone (both regions) and then
every application's stacks into their own accounts, with cross-account KMS keys.

Target accounts must be bootstrapped with ``--trust <cicd account>`` (README).
"""

from __future__ import annotations

import json

from aws_cdk import Environment, Stack
from aws_cdk import pipelines
from constructs import Construct

from infra.config import PROJECT_ROOT, DeploymentConfig
from infra.nag import acknowledge
from infra.stages import ApplicationStage, BackboneStage


def pinned_cdk_cli_version() -> str:
    return json.loads((PROJECT_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


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
            # The same CDK CLI as package.json pins (3.x cannot read these assemblies).
            cli_version=pinned_cdk_cli_version(),
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


        # Build now so CDK Pipelines' own roles and buckets exist, then acknowledge what
        # cdk-nag finds in them: CDK's generated least-privilege grants, scoped to the
        # pipeline's artifact buckets, its own CodeBuild projects and key.
        self.pipeline.build_pipeline()
        self._acknowledge_cdk_pipelines_findings()

    def _acknowledge_cdk_pipelines_findings(self) -> None:
        stack = Stack.of(self)

        def logical_id(construct) -> str:
            return stack.resolve(stack.get_logical_id(construct.node.default_child))

        account, region = stack.account, stack.region
        bucket = logical_id(self.pipeline.pipeline.artifact_bucket)
        grants = "CDK Pipelines' generated grant on the pipeline's own artifact bucket and key."
        codebuild = "CDK Pipelines' generated grant for its own CodeBuild projects' logs and reports."
        findings = {
            **{f"AwsSolutions-IAM5[Action::{a}]": grants for a in (
                "s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*",
                "kms:ReEncrypt*", "kms:GenerateDataKey*")},
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]": grants,
            "AwsSolutions-IAM5[Resource::*]": "CodePipeline/CodeBuild actions without resource-level permissions "
            "(CDK Pipelines' generated policy).",
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{account}:role/*]": "Self-mutation assumes the CDK bootstrap "
            "roles of this account (CDK Pipelines' generated policy).",
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{region}:{account}:log-group:/aws/codebuild/*]": codebuild,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:{region}:{account}:report-group/*]": codebuild,
            "AwsSolutions-S1": "Pipeline artifact buckets: access is through the pipeline's roles only, "
            "recorded by CloudTrail; server access logs would add a log bucket per region for no reader.",
        }
        for project in (self.pipeline.synth_project, self.pipeline.self_mutation_project):
            pid = logical_id(project)
            findings[f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{region}:{account}:log-group:/aws/codebuild/<{pid}>:*]"] = codebuild
            findings[f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:{region}:{account}:report-group/<{pid}>-*]"] = codebuild
        for support in self.pipeline.pipeline.cross_region_support.values():
            name = stack.resolve(support.replication_bucket.bucket_name)
            findings[f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{name}/*]"] = grants
            acknowledge(support.replication_bucket, {"AwsSolutions-S1": findings["AwsSolutions-S1"]})
        acknowledge(self.pipeline, findings)

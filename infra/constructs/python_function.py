"""Python Lambda functions bundled from lambda/<name>/ with their pinned requirements.

Bundling runs pip on the host (no Docker): dependencies are installed once per
requirements hash into .build/ and copied into each asset. The asset hash is taken from
the source folder, so an unchanged handler redeploys as a no-op.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import PROJECT_ROOT
from infra.constructs.logs import encrypted_log_group
from infra.nag import acknowledge

LAMBDA_ROOT = PROJECT_ROOT / "lambda"
BUILD_ROOT = PROJECT_ROOT / ".build" / "lambda-deps"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.X86_64


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Installs requirements.txt for the Lambda platform, then copies the handler sources."""

    def __init__(self, source_dir: Path) -> None:
        self._source_dir = source_dir

    def try_bundle(self, output_dir: str, *, image=None, **_ignored) -> bool:
        requirements = self._source_dir / "requirements.txt"
        if requirements.exists():
            shutil.copytree(_installed_requirements(requirements), output_dir, dirs_exist_ok=True)
        for entry in self._source_dir.iterdir():
            if entry.name in ("__pycache__", "requirements.txt"):
                continue
            target = Path(output_dir) / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(entry, target)
        return True


def _installed_requirements(requirements: Path) -> Path:
    digest = hashlib.sha256(requirements.read_bytes() + RUNTIME.name.encode()).hexdigest()[:16]
    target = BUILD_ROOT / digest
    if (target / ".complete").exists():
        return target
    staging = target.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    python_version = RUNTIME.name.removeprefix("python")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--only-binary=:all:", "--implementation", "cp",
            "--platform", "manylinux2014_x86_64", "--python-version", python_version,
            "--target", str(staging), "-r", str(requirements),
        ],
        check=True,
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".complete").touch()
    return target


class PythonFunction(Construct):
    """A Python Lambda with its own encrypted log group and retention."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        log_retention_days: int,
        timeout: Duration = Duration.seconds(10),
        memory_size: int = 256,
    ) -> None:
        super().__init__(scope, construct_id)
        source_dir = LAMBDA_ROOT / source
        if not (source_dir / "handler.py").is_file():
            raise FileNotFoundError(f"{source_dir}/handler.py not found")
        self.log_group: logs.LogGroup = encrypted_log_group(self, "Logs", key=key, days=log_retention_days)
        # Its own role, writing to its own log group only (not AWSLambdaBasicExecutionRole's logs:* on *).
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(source_dir),
                asset_hash_type=AssetHashType.SOURCE,
                bundling=BundlingOptions(
                    image=RUNTIME.bundling_image if RUNTIME.bundling_image else DockerImage.from_registry("python"),
                    command=["bash", "-c", "pip install -r requirements.txt -t /asset-output && cp -au . /asset-output"],
                    local=PipLocalBundling(source_dir),
                ),
            ),
            description=description,
            environment={"POWERTOOLS_SERVICE_NAME": source, "POWERTOOLS_LOG_LEVEL": "INFO", **environment},
            environment_encryption=key,
            role=self.role,
            log_group=self.log_group,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(self.role, {
            "AwsSolutions-IAM5[Resource::*]": "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "CDK's KMS grant on this stack's one key (environment, table, secret encryption).",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "CDK's KMS grant on this stack's one key (environment, table, secret encryption).",
        })

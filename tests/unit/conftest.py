"""Shared fixtures for the unit tests: the CDK app synthesized once per session per
configuration, and fake AWS credentials for the handler tests (template-reading helpers
are in helpers.py).

The app is synthesized by running ``app.py`` itself (as ``cdk synth`` does), in a
subprocess, with the context the CDK CLI would pass: cdk.json's ``context`` plus the
chosen ``config``. Both configurations synthesize in parallel on first use. Two
deliberate differences from ``cdk synth``:

* ``aws:cdk:bundling-stacks`` is ``[]``: Lambda assets are not bundled, so no pip run
  and no network (templates are the same apart from asset contents);
* the output goes to a temporary directory, never to the project's cdk.out.

cdk-nag runs inside that synthesis (app.py registers it), so its verdict (exit status
and validation-report.json) is captured once too; templates are read from the cloud
assembly even when validation fails, so a nag finding does not hide template facts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # import infra/ from this checkout, not an installed copy
    sys.path.insert(0, str(PROJECT_ROOT))

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

LOCAL_CONFIG = "config/local.json"
AWS_EXAMPLE_CONFIG = "config/aws.example.json"
SYNTH_TIMEOUT_S = 240


# --------------------------------------------------------------------------- synthesis


@dataclass
class StackArtifact:
    display_name: str  # e.g. "Backbone" or "DeliveryPipeline/App-payments/PaymentsBus"
    account: str
    region: str
    template: dict[str, Any]
    metadata: dict[str, list[dict[str, Any]]]
    template_path: Path


@dataclass
class SynthResult:
    config: str
    outdir: Path
    returncode: int
    stdout: str
    stderr: str
    stacks: dict[str, StackArtifact] = field(default_factory=dict)

    @property
    def validation_report(self) -> dict[str, Any]:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def stack(self, display_name: str) -> StackArtifact:
        try:
            return self.stacks[display_name]
        except KeyError:
            raise AssertionError(f"no stack {display_name!r} in {sorted(self.stacks)}\n{self.stderr[-3000:]}") from None

    def template(self, display_name: str) -> dict[str, Any]:
        return self.stack(display_name).template


def _cli_context(config: str) -> dict[str, Any]:
    context = dict(json.loads((PROJECT_ROOT / "cdk.json").read_text()).get("context", {}))
    context_file = PROJECT_ROOT / "cdk.context.json"
    if context_file.is_file():
        context.update(json.loads(context_file.read_text()))
    context["config"] = config
    context["aws:cdk:bundling-stacks"] = []
    return context


def _start_synth(config: str, outdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CONFIG" and not k.startswith("CDK_")}
    env.update(
        CDK_OUTDIR=str(outdir),
        CDK_CONTEXT_JSON=json.dumps(_cli_context(config)),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
    )
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_assembly(directory: Path, stacks: dict[str, StackArtifact]) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        if kind == "cdk:cloud-assembly":
            _read_assembly(directory / artifact["properties"]["directoryName"], stacks)
        elif kind == "aws:cloudformation:stack":
            account, region = artifact["environment"].removeprefix("aws://").split("/")
            metadata_file = directory / artifact.get("additionalMetadataFile", f"{artifact_id}.metadata.json")
            template_path = directory / artifact["properties"]["templateFile"]
            stacks[artifact.get("displayName", artifact_id)] = StackArtifact(
                display_name=artifact.get("displayName", artifact_id),
                account=account,
                region=region,
                template=json.loads(template_path.read_text()),
                metadata=json.loads(metadata_file.read_text()) if metadata_file.is_file() else artifact.get("metadata", {}),
                template_path=template_path,
            )


def _finish_synth(config: str, outdir: Path, process: subprocess.Popen) -> SynthResult:
    try:
        stdout, stderr = process.communicate(timeout=SYNTH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"synth of {config} took more than {SYNTH_TIMEOUT_S}s:\n{stderr[-3000:]}")
    result = SynthResult(config, outdir, process.returncode, stdout, stderr)
    if not (outdir / "manifest.json").is_file():
        pytest.fail(f"synth of {config} wrote no cloud assembly (exit {process.returncode}):\n{stderr[-5000:]}")
    _read_assembly(outdir, result.stacks)
    return result


@pytest.fixture(scope="session")
def _synth_processes(tmp_path_factory) -> dict[str, tuple[Path, subprocess.Popen]]:
    """Starts both synths at once: they are independent and the machine has two cores."""
    started = {}
    for config in (LOCAL_CONFIG, AWS_EXAMPLE_CONFIG):
        outdir = tmp_path_factory.mktemp(Path(config).stem.replace(".", "-") + "-cdk.out")
        started[config] = (outdir, _start_synth(config, outdir))
    yield started
    for _, process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def local_synth(_synth_processes) -> SynthResult:
    """The app as synthesized for config/local.json (delivery "direct": all stacks)."""
    return _finish_synth(LOCAL_CONFIG, *_synth_processes[LOCAL_CONFIG])


@pytest.fixture(scope="session")
def aws_synth(_synth_processes) -> SynthResult:
    """The app as synthesized for config/aws.example.json (delivery "pipeline")."""
    return _finish_synth(AWS_EXAMPLE_CONFIG, *_synth_processes[AWS_EXAMPLE_CONFIG])


@pytest.fixture(scope="session")
def all_stacks(local_synth, aws_synth) -> list[StackArtifact]:
    return [*local_synth.stacks.values(), *aws_synth.stacks.values()]


# --------------------------------------------------------------------------- handler helpers


@pytest.fixture
def aws_credentials(monkeypatch) -> None:
    """Fake credentials and no endpoint override, so boto3 can never reach a real cloud."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

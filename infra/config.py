"""Typed deployment configuration: which accounts and regions run what.

The configuration is a JSON file chosen by CDK context (``-c config=<path>``) or the
``PIPELINE_CONFIG`` environment variable, defaulting to ``config/local.json``. Differences
between the local cloud and AWS live here, never in the stacks.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "local.json"
CONFIG_CONTEXT_KEY = "config"
CONFIG_ENV_VAR = "PIPELINE_CONFIG"

_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")


class ConfigError(ValueError):
    """The configuration file is missing or says something impossible."""


@dataclass(frozen=True)
class AccountRegion:
    account: str
    region: str

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str) -> "AccountRegion":
        account = str(raw.get("account", ""))
        region = str(raw.get("region", ""))
        if not _ACCOUNT_RE.fullmatch(account):
            raise ConfigError(f"{where}.account must be a 12-digit AWS account id, got {account!r}")
        if not _REGION_RE.fullmatch(region):
            raise ConfigError(f"{where}.region must be an AWS region such as us-east-1, got {region!r}")
        return cls(account, region)


@dataclass(frozen=True)
class Application:
    """One application account on the backbone."""

    name: str
    account: str
    region: str
    source: str  # EventBridge `source` of the application's own domain events
    publishes: tuple[str, ...] = ()  # detail-types it sends to the backbone
    subscribes: tuple[str, ...] = ()  # detail-types it receives from the backbone
    runs_transaction_pipeline: bool = False
    consumer: bool = False  # deploys a consumer that logs what it receives


@dataclass(frozen=True)
class TransactionPipelineSettings:
    pipe_batch_size: int = 10
    pipe_batching_window_seconds: int = 0
    queue_max_receive_count: int = 3
    archive_retention_days: int = 7
    log_retention_days: int = 30
    lambda_retry_attempts: int = 2
    event_source: str = "transactions.api"
    event_detail_type: str = "TransactionReceived"
    api_authorization: str = "AWS_IAM"  # or NONE: an open ingestion endpoint
    personal_fields: tuple[str, ...] = ("customer.name", "customer.email", "customer.iban")
    # The ingress pipe's enrichment (lambda/transaction_enricher): validates each record
    # and adds a ``validation`` field beside its body.
    pipe_enrichment: bool = False


@dataclass(frozen=True)
class SourceSettings:
    """Where the delivery pipeline pulls the app from (a CodeConnections connection)."""

    connection_arn: str
    repository: str  # owner/name
    branch: str = "main"


@dataclass(frozen=True)
class DeploymentConfig:
    name: str
    backbone: AccountRegion
    second_region: str
    cicd: AccountRegion
    organization_id: str | None
    applications: tuple[Application, ...]
    pipeline: TransactionPipelineSettings = field(default_factory=TransactionPipelineSettings)
    # "direct": app.py deploys the stacks itself (local cloud, a developer's account);
    # "pipeline": app.py builds the CDK Pipelines stack in the CI/CD account, which deploys them.
    delivery: str = "direct"
    source: SourceSettings | None = None
    config_file: str = "config/local.json"  # as the delivery pipeline's synth step passes it

    def application(self, name: str) -> Application:
        for app in self.applications:
            if app.name == name:
                return app
        raise ConfigError(f"no application named {name!r} in configuration {self.name!r}")

    @property
    def transaction_pipeline_app(self) -> Application:
        runners = [a for a in self.applications if a.runs_transaction_pipeline]
        if len(runners) != 1:
            raise ConfigError("exactly one application must set runs_transaction_pipeline")
        return runners[0]

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.backbone.region, self.second_region)

    # Buses addressed across accounts need names both sides know before either is
    # deployed; they derive from the configuration's name, so two configurations (two
    # copies of the backbone) fit in one set of accounts.
    @property
    def global_bus_name(self) -> str:
        return f"{self.name}-backbone"

    def application_bus_name(self, app: Application) -> str:
        return f"{self.name}-{app.name}"

    @property
    def subscribed_detail_types(self) -> tuple[str, ...]:
        return tuple(sorted({t for a in self.applications for t in a.subscribes}))


def bus_arn(account: str, region: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:events:{region}:{account}:event-bus/{name}"


def parse_config(raw: dict[str, Any]) -> DeploymentConfig:
    try:
        name = str(raw["name"])
        backbone = AccountRegion.parse(raw["backbone"], "backbone")
        cicd = AccountRegion.parse(raw["cicd"], "cicd")
        second_region = str(raw["second_region"])
    except KeyError as missing:
        raise ConfigError(f"configuration lacks required key {missing}") from None
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"name {name!r} must be lower-case letters, digits and dashes (it prefixes bus names)")
    if not _REGION_RE.fullmatch(second_region):
        raise ConfigError(f"second_region must be an AWS region, got {second_region!r}")
    if second_region == backbone.region:
        raise ConfigError("second_region must differ from backbone.region")
    org = raw.get("organization_id") or None
    if org is not None and not re.fullmatch(r"o-[a-z0-9]{10,32}", org):
        raise ConfigError(f"organization_id must look like o-xxxxxxxxxx, got {org!r}")

    apps = []
    for app_name, spec in (raw.get("applications") or {}).items():
        if not _NAME_RE.fullmatch(app_name):
            raise ConfigError(f"application name {app_name!r} must be lower-case letters, digits, dashes")
        where = AccountRegion.parse(spec, f"applications.{app_name}")
        if where.account == backbone.account:
            raise ConfigError(f"applications.{app_name} must not share the backbone account")
        apps.append(Application(
            name=app_name,
            account=where.account,
            region=where.region,
            source=str(spec.get("source", f"app.{app_name}")),
            publishes=tuple(spec.get("publishes", ())),
            subscribes=tuple(spec.get("subscribes", ())),
            runs_transaction_pipeline=bool(spec.get("runs_transaction_pipeline", False)),
            consumer=bool(spec.get("consumer", False)),
        ))
    if len({a.account for a in apps}) != len(apps):
        raise ConfigError("each application needs an account of its own")

    pipeline_raw = dict(raw.get("pipeline") or {})
    if "personal_fields" in pipeline_raw:
        pipeline_raw["personal_fields"] = tuple(pipeline_raw["personal_fields"])
    try:
        pipeline = TransactionPipelineSettings(**pipeline_raw)
    except TypeError as exc:
        raise ConfigError(f"pipeline: {exc}") from None
    if not 1 <= pipeline.pipe_batch_size <= 10:
        raise ConfigError("pipeline.pipe_batch_size must be 1..10 for an event-bus target")

    config = DeploymentConfig(
        name=name,
        backbone=backbone,
        second_region=second_region,
        cicd=cicd,
        organization_id=org,
        applications=tuple(apps),
        pipeline=pipeline,
        delivery=str(raw.get("delivery", "direct")),
        source=_parse_source(raw.get("source")),
        config_file=str(raw.get("config_file", "config/local.json")),
    )
    if config.delivery not in ("direct", "pipeline"):
        raise ConfigError(f"delivery must be 'direct' or 'pipeline', got {config.delivery!r}")
    if config.delivery == "pipeline" and config.source is None:
        raise ConfigError("delivery 'pipeline' needs a source: {connection_arn, repository, branch}")
    config.transaction_pipeline_app  # validates exactly one runner
    return config


def _parse_source(raw: dict[str, Any] | None) -> SourceSettings | None:
    if not raw:
        return None
    try:
        source = SourceSettings(
            connection_arn=str(raw["connection_arn"]), repository=str(raw["repository"]), branch=str(raw.get("branch", "main"))
        )
    except KeyError as missing:
        raise ConfigError(f"source lacks {missing}") from None
    if not source.connection_arn.startswith("arn:"):
        raise ConfigError(f"source.connection_arn must be an ARN, got {source.connection_arn!r}")
    if "/" not in source.repository:
        raise ConfigError(f"source.repository must be owner/name, got {source.repository!r}")
    return source


def config_path(context_value: str | None = None) -> Path:
    chosen = context_value or os.environ.get(CONFIG_ENV_VAR) or str(DEFAULT_CONFIG_PATH)
    path = Path(chosen)
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_config(context_value: str | None = None) -> DeploymentConfig:
    path = config_path(context_value)
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found: pass -c {CONFIG_CONTEXT_KEY}=<file> "
            f"or set {CONFIG_ENV_VAR} (see config/aws.example.json)"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    raw.setdefault("config_file", str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path))
    return parse_config(raw)

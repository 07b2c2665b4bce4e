"""infra/config.py: the typed deployment configuration and its validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra import config as config_module
from infra.config import (
    CONFIG_ENV_VAR,
    AccountRegion,
    ConfigError,
    bus_arn,
    load_config,
    parse_config,
)

from .conftest import AWS_EXAMPLE_CONFIG, LOCAL_CONFIG, PROJECT_ROOT


@pytest.fixture
def no_env_config(monkeypatch):
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)


@pytest.fixture
def local_raw() -> dict:
    """config/local.json as a dict, to derive broken variants from."""
    return json.loads((PROJECT_ROOT / LOCAL_CONFIG).read_text())


@pytest.fixture
def aws_raw() -> dict:
    return json.loads((PROJECT_ROOT / AWS_EXAMPLE_CONFIG).read_text())


# --------------------------------------------------------------------------- the local configuration


def test_local_config_has_the_documented_accounts_and_regions(no_env_config):
    # DESIGN.md "Contracts": the local cloud maps access keys to exactly these accounts.
    config = load_config(LOCAL_CONFIG)
    assert config.name == "local"
    assert (config.backbone.account, config.backbone.region) == ("111111111111", "us-east-1")
    assert config.second_region == "eu-west-1"
    assert config.regions == ("us-east-1", "eu-west-1")
    assert (config.cicd.account, config.cicd.region) == ("444444444444", "us-east-1")
    payments, ledger = config.application("payments"), config.application("ledger")
    assert (payments.account, payments.region) == ("222222222222", "us-east-1")
    assert (ledger.account, ledger.region) == ("333333333333", "us-east-1")
    assert config.organization_id is None
    assert config.delivery == "direct"
    assert config.source is None


def test_local_config_roles_of_the_applications(no_env_config):
    config = load_config(LOCAL_CONFIG)
    payments, ledger = config.application("payments"), config.application("ledger")
    assert config.transaction_pipeline_app is payments
    assert payments.source == "app.payments"
    assert payments.publishes == ("TransactionRecorded",) and payments.subscribes == ()
    assert ledger.subscribes == ("TransactionRecorded",) and ledger.publishes == ()
    assert ledger.consumer and not payments.consumer
    assert config.subscribed_detail_types == ("TransactionRecorded",)


def test_local_config_pipeline_settings(no_env_config):
    settings_ = load_config(LOCAL_CONFIG).pipeline
    assert settings_.api_authorization == "NONE"  # the local cloud's open endpoint
    assert settings_.pipe_batch_size == 10
    assert settings_.pipe_batching_window_seconds == 0
    assert settings_.queue_max_receive_count == 3
    assert settings_.archive_retention_days == 7
    assert settings_.log_retention_days == 30
    assert settings_.personal_fields == ("customer.name", "customer.email", "customer.iban")
    assert isinstance(settings_.personal_fields, tuple)  # hashable, frozen dataclass


def test_bus_names_derive_from_the_configuration_name(no_env_config):
    # Both sides of a cross-account link compute these names before either is deployed.
    config = load_config(LOCAL_CONFIG)
    assert config.global_bus_name == "local-backbone"
    assert config.application_bus_name(config.application("ledger")) == "local-ledger"
    assert config.application_bus_name(config.application("payments")) == "local-payments"
    assert bus_arn("333333333333", "us-east-1", "local-ledger") == "arn:aws:events:us-east-1:333333333333:event-bus/local-ledger"
    assert bus_arn("1" * 12, "cn-north-1", "x", partition="aws-cn") == "arn:aws-cn:events:cn-north-1:111111111111:event-bus/x"


def test_unknown_application_name_is_a_config_error(no_env_config):
    with pytest.raises(ConfigError, match="no application named 'billing'"):
        load_config(LOCAL_CONFIG).application("billing")


def test_aws_example_config_is_valid_and_uses_the_pipeline(no_env_config):
    config = load_config(AWS_EXAMPLE_CONFIG)
    assert config.delivery == "pipeline"
    assert config.organization_id == "o-exampleorgid"
    assert config.pipeline.api_authorization == "AWS_IAM"
    assert config.cicd.account == "456789012345"
    assert config.source is not None and config.source.repository == "example-org/immutable-transaction-pipeline"
    assert config.source.branch == "main"
    # The delivery pipeline's synth step passes this back to `cdk synth -c config=...`.
    assert config.config_file == "config/aws.example.json"


# --------------------------------------------------------------------------- choosing the file


def test_default_is_config_local_json(no_env_config):
    config = load_config(None)
    assert config.name == "local"
    assert config.config_file == "config/local.json"


def test_env_var_selects_the_file_when_no_context(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV_VAR, AWS_EXAMPLE_CONFIG)
    assert load_config(None).name == "aws-example"


def test_context_wins_over_env_var(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV_VAR, AWS_EXAMPLE_CONFIG)
    assert load_config(LOCAL_CONFIG).name == "local"


def test_relative_paths_resolve_against_the_project_root_not_the_cwd(no_env_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # cdk may run app.py from elsewhere
    assert load_config(LOCAL_CONFIG).name == "local"


def test_absolute_path_outside_the_project(no_env_config, tmp_path, local_raw):
    local_raw["name"] = "elsewhere"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(local_raw))
    config = load_config(str(path))
    assert config.name == "elsewhere"
    assert config.config_file == str(path)


def test_missing_file_is_a_clear_error(no_env_config):
    with pytest.raises(ConfigError) as failure:
        load_config("config/does-not-exist.json")
    message = str(failure.value)
    assert str(PROJECT_ROOT / "config" / "does-not-exist.json") in message
    assert "not found" in message
    assert "-c config=" in message and CONFIG_ENV_VAR in message  # says how to choose one


def test_missing_file_named_by_env_var_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV_VAR, "/nonexistent/prod.json")
    with pytest.raises(ConfigError, match="/nonexistent/prod.json not found"):
        load_config(None)


def test_invalid_json_is_a_config_error(no_env_config, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "local",')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(str(path))


# --------------------------------------------------------------------------- validation


def _broken(raw: dict, mutate) -> dict:
    raw = copy.deepcopy(raw)
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda r: r["backbone"].update(account="11111111111"), r"backbone\.account must be a 12-digit", id="backbone-account-11-digits"),
        pytest.param(lambda r: r["backbone"].update(account="11111111111a"), r"backbone\.account", id="backbone-account-letter"),
        pytest.param(lambda r: r["cicd"].update(account=""), r"cicd\.account", id="cicd-account-empty"),
        pytest.param(lambda r: r["applications"]["ledger"].update(account="3333"), r"applications\.ledger\.account", id="app-account-short"),
        pytest.param(lambda r: r["applications"]["ledger"].update(region="us_east_1"), r"applications\.ledger\.region", id="app-region"),
        pytest.param(lambda r: r["backbone"].update(region="Virginia"), r"backbone\.region", id="backbone-region"),
        pytest.param(lambda r: r.update(second_region="us-east-1"), "second_region must differ", id="same-second-region"),
        pytest.param(lambda r: r.update(second_region="europe"), "second_region must be an AWS region", id="bad-second-region"),
        pytest.param(lambda r: r["applications"]["ledger"].update(account="222222222222"), "account of its own", id="duplicate-app-accounts"),
        pytest.param(lambda r: r["applications"]["ledger"].update(account="111111111111"), "must not share the backbone account", id="app-in-backbone-account"),
        pytest.param(lambda r: r["pipeline"].update(batch_sise=10), r"^pipeline: .*batch_sise", id="unknown-pipeline-key"),
        pytest.param(lambda r: r["pipeline"].update(pipe_batch_size=11), "pipe_batch_size must be 1..10", id="batch-size-11"),
        pytest.param(lambda r: r["pipeline"].update(pipe_batch_size=0), "pipe_batch_size must be 1..10", id="batch-size-0"),
        pytest.param(lambda r: r.update(delivery="pipeline"), "needs a source", id="pipeline-without-source"),
        pytest.param(lambda r: r.update(delivery="manual"), "delivery must be 'direct' or 'pipeline'", id="unknown-delivery"),
        pytest.param(lambda r: r.update(organization_id="org-1234567890"), "organization_id must look like o-", id="org-id-prefix"),
        pytest.param(lambda r: r.update(organization_id="o-short"), "organization_id", id="org-id-too-short"),
        pytest.param(lambda r: r.update(organization_id="o-UPPERCASE123"), "organization_id", id="org-id-uppercase"),
        pytest.param(lambda r: r.update(name="Local"), "lower-case", id="name-uppercase"),
        pytest.param(lambda r: r.update(name="local_env"), "lower-case", id="name-underscore"),
        pytest.param(lambda r: r["applications"].update(Billing=dict(r["applications"]["ledger"], account="555555555555")), "application name 'Billing'", id="app-name"),
        pytest.param(lambda r: r.pop("backbone"), "lacks required key 'backbone'", id="missing-backbone"),
        pytest.param(lambda r: r.pop("second_region"), "lacks required key 'second_region'", id="missing-second-region"),
        pytest.param(lambda r: r["applications"]["payments"].update(runs_transaction_pipeline=False), "exactly one application", id="no-pipeline-runner"),
        pytest.param(lambda r: r["applications"]["ledger"].update(runs_transaction_pipeline=True), "exactly one application", id="two-pipeline-runners"),
    ],
)
def test_invalid_configurations_are_rejected_with_a_pointed_message(local_raw, mutate, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_broken(local_raw, mutate))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param({"repository": "o/r"}, "source lacks 'connection_arn'", id="no-connection"),
        pytest.param({"connection_arn": "arn:aws:codeconnections:us-east-1:1:connection/x"}, "source lacks 'repository'", id="no-repository"),
        pytest.param({"connection_arn": "codeconnections/x", "repository": "o/r"}, "must be an ARN", id="connection-not-arn"),
        pytest.param({"connection_arn": "arn:aws:codeconnections:us-east-1:1:connection/x", "repository": "repo"}, "owner/name", id="repository-without-owner"),
    ],
)
def test_invalid_pipeline_sources_are_rejected(aws_raw, source, message):
    aws_raw["source"] = source
    with pytest.raises(ConfigError, match=message):
        parse_config(aws_raw)


def test_organization_id_is_optional_and_empty_means_none(local_raw):
    local_raw["organization_id"] = ""
    assert parse_config(local_raw).organization_id is None
    local_raw["organization_id"] = "o-abcdefghij"
    assert parse_config(local_raw).organization_id == "o-abcdefghij"


def test_source_branch_defaults_to_main(aws_raw):
    del aws_raw["source"]["branch"]
    assert parse_config(aws_raw).source.branch == "main"


def test_application_defaults(local_raw):
    # An application without optional keys publishes and subscribes to nothing.
    local_raw["applications"]["audit"] = {"account": "555555555555", "region": "eu-west-1"}
    audit = parse_config(local_raw).application("audit")
    assert audit.source == "app.audit"
    assert (audit.publishes, audit.subscribes, audit.consumer, audit.runs_transaction_pipeline) == ((), (), False, False)


def test_parsed_configuration_is_immutable(no_env_config):
    config = load_config(LOCAL_CONFIG)
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("value", ["111111111111\n", "us-east-1\n"], ids=["account", "region"])
def test_trailing_newline_is_not_a_valid_account_or_region(local_raw, value):
    # `re.match` with `$` accepts a trailing "\n": such a value would end up inside ARNs
    # and bus policies. Validation must look at the whole string.
    key = "account" if value[0].isdigit() else "region"
    local_raw["backbone"][key] = value
    with pytest.raises(ConfigError):
        parse_config(local_raw)


_ACCOUNT_LIKE = st.one_of(
    st.text(max_size=14),
    st.from_regex(r"\A[0-9]{12}\n?\Z"),
    # Unicode digits ("١٢٣", "１２３") are \d to Python's re but not to AWS.
    st.text(alphabet=st.characters(categories=["Nd"]), min_size=12, max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(_ACCOUNT_LIKE)
def test_account_ids_are_exactly_twelve_ascii_digits(candidate):
    valid = len(candidate) == 12 and all(c in "0123456789" for c in candidate)
    if valid:
        assert AccountRegion.parse({"account": candidate, "region": "us-east-1"}, "x").account == candidate
    else:
        with pytest.raises(ConfigError):
            AccountRegion.parse({"account": candidate, "region": "us-east-1"}, "x")


def test_default_config_path_is_inside_the_project():
    assert config_module.DEFAULT_CONFIG_PATH == PROJECT_ROOT / "config" / "local.json"
    assert Path(config_module.config_path("config/local.json")) == PROJECT_ROOT / "config" / "local.json"

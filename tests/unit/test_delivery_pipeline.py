"""The CDK Pipelines stack app.py builds when the configuration says delivery "pipeline"
(config/aws.example.json): CI/CD account, cross-account keys, backbone then applications."""

from __future__ import annotations

import json
import re

import pytest

from .helpers import account_principals, as_list, only, props, render, resources

CICD = ("456789012345", "us-east-1")
BACKBONE = "123456789012"
APPS = {"payments": "210987654321", "ledger": "345678901234"}


@pytest.fixture(scope="module")
def pipeline_stack(aws_synth):
    return aws_synth.stack("DeliveryPipeline")


@pytest.fixture(scope="module")
def stages(pipeline_stack) -> list[dict]:
    (_, pipeline) = only(pipeline_stack.template, "AWS::CodePipeline::Pipeline")
    return props(pipeline)["Stages"]


def stage(stages, name: str) -> dict:
    matching = [s for s in stages if s["Name"] == name]
    assert matching, f"no stage {name!r} in {[s['Name'] for s in stages]}"
    return matching[0]


def deploy_actions(stages) -> list[dict]:
    return [a for s in stages for a in s["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]


def test_pipeline_stack_lives_in_the_cicd_account(pipeline_stack):
    assert (pipeline_stack.account, pipeline_stack.region) == CICD


def test_pipeline_delivery_synthesizes_no_application_stacks_directly(aws_synth):
    # With delivery "pipeline" app.py builds only the pipeline (and CDK's cross-region
    # support stack); every other stack lives in a stage assembly the pipeline deploys.
    top_level = {name for name in aws_synth.stacks if "/" not in name}
    assert top_level == {"DeliveryPipeline", "cross-region-stack-456789012345:eu-west-1"}


def test_artifacts_are_encrypted_with_a_rotating_cross_account_key(pipeline_stack):
    t = pipeline_stack.template
    (key_id, key) = only(t, "AWS::KMS::Key")
    assert props(key)["EnableKeyRotation"] is True
    (_, pipeline) = only(t, "AWS::CodePipeline::Pipeline")
    stores = {s["Region"]: s["ArtifactStore"] for s in props(pipeline)["ArtifactStores"]}
    assert set(stores) == {"us-east-1", "eu-west-1"}  # one per region it deploys to
    assert stores["us-east-1"]["EncryptionKey"] == {"Id": {"Fn::GetAtt": [key_id, "Arn"]}, "Type": "KMS"}
    # Cross-account: the target accounts' deploy roles may decrypt the artifacts.
    principals = set()
    for statement in props(key)["KeyPolicy"]["Statement"]:
        for principal in account_principals(statement.get("Principal", {})):
            principals.add(principal)
    for account in (BACKBONE, *APPS.values()):
        assert any(account in p for p in principals), f"key policy does not name account {account}"


def test_backbone_is_deployed_before_the_applications(stages):
    names = [s["Name"] for s in stages]
    assert names[:2] == ["Source", "Build"]
    assert "UpdatePipeline" in names  # self-mutation
    assert names.index("Backbone") < names.index("Applications")
    assert names[-1] == "Applications"


def test_backbone_wave_deploys_both_regions(stages):
    actions = [a["Name"] for a in stage(stages, "Backbone")["Actions"]]
    assert any(a.startswith("Backbone-us-east-1.Backbone.") for a in actions), actions
    assert any(a.startswith("Backbone-eu-west-1.BackboneSecondRegion.") for a in actions), actions
    assert not any(a.startswith("App-") for a in actions)


def test_applications_wave_deploys_payments_and_ledger(stages):
    actions = [a["Name"] for a in stage(stages, "Applications")["Actions"]]
    for expected in ("App-payments.PaymentsBus.", "App-payments.PaymentsTransactionPipeline.", "App-ledger.LedgerBus."):
        assert any(a.startswith(expected) for a in actions), (expected, actions)
    assert not any(a.startswith("Backbone-") for a in actions)


_TARGET = {
    "Backbone-us-east-1": (BACKBONE, "us-east-1"),
    "Backbone-eu-west-1": (BACKBONE, "eu-west-1"),
    "App-payments": (APPS["payments"], "us-east-1"),
    "App-ledger": (APPS["ledger"], "us-east-1"),
}


def test_deploy_actions_assume_the_bootstrap_roles_of_their_target_account(stages):
    actions = deploy_actions(stages)
    assert len(actions) == 2 * 5  # prepare + execute for 5 stacks
    for action in actions:
        account, region = _TARGET[action["Name"].split(".")[0]]
        assert render(action["RoleArn"]) == f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}"
        assert action.get("Region", "us-east-1") == region
        if action["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE":
            assert render(action["Configuration"]["RoleArn"]) == (
                f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}"
            )


def test_synth_step_runs_the_unit_tests_and_synthesizes_the_same_configuration(pipeline_stack):
    buildspecs = [
        json.loads(props(p)["Source"]["BuildSpec"])
        for p in resources(pipeline_stack.template, "AWS::CodeBuild::Project").values()
    ]
    synth = [b for b in buildspecs if any("cdk synth" in c for c in b["phases"]["build"]["commands"])]
    assert len(synth) == 1
    commands = synth[0]["phases"]["build"]["commands"]
    assert any(re.search(r"pytest tests/unit", c) for c in commands)
    assert "npx cdk synth -c config=config/aws.example.json" in commands
    assert synth[0]["artifacts"]["base-directory"] == "cdk.out"


def test_source_is_the_configured_connection(pipeline_stack):
    (_, pipeline) = only(pipeline_stack.template, "AWS::CodePipeline::Pipeline")
    (source_stage,) = [s for s in props(pipeline)["Stages"] if s["Name"] == "Source"]
    (action,) = source_stage["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    configuration = action["Configuration"]
    assert configuration["FullRepositoryId"] == "example-org/immutable-transaction-pipeline"
    assert configuration["BranchName"] == "main"
    assert configuration["ConnectionArn"].startswith("arn:aws:codeconnections:us-east-1:456789012345:connection/")


@pytest.mark.parametrize(
    ("stack", "account", "region"),
    [
        ("DeliveryPipeline/Backbone-us-east-1/Backbone", BACKBONE, "us-east-1"),
        ("DeliveryPipeline/Backbone-eu-west-1/BackboneSecondRegion", BACKBONE, "eu-west-1"),
        ("DeliveryPipeline/App-payments/PaymentsBus", APPS["payments"], "us-east-1"),
        ("DeliveryPipeline/App-payments/PaymentsTransactionPipeline", APPS["payments"], "us-east-1"),
        ("DeliveryPipeline/App-ledger/LedgerBus", APPS["ledger"], "us-east-1"),
    ],
)
def test_stage_stacks_target_their_own_accounts(aws_synth, stack, account, region):
    artifact = aws_synth.stack(stack)
    assert (artifact.account, artifact.region) == (account, region)


def test_stage_stacks_match_the_directly_deployed_ones(local_synth, aws_synth):
    # Same stacks either way: the stage wraps add_backbone/add_application unchanged.
    def shape(template):
        # Resource types and their counts (a few logical ids embed the stage's path).
        return sorted(v["Type"] for v in template["Resources"].values())

    for name, staged in [
        ("Backbone", "DeliveryPipeline/Backbone-us-east-1/Backbone"),
        ("BackboneSecondRegion", "DeliveryPipeline/Backbone-eu-west-1/BackboneSecondRegion"),
        ("PaymentsBus", "DeliveryPipeline/App-payments/PaymentsBus"),
        ("PaymentsTransactionPipeline", "DeliveryPipeline/App-payments/PaymentsTransactionPipeline"),
        ("LedgerBus", "DeliveryPipeline/App-ledger/LedgerBus"),
    ]:
        assert shape(local_synth.template(name)) == shape(aws_synth.template(staged)), name


def test_eu_west_1_artifacts_use_the_support_stack_bucket(aws_synth):
    support = aws_synth.template("cross-region-stack-456789012345:eu-west-1")
    assert len(resources(support, "AWS::S3::Bucket")) == 1
    (_, key) = only(support, "AWS::KMS::Key")
    assert props(key).get("EnableKeyRotation") is True
    assert as_list(resources(support, "AWS::KMS::Alias"))

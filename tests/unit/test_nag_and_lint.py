"""cdk-nag (AwsSolutions) and cfn-lint over everything app.py synthesizes.

cdk-nag v3 is a CDK policy-validation plugin: app.py registers it, and a finding that is
not acknowledged makes ``app.synth()`` fail and lands in the cloud assembly's
validation-report.json. The session fixtures ran app.py for both configurations; here we
read their verdicts.
"""

from __future__ import annotations

import ast
import re
import pytest
from cfnlint.api import ManualArgs, lint_file

from .conftest import PROJECT_ROOT
from .helpers import acknowledgements, render


def _unacknowledged_errors(synth) -> list[str]:
    findings = []
    for report in synth.validation_report.get("pluginReports", []):
        for violation in report.get("violations", []):
            if violation.get("severity", "error") == "error":
                for construct in violation.get("violatingConstructs", []):
                    findings.append(f"{violation['ruleName']} at {construct['constructPath']}")
    return findings


# --------------------------------------------------------------------------- cdk-nag


def test_app_py_runs_cdk_nag_on_the_whole_app_before_synth():
    # The verdicts below are only meaningful if app.py registers the plugin on the app.
    tree = ast.parse((PROJECT_ROOT / "app.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]

    def line_of(predicate):
        lines = [c.lineno for c in calls if predicate(c)]
        assert lines, "call not found in app.py"
        return lines[0]

    nag = line_of(lambda c: isinstance(c.func, ast.Name) and c.func.id == "check_with_cdk_nag"
                  and [a.id for a in c.args if isinstance(a, ast.Name)] == ["app"])
    synth = line_of(lambda c: isinstance(c.func, ast.Attribute) and c.func.attr == "synth"
                    and isinstance(c.func.value, ast.Name) and c.func.value.id == "app")
    assert nag < synth


def test_check_with_cdk_nag_fails_on_findings_and_honours_acknowledgements(tmp_path):
    # A positive control for the plugin wiring in infra/nag.py, in-process: an SQS queue
    # without TLS enforcement or DLQ fails synthesis, the same queue acknowledged does not.
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    from infra.nag import acknowledge, check_with_cdk_nag

    app = cdk.App(outdir=str(tmp_path / "bad"))
    stack = cdk.Stack(app, "Probe")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.KMS_MANAGED)
    check_with_cdk_nag(app)
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()

    app = cdk.App(outdir=str(tmp_path / "acknowledged"))
    stack = cdk.Stack(app, "Probe")
    queue = sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.KMS_MANAGED)
    acknowledge(queue, {"AwsSolutions-SQS3": "probe: no DLQ", "AwsSolutions-SQS4": "probe: no TLS policy"})
    check_with_cdk_nag(app)
    app.synth()


@pytest.mark.parametrize("which", ["local_synth", "aws_synth"])
def test_whole_app_has_no_unacknowledged_cdk_nag_errors(request, which):
    synth = request.getfixturevalue(which)
    findings = _unacknowledged_errors(synth)
    assert findings == [], f"{synth.config}: cdk-nag findings without acknowledgement:\n" + "\n".join(findings)
    assert synth.returncode == 0, f"app.py failed for {synth.config}:\n{synth.stderr[-3000:]}"


def test_every_acknowledgement_carries_a_reason(all_stacks):
    found = [(stack.display_name, *ack) for stack in all_stacks for ack in acknowledgements(stack)]
    assert len(found) >= 10  # the stacks do acknowledge findings; an empty list means we read nothing
    for stack, path, rule_id, reason in found:
        assert re.fullmatch(r"(\w+::)?AwsSolutions-[A-Z]+\d+(\[.+\])?", rule_id), (stack, path, rule_id)
        assert isinstance(reason, str) and len(reason.strip()) >= 20, (stack, path, rule_id, reason)


def test_acknowledgements_are_on_constructs_not_on_whole_stacks(all_stacks):
    # An acknowledgement on a stack (or the app) would silence the rule for resources
    # added later without anyone looking at them.
    found = [(stack.display_name, path, rule_id) for stack in all_stacks for path, rule_id, _ in acknowledgements(stack)]
    assert found
    # A stack's construct path is its display name (nested stages included).
    too_wide = [f for f in found if f[1].strip("/") in ("", f[0])]
    assert too_wide == []


# --------------------------------------------------------------------------- cfn-lint

# Ignored findings, each with its reason:
#
# W3005 "dependency already enforced by a GetAtt": CDK puts a role *and* its DefaultPolicy
#   in DependsOn so the policy exists before the resource uses the role; the role half is
#   redundant with the GetAtt, and harmless.
# E3703 "Prefer using Fn::Sub over Fn::Join with an empty delimiter" at a CodePipeline
#   action's Configuration.RoleArn: CDK Pipelines writes the target account's
#   cfn-exec-role ARN as Fn::Join ["", ["arn:", AWS::Partition, ":iam::..."]]; cfn-lint's
#   role-ARN format check cannot evaluate the join and reports a style preference at
#   error level. The filter below only drops it after checking that the joined value is
#   a well-formed role ARN.
IGNORED_WARNINGS = {"W3005"}
_ROLE_ARN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+")


def _is_known_false_positive(match, template: dict) -> bool:
    if match.rule.id in IGNORED_WARNINGS:
        return True
    if match.rule.id == "E3703" and match.message.startswith("Prefer using Fn::Sub over Fn::Join"):
        path = list(match.path)
        if path[-2:] != ["Configuration", "RoleArn"]:
            return False
        value = template
        for step in path:
            value = value[step]
        return isinstance(value, dict) and "Fn::Join" in value and bool(_ROLE_ARN.fullmatch(render(value)))
    return False


def _lint(synth) -> list[str]:
    problems = []
    for stack in synth.stacks.values():
        for match in lint_file(stack.template_path, config=ManualArgs(regions=[stack.region])):
            if match.rule.severity in ("error", "warning") and not _is_known_false_positive(match, stack.template):
                problems.append(f"{stack.display_name}: {match.rule.id} {match.message} at {match.path_string}")
    return problems


@pytest.mark.parametrize("which", ["local_synth", "aws_synth"])
def test_cfn_lint_reports_no_errors_or_unexplained_warnings(request, which):
    synth = request.getfixturevalue(which)
    assert synth.stacks
    problems = _lint(synth)
    assert problems == [], "\n".join(problems)


def test_cfn_lint_positive_control(tmp_path):
    # Proves lint_file really lints (an unreadable or unchecked template would pass silently).
    template = tmp_path / "bad.json"
    template.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"MaximumMessageSize": "big"}}}}')
    assert any(m.rule.severity == "error" for m in lint_file(template, config=ManualArgs(regions=["us-east-1"])))

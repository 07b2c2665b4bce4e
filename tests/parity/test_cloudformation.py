"""CloudFormation as AWS runs it: custom resources, and nested settings kept on create.

Custom resources: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html
(the handler PUTs a JSON answer to the pre-signed ResponseURL; ``Data`` becomes the
resource's Fn::GetAtt attributes; ``FAILED`` fails the resource with ``Reason``).
"""

from __future__ import annotations

import json
import time

import pytest

ACCOUNT = "222222222222"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TERMINAL = {"CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE", "DELETE_COMPLETE", "DELETE_FAILED"}

# A handler as the CloudFormation docs describe one: PUT the answer to the ResponseURL.
ANSWERING_HANDLER = """
import json, urllib.parse, urllib.request
def handler(event, context):
    answer = {"Status": "SUCCESS", "PhysicalResourceId": "greeting-1", "StackId": event["StackId"],
              "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
              "Data": {"Greeting": "hello " + event["ResourceProperties"]["Name"],
                       "AnsweredTo": urllib.parse.urlparse(event["ResponseURL"]).hostname}}
    body = json.dumps(answer).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"content-type": "", "content-length": str(len(body))})
    urllib.request.urlopen(request, timeout=10).read()
"""

# A handler that crashes before answering (an import error, a bug, a missing permission).
CRASHING_HANDLER = """
def handler(event, context):
    raise ValueError("the database is not there")
"""


def _template(handler_code: str) -> str:
    return json.dumps({
        "Resources": {
            "HandlerRole": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": LAMBDA_TRUST, "ManagedPolicyArns": [BASIC_EXECUTION]}},
            "Handler": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "index.handler", "Timeout": 30,
                "Role": {"Fn::GetAtt": ["HandlerRole", "Arn"]}, "Code": {"ZipFile": handler_code}}},
            "Greeting": {"Type": "Custom::Greeting", "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Handler", "Arn"]}, "Name": "world"}},
        },
        "Outputs": {"Greeting": {"Value": {"Fn::GetAtt": ["Greeting", "Greeting"]}},
                    "AnsweredTo": {"Value": {"Fn::GetAtt": ["Greeting", "AnsweredTo"]}}},
    })


def _wait_for_stack(cloudformation, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if stack["StackStatus"] in TERMINAL or time.monotonic() > deadline:
            return stack
        time.sleep(0.5)


def test_custom_resource_handler_answers_its_response_url_offline(aws, unique):
    """The ResponseURL a handler gets must be reachable without public DNS (any handler: a
    custom runtime, a container, a raw socket), so it names the local cloud's address; the
    answer's Data becomes the resource's attributes."""
    cloudformation = aws("cloudformation", ACCOUNT)
    name = unique("cr-answer")
    cloudformation.create_stack(StackName=name, TemplateBody=_template(ANSWERING_HANDLER),
                                Capabilities=["CAPABILITY_IAM"])
    stack = _wait_for_stack(cloudformation, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"Greeting": "hello world",
                                                                          "AnsweredTo": "127.0.0.1"}
    physical = cloudformation.describe_stack_resource(StackName=name, LogicalResourceId="Greeting")
    assert physical["StackResourceDetail"]["PhysicalResourceId"] == "greeting-1"


def test_custom_resource_whose_handler_crashes_fails_with_the_handlers_error(aws, unique):
    """A handler that raises before answering fails the stack with its error in the
    resource's status reason, not after the one-hour ServiceTimeout."""
    cloudformation = aws("cloudformation", ACCOUNT)
    name = unique("cr-crash")
    started = time.monotonic()
    cloudformation.create_stack(StackName=name, TemplateBody=_template(CRASHING_HANDLER),
                                Capabilities=["CAPABILITY_IAM"])
    stack = _wait_for_stack(cloudformation, name, timeout=300)
    assert stack["StackStatus"] in {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}, (
        f"{stack['StackStatus']} after {time.monotonic() - started:.0f} s")
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events
               if e["LogicalResourceId"] == "Greeting" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert reasons and "ValueError" in reasons[0] and "the database is not there" in reasons[0], reasons


STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
PASS_DEFINITION = json.dumps({"StartAt": "S0", "States": {"S0": {"Type": "Pass", "End": True}}})


def _state_machine_template(properties: dict) -> str:
    return json.dumps({
        "Resources": {
            "Logs": {"Type": "AWS::Logs::LogGroup"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": STATES_TRUST}},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}, "DefinitionString": PASS_DEFINITION, **properties}},
        },
        "Outputs": {"Arn": {"Value": {"Ref": "Machine"}}, "LogsArn": {"Value": {"Fn::GetAtt": ["Logs", "Arn"]}}},
    })


def _deploy(cloudformation, name: str, template: str) -> dict:
    cloudformation.create_stack(StackName=name, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])
    stack = _wait_for_stack(cloudformation, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_state_machine_keeps_logging_and_tracing_configuration_on_create(aws, unique):
    """AWS-recorded: LocalStack tests/aws/services/cloudformation/resources/
    test_stepfunctions.snapshot.json::test_statemachine_create_with_logging_configuration
    (DescribeStateMachine of a template-made machine: loggingConfiguration with
    destinations / includeExecutionData / level, tracingConfiguration {"enabled": …})."""
    cloudformation, stepfunctions = aws("cloudformation", ACCOUNT), aws("stepfunctions", ACCOUNT)
    outputs = _deploy(cloudformation, unique("sfn-logging"), _state_machine_template({
        "StateMachineType": "EXPRESS",
        "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True, "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["Logs", "Arn"]}}}]},
        "TracingConfiguration": {"Enabled": True}}))
    described = stepfunctions.describe_state_machine(stateMachineArn=outputs["Arn"])
    assert described["loggingConfiguration"] == {
        "level": "ALL", "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": outputs["LogsArn"]}}]}
    assert described["tracingConfiguration"] == {"enabled": True}


def test_state_machine_without_settings_describes_aws_defaults(aws, unique):
    """Same snapshot, test_cfn_statemachine_default_s3_location: no settings in the
    template give level OFF without execution data, and tracing disabled."""
    cloudformation, stepfunctions = aws("cloudformation", ACCOUNT), aws("stepfunctions", ACCOUNT)
    outputs = _deploy(cloudformation, unique("sfn-defaults"), _state_machine_template({}))
    described = stepfunctions.describe_state_machine(stateMachineArn=outputs["Arn"])
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert described["tracingConfiguration"] == {"enabled": False}


def test_state_machine_update_changes_logging_level_and_tracing(aws, unique):
    cloudformation, stepfunctions = aws("cloudformation", ACCOUNT), aws("stepfunctions", ACCOUNT)
    name = unique("sfn-update")
    destination = {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["Logs", "Arn"]}}}
    outputs = _deploy(cloudformation, name, _state_machine_template({
        "LoggingConfiguration": {"Level": "ALL", "Destinations": [destination]}}))
    cloudformation.update_stack(StackName=name, Capabilities=["CAPABILITY_IAM"], TemplateBody=_state_machine_template({
        "LoggingConfiguration": {"Level": "ERROR", "IncludeExecutionData": "true", "Destinations": [destination]},
        "TracingConfiguration": {"Enabled": True}}))
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    described = stepfunctions.describe_state_machine(stateMachineArn=outputs["Arn"])
    assert (described["loggingConfiguration"]["level"], described["loggingConfiguration"]["includeExecutionData"],
            described["tracingConfiguration"]) == ("ERROR", True, {"enabled": True})


CDK_APP = '''
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_, aws_logs as logs, aws_s3 as s3, custom_resources as cr

app = cdk.App()
stack = cdk.Stack(app, "ParityTypicalChanges")
bucket = s3.Bucket(stack, "Bucket", removal_policy=cdk.RemovalPolicy.DESTROY)
greeter = lambda_.Function(
    stack, "Greeter", runtime=lambda_.Runtime.NODEJS_20_X, handler="index.handler",
    code=lambda_.Code.from_inline("exports.handler = async (event) => { console.log('hello\\\\nworld'); return event; };"),
    log_retention=logs.RetentionDays.ONE_WEEK)
cr.AwsCustomResource(
    stack, "PutGreeting",
    on_create=cr.AwsSdkCall(service="S3", action="putObject", physical_resource_id=cr.PhysicalResourceId.of("greeting"),
                            parameters={"Bucket": bucket.bucket_name, "Key": "greeting.txt", "Body": "hello"}),
    policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[bucket.arn_for_objects("*")]))
cdk.CfnOutput(stack, "BucketName", value=bucket.bucket_name)
cdk.CfnOutput(stack, "FunctionName", value=greeter.function_name)
app.synth()
'''


@pytest.mark.slow
def test_cdk_app_with_log_retention_and_an_aws_custom_resource(aws, localcloud, tmp_path, monkeypatch):
    """Typical changes to the stacks, deployed with cdklocal as a user does: a Node.js function
    with ``log_retention`` (CDK's LogRetention custom resource) and an ``AwsCustomResource``
    (an SDK call made by CDK's Node.js handler). Both custom resources answer offline, the
    retention lands on the function's log group, the object is written."""
    import subprocess
    import sys

    from ops import deploy_local

    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.endpoint)
    (tmp_path / "app.py").write_text(CDK_APP)
    (tmp_path / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))
    env = deploy_local.cdk_environment(ACCOUNT, "us-east-1")
    for command in (["bootstrap", f"aws://{ACCOUNT}/us-east-1"],
                    ["deploy", "--require-approval", "never", "--outputs-file", "outputs.json"]):
        done = subprocess.run([str(deploy_local.CDKLOCAL), *command], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outputs = json.loads((tmp_path / "outputs.json").read_text())["ParityTypicalChanges"]
    assert aws("s3", ACCOUNT).get_object(Bucket=outputs["BucketName"], Key="greeting.txt")["Body"].read() == b"hello"
    group = f"/aws/lambda/{outputs['FunctionName']}"
    groups = aws("logs", ACCOUNT).describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(group, 7)]

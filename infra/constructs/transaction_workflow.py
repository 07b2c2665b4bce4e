"""Step Functions EXPRESS workflow that records a transaction through the Lambda.

Lambda errors are retried; what still fails puts the original body, byte for byte, on a
dead-letter queue and ends the execution as failed, so nothing is dropped silently.
"""

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.logs import encrypted_log_group
from infra.nag import acknowledge


class TransactionWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        recorder: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        retry_attempts: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        record = tasks.LambdaInvoke(
            self,
            "RecordTransaction",
            lambda_function=recorder,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            # The state's output stays its input: a state's output may not exceed 256 KiB, and an
            # event already near that limit plus the result would fail the execution past any Catch
            # (States.DataLimitExceeded), recorded but not succeeded. So the only limit is the input's.
            result_path=sfn.JsonPath.DISCARD,
        )
        # Throttling is not the transaction's fault: wait it out longer, with jitter.
        record.add_retry(
            errors=["Lambda.TooManyRequestsException"],
            max_attempts=8,
            interval=Duration.seconds(1),
            backoff_rate=2,
            max_delay=Duration.seconds(30),
            jitter_strategy=sfn.JitterType.FULL,
        )
        record.add_retry(
            errors=["States.ALL"],
            max_attempts=retry_attempts,
            interval=Duration.seconds(1),
            backoff_rate=2,
        )
        dead_letter = tasks.SqsSendMessage(
            self,
            "DeadLetterOriginalBody",
            queue=dead_letter_queue,
            message_body=sfn.TaskInput.from_json_path_at("$.detail.body"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "NotRecorded", error="TransactionNotRecorded", cause="Dead-lettered after retries"))
        record.add_catch(dead_letter, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)

        self.log_group = encrypted_log_group(self, "Logs", key=key, days=log_retention_days)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_chainable(record.next(sfn.Succeed(self, "Recorded"))),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.minutes(1),
        )
        acknowledge(self.state_machine.role, {
            "AwsSolutions-IAM5[Resource::*]": "Step Functions log delivery (logs:CreateLogDelivery and friends) and "
            "X-Ray accept no resource-level permissions.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "CDK's KMS grant for sending to the encrypted dead-letter queue.",
            f"AwsSolutions-IAM5[Resource::<{_logical_id(recorder)}.Arn>:*]": "Invoke on the recorder's own versions "
            "and aliases (CDK's LambdaInvoke grant): this one function only.",
        })


def _logical_id(function: lambda_.IFunction) -> str:
    stack = Stack.of(function)
    return stack.resolve(stack.get_logical_id(function.node.default_child))

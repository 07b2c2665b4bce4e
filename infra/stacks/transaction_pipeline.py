"""The immutable transaction pipeline of the payments account.

HTTP API -> SQS -> Pipe -> custom bus (archived) -> rule -> Step Functions EXPRESS ->
Lambda -> CloudWatch Logs, then a pseudonymised TransactionRecorded on the domain bus.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import Application, TransactionPipelineSettings
from infra.constructs.archived_bus import ArchivedEventBus
from infra.constructs.encryption import ServiceKey
from infra.constructs.http_api_to_sqs import HttpApiToSqs
from infra.constructs.idempotency import idempotency_table
from infra.constructs.logs import encrypted_log_group
from infra.constructs.python_function import PythonFunction
from infra.constructs.queues import EncryptedQueueWithDlq, encrypted_queue
from infra.constructs.sqs_to_bus_pipe import SqsToEventBusPipe
from infra.constructs.transaction_workflow import TransactionWorkflow
from infra.nag import acknowledge


class TransactionPipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TransactionPipelineSettings,
        application: Application,
        domain_bus_arn: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = ServiceKey(self, "Encryption", description="Transaction pipeline: queues, bus, logs, secrets").key

        ingress = EncryptedQueueWithDlq(self, "Ingress", key=key, max_receive_count=settings.queue_max_receive_count)
        api = HttpApiToSqs(
            self, "HttpApi", queue=ingress.queue, key=key,
            log_retention_days=settings.log_retention_days, authorization=settings.api_authorization,
        )

        transactions = ArchivedEventBus(
            self,
            "Transactions",
            key=key,
            archive_pattern=events.EventPattern(
                source=[settings.event_source], detail_type=[settings.event_detail_type]
            ),
            retention_days=settings.archive_retention_days,
            description="Transactions as received",
        )
        pipe_logs = encrypted_log_group(self, "PipeLogs", key=key, days=settings.log_retention_days)
        enricher = PythonFunction(
            self, "PipeEnrichment", source="transaction_enricher",
            description="Ingress pipe enrichment: validates each record, adds a validation field beside the body",
            environment={}, key=key, log_retention_days=settings.log_retention_days,
        ) if settings.pipe_enrichment else None
        SqsToEventBusPipe(
            self,
            "IngressPipe",
            queue=ingress.queue,
            bus=transactions.bus,
            source=settings.event_source,
            detail_type=settings.event_detail_type,
            batch_size=settings.pipe_batch_size,
            batching_window_seconds=settings.pipe_batching_window_seconds,
            log_group=pipe_logs,
            enrichment=enricher.function if enricher is not None else None,
        )

        idempotency = idempotency_table(self, "Idempotency", key=key)
        pseudonymisation_key = secretsmanager.Secret(
            self,
            "PseudonymisationKey",
            description="HMAC key for personal fields leaving the payments account",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"version": "v1"}',
                generate_string_key="key",
                password_length=64,
                exclude_punctuation=True,
            ),
        )
        acknowledge(pseudonymisation_key, {
            "AwsSolutions-SMG4": "The pseudonymisation key must not rotate on a schedule: tokens would stop joining "
            "across events. A new key version is a deliberate step (README: personal data and erasure).",
        })
        recorder = PythonFunction(
            self,
            "Recorder",
            source="transaction_recorder",
            description="Logs each transaction body with its SHA-256 and publishes TransactionRecorded",
            environment={
                "IDEMPOTENCY_TABLE_NAME": idempotency.table_name,
                "PSEUDONYMISATION_SECRET_ARN": pseudonymisation_key.secret_arn,
                "DOMAIN_EVENT_BUS_ARN": domain_bus_arn,
                "DOMAIN_EVENT_SOURCE": application.source,
                "PERSONAL_FIELDS": ",".join(settings.personal_fields),
            },
            key=key,
            log_retention_days=settings.log_retention_days,
        )
        idempotency.grant_read_write_data(recorder.function)
        pseudonymisation_key.grant_read(recorder.function)
        recorder.function.add_to_role_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[domain_bus_arn])
        )

        workflow_dlq = encrypted_queue(self, "WorkflowDeadLetters", key=key)
        workflow = TransactionWorkflow(
            self,
            "Workflow",
            recorder=recorder.function,
            dead_letter_queue=workflow_dlq,
            key=key,
            retry_attempts=settings.lambda_retry_attempts,
            log_retention_days=settings.log_retention_days,
        )
        rule_dlq = encrypted_queue(self, "RuleDeadLetters", key=key)
        events.Rule(
            self,
            "TransactionReceived",
            event_bus=transactions.bus,
            event_pattern=events.EventPattern(source=[settings.event_source], detail_type=[settings.event_detail_type]),
            targets=[
                targets.SfnStateMachine(
                    workflow.state_machine,
                    dead_letter_queue=rule_dlq,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )

        self.api_url = api.url
        outputs = {
            "ApiEndpoint": api.url,
            "ApiId": api.api.api_id,
            "TransactionBusName": transactions.bus.event_bus_name,
            "TransactionBusArn": transactions.bus.event_bus_arn,
            "ArchiveName": transactions.archive.archive_name,
            "IngressQueueUrl": ingress.queue.queue_url,
            "IngressDeadLetterQueueUrl": ingress.dead_letter_queue.queue_url,
            "WorkflowDeadLetterQueueUrl": workflow_dlq.queue_url,
            "RuleDeadLetterQueueUrl": rule_dlq.queue_url,
            "StateMachineArn": workflow.state_machine.state_machine_arn,
            "WorkflowLogGroupName": workflow.log_group.log_group_name,
            "RecorderFunctionName": recorder.function.function_name,
            "RecorderLogGroupName": recorder.log_group.log_group_name,
            "DomainEventBusArn": domain_bus_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)


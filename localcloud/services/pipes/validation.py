"""What CreatePipe and UpdatePipe refuse, and what kind of resource each ARN names."""

from __future__ import annotations

import re

SOURCE_KINDS = ("sqs", "dynamodb", "kinesis")
ENRICHMENT_KINDS = ("lambda", "states", "api-destination", "api-gateway")
TARGET_KINDS = ("events", "states", "lambda", "sqs", "sns", "kinesis", "firehose", "logs", "api-destination",
                "api-gateway")
# "Supported batchable targets" (Pipes user guide, batching and concurrency); Lambda and
# Step Functions take any batch, API destinations and API Gateway one event a request.
TARGET_MAX_BATCH = {"logs": 10_000, "events": 10, "firehose": 500, "kinesis": 500, "sns": 10, "sqs": 10}
SOURCE_DEFAULT_BATCH = {"sqs": 10, "dynamodb": 100, "kinesis": 100}
SOURCE_PARAMETERS = {"sqs": "SqsQueueParameters", "dynamodb": "DynamoDBStreamParameters",
                     "kinesis": "KinesisStreamParameters"}
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/?[a-zA-Z0-9+=,.@\-_/]+")


class PipeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def kind_of(arn: str) -> str:
    """sqs, dynamodb, kinesis, lambda, states, events, sns, firehose, logs, api-destination,
    api-gateway, or "" for anything else."""
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return ""
    service, resource = parts[2], parts[5]
    if service == "events":
        return "api-destination" if resource.startswith("api-destination/") else \
            "events" if resource.startswith("event-bus/") else ""
    if service == "execute-api":
        return "api-gateway"
    if service == "dynamodb":
        return "dynamodb" if "/stream/" in resource else ""
    return service if service in ("sqs", "kinesis", "lambda", "states", "sns", "firehose", "logs") else ""


def _invalid(message: str) -> PipeError:
    return PipeError(400, "ValidationException", message)


def source_batch_size(definition: dict) -> int:
    kind = kind_of(definition.get("Source", ""))
    parameters = (definition.get("SourceParameters") or {}).get(SOURCE_PARAMETERS.get(kind, ""), {}) or {}
    return int(parameters.get("BatchSize") or SOURCE_DEFAULT_BATCH.get(kind, 10))


def _check_components(request: dict, region: str) -> None:
    if "RoleArn" in request and not _ROLE_ARN.fullmatch(request.get("RoleArn") or ""):
        raise _invalid("RoleArn must be the ARN of an IAM role.")
    if request.get("DesiredState") not in (None, "RUNNING", "STOPPED"):
        raise _invalid("DesiredState must be one of [RUNNING, STOPPED].")
    for field, kinds in (("Source", SOURCE_KINDS), ("Enrichment", ENRICHMENT_KINDS), ("Target", TARGET_KINDS)):
        arn = request.get(field)
        if not arn:
            continue
        if kind_of(arn) not in kinds:
            raise _invalid(f"{field} {arn} is not a supported {field.lower()}.")
        arn_region = arn.split(":")[3]
        if arn_region and arn_region != region:
            raise _invalid("Creating cross-region pipe is not permitted.")
    target = request.get("Target", "")
    if kind_of(target) == "sns" and target.endswith(".fifo"):
        raise _invalid("SNS FIFO topics are not supported as a pipe target.")
    level = (request.get("LogConfiguration") or {}).get("Level")
    if level not in (None, "OFF", "ERROR", "INFO", "TRACE"):
        raise _invalid("LogConfiguration.Level must be one of [OFF, ERROR, INFO, TRACE].")


def _check_batch(definition: dict) -> None:
    kind = kind_of(definition.get("Source", ""))
    parameters = (definition.get("SourceParameters") or {}).get(SOURCE_PARAMETERS.get(kind, ""), {}) or {}
    if "BatchSize" not in parameters:
        return
    size = int(parameters["BatchSize"])
    limit = 10_000
    if not 1 <= size <= limit:
        raise _invalid(f"BatchSize must be between 1 and {limit}.")
    target_kind = kind_of(definition.get("Target", ""))
    if not definition.get("Enrichment") and size > TARGET_MAX_BATCH.get(target_kind, limit):
        # "you can't configure a pipe with a larger batch size than the target supports"
        raise _invalid(f"BatchSize {size} is larger than the maximum batch size of the target "
                       f"({TARGET_MAX_BATCH[target_kind]}).")


def _check_dead_letter(definition: dict) -> None:
    """Stream sources dead-letter to "Amazon SQS queues and Amazon SNS topics", and "EventBridge
    Pipes does not support first-in first-out (FIFO) DLQs for stream sources"
    (eb-pipes-error-troubleshooting.html, "Pipe DLQ behavior")."""
    kind = kind_of(definition.get("Source", ""))
    parameters = (definition.get("SourceParameters") or {}).get(SOURCE_PARAMETERS.get(kind, ""), {}) or {}
    arn = (parameters.get("DeadLetterConfig") or {}).get("Arn")
    if not arn:
        return
    if kind_of(arn) not in ("sqs", "sns"):
        raise _invalid("DeadLetterConfig.Arn must be the ARN of an Amazon SQS queue or an Amazon SNS topic.")
    if arn.endswith(".fifo"):
        raise _invalid("FIFO queues and topics are not supported as a dead-letter queue for stream sources.")


def validate_create(request: dict, region: str) -> None:
    for field in ("RoleArn", "Source", "Target"):
        if not request.get(field):
            raise _invalid(f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: "
                           "Member must not be null")
    _check_components(request, region)
    _check_batch(request)
    _check_dead_letter(request)


def validate_update(request: dict, current: dict, region: str) -> None:
    if not request.get("RoleArn"):
        raise _invalid("1 validation error detected: Value null at 'RoleArn' failed to satisfy constraint: "
                       "Member must not be null")
    if "Source" in request and request["Source"] != current.get("Source"):
        raise _invalid("Source cannot be updated.")
    _check_components(request, region)
    _check_batch({**current, **{k: v for k, v in request.items() if v is not None}})
    _check_dead_letter({**current, **{k: v for k, v in request.items() if v is not None}})

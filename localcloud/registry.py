"""The extensions, in one list, and what the server does with all of them at once.

This module sits on top: it imports every service's extension; none of them imports it.
"""

from __future__ import annotations

import logging
import time

from localcloud import seams, state
from localcloud.extension import DataPlaneHandler, Extension

logger = logging.getLogger("localcloud")


def _registry() -> list[Extension]:
    from localcloud import capacity
    from localcloud.services import apigatewayv2, cloudwatch, dynamodb, logs, pipes
    from localcloud.services.apigateway import lambda_permission, owner_scope, proxy_errors
    from localcloud.services.apigatewayv2 import cloudformation as http_api_cloudformation
    from localcloud.services.awslambda import (
        bootstraps,
        code_location,
        environments,
        execution_role,
        log_capture,
        retired_runtimes,
        runtimes,
    )
    from localcloud.services.cloudformation import conditions as cfn_conditions
    from localcloud.services.cloudformation import custom_resources
    from localcloud.services.cloudformation import execution_role as cloudformation_role
    from localcloud.services.events import cloudformation as events_cloudformation
    from localcloud.services.events import (
        api_shapes,
        archives,
        cross_account,
        log_targets,
        put_events,
        state_machine_targets,
        target_roles,
    )
    from localcloud.services.firehose import delivery_role as firehose_delivery_role
    from localcloud.services.iam import requests as iam_requests
    from localcloud.services.kms import cloudformation as kms_cloudformation
    from localcloud.services.logs import cloudformation as log_group_cloudformation
    from localcloud.services.secretsmanager import cloudformation as secrets_cloudformation
    from localcloud.services.sqs import fifo_order, message_move_tasks, receipt_handles
    from localcloud.services.sqs import retention as sqs_retention
    from localcloud.services.sqs import validation as sqs_validation
    from localcloud.services.states import (
        bounded_history,
        context_object,
        execution_logs,
        express_executions,
        express_start,
        lambda_tasks,
        payload_limits,
        task_roles,
    )
    from localcloud.services.states import cloudformation as state_machine_cloudformation
    from localcloud.services.sts import sessions as sts_sessions

    return [
        iam_requests.EXTENSION,
        logs.EXTENSION,
        archives.EXTENSION,
        dynamodb.EXTENSION,
        sqs_retention.EXTENSION,
        cloudwatch.EXTENSION,
        bounded_history.EXTENSION,
        events_cloudformation.EXTENSION,
        kms_cloudformation.EXTENSION,
        secrets_cloudformation.EXTENSION,
        cross_account.EXTENSION,
        put_events.EXTENSION,
        state_machine_targets.EXTENSION,
        api_shapes.EXTENSION,
        log_targets.EXTENSION,
        target_roles.EXTENSION,  # after log_targets: wraps its delivery too
        express_start.EXTENSION,
        express_executions.EXTENSION,
        payload_limits.EXTENSION,
        context_object.EXTENSION,
        lambda_tasks.EXTENSION,
        execution_logs.EXTENSION,
        task_roles.EXTENSION,
        apigatewayv2.EXTENSION,
        receipt_handles.EXTENSION,
        fifo_order.EXTENSION,
        sqs_validation.EXTENSION,
        capacity.EXTENSION,
        pipes.EXTENSION,
        cfn_conditions.EXTENSION,
        custom_resources.CALLBACKS,
        custom_resources.FAILURES,
        owner_scope.EXTENSION,
        proxy_errors.EXTENSION,
        lambda_permission.EXTENSION,
        http_api_cloudformation.EXTENSION,
        state_machine_cloudformation.EXTENSION,
        log_group_cloudformation.EXTENSION,
        cloudformation_role.EXTENSION,  # after the extensions that wrap CloudFormation's resource handlers
        environments.EXTENSION,
        bootstraps.EXTENSION,
        runtimes.EXTENSION,
        retired_runtimes.EXTENSION,
        log_capture.EXTENSION,
        execution_role.EXTENSION,  # after log_capture: a function's log is written only if its role may
        code_location.EXTENSION,
        firehose_delivery_role.EXTENSION,
        message_move_tasks.EXTENSION,
        sts_sessions.EXTENSION,
    ]


_EXTENSIONS: list[Extension] = []


def install_all() -> dict[str, str]:
    """Install every needed extension; returns {name: "installed" | "ministack handles it"}."""
    report = {}
    _EXTENSIONS[:] = _registry()
    for extension in _EXTENSIONS:
        if extension.needed():
            extension.install()
            extension.active = True
            report[extension.name] = "installed"
        else:
            report[extension.name] = "ministack handles it"
        logger.info("extension %s: %s", extension.name, report[extension.name])
    return report


def _active() -> list[Extension]:
    return [e for e in _EXTENSIONS if e.active]


def data_plane_handlers() -> list[DataPlaneHandler]:
    return [e.data_plane for e in _active() if e.data_plane]


def start_all() -> None:
    for extension in _active():
        extension.start()


def _each_active(hook: str) -> None:
    """Call ``hook`` of every active extension; one that fails does not stop the others."""
    for extension in _active():
        try:
            getattr(extension, hook)()
        except Exception:
            logger.exception("%s of extension %s failed", hook, extension.name)


def stop_all() -> None:
    _each_active("stop")


def release_all() -> None:
    _each_active("release")


def health_sections() -> dict:
    sections: dict = {}
    for extension in _active():
        if extension.health:
            sections.update(extension.health())
    return sections


def quiesce(timeout: float) -> bool:
    """Before a stop: no new work from our pollers, then wait (bounded) until no
    state machine execution and no Lambda invocation runs, so that what persistence
    saves holds every accepted transaction (in a queue, or already recorded)."""
    stop_all()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not seams.states.running_executions() and seams.awslambda.invocations_in_flight() == 0:
            return True
        time.sleep(0.05)
    logger.warning("stopping with work in flight after %.0f s: %d executions, %d invocations", timeout,
                   len(seams.states.running_executions()), seams.awslambda.invocations_in_flight())
    return False


def save_all() -> None:
    """A graceful stop's last checkpoint (persistence on), after ``quiesce``."""
    state.stop()


def restore_all() -> None:
    """Load the last snapshot into ministack and every extension (persistence on),
    then keep checkpointing; extensions' states are part of each snapshot."""
    active = _active()
    state.restore({e.name: e.state for e in active if e.state}, {e.name: e.restore for e in active if e.restore})
    state.start()

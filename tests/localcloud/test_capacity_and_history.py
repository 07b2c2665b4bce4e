"""local_capacity (bursts queue) and bounded_history (memory does not grow with every
execution), on a local cloud of their own started with small limits."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import boto3
import psutil
import pytest
from botocore.config import Config

from .conftest import ACCOUNT_A, REGION, allow, create_role, own_local_cloud, wait_for

WORKERS = 2
KEPT = 5
DELIVERIES = 200


@pytest.fixture(scope="module")
def small_cloud(tmp_path_factory):
    with own_local_cloud(tmp_path_factory.mktemp("small-cloud"), LOCALCLOUD_LAMBDA_WORKERS=str(WORKERS),
                         LOCALCLOUD_EXPRESS_EXECUTIONS_KEPT=str(KEPT), LOCALCLOUD_LOG_LEVEL="INFO") as cloud:
        # the role the function and state machines name (the function's logs are written as it)
        create_role(client(cloud.endpoint, "iam"), "x", ["lambda.amazonaws.com", "states.amazonaws.com"], [
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:*:{ACCOUNT_A}:log-group:/aws/lambda/*")])
        yield cloud.endpoint, cloud.process, cloud.log


def client(endpoint: str, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id=ACCOUNT_A,
                        aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, read_timeout=120))


def python_function(lam, name: str, code: str) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", code)
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT_A}:role/x",
                               Handler="handler.lambda_handler", Code={"ZipFile": archive.getvalue()},
                               Timeout=30)["FunctionArn"]


def worker_processes(server: subprocess.Popen) -> int:
    return len(psutil.Process(server.pid).children(recursive=True))


def test_a_burst_of_invocations_queues_for_a_bounded_pool_of_workers(small_cloud):
    endpoint, server, _log = small_cloud
    lam = client(endpoint, "lambda")
    python_function(lam, "burst", "import time\ndef lambda_handler(event, context):\n"
                                  "    time.sleep(0.3)\n    return {'n': event['n']}\n")
    peak = 0
    done = False

    def watch() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, worker_processes(server))
            time.sleep(0.02)

    with ThreadPoolExecutor(max_workers=13) as pool:
        watcher = pool.submit(watch)
        results = list(pool.map(lambda n: json.loads(lam.invoke(FunctionName="burst", Payload=json.dumps({"n": n}))
                                                     ["Payload"].read()), range(12)))
        done = True
        watcher.result()

    # Every invocation succeeded (none throttled), through at most WORKERS processes.
    assert sorted(r["n"] for r in results) == list(range(12))
    assert 1 <= peak <= WORKERS


def test_rule_deliveries_to_a_function_wait_for_its_workers_instead_of_a_thread_each(small_cloud):
    """EventBridge's asynchronous deliveries to a Lambda function: queued for the function's
    workers (ministack started a thread per event, each waiting for a worker: 10,000 events
    ahead of a slower consumer were 4,000 threads)."""
    endpoint, server, _log = small_cloud
    lam, events, logs = client(endpoint, "lambda"), client(endpoint, "events"), client(endpoint, "logs")
    arn = python_function(lam, "slow-consumer", "import time\ndef lambda_handler(event, context):\n"
                                                "    time.sleep(0.05)\n    print('consumed', event['detail']['n'])\n")
    events.create_event_bus(Name="deliveries")
    rule_arn = events.put_rule(Name="to-consumer", EventBusName="deliveries",
                               EventPattern=json.dumps({"source": ["burst"]}))["RuleArn"]
    lam.add_permission(FunctionName="slow-consumer", StatementId="rule", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)  # what CDK's LambdaFunction target adds
    events.put_targets(Rule="to-consumer", EventBusName="deliveries", Targets=[{"Id": "consumer", "Arn": arn}])
    server_process = psutil.Process(server.pid)
    before = server_process.num_threads()
    peak = before
    done = False

    def watch() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, server_process.num_threads())
            time.sleep(0.02)

    def consumed() -> int:
        try:
            found = logs.filter_log_events(logGroupName="/aws/lambda/slow-consumer", filterPattern='"consumed"')
        except logs.exceptions.ResourceNotFoundException:
            return 0  # the first invocation has not written its log yet
        return len(found["events"])

    with ThreadPoolExecutor(max_workers=1) as pool:
        watcher = pool.submit(watch)
        try:
            for batch in range(DELIVERIES // 10):
                events.put_events(Entries=[{"EventBusName": "deliveries", "Source": "burst", "DetailType": "n",
                                            "Detail": json.dumps({"n": batch * 10 + i})} for i in range(10)])
            delivered = wait_for(lambda: consumed() >= DELIVERIES, timeout=180, interval=1.0)
        finally:
            done = True
        watcher.result()
    assert delivered, consumed()
    # A thread per delivery would have added about DELIVERIES threads; the pool adds WORKERS.
    assert peak - before < DELIVERIES // 4, (before, peak)


def test_only_the_newest_finished_express_executions_are_kept(small_cloud):
    endpoint, _server, log = small_cloud
    sfn = client(endpoint, "stepfunctions")
    machine = sfn.create_state_machine(
        name="history", type="EXPRESS", roleArn=f"arn:aws:iam::{ACCOUNT_A}:role/x",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    standard = sfn.create_state_machine(
        name="kept-standard", type="STANDARD", roleArn=f"arn:aws:iam::{ACCOUNT_A}:role/x",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    for n in range(KEPT * 3):
        sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))
        sfn.start_execution(stateMachineArn=standard, input=json.dumps({"n": n}))

    def listed(arn: str) -> int:
        return len(sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"])

    def forgotten() -> int:  # EXPRESS executions are not listed by the API (as on AWS): the server says
        return sum(int(n) for n in re.findall(r"forgot (\d+) finished EXPRESS executions", log.read_text()))

    # The trim runs every few seconds; STANDARD executions (AWS keeps their history) stay.
    assert wait_for(lambda: forgotten() == KEPT * 2, timeout=20), forgotten()
    assert listed(standard) == KEPT * 3

"""`make bench`'s side-by-side: single operations on the local cloud and on moto server
started in the same run (median of ``samples``)."""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path


def single_operation_figures(endpoint: str, samples: int) -> dict:
    import boto3
    from botocore.config import Config

    def make(service: str):
        return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="123456789012",
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))

    sqs, events = make("sqs"), make("events")
    tag = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"bench-{tag}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"bench-{tag}"
    events.create_event_bus(Name=bus)
    rule_arn = events.put_rule(Name=f"rule-{tag}", EventBusName=bus,
                               EventPattern=json.dumps({"source": ["bench"]}))["RuleArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({  # EventBridge may deliver
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule=f"rule-{tag}", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    def timed(call) -> float:
        durations = []
        for _ in range(samples):
            began = time.perf_counter()
            call()
            durations.append((time.perf_counter() - began) * 1000)
        return statistics.median(durations)

    for _ in range(20):  # warm connections and caches
        sqs.send_message(QueueUrl=queue_url, MessageBody="warm")
    return {
        "sqs_send_ms": round(timed(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="x" * 256)), 3),
        "put_events_with_rule_ms": round(timed(lambda: events.put_events(Entries=[{
            "EventBusName": bus, "Source": "bench", "DetailType": "t", "Detail": '{"a":1}'}])), 3),
    }


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def side_by_side(samples: int, local_endpoint: str, moto_port: int, log) -> dict:
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if not moto or not port_free(moto_port):
        log("  moto_server not available (or its port is busy): skipping the side-by-side")
        return {}
    process = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if not port_free(moto_port):
                break
            time.sleep(0.1)
        ours = single_operation_figures(local_endpoint, samples)
        theirs = single_operation_figures(f"http://127.0.0.1:{moto_port}", samples)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"local_cloud": ours, "moto_server": theirs,
            "ratio_moto_over_local_cloud": {k: round(theirs[k] / ours[k], 2) for k in ours}}

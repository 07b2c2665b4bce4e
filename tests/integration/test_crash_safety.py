"""Crash safety with persistence on (LOCALCLOUD_PERSIST=1), on a local cloud of the
tests' own (``restartable_cloud``), killed with SIGKILL:

* right after ``deploy``: every stack is there after the restart, and deploying again works;
* at a random instant during a 20 tx/s stream: every transaction the API accepted more than
  a second before the kill is recorded after the restart, and the ledger handles none twice;
* at a random instant during a graceful stop (SIGTERM, drain, last save): the same.

What the local cloud promises (README, persistence): a kill loses at most the work
acknowledged in the last second. Transactions accepted in that last second are counted
and reported, not required.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest

from ops.transactions import RECORDED, is_recorded_line, log_records, sha256_hex

from .helpers import PIPELINE, now_ms, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACKS = ("Backbone", "BackboneSecondRegion", "PaymentsBus", "LedgerBus", "PaymentsTransactionPipeline")
RATE_TPS = 20
GRACE_S = 1.0  # "at most the last second of acknowledged work"
# In-flight records come back after the ingress queue's visibility timeout (30 s).
SETTLE_WITHIN_S = 90
QUIET_S = 8


@dataclass
class Stream:
    """POSTs at RATE_TPS from a thread; each accepted body with the moment its 200 arrived."""

    cloud: object
    accepted: dict[str, float] = field(default_factory=dict)  # sha -> time.time() of the answer
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sequence = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            body = json.dumps({"id": str(uuid.uuid4()), "seq": sequence, "test": "crash"}).encode()
            status, _ = self.cloud.post(body, timeout=3)
            if status == 200:
                self.accepted[sha256_hex(body)] = time.time()
            else:
                self.refused += 1
            sequence += 1
            next_at += 1 / RATE_TPS
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self):
        self.thread = threading.Thread(target=self.run, name="it-crash-stream", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.stop.set()
        self.thread.join(timeout=10)


def _recorded(cloud, app, since_ms: int) -> Counter:
    return Counter(r["body_sha256"] for _, r in log_records(
        cloud.outputs[PIPELINE]["RecorderLogGroupName"], *app, since_ms, is_recorded_line, filter_pattern=RECORDED,
        logs=cloud.client("logs", *app)))


def _ledger_handled(cloud, ledger, since_ms: int) -> Counter:
    return Counter(r.get("body_sha256") for _, r in log_records(
        cloud.outputs["LedgerBus"]["ConsumerLogGroupName"], ledger.account, ledger.region, since_ms,
        lambda r: r.get("message") == "domain event received", filter_pattern='"domain event received"',
        logs=cloud.client("logs", ledger.account, ledger.region)))


def _queue_depth(cloud, app) -> int:
    attributes = cloud.client("sqs", *app).get_queue_attributes(
        QueueUrl=cloud.outputs[PIPELINE]["IngressQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(v) for v in attributes.values())


def _settle(cloud, app, since_ms: int, required: set[str]) -> Counter:
    """Wait until every required transaction is recorded, or nothing is left to come."""
    last = {"counts": Counter(), "changed": time.monotonic()}

    def settled():
        counts = _recorded(cloud, app, since_ms)
        if required <= set(counts):
            return counts
        if counts != last["counts"]:
            last.update(counts=counts, changed=time.monotonic())
        quiet = time.monotonic() - last["changed"] > QUIET_S
        return counts if quiet and _queue_depth(cloud, app) == 0 else None

    return wait_until(settled, SETTLE_WITHIN_S, interval=1.0) or _recorded(cloud, app, since_ms)


def _verdict(stream: Stream, killed_at: float, counts: Counter, handled: Counter) -> dict:
    lost = {sha: at for sha, at in stream.accepted.items() if sha not in counts}
    return {
        "accepted": len(stream.accepted), "refused": stream.refused, "lost": len(lost),
        "lost_beyond_last_second": sorted(sha for sha, at in lost.items() if at < killed_at - GRACE_S),
        "lost_in_last_second": sum(1 for at in lost.values() if at >= killed_at - GRACE_S),
        "recorded_more_than_once": sum(1 for sha in stream.accepted if counts[sha] > 1),
        "ledger_handled_twice": sorted(sha for sha in stream.accepted if handled[sha] > 1),
    }


@pytest.mark.timeout(600)
def test_stacks_deployed_right_before_a_sigkill_survive_and_the_next_deploy_succeeds(restartable_cloud, say):
    cloud = restartable_cloud
    outputs_before = json.loads(cloud.outputs_file.read_text())
    pid = cloud.pid()
    cloud.kill()  # the deploy (fixture) returned a moment ago
    cloud.wait_gone(pid)
    say(f"killed right after deploy; {cloud.up()}")
    for name in STACKS:
        account, region = _where(cloud, name)
        stack = cloud.client("cloudformation", account, region).describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), (name, stack["StackStatus"])
        assert {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])} == outputs_before[name]
    say(f"deployed again after the kill in {cloud.deploy():.1f} s")
    assert json.loads(cloud.outputs_file.read_text()) == outputs_before


def _where(cloud, stack_name: str) -> tuple[str, str]:
    from ops.environment import config

    cfg = config()
    if stack_name == "Backbone":
        return cfg.backbone.account, cfg.backbone.region
    if stack_name == "BackboneSecondRegion":
        return cfg.backbone.account, cfg.second_region
    app = cfg.application(stack_name.removesuffix("Bus").removesuffix("TransactionPipeline").lower())
    return app.account, app.region


@pytest.mark.timeout(600)
def test_a_sigkill_mid_stream_loses_nothing_accepted_before_the_last_second(restartable_cloud, payments, ledger, say):
    cloud = restartable_cloud
    app = (payments.account, payments.region)
    since = now_ms()
    with Stream(cloud) as stream:
        time.sleep(random.uniform(3.0, 8.0))
        pid = cloud.pid()
        killed_at = cloud.kill()
    cloud.wait_gone(pid)
    say(f"SIGKILL after {len(stream.accepted)} accepted transactions; {cloud.up()}")
    required = {sha for sha, at in stream.accepted.items() if at < killed_at - GRACE_S}
    counts = _settle(cloud, app, since, required)
    verdict = _verdict(stream, killed_at, counts, _ledger_handled(cloud, ledger, since))
    say(f"SIGKILL mid-stream: {verdict}")
    assert verdict["accepted"] > 20, verdict
    assert verdict["lost_beyond_last_second"] == [], verdict
    assert verdict["ledger_handled_twice"] == [], verdict


@pytest.mark.timeout(600)
def test_a_sigkill_during_a_graceful_stop_loses_nothing_accepted_before_the_last_second(
        restartable_cloud, payments, ledger, say):
    cloud = restartable_cloud
    app = (payments.account, payments.region)
    since = now_ms()
    with Stream(cloud) as stream:
        time.sleep(3.0)
        pid = cloud.pid()
        cloud.kill(signal.SIGTERM, pid)  # the graceful stop: drain, then the last save …
        time.sleep(random.uniform(0.05, 0.8))
        killed_at = cloud.kill(signal.SIGKILL, pid)  # … cut short
    cloud.wait_gone(pid)
    say(f"SIGKILL during a graceful stop after {len(stream.accepted)} accepted; {cloud.up()}")
    required = {sha for sha, at in stream.accepted.items() if at < killed_at - GRACE_S}
    counts = _settle(cloud, app, since, required)
    verdict = _verdict(stream, killed_at, counts, _ledger_handled(cloud, ledger, since))
    say(f"SIGKILL during a graceful stop: {verdict}")
    assert verdict["accepted"] > 20, verdict
    assert verdict["lost_beyond_last_second"] == [], verdict
    assert verdict["ledger_handled_twice"] == [], verdict

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
import time

import pytest

from ops import crash

from .helpers import PIPELINE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACKS = ("Backbone", "BackboneSecondRegion", "PaymentsBus", "LedgerBus", "PaymentsTransactionPipeline")


def _pipeline(cloud, payments, ledger) -> crash.Pipeline:
    app = (payments.account, payments.region)
    return crash.Pipeline(
        post=lambda body: cloud.post(body, timeout=3)[0],
        recorder_logs=cloud.client("logs", *app), recorder_group=cloud.outputs[PIPELINE]["RecorderLogGroupName"],
        ledger_logs=cloud.client("logs", ledger.account, ledger.region),
        ledger_group=cloud.outputs["LedgerBus"]["ConsumerLogGroupName"],
        sqs=cloud.client("sqs", *app), ingress_queue_url=cloud.outputs[PIPELINE]["IngressQueueUrl"])


def _restart(cloud, pid: int, say) -> None:
    cloud.wait_gone(pid)
    say(f"restarted: {cloud.up()}")


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
    pid = cloud.pid()
    verdict = crash.trial(_pipeline(cloud, payments, ledger), stop=lambda: cloud.kill(signal.SIGKILL, pid),
                          restart=lambda: _restart(cloud, pid, say), stream_s=random.uniform(3.0, 8.0))
    say(f"SIGKILL mid-stream: {verdict}")
    assert verdict["accepted"] > 20, verdict
    assert verdict["lost_beyond_last_second"] == 0, verdict
    assert verdict["ledger_handled_twice"] == 0, verdict


@pytest.mark.timeout(600)
def test_a_sigkill_during_a_graceful_stop_loses_nothing_accepted_before_the_last_second(
        restartable_cloud, payments, ledger, say):
    cloud = restartable_cloud
    pid = cloud.pid()

    def cut_short() -> float:
        cloud.kill(signal.SIGTERM, pid)  # the graceful stop: drain, then the last save …
        time.sleep(random.uniform(0.05, 0.8))
        return cloud.kill(signal.SIGKILL, pid)  # … cut short

    verdict = crash.trial(_pipeline(cloud, payments, ledger), stop=cut_short, restart=lambda: _restart(cloud, pid, say),
                          stream_s=3.0)
    say(f"SIGKILL during a graceful stop: {verdict}")
    assert verdict["accepted"] > 20, verdict
    assert verdict["lost_beyond_last_second"] == 0, verdict
    assert verdict["ledger_handled_twice"] == 0, verdict

"""make bench: what a crash costs a persistent local cloud, and the transactions the
ledger handled twice (both read through ops/crash.py, which the crash tests share)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def ledger_duplicates(since_ms: int) -> int:
    """Transactions the ledger handled more than once since ``since_ms``."""
    from ops import crash, transactions
    from ops.environment import client, config, output

    ledger = config().application("ledger")
    app = transactions.payments()
    pipeline = crash.Pipeline(
        post=lambda body: None, recorder_logs=client("logs", app.account, app.region),
        recorder_group=output(transactions.PIPELINE_STACK, "RecorderLogGroupName"),
        ledger_logs=client("logs", ledger.account, ledger.region), ledger_group=output("LedgerBus", "ConsumerLogGroupName"),
        sqs=client("sqs", app.account, app.region), ingress_queue_url=output(transactions.PIPELINE_STACK, "IngressQueueUrl"))
    return sum(1 for sha, count in crash.handled_by_ledger(pipeline, since_ms).items() if sha and count > 1)


def measure_crashes(stream_s: float, cloud, make_sender: Callable, warm: Callable, log: Callable[[str], None]) -> dict:
    """What a kill costs on ``cloud``, a fresh local cloud with persistence on (ops/crash.py):
    ``make_sender()`` posts to its HTTP API once deployed, ``warm(sender, n)`` warms the functions."""
    import random
    import signal as signals

    from ops import crash, transactions
    from ops.environment import client, config, output

    results: dict = {}
    try:
        cloud.start()
        subprocess.run([sys.executable, "-m", "ops.deploy_local"], check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, env=cloud.env)
        ledger, app = config().application("ledger"), transactions.payments()
        sender = make_sender()
        warm(sender, 10)
        pipeline = crash.Pipeline(
            post=lambda body: sender.post(body.decode())[0], recorder_logs=client("logs", app.account, app.region),
            recorder_group=output(transactions.PIPELINE_STACK, "RecorderLogGroupName"),
            ledger_logs=client("logs", ledger.account, ledger.region),
            ledger_group=output("LedgerBus", "ConsumerLogGroupName"), sqs=client("sqs", app.account, app.region),
            ingress_queue_url=output(transactions.PIPELINE_STACK, "IngressQueueUrl"))

        def during_graceful_stop() -> float:
            cloud.kill(signals.SIGTERM, wait=False)
            time.sleep(random.uniform(0.05, 0.8))
            return cloud.kill(signals.SIGKILL)

        for name, stop in (("sigkill", lambda: cloud.kill(signals.SIGKILL)),
                           ("sigterm", lambda: cloud.kill(signals.SIGTERM)),
                           ("sigkill_during_graceful_stop", during_graceful_stop)):
            log(f"  crash: {name} during a 20 tx/s stream")
            sender.local.connection = None
            results[name] = crash.trial(pipeline, stop, cloud.restart, random.uniform(0.5, 1.0) * stream_s)
            log(f"  crash: {name}: {results[name]}")
    finally:
        cloud.stop()
    return results

"""Is the local cloud still answering while it works through a backlog?

A ``Prober`` samples, from threads of its own and each with a timeout (so it never
hangs), the health endpoint and one AWS API call (SQS GetQueueAttributes on the
pipeline's ingress queue, which also reports the queue depth) while something else
keeps the local cloud busy. ``make bench`` probes during its 10,000-event replay; on its
own:

    python -m ops.responsiveness [--backlog 10000]

puts a backlog of transactions on the ingress queue (SendMessageBatch, as fast as the
queue takes them) and probes until the pipeline has drained it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 10.0
HEALTH_EVERY_S = 0.1
API_EVERY_S = 0.25


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(latencies_ms: list[float], failures: int) -> dict:
    return {"p50": percentile(latencies_ms, 50), "p99": percentile(latencies_ms, 99),
            "max": round(max(latencies_ms), 1) if latencies_ms else None, "count": len(latencies_ms),
            "failures": failures}


class Prober:
    """Samples health and an API call until stopped; failures (timeouts, errors) count at
    the timeout in the latency figures, so a stalled server cannot look fast."""

    def __init__(self, endpoint: str, api_call, timeout: float = PROBE_TIMEOUT_S) -> None:
        parsed = urlparse(endpoint)
        self.host, self.port = parsed.hostname, parsed.port
        self.api_call, self.timeout = api_call, timeout
        self.health_ms: list[float] = []
        self.api_ms: list[float] = []
        self.taken_at_ms: dict[str, list[int]] = {"health": [], "api": []}  # when each sample began
        self.failures = {"health": 0, "api": 0}
        self.last_api_result = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=("health", self._health, HEALTH_EVERY_S), daemon=True),
                         threading.Thread(target=self._loop, args=("api", self._api, API_EVERY_S), daemon=True)]

    def _health(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", "/_localcloud/health")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"health answered {response.status}")
        finally:
            connection.close()

    def _api(self) -> None:
        self.last_api_result = self.api_call()

    def _loop(self, name: str, probe, every: float) -> None:
        samples = self.health_ms if name == "health" else self.api_ms
        while not self._stop.is_set():
            began = time.perf_counter()
            self.taken_at_ms[name].append(int(time.time() * 1000))
            try:
                probe()
                samples.append(round((time.perf_counter() - began) * 1000, 2))
            except Exception:
                self.failures[name] += 1
                samples.append(self.timeout * 1000)
            self._stop.wait(max(0.0, every - (time.perf_counter() - began)))

    def __enter__(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def result(self, until_ms: int | None = None) -> dict:
        """Figures over the samples begun before ``until_ms`` (when the backlog had drained)."""
        def kept(name: str, samples: list[float]) -> list[float]:
            taken = self.taken_at_ms[name]
            return [v for t, v in zip(taken, samples) if until_ms is None or t <= until_ms]

        return {"health_ms": summary(kept("health", self.health_ms), self.failures["health"]),
                "api_ms": summary(kept("api", self.api_ms), self.failures["api"])}


def queue_depth_call(sqs, queue_url: str):
    """The API call the prober makes: the ingress queue's depth (visible + in flight)."""

    def call() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    return call


def probing_client(service: str, account: str, region: str, endpoint: str, timeout: float = PROBE_TIMEOUT_S):
    """A client of its own for the prober (no retries: a slow answer is what we measure)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region, endpoint_url=endpoint, aws_access_key_id=account,
                        aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=timeout, read_timeout=timeout))


def fill_and_drain(backlog: int, drain_timeout: float = 900.0) -> dict:
    """Put ``backlog`` transactions on the ingress queue, probe until it drained."""
    from ops.environment import client, endpoint_url, output
    from ops.transactions import PIPELINE_STACK, payments

    app = payments()
    queue_url = output(PIPELINE_STACK, "IngressQueueUrl")
    sqs = client("sqs", app.account, app.region)
    depth = queue_depth_call(probing_client("sqs", app.account, app.region, endpoint_url()), queue_url)
    with Prober(endpoint_url(), depth) as prober:
        began = time.monotonic()
        for start in range(0, backlog, 10):
            sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"responsiveness": start + i, "id": str(uuid.uuid4())})}
                for i in range(min(10, backlog - start))])
        filled_s = time.monotonic() - began
        print(f"  {backlog} messages queued in {filled_s:.1f} s", flush=True)
        while time.monotonic() - began < drain_timeout:
            time.sleep(2)
            remaining = prober.last_api_result
            print(f"  {time.monotonic() - began:5.0f} s: queue depth {remaining}, "
                  f"health p99 so far {percentile(prober.health_ms, 99)} ms", flush=True)
            if remaining == 0:
                break
        drained_s = time.monotonic() - began
    return {"backlog": backlog, "filled_s": round(filled_s, 1), "drained_s": round(drained_s, 1), **prober.result()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(fill_and_drain(args.backlog), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

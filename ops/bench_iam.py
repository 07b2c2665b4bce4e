"""What strict IAM costs: POST -> log line latency on the strict local cloud (the bench's
own) and on a second one started with ``LOCALCLOUD_IAM=off``, both with every stack
deployed, measured in the same run and interleaved (strict, off, off, strict, …) so that a
noisy machine weighs on both alike.

    BENCH_PERMISSIVE_PORT   the permissive cloud's port (default BENCH_PORT + 2)
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ops import transactions
from ops.environment import PROJECT_ROOT

DEPLOY_TIMEOUT_S = 1200


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 1)

    return {"p50": at(50), "p95": at(95), "p99": at(99), "count": len(ordered)}


@contextlib.contextmanager
def _pointing_at(endpoint: str, outputs: Path):
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "PIPELINE_OUTPUTS_FILE")}
    os.environ.update(AWS_ENDPOINT_URL=endpoint, PIPELINE_OUTPUTS_FILE=str(outputs))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Cloud:
    def __init__(self, port: int, home: Path, outputs: Path, **env: str) -> None:
        self.port, self.home, self.outputs = port, home, outputs
        self.endpoint = f"http://127.0.0.1:{port}"
        # Not the strict cloud's endpoint: a server's Lambda workers call the endpoint they inherit.
        inherited = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "PIPELINE_OUTPUTS_FILE")}
        self.env = dict(inherited, LOCALCLOUD_PORT=str(port), LOCALCLOUD_HOME=str(home), **env)

    def start_and_deploy(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "localcloud", "up"], env=self.env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=180)
        deploy_env = dict(self.env, AWS_ENDPOINT_URL=self.endpoint, PIPELINE_OUTPUTS_FILE=str(self.outputs))
        subprocess.run([sys.executable, "-m", "ops.deploy_local"], env=deploy_env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=DEPLOY_TIMEOUT_S)

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "localcloud", "down"], env=self.env, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(PROJECT_ROOT / f"cdk.out.{self.port}", ignore_errors=True)

    def latency_ms(self, body: str) -> float:
        with _pointing_at(self.endpoint, self.outputs):
            path = transactions.api_url().split(f":{self.port}", 1)[1]
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            sent_at_ms = int(time.time() * 1000)
            connection.request("POST", path, body=body.encode(), headers={"content-type": "application/json"})
            status = connection.getresponse().status
            connection.close()
            if status != 200:
                raise RuntimeError(f"{self.endpoint}: POST answered {status}")
            lines = transactions.recorded(transactions.sha256_hex(body), sent_at_ms, timeout=30)
            if not lines:
                raise RuntimeError(f"{self.endpoint}: a transaction never reached the log")
            return lines[0][0] - sent_at_ms


def compare(strict_port: int, strict_outputs: Path, bench_dir: Path, count: int, body, log) -> dict:
    """Latency percentiles strict vs LOCALCLOUD_IAM=off, ``count`` transactions each."""
    port = int(os.environ.get("BENCH_PERMISSIVE_PORT", strict_port + 2))
    strict = _Cloud(strict_port, bench_dir / "localcloud", strict_outputs)
    permissive = _Cloud(port, bench_dir / "localcloud-iam-off", bench_dir / "outputs-iam-off.json",
                        LOCALCLOUD_IAM="off")
    log(f"  starting and deploying a LOCALCLOUD_IAM=off local cloud on port {port}")
    permissive.start_and_deploy()
    try:
        for index in range(10):  # warm-up of the second cloud's workers
            permissive.latency_ms(body("iam-off-warm", index))
        samples: dict[str, list[float]] = {"strict": [], "off": []}
        for index in range(count):
            pair = (("strict", strict), ("off", permissive)) if index % 2 == 0 else \
                (("off", permissive), ("strict", strict))
            for name, cloud in pair:
                samples[name].append(cloud.latency_ms(body(f"iam-{name}", index)))
            if (index + 1) % 100 == 0:
                log(f"  iam: {index + 1}/{count}")
    finally:
        permissive.stop()
    found = {name: _percentiles(values) for name, values in samples.items()}
    found["strict_over_off_p50"] = round(found["strict"]["p50"] / found["off"]["p50"], 3) if found["off"]["p50"] else None
    return found

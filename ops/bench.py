"""`make bench`: measure the local pipeline end to end on a local cloud of its own.

Starts a fresh local cloud on another port (so a running one is left alone), times its
start and a full deploy, then measures POST -> log line latency (sequential),
the highest offered load sustained with zero loss, a replay of archived events (probing,
while its backlog drains, how fast health and an API call answer), memory (after deploy,
right after the replay and once idle), transactions the ledger handled twice, and
single-operation figures next to moto server started in the same run. Then, on a second
local cloud with persistence on, what a crash costs: SIGKILL at a random instant of a
20 tx/s stream, SIGTERM, and SIGKILL during the graceful stop (ops/crash.py). Prints a
table and writes .bench/latest.json. Every phase has a time limit; a phase that fails is
recorded under ``errors`` and the run goes on, so the bench always ends with its report.

    python -m ops.bench [--quick] [--latency-count 500] [--duration 60]
                        [--loads 25,50,100,200,300,400,500] [--replay-count 10000]

Latency is the log event's own timestamp minus the moment the POST was sent; the log
group is read with FilterLogEvents as a test would, and polling cadence does not enter
the figure (nor the drain and replay times, also taken from log timestamps). Reading a
large log group costs the local cloud itself, so long phases poll every few seconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from ops import bench_crash, responsiveness
from ops.bench_moto import port_free, side_by_side

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_ROOT / ".bench"
BENCH_PORT = int(os.environ.get("BENCH_PORT", "4567"))
MOTO_PORT = int(os.environ.get("BENCH_MOTO_PORT", "4568"))
TARGETS = {
    "latency_ms.p50": ("<=", 20), "latency_ms.p99": ("<=", 100), "throughput_tps": (">=", 500), "lost": ("<=", 0),
    "replay_10k_s": ("<=", 60), "rss_mb": ("<=", 300), "cold_start_s": ("<=", 1), "deploy_s": ("<=", 30),
    "rss_mb_after": ("<=", 300), "crash_lost": ("<=", 0), "duplicates": ("<=", 0),
    "responsiveness.health_ms.p99": ("<=", 100), "responsiveness.api_ms.p99": ("<=", 1000),
}
LOG_POLL_S = 3.0  # how often long phases read the recorder's log group
UP_TIMEOUT_S, DEPLOY_TIMEOUT_S, REPLAY_CAP_S = 180, 1200, 900


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- the bench's own local cloud -------------------------------------------------------

class BenchCloud:
    def __init__(self, persist: bool = False) -> None:
        self.home = BENCH_DIR / ("localcloud-persistent" if persist else "localcloud")
        self.env = dict(os.environ, LOCALCLOUD_PORT=str(BENCH_PORT), LOCALCLOUD_HOME=str(self.home),
                        LOCALCLOUD_PERSIST="1" if persist else "0")
        self.pid: int | None = None

    def start(self) -> float:
        if not port_free(BENCH_PORT):
            raise SystemExit(f"port {BENCH_PORT} is busy: set BENCH_PORT to a free port")
        shutil.rmtree(self.home, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "localcloud", "up"], env=self.env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=UP_TIMEOUT_S)
        elapsed = time.monotonic() - started
        self.pid = int((self.home / "localcloud.pid").read_text())
        return elapsed

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "localcloud", "down"], env=self.env, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=UP_TIMEOUT_S)

    def restart(self) -> None:
        """Start again after a kill, on the same home (persistence brings the state back)."""
        subprocess.run([sys.executable, "-m", "localcloud", "up"], env=self.env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL)
        self.pid = int((self.home / "localcloud.pid").read_text())

    def kill(self, sig: int = 9, wait: bool = True) -> float:
        """Signal the server; with ``wait``, return once it is gone. Returns when it was signalled."""
        from ops.crash import process_gone

        pid, signalled = self.pid, time.time()
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return signalled
        if wait:
            process_gone(pid)
        return signalled

    def rss_mb(self) -> float:
        return self.memory()["total_mb"]

    def memory(self) -> dict:
        """RSS of the server and of its Lambda worker processes."""
        import psutil

        process = psutil.Process(self.pid)
        workers = process.children(recursive=True)
        server = process.memory_info().rss / 2**20
        worker_mb = sum(c.memory_info().rss for c in workers) / 2**20
        return {"total_mb": round(server + worker_mb, 1), "server_mb": round(server, 1),
                "workers_mb": round(worker_mb, 1), "worker_processes": len(workers)}


# --- sending ----------------------------------------------------------------------------

class Sender:
    """Keep-alive HTTP client per thread for the API's path-form URL."""

    def __init__(self, api_path: str) -> None:
        self.api_path = api_path
        self.local = threading.local()

    def post(self, body: str) -> tuple[int, int]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", BENCH_PORT, timeout=30)
        sent_at_ms = int(time.time() * 1000)
        try:
            connection.request("POST", self.api_path, body=body.encode(), headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status, sent_at_ms
        except (OSError, http.client.HTTPException):
            self.local.connection = None
            return 0, sent_at_ms


def unique_body(tag: str, index: int) -> str:
    return json.dumps({"bench": tag, "n": index, "id": str(uuid.uuid4()), "amount": index % 1000 / 10,
                       "customer": {"name": f"Customer {index}", "email": f"c{index}@example.com"}})


# --- phases ------------------------------------------------------------------------------

def measure_latency(sender: Sender, count: int) -> list[float]:
    from ops import transactions

    latencies = []
    for index in range(count):
        body = unique_body("latency", index)
        status, sent_at_ms = sender.post(body)
        if status != 200:
            raise RuntimeError(f"latency run: POST answered {status}")
        lines = transactions.recorded(transactions.sha256_hex(body), sent_at_ms, timeout=30)
        if not lines:
            raise RuntimeError(f"latency run: transaction {index} never reached the log")
        latencies.append(lines[0][0] - sent_at_ms)
        if (index + 1) % 100 == 0:
            log(f"  latency: {index + 1}/{count} (p50 so far {statistics.median(latencies):.0f} ms)")
    return latencies


DRAIN_LIMIT_S = 10.0  # a load is sustained when its backlog clears this soon after sending stops


def processed(since_ms: int, shas: set[str], quiet_s: float = 20.0, cap_s: float = 900.0) -> dict:
    """Wait until every sha in ``shas`` was recorded, or nothing new was for ``quiet_s``;
    then (processed exactly once, processed more than once, seconds waited, the newest
    line's timestamp)."""
    from ops import transactions

    started = time.monotonic()
    last_progress, last_count, last_told = started, -1, started
    tail = transactions.recorder_tail(since_ms)
    counts: dict[str, int] = {}
    newest_ms = since_ms

    def ours(record: dict) -> bool:
        return transactions.is_recorded_line(record) and record.get("replay_name") is None \
            and record.get("body_sha256") in shas

    def tally(lines) -> None:
        nonlocal newest_ms
        for timestamp, record in lines:
            counts[record["body_sha256"]] = counts.get(record["body_sha256"], 0) + 1
            newest_ms = max(newest_ms, timestamp)

    while True:
        tally(tail.read(ours))
        now = time.monotonic()
        if len(counts) != last_count:
            last_progress, last_count = now, len(counts)
        if len(counts) >= len(shas) or now - last_progress > quiet_s or now - started > cap_s:
            if len(counts) < len(shas):  # the tail can miss a line that landed late: read everything once
                counts.clear()
                tally((ts, r) for ts, r in transactions.recorded_since(since_ms) if ours(r))
            return {"once": sum(1 for c in counts.values() if c == 1),
                    "duplicated": sum(1 for c in counts.values() if c > 1),
                    "waited_s": round(now - started, 1), "complete": len(counts) >= len(shas),
                    "newest_ms": newest_ms}
        if now - last_told >= 15:
            log(f"    … {len(counts)}/{len(shas)} recorded so far")
            last_told = now
        time.sleep(LOG_POLL_S)


def offered_load(sender: Sender, rate: int, duration: float) -> dict:
    from ops import transactions

    total = int(rate * duration)
    bodies = [unique_body(f"load{rate}", i) for i in range(total)]
    statuses: list[int] = [0] * total
    started_ms = int(time.time() * 1000)
    start = time.monotonic()

    def send(index: int) -> None:
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        statuses[index], _ = sender.post(bodies[index])

    with ThreadPoolExecutor(max_workers=min(64, max(8, rate // 4))) as pool:
        list(pool.map(send, range(total)))
    send_seconds = time.monotonic() - start
    sent_ms = int(time.time() * 1000)
    accepted = {transactions.sha256_hex(b) for b, s in zip(bodies, statuses) if s == 200}
    outcome = processed(started_ms, accepted)
    return {
        "rate": rate, "sent": total, "accepted": len(accepted), "achieved_send_tps": round(total / send_seconds, 1),
        "processed_once": outcome["once"], "duplicated": outcome["duplicated"],
        "lost": len(accepted) - outcome["once"] - outcome["duplicated"],
        "rejected": total - len(accepted),
        # How long after the last send the backlog took to clear: past DRAIN_LIMIT_S the
        # pipeline did not keep up with this rate, even if it lost nothing.
        "drain_s": round(max(0, outcome["newest_ms"] - sent_ms) / 1000, 1) if outcome["complete"] else None,
    }


def measure_throughput(sender: Sender, loads: list[int], duration: float) -> tuple[int, list[dict]]:
    best, runs = 0, []
    for rate in loads:
        log(f"  offering {rate} tx/s for {duration:.0f} s")
        run = offered_load(sender, rate, duration)
        runs.append(run)
        sustained = (run["lost"] == 0 and run["duplicated"] == 0 and run["rejected"] == 0
                     and run["achieved_send_tps"] >= 0.95 * rate
                     and run["drain_s"] is not None and run["drain_s"] <= DRAIN_LIMIT_S)
        run["sustained"] = sustained
        log(f"  {rate} tx/s: accepted {run['accepted']}/{run['sent']}, processed once {run['processed_once']}, "
            f"lost {run['lost']}, backlog cleared {run['drain_s']} s after the last send, sender achieved "
            f"{run['achieved_send_tps']} tx/s -> {'sustained' if sustained else 'NOT sustained'}")
        if not sustained:
            break
        best = rate
    return best, runs


def measure_replay(count: int) -> dict:
    """Put ``count`` transaction events on the transaction bus (processed and archived),
    then replay that window and time it until every one was recorded again."""
    from ops import transactions
    from ops.environment import client, config, output

    app = transactions.payments()
    events = client("events", app.account, app.region)
    bus = output(transactions.PIPELINE_STACK, "TransactionBusName")
    cfg = config()
    time.sleep(1.1)  # archive times are whole seconds: keep earlier phases out of the window
    window_start = datetime.now(timezone.utc).replace(microsecond=0)
    loaded_since_ms = int(time.time() * 1000)
    shas = set()
    batch = []
    paced = time.monotonic()
    for index in range(count):
        body = unique_body("replay", index)
        shas.add(transactions.sha256_hex(body))
        record = {"messageId": str(uuid.uuid4()), "body": body, "eventSource": "aws:sqs"}
        batch.append({"EventBusName": bus, "Source": cfg.pipeline.event_source,
                      "DetailType": cfg.pipeline.event_detail_type, "Detail": json.dumps(record)})
        if len(batch) == 10:
            events.put_events(Entries=batch)
            batch = []
            if (index + 1) % 1000 == 0:
                log(f"  replay: loaded {index + 1}/{count} events")
            # Keep loading below what the workflow absorbs, so loading measures nothing.
            paced += 10 / 150
            time.sleep(max(0.0, paced - time.monotonic()))
    if batch:
        events.put_events(Entries=batch)
    first = processed(loaded_since_ms, shas)
    log(f"  replay: {first['once'] + first['duplicated']}/{count} loaded events processed the first time")
    time.sleep(1.1)
    window_end = datetime.now(timezone.utc)
    archive = events.describe_archive(ArchiveName=output(transactions.PIPELINE_STACK, "ArchiveName"))
    name = f"bench-{int(time.time())}"
    replay_since_ms = int(time.time() * 1000)
    group = output(transactions.PIPELINE_STACK, "RecorderLogGroupName")
    tail = transactions.LogTail(group, app.account, app.region, replay_since_ms, filter_pattern=f'"{name}"')
    reprocessed: set[str] = set()
    newest_ms = replay_since_ms
    with responsiveness_prober(app) as prober:
        started = time.monotonic()
        events.start_replay(ReplayName=name, EventSourceArn=archive["ArchiveArn"], EventStartTime=window_start,
                            EventEndTime=window_end,
                            Destination={"Arn": output(transactions.PIPELINE_STACK, "TransactionBusArn")})
        last_told = started
        while time.monotonic() - started < REPLAY_CAP_S and len(reprocessed) < count:
            for timestamp, record in tail.read(lambda r: transactions.is_recorded_line(r)
                                               and r.get("replay_name") == name and r.get("body_sha256") in shas):
                reprocessed.add(record["body_sha256"])
                newest_ms = max(newest_ms, timestamp)
            if time.monotonic() - last_told >= 10:
                log(f"  replay: {len(reprocessed)}/{count} reprocessed, health p99 so far "
                    f"{responsiveness.percentile(prober.health_ms, 99)} ms")
                last_told = time.monotonic()
            time.sleep(LOG_POLL_S)
    seen = len(reprocessed)
    # From StartReplay to the last reprocessed line's own timestamp: polling does not enter it.
    drained = seen >= count
    elapsed = (newest_ms - replay_since_ms) / 1000 if drained else time.monotonic() - started
    probed = prober.result(until_ms=newest_ms if drained else None)
    log(f"  replay {name}: {seen}/{count} reprocessed in {elapsed:.1f} s")
    log(f"  responsiveness while it drained: {probed}")
    return {"replay_name": name, "events": count, "reprocessed": seen, "seconds": round(elapsed, 2),
            "responsiveness": probed}


def responsiveness_prober(app):
    """Health and an API call (the ingress queue's depth), sampled while a backlog drains."""
    from ops import transactions
    from ops.environment import endpoint_url, output

    sqs = responsiveness.probing_client("sqs", app.account, app.region, endpoint_url())
    queue_url = output(transactions.PIPELINE_STACK, "IngressQueueUrl")
    return responsiveness.Prober(endpoint_url(), responsiveness.queue_depth_call(sqs, queue_url))


# --- report ---------------------------------------------------------------------------------

def verdict(results: dict, key: str) -> str:
    value = results
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "n/a"
    op, target = TARGETS[key]
    ok = value <= target if op == "<=" else value >= target
    return f"{value} ({'meets' if ok else 'misses'} {op} {target})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run (not the published figures)")
    parser.add_argument("--latency-count", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--loads", default="25,50,75,100,150,200,300,400,500")
    parser.add_argument("--replay-count", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--crash-stream", type=float, default=10.0, help="seconds of stream before each kill")
    parser.add_argument("--idle-wait", type=float, default=None,
                        help="seconds idle before rss_mb_after (default LOCALCLOUD_LAMBDA_IDLE_SECONDS + 20)")
    args = parser.parse_args()
    if args.quick:
        args.latency_count, args.duration, args.loads, args.replay_count, args.samples = 50, 5, "10,25", 200, 100
    loads = [int(x) for x in args.loads.split(",") if x]

    BENCH_DIR.mkdir(exist_ok=True)
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{BENCH_PORT}",
                       "PIPELINE_OUTPUTS_FILE": str(BENCH_DIR / "outputs.json")})
    cloud = BenchCloud()
    results: dict = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform(), "load_average_at_start": os.getloadavg()},
                     "parameters": vars(args)}
    sender: list[Sender] = []

    def start() -> None:
        log("starting a fresh local cloud for the benchmark")
        results["cold_start_s"] = round(cloud.start(), 3)
        log(f"  healthy in {results['cold_start_s']} s")

    def deploy() -> None:
        log("deploying all stacks (bootstrap 4 environments + deploy)")
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "ops.deploy_local"], check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, timeout=DEPLOY_TIMEOUT_S)
        results["deploy_s"] = round(time.monotonic() - began, 2)
        log(f"  deployed in {results['deploy_s']} s")
        from ops import transactions

        sender.append(Sender(transactions.api_url().split(f":{BENCH_PORT}", 1)[1]))

    def latency() -> None:
        log("warming up (10 transactions)")
        measure_latency(sender[0], 10)
        results["bench_since_ms"] = int(time.time() * 1000)
        results["memory_after_deploy"] = cloud.memory()
        results["rss_mb"] = results["memory_after_deploy"]["total_mb"]
        log(f"  memory after deploy and warm-up: {results['memory_after_deploy']}")
        log(f"latency: {args.latency_count} sequential transactions")
        latencies = measure_latency(sender[0], args.latency_count)
        results["latency_ms"] = {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                                 "p99": percentile(latencies, 99), "count": len(latencies)}

    def iam_latency() -> None:
        log(f"strict IAM versus LOCALCLOUD_IAM=off: {args.latency_count} interleaved transactions each")
        from ops import bench_iam

        results["iam_latency_ms"] = bench_iam.compare(BENCH_PORT, BENCH_DIR / "outputs.json", BENCH_DIR,
                                                      args.latency_count, unique_body, log)

    def throughput() -> None:
        log("throughput: ascending offered loads")
        results["throughput_tps"], results["throughput_runs"] = measure_throughput(sender[0], loads, args.duration)
        # Loss counted over every load offered, the one that was not sustained included.
        results["lost"] = sum(r["lost"] for r in results["throughput_runs"])

    def replay() -> None:
        log(f"replay: {args.replay_count} archived events")
        results["replay"] = measure_replay(args.replay_count)
        results["responsiveness"] = results["replay"]["responsiveness"]
        results["replay_10k_s"] = results["replay"]["seconds"] if args.replay_count == 10_000 else None
        results["memory_after_replay"] = cloud.memory()
        results["rss_mb_after_replay"] = results["memory_after_replay"]["total_mb"]
        log(f"  memory right after the replay: {results['memory_after_replay']}")

    def moto() -> None:
        log("side by side with moto server (single operations)")
        results["side_by_side"] = side_by_side(args.samples, f"http://127.0.0.1:{BENCH_PORT}", MOTO_PORT, log)

    def duplicates_and_idle_memory() -> None:
        results["duplicates"] = bench_crash.ledger_duplicates(results["bench_since_ms"])
        idle_wait = args.idle_wait if args.idle_wait is not None else \
            float(os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "60")) + 20
        log(f"  ledger duplicates {results['duplicates']}; idle for {idle_wait:.0f} s (idle Lambda workers stop)")
        time.sleep(idle_wait)
        results["memory_after"] = cloud.memory()
        results["rss_mb_after"] = results["memory_after"]["total_mb"]
        log(f"  memory after the whole benchmark: {results['memory_after']}")

    def crashes() -> None:
        from ops import transactions

        log("crash: a persistent local cloud, killed during a stream")
        results["crash"] = bench_crash.measure_crashes(
            args.crash_stream, BenchCloud(persist=True), lambda: Sender(transactions.api_url().split(f":{BENCH_PORT}", 1)[1]),
            measure_latency, log)
        results["crash_lost"] = results["crash"]["sigkill"]["lost_beyond_last_second"]

    try:
        if run_phase(results, "start", start) and run_phase(results, "deploy", deploy):
            for name, phase in (("latency", latency), ("iam_latency", iam_latency), ("throughput", throughput),
                                ("replay", replay),
                                ("side_by_side", moto), ("duplicates_and_idle_memory", duplicates_and_idle_memory)):
                run_phase(results, name, phase)
    finally:
        if cloud.pid:
            try:
                results.setdefault("rss_mb", round(cloud.rss_mb(), 1))
            except Exception:
                pass
        run_phase(results, "stop", cloud.stop)
    run_phase(results, "crash", crashes)
    report(results)
    return 1 if results.get("errors") else 0


def run_phase(results: dict, name: str, phase) -> bool:
    """One phase of the bench; a failure (a timeout included) is logged and recorded under
    ``errors``, never raised, so the bench always ends with its report."""
    began = time.monotonic()
    try:
        phase()
        return True
    except Exception as error:
        log(f"  phase {name} FAILED after {time.monotonic() - began:.0f} s: {error!r}")
        results.setdefault("errors", {})[name] = repr(error)[:1000]
        return False


def report(results: dict) -> None:
    results["machine"]["load_average_at_end"] = os.getloadavg()  # other work on the machine skews the figures
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / "latest.json").write_text(json.dumps(results, indent=2))
    print()
    print(f"{'figure':<30} {'result':<40}")
    for key in TARGETS:
        print(f"{key:<30} {verdict(results, key):<40}")
    print(f"{'latency_ms.p95':<30} {(results.get('latency_ms') or {}).get('p95', 'n/a')}")
    iam = results.get("iam_latency_ms") or {}
    if iam:
        print(f"{'iam strict/off':<30} p50 {iam['strict']['p50']}/{iam['off']['p50']} ms, "
              f"p99 {iam['strict']['p99']}/{iam['off']['p99']} ms (strict p50 = {iam['strict_over_off_p50']} x off)")
    for name, figures in (results.get("side_by_side") or {}).items():
        print(f"{name:<30} {figures}")
    for name, error in (results.get("errors") or {}).items():
        print(f"{'error in ' + name:<30} {error}")
    print(f"written to {BENCH_DIR / 'latest.json'}")


if __name__ == "__main__":
    sys.exit(main())

"""Memory of the local cloud as transactions accumulate: a fresh local cloud of its own
(BENCH_PORT, like ``make bench``), deployed, then its memory (server and Lambda workers)
measured at 0 transactions and after every ``--step`` more, up to ``--transactions``,
then after replaying ``--replay`` archived events, and once idle Lambda workers were
stopped. Writes .bench/memory.json.

    python -m ops.memory [--transactions 100000] [--step 10000] [--replay 10000] [--persist]

Each step is sent as fast as the pipeline takes it (the ingress queue's backlog stays
under a bound) and measured once the queue is empty and the log shows no more work.
Memory is RSS (as ``make bench`` reports it) and USS/PSS (what each process holds of its
own, and its share of what it shares), per process and in total.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from ops.bench import BENCH_DIR, BENCH_PORT, BenchCloud, Sender, log, measure_latency, measure_replay, unique_body

BACKLOG_LIMIT = 2000


def memory(cloud: BenchCloud) -> dict:
    import psutil

    server = psutil.Process(cloud.pid)
    processes = [server, *server.children(recursive=True)]
    totals = {"rss": 0, "uss": 0, "pss": 0}
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        for key in totals:
            totals[key] += getattr(info, key)
    server_info = server.memory_full_info()
    return {"total_rss_mb": round(totals["rss"] / 2**20, 1), "total_uss_mb": round(totals["uss"] / 2**20, 1),
            "total_pss_mb": round(totals["pss"] / 2**20, 1), "server_rss_mb": round(server_info.rss / 2**20, 1),
            "server_uss_mb": round(server_info.uss / 2**20, 1), "worker_processes": len(processes) - 1}


def _backlog() -> int:
    from ops import transactions
    from ops.environment import client, output

    app = transactions.payments()
    attributes = client("sqs", app.account, app.region).get_queue_attributes(
        QueueUrl=output(transactions.PIPELINE_STACK, "IngressQueueUrl"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(v) for v in attributes.values())


def send(sender: Sender, count: int, start_index: int) -> int:
    """POST ``count`` transactions, keeping the backlog bounded; returns how many were accepted."""
    accepted = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        for offset in range(0, count, 500):
            while _backlog() > BACKLOG_LIMIT:
                time.sleep(0.5)
            statuses = pool.map(lambda i: sender.post(unique_body("memory", i))[0],
                                range(start_index + offset, start_index + min(count, offset + 500)))
            accepted += sum(1 for status in statuses if status == 200)
    return accepted


def drained(quiet_s: float = 3.0, limit_s: float = 600.0) -> None:
    """Until the ingress queue stays empty for ``quiet_s``."""
    deadline, empty_since = time.monotonic() + limit_s, None
    while time.monotonic() < deadline:
        if _backlog() == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= quiet_s:
                return
        else:
            empty_since = None
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--replay", type=int, default=10_000)
    parser.add_argument("--persist", action="store_true", help="with LOCALCLOUD_PERSIST=1")
    parser.add_argument("--idle-wait", type=float, default=None,
                        help="seconds to wait for idle workers to stop (default: LOCALCLOUD_LAMBDA_IDLE_SECONDS + 30)")
    args = parser.parse_args()
    idle_wait = args.idle_wait if args.idle_wait is not None else \
        float(os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "60")) + 30

    BENCH_DIR.mkdir(exist_ok=True)
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{BENCH_PORT}",
                       "PIPELINE_OUTPUTS_FILE": str(BENCH_DIR / "outputs.json")})
    cloud = BenchCloud(persist=args.persist)
    rows: list[dict] = []
    results = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "parameters": vars(args),
               "rows": rows}
    try:
        log(f"starting a fresh local cloud (persistence {'on' if args.persist else 'off'}) and deploying")
        cloud.start()
        import subprocess

        subprocess.run([sys.executable, "-m", "ops.deploy_local"], check=True, stdout=subprocess.DEVNULL,
                       env=cloud.env)
        from ops import transactions

        sender = Sender(transactions.api_url().split(f":{BENCH_PORT}", 1)[1])
        measure_latency(sender, 10)
        rows.append({"transactions": 0, **memory(cloud)})
        log(f"  0 transactions: {rows[-1]}")
        sent = 0
        while sent < args.transactions:
            step = min(args.step, args.transactions - sent)
            began = time.monotonic()
            accepted = send(sender, step, sent)
            drained()
            sent += step
            rows.append({"transactions": sent, "accepted": accepted,
                         "tx_per_s": round(step / (time.monotonic() - began), 1), **memory(cloud)})
            log(f"  {sent} transactions: {rows[-1]}")
        if args.replay:
            results["replay"] = measure_replay(args.replay)
            drained()
            rows.append({"transactions": sent, "after": f"replay of {args.replay}", **memory(cloud)})
            log(f"  after the replay: {rows[-1]}")
        log(f"  waiting {idle_wait:.0f} s for idle Lambda workers to stop")
        time.sleep(idle_wait)
        rows.append({"transactions": sent, "after": "idle", **memory(cloud)})
        log(f"  idle: {rows[-1]}")
        results["database_mb"] = round(sum(p.stat().st_size for p in cloud.home.rglob("localcloud.sqlite3*"))
                                       / 2**20, 1)
    finally:
        cloud.stop()
    (BENCH_DIR / "memory.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'transactions':>12} {'after':>16} {'rss MB':>8} {'uss MB':>8} {'pss MB':>8} {'server rss':>10} {'workers':>7}")
    for row in rows:
        print(f"{row['transactions']:>12} {row.get('after', ''):>16} {row['total_rss_mb']:>8} {row['total_uss_mb']:>8} "
              f"{row['total_pss_mb']:>8} {row['server_rss_mb']:>10} {row['worker_processes']:>7}")
    print(f"written to {BENCH_DIR / 'memory.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

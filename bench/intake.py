"""Intake throughput: POST /api/v1/handoffs against a floor view, on gunicorn + PostgreSQL + Redis.

    .venv/bin/python bench/intake.py [--seconds 10] [--clients 8] [--workers 2]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as on the CI machine). It
drops and creates the database `handoff_bench`, loads the demo configuration, starts gunicorn,
drives both endpoints from concurrent client processes, and prints requests per second and
p50/p99 latency for each and their ratio, then the routing engine's time per decision.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PORT = 8765
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/handoff_bench"
    ),
    "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14"),
    "SECRET_KEY": "bench-only",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
    "HANDOFF_API_RATE": "100000000/min",
    "HANDOFF_WEBHOOK_ALLOW_PRIVATE": "1",
    "LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
}


def manage(*args: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=ENV, check=True, capture_output=True, text=True
    )
    return out.stdout


def prepare() -> str:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            "DROP DATABASE IF EXISTS handoff_bench WITH (FORCE)",
            "postgres",
        ],
        check=True,
    )
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            "CREATE DATABASE handoff_bench",
            "postgres",
        ],
        check=True,
    )
    subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
    manage("migrate", "--noinput")
    manage("load_demo")
    return manage("create_bot_key", "retail-bot").strip().splitlines()[-1]


def client(args: tuple[str, str, float, str]) -> list[float]:
    path, key, until, kind = args
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    latencies = []
    while time.monotonic() < until:
        body = json.dumps(
            {
                "conversation_id": f"bench-{uuid.uuid4()}",
                "channel": "webchat",
                "topic": None,
                "reason": "requested_by_customer",
                "variables": {"order_number": "A-1234", "email": "kim@example.com"},
                "transcript": [{"from": "customer", "text": "I need a person"}],
            }
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        if response.status not in (200, 202):
            raise SystemExit(f"{kind}: HTTP {response.status}")
    conn.close()
    return latencies


def drive(path: str, key: str, seconds: float, clients: int, kind: str) -> dict[str, float]:
    until = time.monotonic() + seconds
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(client, [(path, key, until, kind)] * clients)
    latencies = sorted(x for r in results for x in r)
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "n": len(latencies),
    }


def agents(stop: "multiprocessing.synchronize.Event") -> None:
    """Stand-in for agents working the queues, so waiting lines stay as short as in real life
    instead of growing with every request of the benchmark."""
    import psycopg

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/handoff_bench", autocommit=True
    ) as db:
        while not stop.is_set():
            db.execute(
                "UPDATE handoff_handoff SET status = 'resolved', closed_at = now() "
                "WHERE status IN ('queued', 'offered') AND created_at < now() - interval '1 second'"
            )
            stop.wait(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key = prepare()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=ENV,
    )
    stop = multiprocessing.Event()
    drain = multiprocessing.Process(target=agents, args=(stop,))
    drain.start()
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request(
                    "GET", "/api/v1/schema"
                )
                break
            except OSError:
                time.sleep(0.2)
        drive("/api/v1/handoffs", key, 2, args.clients, "warm-up")
        drive("/bench/floor", key, 2, args.clients, "warm-up")
        # Alternate the two so that a burst of load elsewhere on the machine hits both alike;
        # report each one's best round.
        floors, intakes = [], []
        for _ in range(args.rounds):
            floors.append(drive("/bench/floor", key, args.seconds, args.clients, "floor"))
            intakes.append(drive("/api/v1/handoffs", key, args.seconds, args.clients, "intake"))
        floor = max(floors, key=lambda r: r["rps"])
        intake = max(intakes, key=lambda r: r["rps"])
    finally:
        stop.set()
        drain.join()
        server.terminate()
        server.wait()
    print(
        f"gunicorn workers={args.workers} clients={args.clients} "
        f"seconds={args.seconds} rounds={args.rounds} (best round of each)"
    )
    for name, r in (("floor", floor), ("intake", intake)):
        print(
            f"{name:7} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  (n={r['n']})"
        )
    print(f"intake / floor throughput: {intake['rps'] / floor['rps']:.0%}")
    routing = ROOT / "bench" / "routing.py"
    if routing.exists():
        sys.stdout.flush()
        subprocess.run(
            [PY, str(routing)], cwd=ROOT, env={**ENV, "DJANGO_SETTINGS_MODULE": "portal.settings"}
        )


if __name__ == "__main__":
    main()

"""Intake throughput: POST /api/v1/handoffs against a floor view, on gunicorn + PostgreSQL + Redis.

    .venv/bin/python bench/intake.py [--seconds 6] [--clients 12] [--workers 3] [--rounds 5]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as on the CI machine). It
drops and creates the database (`handoff_bench`, or the one BENCH_DATABASE_URL names), loads
the demo configuration, starts gunicorn (sync workers, port BENCH_PORT or 8765), drives both
endpoints from concurrent client connections with the same realistic body (a customer,
variables, a transcript), and prints requests per second and p50/p99 latency for each, then
the routing engine's time per decision, and last the intake / floor ratio.

The floor (bench/urls.py) is the least a handoff request can cost with Django and DRF: a DRF
view that validates two fields, inserts one row with the body as JSON and publishes one task.
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
PORT = int(os.environ.get("BENCH_PORT", "8765"))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/handoff_bench"
)
DATABASE = DATABASE_URL.rsplit("/", 1)[-1]
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "SECRET_KEY": "bench-only",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
    "HANDOFF_API_RATE": "100000000/min",
    "HANDOFF_WEBHOOK_ALLOW_PRIVATE": "1",
    "LOG_LEVEL": "WARNING",
    # Connections kept for the whole run, so that each round's CPU count sees the same ones.
    "DATABASE_CONN_MAX_AGE": "3600",
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
            f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
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
            f"CREATE DATABASE {DATABASE}",
            "postgres",
        ],
        check=True,
    )
    subprocess.run(
        ["redis-cli", "-n", BROKER_URL.rsplit("/", 1)[-1], "flushdb"],
        check=True,
        capture_output=True,
    )
    manage("migrate", "--noinput")
    manage("load_demo")
    return manage("create_bot_key", "retail-bot").strip().splitlines()[-1]


TRANSCRIPT = [
    ("customer", "Hi, I was charged twice for my last order"),
    ("bot", "I'm sorry to hear that. Could you give me your order number?"),
    ("customer", "It's A-1234, placed on Monday"),
    ("bot", "Thanks. I can see order A-1234 for 250.40 EUR. Is that the one?"),
    ("customer", "Yes, and there are two card payments for it on my statement"),
    ("bot", "I can't refund payments myself. Would you like me to check the refund policy?"),
    ("customer", "No, I want to talk to a person please"),
    ("bot", "Of course. Let me find someone from our team for you."),
]


def realistic_body(conversation_id: str) -> dict[str, object]:
    """What a bot sends: who the customer is, what it collected, what was said."""
    return {
        "conversation_id": conversation_id,
        "channel": "webchat",
        # Queued (in orders, or in general when orders is closed or full), so published: the
        # path of a real handoff, not a refusal.
        "topic": "order-status",
        "topics": ["refund", "order-status"],
        "locale": "en-US",
        "reason": "requested_by_customer",
        "customer": {
            "id": "cust-88412",
            "name": "Kim Lee",
            "email": "kim.lee@example.com",
            "phone": "+33 6 12 34 56 78",
        },
        "variables": {
            "order_number": "A-1234",
            "amount": "250.40",
            "currency": "EUR",
            "email": "kim.lee@example.com",
            "card": "4111111111111111",
            "attempts": 2,
            "logged_in": True,
            "segment": "gold",
        },
        "transcript": [
            {"from": speaker, "text": text, "at": f"2026-11-25T10:0{i}:00Z"}
            for i, (speaker, text) in enumerate(TRANSCRIPT)
        ],
        "agent_message": "Customer was charged twice for one order.",
    }


def client(args: tuple[str, str, float, str]) -> list[float]:
    path, key, until, kind = args
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    latencies = []
    while time.monotonic() < until:
        body = json.dumps(realistic_body(f"bench-{uuid.uuid4()}"))
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


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def server_pids(server_pid: int | None) -> tuple[list[int], list[int]]:
    """gunicorn's workers, and the PostgreSQL backends serving them: the server side's CPU.
    The clients, the agents' stand-in and everything else on the machine are left out."""
    if server_pid is None:
        return [], []
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == server_pid:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    out = subprocess.run(
        [
            *("psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc"),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name <> 'bench-agents' AND pid <> pg_backend_pid()",
            DATABASE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return workers, [int(line) for line in out.stdout.split()]


def drive(
    path: str, key: str, seconds: float, clients: int, kind: str, server_pid: int | None = None
) -> dict[str, float]:
    workers, backends = server_pids(server_pid)
    cpu_before = {pid: cpu_seconds(pid) for pid in workers + backends}
    until = time.monotonic() + seconds
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(client, [(path, key, until, kind)] * clients)
    latencies = sorted(x for r in results for x in r)
    later_workers, later_backends = server_pids(server_pid)
    python = sum(
        cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in set(workers + later_workers)
    )
    database = sum(
        cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in set(backends + later_backends)
    )
    cpu = python + database
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "n": len(latencies),
        # Server CPU (workers and their PostgreSQL backends) per request: what bounds
        # throughput on a busy 2-core machine, and far less moved by other work than req/s.
        "cpu_ms": 1000 * cpu / max(len(latencies), 1),
        "python_ms": 1000 * python / max(len(latencies), 1),
        "database_ms": 1000 * database / max(len(latencies), 1),
    }


def agents(stop: "multiprocessing.synchronize.Event") -> None:
    """Stand-in for agents working the queues, so waiting lines stay as short as in real life
    instead of growing with every request of the benchmark."""
    import psycopg

    with psycopg.connect(
        DATABASE_URL.replace("postgres://", "postgresql://", 1),
        autocommit=True,
        application_name="bench-agents",
    ) as db:
        while not stop.is_set():
            db.execute(
                "UPDATE handoff_handoff SET status = 'resolved', closed_at = now() "
                "WHERE status IN ('queued', 'offered') AND created_at < now() - interval '1 second'"
            )
            stop.wait(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-routing", dest="routing", action="store_false")
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
            floors.append(
                drive("/bench/floor", key, args.seconds, args.clients, "floor", server.pid)
            )
            intakes.append(
                drive("/api/v1/handoffs", key, args.seconds, args.clients, "intake", server.pid)
            )
        floor = max(floors, key=lambda r: r["rps"])
        intake = max(intakes, key=lambda r: r["rps"])
    finally:
        stop.set()
        drain.join()
        server.terminate()
        server.wait()
    print(
        f"gunicorn workers={args.workers} clients={args.clients} "
        f"seconds={args.seconds} rounds={args.rounds}"
    )
    for name, rounds in (("floor", floors), ("intake", intakes)):
        for r in rounds:
            print(
                f"{name:7} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                f"p99 {r['p99_ms']:6.1f} ms  server CPU {r['cpu_ms']:5.2f} ms/request "
                f"({r['python_ms']:.2f} gunicorn + {r['database_ms']:.2f} PostgreSQL)  "
                f"(n={r['n']})"
            )
    routing = ROOT / "bench" / "routing.py"
    if routing.exists() and args.routing:
        sys.stdout.flush()
        subprocess.run(
            [PY, str(routing)], cwd=ROOT, env={**ENV, "DJANGO_SETTINGS_MODULE": "portal.settings"}
        )
    # Each intake round runs right after its floor round, so a burst of other work on the
    # machine tends to hit both: the median of these paired ratios is the figure to quote.
    ratios = sorted(i["rps"] / f["rps"] for f, i in zip(floors, intakes, strict=True))
    floor_cpu = statistics.median(r["cpu_ms"] for r in floors)
    intake_cpu = statistics.median(r["cpu_ms"] for r in intakes)
    print(
        f"server CPU per request: floor {floor_cpu:.2f} ms, intake {intake_cpu:.2f} ms "
        f"(floor / intake {floor_cpu / intake_cpu:.2f}: the throughput ratio to expect on a "
        "machine with nothing else to do)"
    )
    print(
        f"intake / floor throughput: {statistics.median(ratios):.2f} "
        f"(median of {len(ratios)} paired rounds, range {ratios[0]:.2f}-{ratios[-1]:.2f}; "
        f"best round / best round {intake['rps'] / floor['rps']:.2f})"
    )


if __name__ == "__main__":
    main()

"""End-to-end delivery: POST /api/v1/handoffs -> offered (idle agent) and -> delivered (webhook).

    .venv/bin/python bench/delivery.py [--n 100] [--burst 300] [--clients 4]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as on the CI machine); set
BENCH_DATABASE_URL / BENCH_BROKER_URL to use others (`sqlite:///...` and the embedded
`sqla+sqlite:///...` broker work too; bench/broker.py measures that broker alone). It drops
and creates the database `handoff_bench_delivery`, imports a two-queue configuration, starts
gunicorn (2 workers), ONE Celery worker (`--concurrency 4`) and a webhook receiver on
127.0.0.1, then:

1. to offered: N handoffs one after another into a push queue with one idle available agent;
   time from the start of the POST to `Handoff.offered_at` (the agent is freed after each);
2. to delivered: N handoffs one after another into a webhook queue; time from the start of the
   POST to the receiver getting the signed request;
3. sustained: a burst of handoffs into the webhook queue from concurrent clients; handoffs per
   second from the first POST to the last delivery (bounded by the API here), then the same
   number stored directly and published at once: the one worker's delivery rate.
"""

import argparse
import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The interpreter running this script, so a worktree can use another checkout's .venv.
BIN = Path(sys.executable).parent
PORT = 8766
DB = "handoff_bench_delivery"
ENV = {
    **os.environ,
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}"
    ),
    "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"),
    "SECRET_KEY": "bench-only",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
    "HANDOFF_API_RATE": "100000000/min",
    "HANDOFF_WEBHOOK_ALLOW_PRIVATE": "1",
    "LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}

arrivals: dict[str, float] = {}


class Receiver(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open between requests, as real receivers (nginx, Go, Node) do.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        arrivals.setdefault(json.loads(body)["id"], time.time())
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def document(hook_url: str) -> dict[str, Any]:
    def queue(key: str, **extra: Any) -> dict[str, Any]:
        return {
            "key": key,
            "name": key.title(),
            "priority": 10,
            "distribution": "push",
            "assignment": "round_robin",
            "max_waiting": None,
            "offer_timeout_seconds": 600,
            "fallback": False,
            "hours": None,
            "overflow": None,
            "delivery": {"kind": "agents"},
            "skill_matching": "none",
            "skill_relax_after_seconds": None,
            "members": [],
            **extra,
        }

    def rule(name: str, order: int) -> dict[str, Any]:
        return {
            "name": name,
            "order": order,
            "enabled": True,
            "conditions": {"all": [{"field": "topic", "op": "eq", "value": name}]},
            "queue": name,
            "priority": None,
            "require_skills": {},
            "agent_message": "",
        }

    def topic(key: str) -> dict[str, Any]:
        end = {"id": "handoff", "type": "transfer", "agent_message": ""}
        return {"key": key, "name": key.title(), "trigger_phrases": [], "nodes": [end]}

    return {
        "format": "handoff-portal/config",
        "version": 1,
        "channels": [{"key": "webchat", "name": "Web chat", "kind": "webchat", "enabled": True}],
        "queues": [
            queue("agents", members=[{"username": "idle-agent", "capacity": 1}]),
            queue("hooks", delivery={"kind": "webhook", "url": hook_url}),
            queue("general", fallback=True),
        ],
        "skills": [],
        "agents": [],
        "bots": [
            {
                "key": "bench-bot",
                "name": "Bench bot",
                "channels": ["webchat"],
                "status_callback_url": None,
            }
        ],
        "topics": [
            topic("agents"),
            topic("hooks"),
            topic("escalate"),
            topic("fallback"),
        ],
        "context_fields": [],
        "rules": [rule("agents", 1), rule("hooks", 2)],
    }


def run(*args: str) -> str:
    done = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare(hook_url: str) -> str:
    name = ENV["DATABASE_URL"].rsplit("/", 1)[-1]
    if name.startswith(DB):  # only a benchmark database is dropped and created again
        for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
            run("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql, "postgres")
    if ENV["CELERY_BROKER_URL"].startswith("redis://"):
        run(str(BIN / "celery"), "-A", "portal", "purge", "-f")
    manage = [str(BIN / "python"), "manage.py"]
    run(*manage, "migrate", "--noinput")
    create_agent = "from handoff.models import User; User.objects.create_user('idle-agent', "
    run(*manage, "shell", "-c", create_agent + "presence='available')")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(document(hook_url), f)
    run(*manage, "import_config", f.name, "--publish")
    return run(*manage, "create_bot_key", "bench-bot").strip().splitlines()[-1]


def post(conn: http.client.HTTPConnection, key: str, topic: str) -> tuple[str, float]:
    body = json.dumps(
        {
            "conversation_id": f"bench-{uuid.uuid4()}",
            "channel": "webchat",
            "topic": topic,
            "transcript": [{"from": "customer", "text": "I need a person"}],
        }
    )
    started = time.time()
    conn.request(
        "POST",
        "/api/v1/handoffs",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 202:
        raise SystemExit(f"HTTP {response.status}: {data}")
    return data["id"], started


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    return f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms p99={p99:.1f} ms"


def to_offered(key: str, n: int) -> list[float]:
    import django

    django.setup()
    from handoff.models import Handoff, User
    from handoff.services.assignment import handoff_accept, handoff_resolve

    agent = User.objects.get(username="idle-agent")
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    times = []
    for _ in range(n):
        handoff_id, started = post(conn, key, "agents")
        deadline = time.time() + 10
        while True:
            h = Handoff.objects.get(pk=handoff_id)
            if h.offered_at or time.time() > deadline:
                break
            time.sleep(0.002)
        assert h.offered_at, "not offered within 10 s"
        times.append(h.offered_at.timestamp() - started)
        handoff_accept(handoff_id=handoff_id, agent=agent)
        handoff_resolve(handoff_id=handoff_id, agent=agent)  # idle again for the next one
    return times


def wait_arrived(ids: list[str], timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not all(i in arrivals for i in ids):
        time.sleep(0.002)
    missing = [i for i in ids if i not in arrivals]
    if missing:
        raise SystemExit(f"{len(missing)} handoffs not delivered within {timeout} s")


def to_delivered(key: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    times = []
    for _ in range(n):
        handoff_id, started = post(conn, key, "hooks")
        wait_arrived([handoff_id], 10)
        times.append(arrivals[handoff_id] - started)
    return times


def sustained(key: str, burst: int, clients: int) -> float:
    def one_client(count: int) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        return [post(conn, key, "hooks")[0] for _ in range(count)]

    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = [i for part in pool.map(one_client, [burst // clients] * clients) for i in part]
    posted = time.time() - started
    wait_arrived(ids, 120)
    print(f"  the burst's {len(ids)} POSTs took {posted:.2f} s ({len(ids) / posted:.0f}/s)")
    return len(ids) / (max(arrivals[i] for i in ids) - started)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of a Celery worker's main process, and of its pool processes."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(p: int) -> float:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return of(pid), sum(of(int(c)) for c in children)


def worker_drain(count: int, worker_pid: int) -> tuple[float, float, float]:
    """Handoffs stored directly (no API in the way) and published at once: the worker's rate.

    Returns deliveries per second from the moment the worker may take them to the last one,
    and the CPU milliseconds per delivery of the worker's main process and of its pool.
    """
    from celery import current_app
    from django.utils import timezone

    from handoff.delivery.publish import publish_delivery
    from handoff.models import Bot, ConfigVersion, Handoff, Queue

    bot, queue = Bot.objects.get(key="bench-bot"), Queue.objects.get(key="hooks")
    version = ConfigVersion.objects.order_by("-number").first()  # as the API stores them
    now = timezone.now()
    rows = Handoff.objects.bulk_create(
        Handoff(
            bot=bot,
            conversation_id=f"drain-{uuid.uuid4()}",
            channel="webchat",
            status="queued",
            queue=queue,
            queue_key="hooks",
            queue_name="Hooks",
            queued_at=now,
            config_version=version,
            transcript=[{"from": "customer", "text": "I need a person"}],
        )
        for _ in range(count)
    )
    # The worker stops taking messages while they are published, so that this process's
    # publishing does not compete with it for the CPU, then takes them all.
    control = current_app.control
    assert control.cancel_consumer("celery", reply=True, timeout=10), "the worker did not answer"
    for h in rows:
        publish_delivery(h.pk)
    started, (main_cpu, pool_cpu) = time.time(), cpu_seconds(worker_pid)
    assert control.add_consumer("celery", reply=True, timeout=10), "the worker did not answer"
    ids = [str(h.pk) for h in rows]
    wait_arrived(ids, 600)
    main_after, pool_after = cpu_seconds(worker_pid)
    per = 1000 / count
    return (
        count / (max(arrivals[i] for i in ids) - started),
        (main_after - main_cpu) * per,
        (pool_after - pool_cpu) * per,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4, help="the worker's processes")
    parser.add_argument(
        "--drain-only", action="store_true", help="only the worker's rate (no API, no gunicorn)"
    )
    parser.add_argument("--worker-args", default="", help="more options for `celery worker`")
    args = parser.parse_args()

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    key = prepare(f"http://127.0.0.1:{receiver.server_address[1]}/hook")
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))  # this process reads and writes the database too
    import django

    django.setup()
    gunicorn = [str(BIN / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "2"]
    procs = []
    if not args.drain_only:
        procs.append(subprocess.Popen([*gunicorn, "--log-level", "warning"], cwd=ROOT, env=ENV))
    procs += [
        subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "portal",
                "worker",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                *args.worker_args.split(),
            ],
            cwd=ROOT,
            env=ENV,
        ),
    ]
    try:
        time.sleep(5)  # gunicorn and the worker start
        print(f"broker={ENV['CELERY_BROKER_URL'].split(':')[0]} db={ENV['DATABASE_URL'][:8]}")
        if not args.drain_only:
            to_delivered(key, 5)  # warm up both
            print(summary("POST -> offered (idle agent)", to_offered(key, args.n)))
            print(summary("POST -> delivered (webhook)", to_delivered(key, args.n)))
            rate = sustained(key, args.burst, args.clients)
            print(f"sustained through the API (2 gunicorn workers): {rate:.0f} handoffs/s")
        worker = procs[-1].pid
        worker_drain(20 * args.concurrency, worker)  # warm up every worker process
        rate, main_ms, pool_ms = worker_drain(args.burst, worker)
        print(
            f"sustained webhook deliveries through one worker (--concurrency "
            f"{args.concurrency}): {rate:.0f} handoffs/s, {rate / args.concurrency:.0f} per "
            f"process; CPU per delivery: {pool_ms:.1f} ms in the pool, {main_ms:.1f} ms in the "
            f"worker's main process"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        sys.stdout.flush()


if __name__ == "__main__":
    main()

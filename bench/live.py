"""The live channel: an offer made by a Celery worker -> seen by a connected agent's stream;
what idle streams cost; a dropped stream that resumes misses nothing.

    python bench/live.py --mode redis      # PostgreSQL + Redis on 127.0.0.1 (as in CI)
    python bench/live.py --mode embedded   # SQLite file + embedded broker, no servers
    options: [--streams 500] [--offers 100] [--rest 30]

It prepares a database (redis: drops and creates `handoff_bench_live`; embedded: a fresh
directory), starts uvicorn (one process, `bench/live_asgi.py`: portal.asgi counting its
queries) and ONE Celery worker, makes `--streams` agents with a session each, then:

1. at rest: opens one event stream per agent (async httpx clients in this process), waits,
   and measures over `--rest` seconds the server process's database queries per second, its
   CPU (% of one core) and its memory per open stream (RSS growth / streams);
2. latency, with those streams still open: `--offers` times, a handoff is stored and its
   delivery published; the worker offers it to agent 0; the time from the offer's event row
   (`LiveEvent.at`, stamped by the worker's transaction) to its arrival at agent 0's stream;
   the offer is then withdrawn (the customer leaves) for the next round;
3. resume: agent 0's stream is closed, 20 offers come and go, the stream reopens with
   Last-Event-ID; the events it replays must be exactly the rows of its audiences since then.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORT = 8767
DB = "handoff_bench_live"


def environment(mode: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SECRET_KEY": "bench-only",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECURE_COOKIES": "0",
    }
    if mode == "redis":
        env["DATABASE_URL"] = os.environ.get(
            "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}"
        )
        env["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
        env.pop("LIVE_URL", None)  # the broker's Redis
    else:
        var = tempfile.mkdtemp(prefix="bench-live-")
        env["HANDOFF_VAR_DIR"] = var
        env["DATABASE_URL"] = f"sqlite:///{var}/db.sqlite3"
        env["CELERY_BROKER_URL"] = f"sqla+sqlite:///{var}/broker.sqlite3"
        env["LIVE_URL"] = ""
        env.pop("CACHE_URL", None)
    return env


def run(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}")


def prepare(env: dict[str, str], agents: int) -> list[dict[str, str]]:
    if env["DATABASE_URL"].endswith(f"/{DB}"):
        for sql in (f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}"):
            run(env, "psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql, "postgres")
    if env["CELERY_BROKER_URL"].startswith("redis://"):
        run(env, str(BIN / "celery"), "-A", "portal", "purge", "-f")
    run(env, str(BIN / "python"), "manage.py", "migrate", "--noinput")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.test import Client

    from handoff.models import Queue, QueueMembership, User

    queue = Queue.objects.create(key="bench", name="Bench", offer_timeout_seconds=600)
    role = Group.objects.get(name="agent")
    cookies = []
    for n in range(agents):
        # Agent 0 takes the offers; the others are members who are away (their streams
        # hear the queue's news, as a real team's would).
        user = User.objects.create_user(f"agent-{n}", presence="available" if n == 0 else "away")
        user.groups.add(role)
        QueueMembership.objects.create(queue=queue, user=user, capacity=1)
        client = Client()
        client.force_login(user)
        cookies.append({"sessionid": client.cookies["sessionid"].value})
    return cookies


def start(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    web = subprocess.Popen(
        [
            *(str(BIN / "uvicorn"), "bench.live_asgi:application"),
            *("--host", "127.0.0.1", "--port", str(PORT), "--no-access-log"),
            *("--log-level", "warning", "--timeout-graceful-shutdown", "1"),
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [
            *(str(BIN / "celery"), "-A", "portal", "worker", "--concurrency", "1"),
            *("--loglevel", "WARNING", "--without-gossip", "--without-mingle"),
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/bench/queries", timeout=1)
            return [web, worker]
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("uvicorn did not start")


class Stream:
    """One SSE client; records (id, kind, data, arrival time) of every event."""

    def __init__(self, client: httpx.AsyncClient, cookies: dict[str, str]) -> None:
        self.client = client
        self.cookies = cookies
        self.events: list[tuple[int, str, dict[str, Any], float]] = []
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def open(self, last_event_id: int | None = None) -> None:
        self.task = asyncio.create_task(self._read(last_event_id))

    async def _read(self, last_event_id: int | None) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        url = f"http://127.0.0.1:{PORT}/agent/live/"
        async with self.client.stream("GET", url, headers=headers, cookies=self.cookies) as r:
            assert r.status_code == 200, r.status_code
            event: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(":")
                        event[name] = value.strip()
                    continue
                if "id" in event:
                    data = json.loads(event.get("data") or "{}")
                    self.events.append((int(event["id"]), event["event"], data, time.time()))
                    self.arrived.set()
                event = {}

    async def wait_for(self, check: Any, timeout: float = 10) -> tuple[int, str, dict, float]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if check(e):
                    return e
            seen = len(self.events)
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"no such event within {timeout} s; got {self.events[-5:]}")
            await asyncio.wait_for(self.arrived.wait(), left)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self.task


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def queries() -> int:
    return int(httpx.get(f"http://127.0.0.1:{PORT}/bench/queries").text)


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    return f"{name}: n={len(ms)} p50={statistics.median(ms):.0f} ms p99={p99:.0f} ms"


def offer_and_withdraw_sync(agent_id: int) -> str:
    from handoff.delivery.publish import publish_delivery
    from handoff.models import Bot, Handoff, Queue

    bot, _ = Bot.objects.get_or_create(key="bench-bot", defaults={"name": "Bench bot"})
    queue = Queue.objects.get(key="bench")
    handoff = Handoff.objects.create(
        bot=bot,
        conversation_id=f"live-{time.time_ns()}",
        channel="webchat",
        status="queued",
        queue=queue,
        queue_key=queue.key,
        queue_name=queue.name,
    )
    publish_delivery(handoff.pk)
    return str(handoff.pk)


def withdraw_sync(handoff_id: str) -> None:
    from handoff.models import Handoff
    from handoff.services.assignment import handoff_cancel

    handoff_cancel(handoff=Handoff.objects.get(pk=handoff_id))


def event_at(event_id: int) -> float:
    from handoff.models import LiveEvent

    return LiveEvent.objects.get(pk=event_id).at.timestamp()


async def main_async(args: argparse.Namespace, cookies: list[dict[str, str]], web: int) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(10, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        first = Stream(client, cookies[0])
        first.open()
        await first.wait_for(lambda e: e[1] == "hello")
        rss_before = rss_kib(web)
        others = [Stream(client, c) for c in cookies[1:]]
        for s in others:
            s.open()
        for s in others:
            await s.wait_for(lambda e: e[1] == "hello", timeout=60)
        await asyncio.sleep(3)  # let the openings settle
        q0, c0, t0 = queries(), cpu_seconds(web), time.monotonic()
        await asyncio.sleep(args.rest)
        q1, c1, t1 = queries(), cpu_seconds(web), time.monotonic()
        rss_after = rss_kib(web)
        streams = len(cookies)
        print(f"{streams} open streams at rest for {t1 - t0:.0f} s (server process):")
        print(f"  database queries: {(q1 - q0) / (t1 - t0):.2f}/s")
        print(f"  CPU: {100 * (c1 - c0) / (t1 - t0):.2f} % of one core")
        print(
            f"  memory: {(rss_after - rss_before) / max(1, streams - 1):.1f} KiB per stream "
            f"(RSS {rss_before // 1024} -> {rss_after // 1024} MiB), "
            f"{len(os.listdir(f'/proc/{web}/task'))} threads"
        )

        agent_id = await asyncio.to_thread(agent_zero)
        latencies = []
        for _ in range(args.offers):
            handoff_id = await asyncio.to_thread(offer_and_withdraw_sync, agent_id)
            event = await first.wait_for(
                lambda e, h=handoff_id: (
                    e[1] == "offer" and e[2].get("handoff") == h and e[2].get("change") == "made"
                ),
                timeout=30,
            )
            latencies.append(event[3] - await asyncio.to_thread(event_at, event[0]))
            await asyncio.to_thread(withdraw_sync, handoff_id)
            await first.wait_for(
                lambda e, h=handoff_id: (
                    e[1] == "offer"
                    and e[2].get("handoff") == h
                    and e[2].get("change") == "withdrawn"
                )
            )
        print(summary("offer made by the worker -> at the agent's stream", latencies))

        last = first.events[-1][0]
        await first.close()
        gone = []
        for _ in range(20):
            handoff_id = await asyncio.to_thread(offer_and_withdraw_sync, agent_id)
            await asyncio.to_thread(wait_offered, handoff_id)
            await asyncio.to_thread(withdraw_sync, handoff_id)
            gone.append(handoff_id)
        await asyncio.sleep(1)  # the listener has read them all: they are replayed, not live
        again = Stream(client, cookies[0])
        again.open(last_event_id=last)
        hello = await again.wait_for(lambda e: e[1] == "hello")
        replayed = [e[0] for e in again.events[: again.events.index(hello)]]
        expected = await asyncio.to_thread(rows_for, agent_id, last, hello[0])
        told = {e[2].get("handoff") for e in again.events if e[1] == "offer"}
        ok = replayed == expected and told >= set(gone)
        print(
            f"resume after a drop: {len(replayed)} events replayed, {len(expected)} written "
            f"meanwhile for this agent: {'nothing missed' if ok else 'MISSED SOME'}"
        )
        await again.close()
        for s in others:
            await s.close()


def agent_zero() -> int:
    from handoff.models import User

    return User.objects.get(username="agent-0").pk


def wait_offered(handoff_id: str) -> None:
    from handoff.models import Handoff

    deadline = time.time() + 30
    while Handoff.objects.get(pk=handoff_id).status != "offered":
        if time.time() > deadline:
            raise SystemExit("not offered within 30 s")
        time.sleep(0.01)


def rows_for(agent_id: int, after: int, upto: int) -> list[int]:
    from handoff.models import LiveEvent, QueueMembership

    audiences = [f"agent:{agent_id}"] + [
        f"queue:{q}"
        for q in QueueMembership.objects.filter(user_id=agent_id).values_list("queue_id", flat=True)
    ]
    return list(
        LiveEvent.objects.filter(audience__in=audiences, id__gt=after, id__lte=upto)
        .order_by("id")
        .values_list("id", flat=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["redis", "embedded"], default="redis")
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--offers", type=int, default=100)
    parser.add_argument("--rest", type=float, default=30)
    args = parser.parse_args()
    env = environment(args.mode)
    cookies = prepare(env, args.streams)
    procs = start(env)
    print(f"mode={args.mode} db={env['DATABASE_URL'].split(':')[0]}")
    try:
        time.sleep(3)  # the worker starts
        asyncio.run(main_async(args, cookies, procs[0].pid))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)


if __name__ == "__main__":
    main()

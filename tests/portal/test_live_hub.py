"""The listener of a web process: Redis wake-ups, and what it does when Redis goes away and
comes back (a private redis-server on a port of its own)."""

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from handoff.engine.live import BOARD
from handoff.services.live import live_emit
from portal.live import Hub
from tests.live_helpers import in_a_loop_of_its_own

pytestmark = pytest.mark.django_db(transaction=True)
REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if not REDIS:
        pytest.skip("needs redis-server (apt-get install redis-server)")
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


def emit(n: int) -> None:
    try:
        live_emit((BOARD, "presence", {"n": n}))
    finally:
        connections.close_all()  # this thread's own connection


async def until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def received(sub: Any, timeout: float) -> list[int]:
    batch = await asyncio.wait_for(sub.queue.get(), timeout)
    return [e.data["n"] for e in batch]


def test_it_is_woken_by_redis_and_polls_while_redis_is_away(
    redis_server: RedisServer, settings: Any
) -> None:
    settings.LIVE_URL = f"redis://127.0.0.1:{redis_server.port}/0"  # the publishers' too
    # With Redis the listener reads only when woken (or every SAFETY_SECONDS); without, it
    # polls every 0.2 s.
    hub = Hub(url=settings.LIVE_URL, poll_seconds=0.2)
    hub.start()

    async def scenario() -> None:
        sub = hub.subscribe([BOARD])
        await until(lambda: hub.woken_by_redis)
        reads = hub.reads
        await asyncio.to_thread(emit, 1)
        assert await received(sub, timeout=5) == [1]
        assert hub.reads <= reads + 2  # one read per wake-up, no polling meanwhile

        redis_server.stop()
        await until(lambda: not hub.woken_by_redis)
        await asyncio.to_thread(emit, 2)  # its wake-up is lost: the table is polled
        assert await received(sub, timeout=5) == [2]

        redis_server.start()
        await until(lambda: hub.woken_by_redis)
        await asyncio.to_thread(emit, 3)
        assert await received(sub, timeout=5) == [3]
        hub.unsubscribe(sub)

    try:
        in_a_loop_of_its_own(scenario)
    finally:
        hub.stop()

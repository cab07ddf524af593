"""A real ASGI server for the tests (uvicorn in a thread of the test process, against the test
database), and a server-sent events client that reads a stream in the background.

Django's live server speaks WSGI, which cannot hold an event stream open; this one serves the
same application as `portal/asgi.py`, static files included. Being in the test process, it
sees the test's settings and an eager Celery app, like pytest-django's live_server.
"""

import asyncio
import contextlib
import http.client
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections
from django.test import Client
from django.test.utils import modify_settings

from handoff.models import User
from portal.asgi import application
from portal.live import reset_hub


class AsgiServer:
    def __init__(self) -> None:
        self._hosts = modify_settings(ALLOWED_HOSTS={"append": "127.0.0.1"})
        self._hosts.enable()
        # As portal/asgi.py does: no connection kept past its request, whose thread ends.
        self._max_age = connections.settings["default"].get("CONN_MAX_AGE", 0)
        connections.settings["default"]["CONN_MAX_AGE"] = 0
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            # portal/asgi.py's application (the settings are loaded already: its environment
            # defaults do not apply; CONN_MAX_AGE is set above instead).
            ASGIStaticFilesHandler(application),
            lifespan="off",
            log_level="warning",
            # Open streams never end by themselves: cut them short when the tests are done.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drop_connections(self) -> None:
        """Cut every open connection, as a network failure would (no "bye" is said)."""
        for conn in list(self.server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                conn.loop.call_soon_threadsafe(transport.abort)

    def stop(self) -> None:
        reset_hub()  # ends the open streams, the listener thread and its database connection
        self.server.should_exit = True
        self.thread.join(10)
        connections.settings["default"]["CONN_MAX_AGE"] = self._max_age
        self._hosts.disable()


def session_cookie(user: User) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


@dataclass
class Stream:
    """Reads one event stream in a thread; `next` waits for the next event of some kinds.

    http.client rather than httpx: closing its socket from the test's thread ends a read that
    waits for the next event at once."""

    url: str
    cookies: dict[str, str] = field(default_factory=dict)
    last_event_id: int | None = None
    status: int | None = None
    events: "queue.Queue[dict[str, Any]]" = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    _conn: http.client.HTTPConnection | None = None
    _thread: threading.Thread | None = None
    _opened: threading.Event = field(default_factory=threading.Event)

    def open(self) -> "Stream":
        parts = urlsplit(self.url)
        headers = {"Accept": "text/event-stream"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self._conn.request("GET", parts.path, headers=headers)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not answer"
        return self

    def _read(self) -> None:
        assert self._conn is not None
        try:
            response = self._conn.getresponse()
            self.status = response.status
            self._opened.set()
            if response.status != 200:
                return
            event: dict[str, Any] = {}
            while True:
                raw = response.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "event" in event or "data" in event:  # not a bare "retry"
                        self.events.put(event)
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
        except Exception:  # closed by the test: http.client fails in several ways then
            pass
        finally:
            self._opened.set()
            self.events.put({"event": "closed"})

    def next(self, *kinds: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of one of `kinds` (any kind when none given); skips the others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {kinds or 'event'} came; saw {self.seen}"
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(event)
            if "id" in event:
                self.last_event_id = int(event["id"])
            if not kinds or event.get("event") in kinds:
                return event
            assert event.get("event") != "closed", f"the stream closed; saw {self.seen}"

    def drain(self) -> list[dict[str, Any]]:
        """What has arrived so far, without waiting."""
        got = []
        while True:
            try:
                got.append(self.events.get_nowait())
            except queue.Empty:
                self.seen.extend(got)
                return got

    def close(self) -> None:
        if self._conn is not None and self._conn.sock is not None:
            with contextlib.suppress(OSError):
                self._conn.sock.shutdown(socket.SHUT_RDWR)
            self._conn.close()
        if self._thread is not None:
            self._thread.join(5)


def wait_until(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def in_a_loop_of_its_own(scenario: Callable[[], Any]) -> Any:
    """asyncio.run(scenario()) in a thread: the test's own thread may run a loop already
    (Playwright's sync API does)."""
    outcome: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(scenario()))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if failed:
        raise failed[0]
    return outcome[0] if outcome else None

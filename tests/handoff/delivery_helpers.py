"""Helpers for the delivery tests: queues, agents, handoffs as the intake stores them, a real
local webhook receiver, and pointing this process's Celery app at another broker."""

import base64
import hashlib
import hmac
import http.server
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from handoff.crypto import new_webhook_secret
from handoff.models import Bot, Handoff, Queue, QueueMembership, User
from handoff.services.events import handoff_event

_seq = itertools.count(1)


def make_bot(key: str = "support-bot", **extra: Any) -> Bot:
    bot, _ = Bot.objects.get_or_create(key=key, defaults={"name": key.title(), **extra})
    return bot


def make_queue(key: str = "billing", **extra: Any) -> Queue:
    fields: dict[str, Any] = {"name": key.title(), "offer_timeout_seconds": 60}
    fields.update(extra)
    if fields.get("delivery_kind") == "webhook":
        fields.setdefault("webhook_secret", new_webhook_secret())
        fields.setdefault("distribution", "push")
        # As published (a publish copies the pair; tests/handoff/test_delivery.py tests that).
        fields.setdefault("published_webhook_url", fields.get("webhook_url", ""))
        fields.setdefault("published_webhook_secret", fields["webhook_secret"])
    return Queue.objects.create(key=key, **fields)


def make_agent(
    username: str,
    queue: Queue | None = None,
    *,
    capacity: int = 1,
    presence: str = "available",
    **extra: Any,
) -> User:
    agent = User.objects.create_user(username=username, presence=presence, **extra)
    if queue is not None:
        QueueMembership.objects.create(queue=queue, user=agent, capacity=capacity)
    return agent


def make_handoff(queue: Queue, *, bot: Bot | None = None, **extra: Any) -> Handoff:
    """A handoff as the intake stores it: queued, with its first two events."""
    now = extra.pop("now", None) or timezone.now()
    n = next(_seq)
    fields: dict[str, Any] = {
        "bot": bot or make_bot(),
        "conversation_id": f"conv-{n}",
        "channel": "webchat",
        "status": "queued",
        "queue": queue,
        "queue_key": queue.key,
        "queue_name": queue.name,
        "priority": queue.priority,
        "created_at": now,
        "updated_at": now,
        "queued_at": now,
        "customer": {"name": "Carla Customer"},
        "context": {"OrderNumber": "A-1"},
        "transcript": [{"from": "customer", "text": "I want a person"}],
        "agent_message": "Refund please",
    }
    fields.update(extra)
    handoff = Handoff.objects.create(**fields)
    handoff_event(handoff, "received", {"channel": handoff.channel}, at=now)
    handoff_event(handoff, "queued", {"queue": queue.key}, at=now)
    return handoff


def membership(agent: User, queue: Queue) -> QueueMembership:
    return QueueMembership.objects.get(user=agent, queue=queue)


def event_types(handoff: Handoff) -> list[str]:
    return list(handoff.events.order_by("id").values_list("type", flat=True))


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written independently of handoff.delivery.http."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        part.split(",", 1) == ["v1", expected] for part in headers["webhook-signature"].split()
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] = ("", 0)  # the client's address and port: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that answers with scripted status codes."""

    statuses: list[int] = field(default_factory=list)  # answers in order; then `then`
    then: int = 200
    answer_headers: dict[str, str] = field(default_factory=dict)  # sent with every answer
    hold: threading.Event | None = None  # when set, requests wait for it before answering
    requests: list[Received] = field(default_factory=list)
    got_request: threading.Event = field(default_factory=threading.Event)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/handoff"

    def delivered_ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]


@contextmanager
def webhook_receiver(
    statuses: list[int] | None = None,
    *,
    then: int = 200,
    hold: threading.Event | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[Receiver]:
    receiver = Receiver(
        statuses=list(statuses or []), then=then, hold=hold, answer_headers=dict(headers or {})
    )
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.1: connections stay open between requests, as with real receivers.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                receiver.requests.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        peer=self.client_address[:2],
                    )
                )
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.then
            receiver.got_request.set()
            if receiver.hold is not None:
                receiver.hold.wait(30)
            try:
                self.send_response(status)
                for name, value in receiver.answer_headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the caller went away (a killed worker)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local TCP port nobody listens on (bound and released at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app at another broker URL, then back."""
    from portal.celery import app as celery_app

    app: Any = celery_app  # private pool attributes: Celery has no public "switch broker"

    def switch(to: str) -> None:
        app.conf.broker_url = to
        options = {**app.conf.broker_transport_options}
        if to.startswith("sqla+"):
            options.pop("socket_timeout", None)  # create_engine() refuses it
        else:
            options["socket_timeout"] = 2
        app.conf.broker_transport_options = options
        # Celery reads CELERY_BROKER_(WRITE_)URL from the environment before its settings.
        os.environ["CELERY_BROKER_WRITE_URL"] = to
        # kombu keeps one pool per broker URL; dropping the references picks the right one.
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_write_url
    saved = os.environ.get("CELERY_BROKER_WRITE_URL")
    switch(url)
    try:
        yield
    finally:
        switch(previous)
        if saved is None:
            os.environ.pop("CELERY_BROKER_WRITE_URL", None)
        else:
            os.environ["CELERY_BROKER_WRITE_URL"] = saved


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def scratch_broker_url(tmp_dir: Any) -> str:
    """A throwaway embedded broker, so tests never publish into a developer's var/broker."""
    return f"sqla+sqlite:///{tmp_dir}/broker.sqlite3"

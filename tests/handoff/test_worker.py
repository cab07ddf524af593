"""A real `celery -A portal worker` process against the test database and a real broker:
nothing is lost when the broker is unreachable at intake or a worker dies mid-delivery."""

import copy
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from handoff.delivery.publish import publish_delivery
from handoff.models import Bot, Channel, Handoff, Queue
from handoff.services.sweep import sweep_run
from tests.api.conftest import DOCUMENT, BotClient, make_key, publish
from tests.handoff.delivery_helpers import (
    celery_broker,
    closed_port,
    make_handoff,
    make_queue,
    verify_signature,
    wait_until,
    webhook_receiver,
)

pytestmark = pytest.mark.worker

CELERY = str(Path(sys.executable).parent / "celery")


def worker_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return "sqlite:///" + str(db["NAME"])
    auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    env = os.environ.get("CELERY_BROKER_URL", "")
    if env.startswith("redis://"):
        import redis

        # Messages left by other tests' publishes: drop the default queue only.
        redis.Redis.from_url(env).delete("celery")
        url = env
    else:
        url = f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    with celery_broker(url):
        yield url


class Worker:
    def __init__(self, broker_url: str, log: Path, *, beat: bool = False):
        env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_BROKER_WRITE_URL": broker_url,
            "SECRET_KEY": settings.SECRET_KEY,
            "HANDOFF_ENCRYPTION_KEY": settings.HANDOFF_ENCRYPTION_KEY,
            "HANDOFF_WEBHOOK_ALLOW_PRIVATE": "1",
            "HANDOFF_WEBHOOK_RETRY_DELAYS": "0,0",
            "HANDOFF_WEBHOOK_TIMEOUT": "1",
            "DEBUG": "0",
        }
        self.log = log
        self.out = open(log, "w")  # noqa: SIM115 - closed in stop()
        # With beat, as `make run` starts it (-B): beat's schedule file beside the log.
        embedded_beat = ["-B", f"--schedule={log.with_suffix('.schedule')}"] if beat else []
        # Its own session: SIGKILL goes to the whole process group, pool children included.
        self.process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "portal",
                "worker",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *embedded_beat,
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        def started() -> bool:
            return " ready." in self.log.read_text() or self.process.poll() is not None

        ok = wait_until(started, timeout)
        assert ok and self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        # Its work is done (the test waited for it); a warm shutdown would only cost time.
        if self.process.poll() is None:
            self.kill()
        self.out.close()


@contextmanager
def worker(broker_url: str, log: Path, *, beat: bool = False) -> Iterator[Worker]:
    w = Worker(broker_url, log, beat=beat)
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def configure_api(url: str) -> BotClient:
    """The API's test configuration, with its billing queue delivered by webhook to `url`."""
    document = copy.deepcopy(DOCUMENT)
    for q in document["queues"]:
        Queue.objects.create(
            key=q["key"], name=q["name"], priority=q["priority"], is_fallback=q["fallback"]
        )
    [billing_item] = [q for q in document["queues"] if q["key"] == "billing"]
    billing_item["delivery"] = {"kind": "webhook", "url": url}
    billing = Queue.objects.get(key="billing")
    billing.delivery_kind = "webhook"
    # Draft and published alike, as a publish leaves them (docs/delivery.md).
    billing.webhook_url = billing.published_webhook_url = url
    billing.webhook_secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes
    billing.published_webhook_secret = billing.webhook_secret
    billing.save()
    for c in document["channels"]:
        Channel.objects.create(key=c["key"], name=c["name"], kind=c["kind"], enabled=c["enabled"])
    for b in document["bots"]:
        Bot.objects.create(key=b["key"], name=b["name"])
    publish(document)
    bot = Bot.objects.get(key="support-bot")
    return BotClient(bot, make_key(bot))


def test_it_delivers_what_arrived_while_the_broker_was_down(
    transactional_db: Any, broker_url: str, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver, worker(broker_url, tmp_path / "worker.log"):
        client = configure_api(receiver.url)
        ids = []
        with celery_broker(f"redis://127.0.0.1:{closed_port()}/0"):
            for n in range(5):
                started = time.monotonic()
                response = client.post(
                    "/api/v1/handoffs",
                    {"conversation_id": f"down-{n}", "channel": "webchat", "topic": "billing"},
                )
                assert response.status_code == 202, response.json()
                if n:  # the first request also warms up the process (URLs, DRF, ...)
                    assert time.monotonic() - started < 1.5
                ids.append(response.json()["id"])
        assert Handoff.objects.filter(pk__in=ids, dispatched_at__isnull=True).count() == 5

        # The broker is back: one sweep (as beat runs it) publishes them all again.
        assert sweep_run(now=timezone.now() + timedelta(seconds=10))["republished"] == 5
        delivered = Handoff.objects.filter(pk__in=ids, status="delivered")
        assert wait_until(lambda: delivered.count() == 5, timeout=20), list(
            Handoff.objects.values_list("status", "last_error")
        )

    secret = Queue.objects.get(key="billing").webhook_secret
    assert sorted(r.json()["id"] for r in receiver.requests) == sorted(ids)
    assert all(verify_signature(secret, r.headers, r.body) for r in receiver.requests)


def test_it_delivers_with_the_same_webhook_id_after_a_worker_is_killed(
    transactional_db: Any, broker_url: str, tmp_path: Path
) -> None:
    hold = threading.Event()
    with webhook_receiver(hold=hold) as receiver:
        queue = make_queue("external", delivery_kind="webhook", webhook_url=receiver.url)
        handoff = make_handoff(queue)

        with worker(broker_url, tmp_path / "first.log") as first:
            assert publish_delivery(handoff.pk)
            assert receiver.got_request.wait(20), first.log.read_text()[-3000:]
            first.kill()  # in the middle of the POST
        hold.set()  # the receiver answers, to a dead socket

        handoff.refresh_from_db()
        assert handoff.status == "queued"
        assert handoff.delivery_attempts == 1

        with worker(broker_url, tmp_path / "second.log") as second:
            # The killed attempt's lease (its time-out + a margin) runs out in real time.
            lease = handoff.next_attempt_at
            assert lease is not None
            assert wait_until(lambda: timezone.now() > lease, timeout=10)
            # The next sweep (beat runs it every few seconds) sees nobody works on it.
            assert sweep_run(now=timezone.now() + timedelta(seconds=30))["republished"] == 1
            assert wait_until(
                lambda: Handoff.objects.get(pk=handoff.pk).status == "delivered", timeout=20
            ), (
                list(handoff.events.values_list("type", "detail")),
                second.log.read_text()[-3000:],
            )

    handoff.refresh_from_db()
    assert len(receiver.requests) == 2
    assert receiver.delivered_ids() == [handoff.webhook_id, handoff.webhook_id]
    assert handoff.delivery_attempts == 2


def stale_beat_schedule(path: Path) -> None:
    """A beat schedule whose every entry last ran hours ago, as `make run` finds it the next
    day: beat publishes them all the moment it starts."""
    from celery.beat import PersistentScheduler

    from portal.celery import app as celery_app

    scheduler = PersistentScheduler(app=celery_app, schedule_filename=str(path))
    for entry in scheduler.schedule.values():
        entry.last_run_at = timezone.now() - timedelta(hours=2)
    scheduler.close()


def test_it_starts_with_beat_on_a_fresh_embedded_broker(
    transactional_db: Any, tmp_path: Path
) -> None:
    # On a new broker file the worker and its beat (publishing what is due) both create the
    # broker's tables and its queue at the same moment; the loser used to fail or die.
    with webhook_receiver() as receiver:
        queue = make_queue("external", delivery_kind="webhook", webhook_url=receiver.url)
        for n in range(4):
            url = f"sqla+sqlite:///{tmp_path}/broker-{n}.sqlite3"
            log = tmp_path / f"worker-{n}.log"
            stale_beat_schedule(log.with_suffix(".schedule"))
            with celery_broker(url), worker(url, log, beat=True) as w:
                handoff = make_handoff(queue)
                assert publish_delivery(handoff.pk)
                assert wait_until(
                    lambda h=handoff: Handoff.objects.get(pk=h.pk).status == "delivered",
                    timeout=20,
                ), w.log.read_text()[-3000:]
                assert wait_until(lambda w=w: "beat: Starting" in w.log.read_text(), timeout=10)
                assert w.process.poll() is None, w.log.read_text()[-3000:]
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

"""The thin tasks and publishing (in-process; tests/handoff/test_worker.py runs a real worker;
the sweep's own tests are in tests/handoff/test_sweep.py)."""

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from handoff import tasks
from handoff.delivery.publish import publish_delivery
from handoff.models import Handoff, IdempotencyKey
from tests.handoff.delivery_helpers import (
    celery_broker,
    closed_port,
    make_agent,
    make_bot,
    make_handoff,
    make_queue,
)

pytestmark = pytest.mark.usefixtures("scratch_broker")


def test_it_publishes_and_marks_the_handoff_dispatched(db: Any) -> None:
    handoff = make_handoff(make_queue())

    assert publish_delivery(handoff.pk) is True

    handoff.refresh_from_db()
    assert handoff.dispatched_at is not None


def test_it_fails_fast_and_quietly_when_the_broker_is_down(db: Any) -> None:
    handoff = make_handoff(make_queue())

    with celery_broker(f"redis://127.0.0.1:{closed_port()}/0"):
        started = time.monotonic()
        results = [publish_delivery(handoff.pk) for _ in range(3)]
        elapsed = time.monotonic() - started

    assert results == [False, False, False]
    assert elapsed < 1.5, f"three publishes took {elapsed:.2f}s"
    handoff.refresh_from_db()
    assert handoff.dispatched_at is None


def test_it_runs_the_delivery_task_for_a_push_queue(db: Any) -> None:
    queue = make_queue()
    make_agent("ben", queue, capacity=1)
    handoff = make_handoff(queue)

    assert tasks.deliver(str(handoff.pk)) == "offered"
    assert tasks.deliver(str(handoff.pk)) == "skipped"  # safe to run twice
    assert Handoff.objects.get(pk=handoff.pk).status == "offered"


def test_it_expires_idempotency_keys_after_a_day(db: Any) -> None:
    bot = make_bot()
    now = timezone.now()
    IdempotencyKey.objects.create(
        bot=bot, key="old", request_hash="x", created_at=now - timedelta(hours=25)
    )
    IdempotencyKey.objects.create(
        bot=bot, key="new", request_hash="x", created_at=now - timedelta(hours=23)
    )

    assert tasks.expire_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_it_retries_a_status_callback_until_it_is_sent(db: Any, settings: Any) -> None:
    from tests.handoff.delivery_helpers import webhook_receiver

    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True
    settings.HANDOFF_WEBHOOK_RETRY_DELAYS = [0, 0]
    with webhook_receiver([503, 429], then=200) as receiver:
        bot = make_bot("callback-bot", status_callback_url=receiver.url)
        handoff = make_handoff(make_queue(), bot=bot, status="failed")

        # apply() runs the task here, retries included, as a worker would.
        result = tasks.send_status_callback.apply(args=(str(handoff.pk), "failed"))

    assert result.get() == "delivered"
    assert len(receiver.requests) == 3
    assert len(set(receiver.delivered_ids())) == 1
    event = handoff.events.get(type="status_callback")
    assert (event.detail["outcome"], event.detail["attempt"]) == ("sent", 3)

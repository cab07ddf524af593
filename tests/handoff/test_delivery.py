"""Webhook delivery and status callbacks against a real HTTP server on 127.0.0.1."""

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from handoff.delivery.addresses import is_public_address
from handoff.delivery.http import (
    Outcome,
    TargetRefused,
    check_target,
    classify,
    retry_delay,
)
from handoff.errors import Conflict
from handoff.models import ConfigVersion, Handoff, Queue
from handoff.services.assignment import handoff_accept, handoff_cancel, queue_fill
from handoff.services.dispatch import handoff_deliver
from handoff.services.webhooks import (
    failed_deliveries,
    handoff_retry_delivery,
    status_callback_send,
    webhook_handoffs_due,
)
from tests.handoff.delivery_helpers import (
    celery_broker,
    closed_port,
    event_types,
    make_agent,
    make_bot,
    make_handoff,
    make_queue,
    scratch_broker_url,
    verify_signature,
    webhook_receiver,
)


@pytest.fixture(autouse=True)
def delivery_settings(settings: Any, tmp_path_factory: Any) -> Iterator[None]:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True
    settings.HANDOFF_WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.HANDOFF_WEBHOOK_TIMEOUT = 2
    with celery_broker(scratch_broker_url(tmp_path_factory.mktemp("broker"))):
        yield


def webhook_queue(url: str, **extra: Any) -> Any:
    return make_queue("external", delivery_kind="webhook", webhook_url=url, **extra)


def test_it_posts_the_signed_body(db: Any) -> None:
    with webhook_receiver() as receiver:
        queue = webhook_queue(receiver.url)
        version = ConfigVersion.objects.create(number=7, document={})
        handoff = make_handoff(queue, rule="VIP", topic="refund", config_version=version)

        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

    [request] = receiver.requests
    assert request.path == "/hooks/handoff"
    assert verify_signature(queue.webhook_secret, request.headers, request.body)
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body == {
        "id": str(handoff.pk),
        "conversation_id": handoff.conversation_id,
        "bot": {"key": "support-bot", "name": "Support-Bot"},
        "channel": "webchat",
        "topic": "refund",
        "queue": {"key": "external", "name": "External"},
        "priority": 100,
        "rule": "VIP",
        "reason": "",
        "locale": "",
        "customer": {"name": "Carla Customer"},
        "context": {"OrderNumber": "A-1"},
        "transcript": [{"from": "customer", "text": "I want a person"}],
        "agent_message": "Refund please",
        "created_at": handoff.created_at.isoformat(),
        "config_version": 7,
    }
    handoff.refresh_from_db()
    assert handoff.status == "delivered"
    assert request.headers["webhook-id"] == handoff.webhook_id
    assert handoff.webhook_id.startswith("msg_")
    assert event_types(handoff)[-1] == "delivered"


def test_it_retries_server_errors_with_the_same_webhook_id(db: Any) -> None:
    with webhook_receiver([500, 500], then=200) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))

        # Each call is one run of the delivery task (the retries are due at once: delays 0).
        outcomes = [handoff_deliver(handoff_id=handoff.pk) for _ in range(4)]

    assert outcomes == ["webhook:retry", "webhook:retry", "webhook:delivered", "skipped"]
    handoff.refresh_from_db()
    assert (handoff.status, handoff.delivery_attempts) == ("delivered", 3)
    assert receiver.delivered_ids() == [handoff.webhook_id] * 3
    secret = Queue.objects.get(key="external").webhook_secret
    assert all(verify_signature(secret, r.headers, r.body) for r in receiver.requests)
    assert event_types(handoff)[-3:] == ["delivery_retry", "delivery_retry", "delivered"]


def test_it_fails_after_the_last_attempt_to_a_dead_endpoint(db: Any) -> None:
    handoff = make_handoff(webhook_queue(f"http://127.0.0.1:{closed_port()}/hook"))

    outcomes = [handoff_deliver(handoff_id=handoff.pk) for _ in range(3)]

    assert outcomes == ["webhook:retry", "webhook:retry", "webhook:fail"]
    handoff.refresh_from_db()
    assert handoff.status == "failed"
    assert handoff.closed_at is not None
    assert "connection error" in handoff.last_error
    assert handoff.events.get(type="failed").detail["attempt"] == 3
    assert list(failed_deliveries()) == [handoff]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_it_fails_at_once_when_the_receiver_refuses(db: Any, status: int) -> None:
    with webhook_receiver([status]) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:fail"
    assert len(receiver.requests) == 1  # a redirect is never followed
    handoff.refresh_from_db()
    assert handoff.last_error.startswith(f"HTTP {status}")


def test_it_classifies_answers() -> None:
    assert [classify(s) for s in (200, 204, 408, 429, 500, 503, 400, 301)] == [
        Outcome.DELIVERED,
        Outcome.DELIVERED,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.FAIL,
        Outcome.FAIL,
    ]


def test_it_adds_jitter_to_retry_delays(settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_RETRY_DELAYS = [10, 100]
    delays = [retry_delay(1) or 0 for _ in range(50)]
    assert all(8 <= d <= 12 for d in delays)
    assert len(set(delays)) > 1
    assert 80 <= (retry_delay(2) or 0) <= 120
    assert retry_delay(3) is None


def test_it_refuses_private_targets_without_the_setting(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = False
    with webhook_receiver() as receiver:
        plain = make_handoff(webhook_queue(receiver.url))
        assert handoff_deliver(handoff_id=plain.pk) == "webhook:fail"
        tls = receiver.url.replace("http://127.0.0.1", "https://localhost")
        with pytest.raises(TargetRefused, match="non-public"):
            check_target(tls, allow_private=False)

    assert receiver.requests == []
    plain.refresh_from_db()
    assert plain.status == "failed"
    assert "target refused" in plain.last_error


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_it_checks_every_kind_of_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_it_refuses_plain_http_without_the_setting() -> None:
    with pytest.raises(TargetRefused, match="https"):
        check_target("http://example.com/hook", allow_private=False)


def test_it_retries_a_failed_delivery_on_request(db: Any, admin_user: Any) -> None:
    with webhook_receiver([503, 503, 503]) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        for _ in range(3):
            handoff_deliver(handoff_id=handoff.pk)
        handoff.refresh_from_db()
        assert handoff.status == "failed"

        handoff_retry_delivery(handoff_id=handoff.pk, user=admin_user)
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

    handoff.refresh_from_db()
    assert handoff.status == "delivered"
    assert set(receiver.delivered_ids()) == {handoff.webhook_id}
    assert handoff.events.get(type="retry_requested").detail["by"] == admin_user.username
    with pytest.raises(Conflict):
        handoff_retry_delivery(handoff_id=handoff.pk, user=admin_user)


def test_it_stops_retrying_a_cancelled_handoff(db: Any) -> None:
    with webhook_receiver([500]) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        handoff_deliver(handoff_id=handoff.pk)
        handoff_cancel(handoff=handoff)
        assert handoff_deliver(handoff_id=handoff.pk) == "skipped"
    assert len(receiver.requests) == 1


def test_it_lets_only_one_attempt_run_at_a_time(transactional_db: Any) -> None:
    hold = threading.Event()
    with webhook_receiver(hold=hold) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        first = threading.Thread(target=lambda: handoff_deliver(handoff_id=handoff.pk))
        first.start()
        assert receiver.got_request.wait(5)
        # A second copy of the task while the first waits for the answer: it holds the lease.
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:skipped"
        hold.set()
        first.join()
    assert len(receiver.requests) == 1


def test_it_finds_webhook_handoffs_nobody_works_on(db: Any) -> None:
    queue = webhook_queue("https://hooks.example.com/x")
    now = timezone.now()
    never = make_handoff(queue, now=now - timedelta(seconds=30))
    just_queued = make_handoff(queue, now=now)
    published = make_handoff(queue, now=now - timedelta(seconds=30), dispatched_at=now)
    lost = make_handoff(
        queue, now=now - timedelta(minutes=5), dispatched_at=now - timedelta(minutes=5)
    )
    waiting_retry = make_handoff(
        queue, dispatched_at=now - timedelta(seconds=10), next_attempt_at=now + timedelta(minutes=1)
    )
    lease_over = make_handoff(
        queue,
        dispatched_at=now - timedelta(seconds=60),
        next_attempt_at=now - timedelta(seconds=30),
    )

    due = set(webhook_handoffs_due(now=now))

    assert due == {never, lost, lease_over}
    assert {published, just_queued, waiting_retry}.isdisjoint(due)


def test_it_signs_status_callbacks_with_the_bots_secret(db: Any) -> None:
    with webhook_receiver([500], then=204) as receiver:
        bot = make_bot("callback-bot", status_callback_url=receiver.url)
        queue = make_queue()
        ben = make_agent("ben", queue, capacity=1, first_name="Ben", last_name="Agent")
        handoff = make_handoff(queue, bot=bot)
        queue_fill(queue_id=queue.pk)
        handoff_accept(handoff_id=handoff.pk, agent=ben)

        first = status_callback_send(handoff_id=handoff.pk, state="accepted", attempt=1)
        second = status_callback_send(handoff_id=handoff.pk, state="accepted", attempt=2)

    assert (first.outcome, second.outcome) == (Outcome.RETRY, Outcome.DELIVERED)
    bot.refresh_from_db()
    assert bot.status_callback_secret.startswith("whsec_")
    assert all(
        verify_signature(bot.status_callback_secret, r.headers, r.body) for r in receiver.requests
    )
    assert len(set(receiver.delivered_ids())) == 1
    body = json.loads(receiver.requests[-1].body)
    assert body["name"] == "handoff.status"
    assert body["value"] == {"state": "accepted"}
    assert body["conversation"] == {"id": handoff.conversation_id}
    assert body["handoff"]["agent"] == {"display_name": "Ben Agent"}
    assert handoff.events.get(type="status_callback").detail["outcome"] == "sent"
    assert Handoff.objects.get(pk=handoff.pk).status == "assigned"


def test_it_lists_and_retries_failed_deliveries_from_the_command_line(db: Any) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    queue = webhook_queue("https://hooks.example.com/x")
    failed = make_handoff(queue, status="failed", last_error="HTTP 500: boom", delivery_attempts=8)
    out = StringIO()
    call_command("retry_failed", "--list", stdout=out)
    assert str(failed.pk) in out.getvalue()
    assert "HTTP 500: boom" in out.getvalue()

    out = StringIO()
    call_command("retry_failed", str(failed.pk), stdout=out)
    failed.refresh_from_db()
    assert (failed.status, failed.delivery_attempts) == ("queued", 0)
    assert "1 handoff(s)" in out.getvalue()
    with pytest.raises(CommandError, match="Only a failed"):
        call_command("retry_failed", str(failed.pk), stdout=StringIO())
    out = StringIO()
    call_command("retry_failed", stdout=out)
    assert "no failed deliveries" in out.getvalue()

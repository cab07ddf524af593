"""Webhook delivery and status callbacks against a real HTTP server on 127.0.0.1."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from handoff.config.document import config_publish, import_document
from handoff.delivery.addresses import is_public_address
from handoff.delivery.http import (
    RETRY_AFTER_MAX_SECONDS,
    Outcome,
    TargetRefused,
    check_target,
    classify,
    parse_retry_after,
    post,
    retry_delay,
)
from handoff.errors import Conflict
from handoff.models import ConfigVersion, Handoff, Queue
from handoff.services.assignment import handoff_accept, handoff_cancel, queue_fill
from handoff.services.dispatch import handoff_deliver
from handoff.services.portal_config import queue_rotate_webhook_secret, queue_update
from handoff.services.webhooks import (
    LEASE_MARGIN_SECONDS,
    disabled_webhooks,
    failed_deliveries,
    handoff_retry_delivery,
    queue_enable_webhook,
    status_callback_send,
    webhook_handoffs_due,
)
from tests.handoff.config_helpers import demo_doc
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
    assert [classify(s) for s in (200, 204, 408, 429, 500, 503, 400, 301, 410)] == [
        Outcome.DELIVERED,
        Outcome.DELIVERED,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.FAIL,
        Outcome.FAIL,
        Outcome.GONE,
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

        def first_attempt() -> None:
            try:
                handoff_deliver(handoff_id=handoff.pk)
            finally:
                connection.close()  # this thread's own connection

        first = threading.Thread(target=first_attempt)
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


# -- one attempt ends by its deadline -------------------------------------------------------


@contextmanager
def trickling_receiver(seconds: float) -> Iterator[str]:
    """A real server that answers one header byte every 0.1 s for `seconds`: every read
    succeeds well within a read time-out, so only a deadline on the whole attempt stops it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
                    deadline = time.monotonic() + seconds
                    while time.monotonic() < deadline and not stop.is_set():
                        conn.sendall(b"z")
                        time.sleep(0.1)
                    conn.sendall(b"\r\ncontent-length: 0\r\n\r\n")
                except OSError:
                    pass  # the sender gave up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        server.close()


def test_it_ends_an_attempt_by_its_deadline_inside_the_lease(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_TIMEOUT = 1
    with trickling_receiver(seconds=6) as url:
        handoff = make_handoff(webhook_queue(url))
        started = time.monotonic()
        outcome = handoff_deliver(handoff_id=handoff.pk)
        took = time.monotonic() - started

    assert outcome == "webhook:retry"
    # The lease is the time-out plus LEASE_MARGIN_SECONDS: the POST is over well before it,
    # so a second copy of the task (after the lease) can never POST while this one does.
    assert took < settings.HANDOFF_WEBHOOK_TIMEOUT + LEASE_MARGIN_SECONDS - 0.5, took
    handoff.refresh_from_db()
    assert handoff.last_error == "timeout"
    assert handoff.events.get(type="delivery_retry").detail["elapsed_ms"] < 1500


def test_it_bounds_a_status_callback_by_the_time_out_too(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_TIMEOUT = 1
    with trickling_receiver(seconds=6) as url:
        started = time.monotonic()
        result = post(url=url, body=b"{}", headers={})
    assert (result.outcome, result.error) == (Outcome.RETRY, "timeout")
    assert time.monotonic() - started < 2


# -- Standard Webhooks defaults: time-out, retries over days, 410, Retry-After ---------------


def test_it_defaults_to_a_receiver_time_out_and_a_retry_schedule_of_days() -> None:
    from portal import settings as defaults

    assert 15 <= defaults.HANDOFF_WEBHOOK_TIMEOUT <= 30
    delays = defaults.HANDOFF_WEBHOOK_RETRY_DELAYS
    assert sum(delays) >= 2 * 24 * 3600  # the last attempt days after the first
    assert delays == sorted(delays)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("999999999", float(RETRY_AFTER_MAX_SECONDS)),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 90.0),  # an HTTP date 90 s after "now" below
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past: at once
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_it_reads_retry_after_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2015, 10, 21, 7, 26, 30, tzinfo=UTC).timestamp()
    assert parse_retry_after(header, now=now) == seconds


@pytest.mark.parametrize("status", [429, 503])
def test_it_honours_retry_after_on_429_and_503(db: Any, status: int) -> None:
    with webhook_receiver([status], headers={"retry-after": "3600"}) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        before = timezone.now()
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:retry"
        # Due in an hour, not at once (the schedule here is 0 s): a second run does nothing.
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:skipped"

    handoff.refresh_from_db()
    assert handoff.next_attempt_at is not None
    wait = (handoff.next_attempt_at - before).total_seconds()
    assert 3600 <= wait < 3660, wait
    assert handoff.events.get(type="delivery_retry").detail["retry_in_seconds"] >= 3600
    assert len(receiver.requests) == 1


def test_it_ignores_retry_after_on_other_answers(db: Any) -> None:
    with webhook_receiver([500], headers={"retry-after": "3600"}) as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:retry"
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"


def test_it_never_waits_less_than_the_schedule_for_a_short_retry_after(settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_RETRY_DELAYS = [100]
    assert 80 <= (retry_delay(1, retry_after=1) or 0) <= 120
    assert retry_delay(1, retry_after=500) == 500
    assert retry_delay(2, retry_after=500) is None  # the attempts are used up all the same


def test_it_disables_the_webhook_when_the_receiver_answers_410(db: Any) -> None:
    with webhook_receiver([410]) as receiver:
        queue = webhook_queue(receiver.url)
        first = make_handoff(queue)
        assert handoff_deliver(handoff_id=first.pk) == "webhook:fail"
        second = make_handoff(queue)
        assert handoff_deliver(handoff_id=second.pk) == "webhook:fail"

    assert len(receiver.requests) == 1  # nothing more is sent to an endpoint that is gone
    queue.refresh_from_db()
    assert queue.webhook_disabled_at is not None
    assert queue.webhook_disabled_error.startswith("HTTP 410")
    assert list(disabled_webhooks()) == [queue]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("failed", "failed")
    assert "disabled" in second.last_error
    assert set(failed_deliveries()) == {first, second}


def test_it_sends_again_once_an_admin_enables_the_webhook(db: Any, admin_user: Any) -> None:
    with webhook_receiver([410], then=204) as receiver:
        queue = webhook_queue(receiver.url)
        handoff = make_handoff(queue)
        handoff_deliver(handoff_id=handoff.pk)

        queue_enable_webhook(queue=queue, user=admin_user)
        handoff_retry_delivery(handoff_id=handoff.pk, user=admin_user)
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

    assert len(receiver.requests) == 2
    assert list(disabled_webhooks()) == []
    with pytest.raises(Conflict):
        queue_enable_webhook(queue=queue, user=admin_user)


def test_a_status_callback_answered_410_is_not_retried(db: Any) -> None:
    with webhook_receiver([410]) as receiver:
        bot = make_bot("gone-bot", status_callback_url=receiver.url)
        handoff = make_handoff(make_queue(), bot=bot)
        result = status_callback_send(handoff_id=handoff.pk, state="failed", attempt=1)
    assert result.outcome == Outcome.GONE
    assert handoff.events.get(type="status_callback").detail["outcome"] == "failed"


# -- the published webhook, not the draft's ---------------------------------------------------


def publish_webhook(url: str) -> Queue:
    """The demo configuration imported and published, its webhook queue posting to `url`."""
    doc = demo_doc()
    [hooked] = [q for q in doc["queues"] if q.get("delivery", {}).get("kind") == "webhook"]
    hooked["delivery"] = {"kind": "webhook", "url": url}
    import_document(doc, publish=True, create_users=True)
    return Queue.objects.get(key=hooked["key"])


def test_it_delivers_with_the_published_url_and_secret_not_the_drafts(
    db: Any, admin_user: Any
) -> None:
    with webhook_receiver() as published, webhook_receiver() as draft:
        queue = publish_webhook(published.url)
        secret = queue.webhook_secret
        # The draft moves the endpoint and rotates the secret, and nobody publishes yet.
        queue_update(
            user=admin_user, queue_id=queue.pk, fields={"webhook_url": draft.url}, members=[]
        )
        queue_rotate_webhook_secret(user=admin_user, queue_id=queue.pk)
        version = ConfigVersion.objects.get()
        handoff = make_handoff(queue, config_version=version)

        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

    assert draft.requests == []
    [request] = published.requests
    assert verify_signature(secret, request.headers, request.body)
    assert request.json()["config_version"] == version.number


def test_it_delivers_with_the_new_pair_once_published(db: Any, admin_user: Any) -> None:
    with webhook_receiver() as old, webhook_receiver() as new:
        queue = publish_webhook(old.url)
        queue_update(
            user=admin_user, queue_id=queue.pk, fields={"webhook_url": new.url}, members=[]
        )
        rotated = queue_rotate_webhook_secret(user=admin_user, queue_id=queue.pk)
        version = config_publish(user=admin_user)
        handoff = make_handoff(queue, config_version=version)

        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

    assert old.requests == []
    [request] = new.requests
    assert verify_signature(rotated, request.headers, request.body)
    queue.refresh_from_db()
    assert (queue.published_webhook_url, queue.published_webhook_secret) == (new.url, rotated)


def test_it_delivers_a_handoff_routed_with_the_draft_with_the_drafts_webhook(
    db: Any, admin_user: Any
) -> None:
    # "Test your bot" can run the draft: its handoffs record no version and use the draft.
    with webhook_receiver() as published, webhook_receiver() as draft:
        queue = publish_webhook(published.url)
        queue_update(
            user=admin_user, queue_id=queue.pk, fields={"webhook_url": draft.url}, members=[]
        )
        handoff = make_handoff(queue, config_version=None)
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"
    assert (len(published.requests), len(draft.requests)) == (0, 1)


def test_it_refuses_a_webhook_that_was_never_published(db: Any) -> None:
    with webhook_receiver() as receiver:
        queue = webhook_queue(receiver.url, published_webhook_url="", published_webhook_secret="")
        version = ConfigVersion.objects.create(number=1, document={})
        handoff = make_handoff(queue, config_version=version)
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:fail"
    assert receiver.requests == []
    handoff.refresh_from_db()
    assert handoff.last_error == "the queue's webhook is not published"


def test_a_publish_with_another_url_enables_a_disabled_webhook(db: Any, admin_user: Any) -> None:
    with webhook_receiver([410]) as gone, webhook_receiver() as new:
        queue = publish_webhook(gone.url)
        version = ConfigVersion.objects.get()
        handoff_deliver(handoff_id=make_handoff(queue, config_version=version).pk)
        assert list(disabled_webhooks()) == [queue]

        config_publish(user=admin_user)  # the same URL: still disabled
        assert list(disabled_webhooks()) == [queue]
        queue_update(
            user=admin_user, queue_id=queue.pk, fields={"webhook_url": new.url}, members=[]
        )
        version = config_publish(user=admin_user)
        assert list(disabled_webhooks()) == []
        handoff = make_handoff(queue, config_version=version)
        assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"
    assert len(new.requests) == 1


# -- the cost of a delivery ---------------------------------------------------------------------


def test_it_reuses_the_connection_for_one_host_name(db: Any) -> None:
    with webhook_receiver() as receiver:
        queue = webhook_queue(receiver.url)
        for _ in range(3):
            assert handoff_deliver(handoff_id=make_handoff(queue).pk) == "webhook:delivered"
        # Another name of the same address gets a connection of its own: TLS would have
        # verified the certificate for one name only.
        other = make_queue(
            "other",
            delivery_kind="webhook",
            webhook_url=receiver.url.replace("127.0.0.1", "localhost"),
        )
        assert handoff_deliver(handoff_id=make_handoff(other).pk) == "webhook:delivered"

    peers = [r.peer for r in receiver.requests]
    assert len(set(peers[:3])) == 1
    assert peers[3] != peers[0]


def test_a_delivered_attempt_costs_few_queries(db: Any, django_assert_num_queries: Any) -> None:
    with webhook_receiver() as receiver:
        handoff = make_handoff(webhook_queue(receiver.url))
        # The claim (the handoff with its queue and bot, locked; its lease), then the outcome
        # under the row lock (SELECT FOR UPDATE, UPDATE, INSERT event), each in a transaction
        # (here a SAVEPOINT and its RELEASE), which on PostgreSQL also says not to wait for
        # the disk (SET LOCAL synchronous_commit). The outcome's live events are one INSERT.
        per_write = 3 if connection.vendor == "postgresql" else 2
        with django_assert_num_queries(2 + 3 + 2 * per_write + 1):
            assert handoff_deliver(handoff_id=handoff.pk) == "webhook:delivered"

"""Webhook delivery and status callbacks: the state the HTTP of handoff.delivery.http changes.

A webhook attempt is claimed under the handoff's row lock by setting `next_attempt_at` to a
lease (the attempt's time-out plus a margin), so two copies of the task never call the receiver
at once; the attempt itself ends by a deadline inside the lease, and a worker killed mid-attempt
leaves a lease that the sweep sees run out. The `webhook-id` is fixed on the first attempt and
kept on every retry. Deliveries use the queue's published webhook (docs/delivery.md).
"""

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from handoff.config.document import audit
from handoff.crypto import new_webhook_secret, webhook_secret_bytes
from handoff.db import commit_without_waiting_for_the_disk
from handoff.delivery import http as delivery
from handoff.delivery.http import Outcome, Result
from handoff.delivery.publish import (
    publish_delivery,
    publish_delivery_later,
    publish_status_callback,
)
from handoff.engine.vocabulary import DeliveryKind, HandoffStatus
from handoff.errors import Conflict
from handoff.models import Bot, Handoff, Queue, User
from handoff.services.events import handoff_event
from handoff.services.transitions import handoff_transition

log = logging.getLogger(__name__)

# The lease outlasts the attempt's deadline by this much: the time to record the outcome.
LEASE_MARGIN_SECONDS = 2
# The sweep leaves alone what was queued or published this recently (the publish is on its way).
SWEEP_GRACE_SECONDS = 5
# A published delivery that never started is published again after this long.
REPUBLISH_AFTER_SECONDS = 60


def webhook_body(handoff: Handoff) -> dict[str, Any]:
    """The webhook body (docs/delivery.md; context, transcript and customer are stored masked)."""
    version = handoff.config_version
    return {
        "id": str(handoff.pk),
        "conversation_id": handoff.conversation_id,
        "bot": {"key": handoff.bot.key, "name": handoff.bot.name},
        "channel": handoff.channel,
        "topic": handoff.topic,
        "queue": {"key": handoff.queue_key, "name": handoff.queue_name},
        "priority": handoff.priority,
        "rule": handoff.rule,
        "reason": handoff.reason,
        "locale": handoff.locale,
        "customer": handoff.customer,
        "context": handoff.context,
        "transcript": handoff.transcript,
        "agent_message": handoff.agent_message,
        "created_at": handoff.created_at.isoformat(),
        "config_version": version.number if version else None,
    }


def webhook_endpoint(handoff: Handoff) -> tuple[str, str]:
    """The URL and secret a handoff is delivered with.

    A handoff routed with a published version gets the queue's webhook as last published (the
    URL and the secret copied together by the publish); one routed with the draft ("Test your
    bot" on the draft) gets the draft's. Draft edits never reach a receiver before a publish.
    """
    queue = handoff.queue
    assert queue is not None
    if handoff.config_version_id is None:
        return queue.webhook_url, queue.webhook_secret
    return queue.published_webhook_url, queue.published_webhook_secret


# What an attempt reads: the claim's bookkeeping, the body, and the queue's webhook.
ATTEMPT_FIELDS = (
    *("status", "next_attempt_at", "delivery_attempts", "webhook_id"),
    *("conversation_id", "channel", "topic", "queue_key", "queue_name", "priority", "rule"),
    *("reason", "locale", "customer", "context", "transcript", "agent_message", "created_at"),
    *("bot__key", "bot__name", "config_version__number"),
    *("queue__webhook_url", "queue__webhook_secret"),
    *("queue__published_webhook_url", "queue__published_webhook_secret"),
    *("queue__webhook_disabled_at", "queue__webhook_disabled_error"),
)


def _claim_attempt(handoff_id: uuid.UUID, now: datetime) -> Handoff | None:
    """Take the lease of the next attempt and load what it sends, in one transaction.

    None when the handoff is not a waiting webhook handoff, or when another attempt holds the
    lease or the retry is not due yet. The row is found by its primary key alone: a condition on
    the status would let PostgreSQL pick the index of waiting handoffs and read all of them.
    """
    lease = now + timedelta(seconds=settings.HANDOFF_WEBHOOK_TIMEOUT + LEASE_MARGIN_SECONDS)
    with transaction.atomic():
        commit_without_waiting_for_the_disk()
        found = list(
            Handoff.objects.select_for_update(of=("self",))
            .select_related("queue", "bot", "config_version")
            .only(*ATTEMPT_FIELDS)
            .filter(pk=handoff_id, queue__delivery_kind=DeliveryKind.WEBHOOK)
            .order_by()
        )
        handoff = found[0] if found else None
        if handoff is None or handoff.status != HandoffStatus.QUEUED:
            return None
        if handoff.next_attempt_at is not None and handoff.next_attempt_at > now:
            return None
        handoff.next_attempt_at = lease
        handoff.delivery_attempts += 1
        fields = ["next_attempt_at", "delivery_attempts"]
        if not handoff.webhook_id:
            # The webhook-id is chosen once, before the first attempt, and never changes.
            handoff.webhook_id = "msg_" + uuid.uuid4().hex
            fields.append("webhook_id")
        handoff.save(update_fields=fields)
    return handoff


def handoff_webhook_attempt(*, handoff_id: uuid.UUID | str) -> str:
    """One delivery attempt of a webhook handoff; returns the outcome or "skipped"."""
    # The deadline is taken before the lease, so the POST always ends inside the lease.
    deadline = time.monotonic() + settings.HANDOFF_WEBHOOK_TIMEOUT
    handoff_id = uuid.UUID(str(handoff_id))
    handoff = _claim_attempt(handoff_id, timezone.now())
    if handoff is None:
        return "skipped"  # done, cancelled, not a webhook, or another attempt holds the lease
    queue = handoff.queue
    assert queue is not None
    url, secret_text = webhook_endpoint(handoff)
    try:
        secret = webhook_secret_bytes(secret_text)
    except ValueError:
        secret = b""
    if queue.webhook_disabled_at is not None:
        since = f"{queue.webhook_disabled_at:%Y-%m-%d %H:%M} UTC"
        error = f"the queue's webhook is disabled since {since} ({queue.webhook_disabled_error})"
        result = Result(Outcome.FAIL, error=error)
    elif not url:
        result = Result(Outcome.FAIL, error="the queue's webhook is not published")
    elif not secret:
        result = Result(Outcome.FAIL, error="the queue has no usable webhook secret")
    else:
        body = delivery.encode_body(webhook_body(handoff))
        headers = delivery.signed_headers(secret=secret, msg_id=handoff.webhook_id, body=body)
        result = delivery.post(url=url, body=body, headers=headers, deadline=deadline)
    if result.outcome == Outcome.GONE:
        queue_disable_webhook(queue_id=queue.pk, error=result.error, at=timezone.now())
    return _record_attempt(handoff_id=handoff_id, attempt=handoff.delivery_attempts, result=result)


def _record_attempt(*, handoff_id: uuid.UUID, attempt: int, result: Result) -> str:
    """Store the attempt's outcome and return it (an `Outcome`, or "late" when cancelled)."""
    now = timezone.now()
    with transaction.atomic():
        handoff = (
            Handoff.objects.select_for_update()
            .only(
                "status",
                "webhook_id",
                "delivery_attempts",
                "bot_id",
                "queue_id",
                "agent_id",  # the live events of the outcome (handoff/services/live.py)
                "conversation_id",
            )
            .get(pk=handoff_id)
        )
        if result.outcome in (Outcome.DELIVERED, Outcome.RETRY):
            # Losing this to a database crash means one more attempt with the same id; a
            # failure is kept synchronous: it tells the bot (status callback `failed`).
            commit_without_waiting_for_the_disk()
        detail: dict[str, Any] = {
            "attempt": attempt,
            "webhook_id": handoff.webhook_id,
            "status_code": result.status_code,
            "elapsed_ms": result.elapsed_ms,
        }
        if result.error:
            detail["error"] = result.error
        superseded = handoff.delivery_attempts != attempt and result.outcome != Outcome.DELIVERED
        if handoff.status != HandoffStatus.QUEUED or superseded:
            # Cancelled while the request was in flight, or a later attempt took over (this
            # one outlived its lease): keep the record, change nothing.
            handoff_event(
                handoff, "delivery_attempt", {**detail, "outcome": result.outcome}, at=now
            )
            return "late"
        delay = (
            delivery.retry_delay(attempt, retry_after=result.retry_after)
            if result.outcome == Outcome.RETRY
            else None
        )
        if result.outcome == Outcome.DELIVERED:
            handoff_transition(
                handoff,
                HandoffStatus.DELIVERED,
                detail=detail,
                at=now,
                next_attempt_at=None,
                last_error="",
            )
            return Outcome.DELIVERED
        if delay is not None:
            detail["retry_in_seconds"] = round(delay, 1)
            # Still queued: the attempt is recorded and the next one is due after the delay.
            handoff_transition(
                handoff,
                HandoffStatus.QUEUED,
                event="delivery_retry",
                detail=detail,
                at=now,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=result.error,
            )
            hid, countdown = handoff.pk, delay
            transaction.on_commit(lambda: publish_delivery_later(hid, countdown=countdown))
            return Outcome.RETRY
        handoff_transition(
            handoff,
            HandoffStatus.FAILED,
            detail=detail,
            at=now,
            next_attempt_at=None,
            last_error=result.error,
        )
        status_callback_after_commit(handoff=handoff, state="failed")
    return Outcome.FAIL


# -- endpoints a receiver disabled (410 Gone) --------------------------------------------------


def queue_disable_webhook(*, queue_id: int, error: str, at: datetime) -> bool:
    """The receiver answered 410 Gone: send nothing more to this queue's webhook until an admin
    enables it again (or a publish gives it another URL). True when this call disabled it."""
    disabled = Queue.objects.filter(pk=queue_id, webhook_disabled_at__isnull=True).update(
        webhook_disabled_at=at, webhook_disabled_error=error[:500]
    )
    if disabled:
        log.warning("webhook of queue %s disabled: %s", queue_id, error)
    return bool(disabled)


def disabled_webhooks() -> QuerySet[Queue]:
    """Queues whose receiver answered 410 Gone, the most recent first (the failures page)."""
    return Queue.objects.filter(webhook_disabled_at__isnull=False).order_by(
        "-webhook_disabled_at", "key"
    )


def queue_enable_webhook(*, queue: Queue, user: User | None) -> Queue:
    """An admin enables a disabled webhook again; failed handoffs are retried separately."""
    with transaction.atomic():
        locked = Queue.objects.select_for_update().get(pk=queue.pk)
        if locked.webhook_disabled_at is None:
            raise Conflict("This webhook is not disabled.", code="not_disabled")
        error = locked.webhook_disabled_error
        locked.webhook_disabled_at = None
        locked.webhook_disabled_error = ""
        locked.save(update_fields=["webhook_disabled_at", "webhook_disabled_error"])
        audit(
            user=user,
            action="enable_webhook",
            object_type="queue",
            object_key=locked.key,
            detail={"disabled_by": error},
        )
    return locked


def webhook_handoffs_due(*, now: datetime) -> QuerySet[Handoff]:
    """Webhook handoffs whose delivery nobody is working on: never published, published long
    ago without starting, or whose retry or running attempt (lease) is overdue."""
    grace = now - timedelta(seconds=SWEEP_GRACE_SECONDS)
    stale = now - timedelta(seconds=REPUBLISH_AFTER_SECONDS)
    never = Q(next_attempt_at__isnull=True, dispatched_at__isnull=True, queued_at__lte=grace)
    lost = Q(next_attempt_at__isnull=True, dispatched_at__lte=stale)
    overdue = Q(next_attempt_at__lte=grace) & (
        Q(dispatched_at__isnull=True)
        | Q(dispatched_at__lt=F("next_attempt_at"))
        | Q(dispatched_at__lte=stale)
    )
    return Handoff.objects.filter(
        status=HandoffStatus.QUEUED, queue__delivery_kind=DeliveryKind.WEBHOOK
    ).filter(never | lost | overdue)


# -- failed deliveries ---------------------------------------------------------------------


def failed_deliveries() -> QuerySet[Handoff]:
    """What the admins' failures list shows, newest first."""
    return (
        Handoff.objects.filter(status=HandoffStatus.FAILED)
        .select_related("queue", "bot")
        .order_by("-closed_at", "-created_at")
    )


def handoff_retry_delivery(*, handoff_id: uuid.UUID | str, user: User | None) -> Handoff:
    """Put a failed handoff back to `queued` with a fresh set of attempts (same webhook-id)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            handoff = Handoff.objects.select_for_update().get(pk=handoff_id)
            if handoff.status != HandoffStatus.FAILED:
                raise Conflict("Only a failed handoff can be retried.", code="not_failed")
            handoff_transition(
                handoff,
                HandoffStatus.QUEUED,
                event="retry_requested",
                detail={
                    "by": user.username if user else None,
                    "previous_error": handoff.last_error,
                },
                at=now,
                delivery_attempts=0,
                next_attempt_at=None,
                dispatched_at=None,
            )
    except IntegrityError:
        raise Conflict(
            "The conversation has another open handoff.", code="conversation_open"
        ) from None
    hid = handoff.pk
    transaction.on_commit(lambda: publish_delivery(hid))
    return handoff


# -- status callbacks ----------------------------------------------------------------------


def bot_callback_secret(*, bot: Bot) -> str:
    """The bot's status-callback secret, made on first use (a conditional update: one wins)."""
    if not bot.status_callback_secret:
        updated = Bot.objects.filter(pk=bot.pk, status_callback_secret="").update(
            status_callback_secret=new_webhook_secret()
        )
        if not updated or not bot.status_callback_secret:
            bot.refresh_from_db(fields=["status_callback_secret"])
    return bot.status_callback_secret


def status_callback_after_commit(*, handoff: Handoff, state: str) -> None:
    url = Bot.objects.filter(pk=handoff.bot_id).values_list("status_callback_url", flat=True)
    if url.first():
        hid = str(handoff.pk)
        transaction.on_commit(lambda: publish_status_callback(hid, state))


def status_callback_body(handoff: Handoff, state: str) -> dict[str, Any]:
    """A Bot Framework `handoff.status` event activity, with the handoff it is about."""
    agent = {"display_name": handoff.agent.display_name} if handoff.agent else None
    value: dict[str, Any] = {"state": state}
    if state == "failed" and handoff.message:
        value["message"] = handoff.message
    return {
        "type": "event",
        "name": "handoff.status",
        "conversation": {"id": handoff.conversation_id},
        "value": value,
        "handoff": {
            "id": str(handoff.pk),
            "status": handoff.status,
            "queue": {"key": handoff.queue_key, "name": handoff.queue_name},
            "agent": agent,
        },
        "timestamp": timezone.now().isoformat(),
    }


def status_callback_send(*, handoff_id: uuid.UUID | str, state: str, attempt: int) -> Result:
    """POST one status callback; records an event when it is settled (sent or given up)."""
    handoff = Handoff.objects.select_related("bot", "agent").get(pk=handoff_id)
    url = handoff.bot.status_callback_url
    if not url:
        return Result(Outcome.DELIVERED, error="no status_callback_url")
    # One id per handoff and state, the same on every retry, so the bot can drop duplicates.
    msg_id = "msg_" + uuid.uuid5(handoff.pk, state).hex
    body = delivery.encode_body(status_callback_body(handoff, state))
    secret = webhook_secret_bytes(bot_callback_secret(bot=handoff.bot))
    result = delivery.post(
        url=url, body=body, headers=delivery.signed_headers(secret=secret, msg_id=msg_id, body=body)
    )
    final = result.outcome != Outcome.RETRY or delivery.retry_delay(attempt) is None
    if final:
        handoff_event(
            handoff,
            "status_callback",
            {
                "state": state,
                "outcome": "sent" if result.outcome == Outcome.DELIVERED else "failed",
                "attempt": attempt,
                "status_code": result.status_code,
                "error": result.error,
            },
        )
    return result

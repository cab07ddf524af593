"""Publishing tasks to the broker by name; the one place that knows the tasks' names.

Nothing imports handoff/tasks.py: a task is sent by its name. Publishing never raises: a
request must not fail (or hang) because the broker is down. What could not be published is
found again by the sweep (handoff/services/sweep.py), which looks at the database, not at the
broker: `Handoff.dispatched_at` is null until a publish succeeded.
"""

import logging
import time
import uuid
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from handoff.db import commit_without_waiting_for_the_disk
from handoff.models import Handoff

log = logging.getLogger(__name__)

DELIVER = "handoff.tasks.deliver"
EXPIRE_OFFER = "handoff.tasks.expire_offer"
SEND_STATUS_CALLBACK = "handoff.tasks.send_status_callback"


def publish(task_name: str, args: list[Any], *, countdown: float | None = None) -> bool:
    """Send one task by its full name; False (logged) when the broker cannot take it."""
    # retry=False: fail at once instead of kombu's default publish retries (seconds).
    options: dict[str, Any] = {"retry": False}
    if countdown is not None:
        options["countdown"] = countdown
    started = time.monotonic()
    try:
        # A signature runs a task this process has registered through its own apply_async,
        # which honours task_always_eager; any other is sent by name.
        current_app.signature(task_name, args=args).apply_async(**options)
    except Exception as exc:  # any broker error: the sweep recovers the work
        log.warning(
            "publish %s%r failed after %.0f ms: %s",
            task_name,
            args,
            (time.monotonic() - started) * 1000,
            exc,
        )
        return False
    return True


def publish_delivery(
    handoff_id: uuid.UUID | str, *, track: bool = True, countdown: float | None = None
) -> bool:
    """Publish the delivery task of a stored handoff; never raises.

    `track=False` skips recording `dispatched_at`: only webhook deliveries are recovered by it
    (the sweep fills agent queues whatever was published), and the write costs every handoff
    a round trip on the hot path of the API.
    """
    if not publish(DELIVER, [str(handoff_id)], countdown=countdown):
        return False
    if not track:
        return True
    # Conditional: a handoff that reached a terminal state meanwhile keeps its bookkeeping.
    # Lost to a database crash, this mark costs one more publish by the sweep: not worth
    # waiting for the disk on every handoff.
    with transaction.atomic():
        commit_without_waiting_for_the_disk()
        Handoff.objects.filter(pk=handoff_id, status__in=Handoff.OPEN).update(
            dispatched_at=timezone.now()
        )
    return True


def publish_delivery_later(handoff_id: uuid.UUID | str, *, countdown: float) -> bool:
    """Publish a delivery retry; on failure the sweep finds it once `next_attempt_at` passed."""
    return publish_delivery(handoff_id, countdown=countdown)


def publish_offer_expiry(offer_id: int, *, countdown: float) -> bool:
    """Expire the offer when its time is up; on failure the sweep does (Offer.expires_at)."""
    return publish(EXPIRE_OFFER, [offer_id], countdown=countdown)


def publish_status_callback(handoff_id: uuid.UUID | str, state: str) -> bool:
    return publish(SEND_STATUS_CALLBACK, [str(handoff_id), state])

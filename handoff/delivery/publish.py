"""Publishing tasks to the broker by name.

Publishing never raises: a request must not fail (or hang) because the broker is down. What
could not be published is found again by the sweep (handoff/tasks.py `sweep`), which looks at
the database, not at the broker: `Handoff.dispatched_at` is null until a publish succeeded.
"""

import logging
import time
import uuid
from typing import Any

from django.utils import timezone

from handoff.models import Handoff

log = logging.getLogger(__name__)


def publish(task_name: str, args: list[Any], *, countdown: float | None = None) -> bool:
    """Send one task; False (logged) when the broker cannot take it."""
    from handoff import tasks  # the tasks import the services, which import this module

    task = getattr(tasks, task_name)
    started = time.monotonic()
    try:
        # retry=False: fail at once instead of kombu's default publish retries (seconds).
        task.apply_async(args=args, countdown=countdown, retry=False)
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
    if not publish("deliver", [str(handoff_id)], countdown=countdown):
        return False
    if not track:
        return True
    # Conditional: a handoff that reached a terminal state meanwhile keeps its bookkeeping.
    Handoff.objects.filter(pk=handoff_id, status__in=Handoff.OPEN).update(
        dispatched_at=timezone.now()
    )
    return True


def publish_delivery_later(handoff_id: uuid.UUID | str, *, countdown: float) -> bool:
    """Publish a delivery retry; on failure the sweep finds it once `next_attempt_at` passed."""
    return publish_delivery(handoff_id, countdown=countdown)

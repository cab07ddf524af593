"""The sweep: what a lost publish, a dead worker or the clock left behind, found in the database.

The periodic task `handoff.tasks.sweep` runs it every 10 s (portal/settings.py); each step is
safe to run concurrently and repeatedly.
"""

import logging
from datetime import datetime

from django.utils import timezone

from handoff.delivery.publish import publish_delivery
from handoff.models import Queue
from handoff.services import assignment, webhooks
from handoff.services.live import live_purge

log = logging.getLogger(__name__)


def sweep_run(*, now: datetime | None = None) -> dict[str, int]:
    """One pass of the sweep; `now` lets tests look into the future."""
    now = now or timezone.now()
    done = {
        "offers_expired": 0,
        "republished": 0,
        "offered": 0,
        "overflowed": 0,
        "skills_relaxed": 0,
        "live_events_purged": 0,
    }
    for offer_id in assignment.stale_offer_ids(now=now):
        done["offers_expired"] += assignment.offer_expire(offer_id=offer_id, now=now)
    for handoff_id in webhooks.webhook_handoffs_due(now=now).values_list("pk", flat=True)[:1000]:
        done["republished"] += publish_delivery(handoff_id)

    for queue_id in Queue.objects.filter(max_wait_seconds__isnull=False).values_list(
        "pk", flat=True
    ):
        done["overflowed"] += assignment.queue_apply_max_wait(queue_id=queue_id, now=now)
    # Skills relaxation is judged by the clock, not by events: record the steps reached and
    # retry every push queue with free capacity (a relaxed handoff may now fit an agent).
    for queue_id in assignment.relaxing_queue_ids():
        done["skills_relaxed"] += assignment.queue_relax_skills(queue_id=queue_id, now=now)
    for queue_id in assignment.push_queues_with_waiting_work():
        done["offered"] += assignment.queue_fill(queue_id=queue_id, now=now)
    # Live events are kept an hour for browsers that resume (handoff/services/live.py).
    done["live_events_purged"] = live_purge(now=now)
    if any(done.values()):
        log.info("sweep: %s", done)
    return done

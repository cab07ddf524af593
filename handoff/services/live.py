"""Writing live events: rows of the outbox table, in the transaction of the change they tell.

An event exists exactly when its change committed; after the commit the web processes are woken
(handoff/delivery/live.py). Who receives what is decided here, from the change alone
(handoff/engine/live.py names the audiences and kinds); portal/live.py reads and pushes.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from handoff.delivery.live import wake_publish
from handoff.engine import live
from handoff.engine.vocabulary import HELD, TERMINAL, HandoffStatus
from handoff.models import Handoff, LiveEvent

# Long enough for any browser that lost its connection to come back and resume; older rows
# are purged by the sweep, and a browser resuming from before them reloads in full.
KEEP = timedelta(hours=1)


def _wake_after_commit() -> None:
    # Once per transaction, however many events it wrote.
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(f is wake_publish for _s, f, _r in conn.run_on_commit):
        return
    transaction.on_commit(wake_publish)


def live_emit(*events: tuple[str, str, dict[str, Any]], at: datetime | None = None) -> None:
    """Write events given as (audience, kind, data), one INSERT for all of them."""
    if not events:
        return
    at = at or timezone.now()
    LiveEvent.objects.bulk_create(
        [LiveEvent(at=at, audience=a, kind=k, data=d) for a, k, d in events]
    )
    _wake_after_commit()


def live_handoff_changed(
    handoff: Handoff,
    *,
    event: str,
    before_status: str,
    before_agent_id: int | None,
    before_queue_id: int | None,
    at: datetime,
) -> None:
    """The events of one status change (handoff/services/transitions.py calls this)."""
    after = handoff.status
    hid = str(handoff.pk)
    out: list[tuple[str, str, dict[str, Any]]] = []

    # The queues it left and entered: their members' lists and the board's figures.
    for queue_id in dict.fromkeys(q for q in (before_queue_id, handoff.queue_id) if q):
        out.append((live.queue_audience(queue_id), live.Kind.QUEUE, {"handoff": hid}))

    # The agent who held it, and the one who holds it now (the same one when they accepted).
    held_by = before_agent_id if before_status in HELD else None
    holder = handoff.agent_id if after in HELD else None
    if held_by is not None:
        if before_status == HandoffStatus.OFFERED:
            kind, change = live.Kind.OFFER, live.OFFER_CHANGES.get(event, event)
        else:
            kind, change = live.Kind.HANDOFF, event
        data = {"handoff": hid, "status": after, "change": change}
        out.append((live.agent_audience(held_by), kind, data))
    if holder is not None and holder != held_by:
        if after == HandoffStatus.OFFERED:
            kind, change = live.Kind.OFFER, "made"
        else:
            kind, change = live.Kind.HANDOFF, event  # taken from a pick queue
        data = {"handoff": hid, "status": after, "change": change}
        out.append((live.agent_audience(holder), kind, data))

    # The customer: a person joined, the conversation closed, or it waits again.
    told: live.Kind | None = None
    if after == HandoffStatus.ASSIGNED:
        told = live.Kind.JOINED
    elif after in TERMINAL:
        told = live.Kind.CLOSED
    elif before_status == HandoffStatus.ASSIGNED:
        told = live.Kind.WAITING
    if told is not None:
        audience = live.conversation_audience(handoff.bot_id, handoff.conversation_id)
        out.append((audience, told, {"status": after}))
    live_emit(*out, at=at)


def live_handoff_waiting(*, handoff_id: Any, queue_id: int) -> None:
    """A new handoff waits in an agents' queue. Written when the worker delivers it, not at
    intake: the intake stores a handoff in one round trip (handoff/services/intake.py)."""
    live_emit((live.queue_audience(queue_id), live.Kind.QUEUE, {"handoff": str(handoff_id)}))


def live_presence_changed(*, user_id: int, presence: str, at: datetime) -> None:
    live_emit((live.BOARD, live.Kind.PRESENCE, {"agent": user_id, "presence": presence}), at=at)


def live_capacity_changed(*, user_ids: list[int]) -> None:
    """An admin changed what these agents may hold, or which queues they are in."""
    live_emit(*[(live.agent_audience(u), live.Kind.CAPACITY, {}) for u in user_ids])


def live_purge(*, now: datetime) -> int:
    """Delete events older than KEEP; returns how many."""
    deleted, _ = LiveEvent.objects.filter(at__lt=now - KEEP).delete()
    return deleted

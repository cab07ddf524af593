"""Live events are written with the change they tell, to the audiences that may see it."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from handoff.engine.live import Cursor, Event, sse
from handoff.models import Handoff, LiveEvent
from handoff.services.assignment import (
    agent_set_presence,
    handoff_accept,
    handoff_cancel,
    handoff_decline,
    handoff_pick_next,
    handoff_resolve,
    handoff_transfer,
    offer_expire,
    queue_fill,
)
from handoff.services.dispatch import handoff_deliver
from handoff.services.live import live_emit
from handoff.services.sweep import sweep_run
from tests.api.conftest import bot_client, document, published  # noqa: F401 - fixtures
from tests.handoff.delivery_helpers import make_agent, make_handoff, make_queue


def told(since: int = 0) -> list[tuple[str, str, str]]:
    """(audience, kind, change or status) of every event written after `since`."""
    return [
        (e.audience, e.kind, e.data.get("change") or e.data.get("status") or "")
        for e in LiveEvent.objects.filter(id__gt=since).order_by("id")
    ]


def latest() -> int:
    return LiveEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_it_tells_the_agent_and_the_queue_of_an_offer_and_its_answers(db: Any) -> None:
    queue = make_queue(offer_timeout_seconds=30)
    ben = make_agent("ben", queue, capacity=2)
    first, second = make_handoff(queue), make_handoff(queue)
    q, agent = f"queue:{queue.pk}", f"agent:{ben.pk}"

    start = latest()
    queue_fill(queue_id=queue.pk)
    assert told(start) == [(q, "queue", ""), (agent, "offer", "made")] * 2

    start = latest()
    handoff_accept(handoff_id=first.pk, agent=ben)
    handoff_decline(handoff_id=second.pk, agent=ben)
    customer = f"conversation:{first.bot_id}:{first.conversation_id}"
    assert told(start)[:3] == [
        (q, "queue", ""),
        (agent, "offer", "accepted"),
        (customer, "joined", "assigned"),
    ]
    assert (agent, "offer", "declined") in told(start)

    start = latest()
    handoff_resolve(handoff_id=first.pk, agent=ben)
    assert told(start)[:2] == [(q, "queue", ""), (agent, "handoff", "resolved")]


def test_it_tells_of_expiry_withdrawal_transfer_and_a_customer_who_leaves(db: Any) -> None:
    queue, other = make_queue(offer_timeout_seconds=30), make_queue("sales")
    ben = make_agent("ben", queue, capacity=1)
    handoff = make_handoff(queue)
    agent = f"agent:{ben.pk}"
    queue_fill(queue_id=queue.pk)
    offer_id = handoff.offers.get().pk

    start = latest()
    assert offer_expire(offer_id=offer_id, now=timezone.now() + timedelta(seconds=31))
    assert (agent, "offer", "expired") in told(start)

    # Offered to Ben again once the re-offer pause is over: nobody else is there.
    after_pause = timezone.now() + timedelta(seconds=45)
    queue_fill(queue_id=queue.pk, now=after_pause)
    start = latest()
    agent_set_presence(agent=ben, presence="away")
    assert ("board", "presence", "") in told(start) and (agent, "offer", "withdrawn") in told(start)

    agent_set_presence(agent=ben, presence="available")
    queue_fill(queue_id=queue.pk, now=after_pause)  # what going available does, after the pause
    handoff_accept(handoff_id=handoff.pk, agent=ben)
    start = latest()
    handoff_transfer(handoff_id=handoff.pk, agent=ben, queue=other)
    assert told(start)[:3] == [
        (f"queue:{queue.pk}", "queue", ""),
        (f"queue:{other.pk}", "queue", ""),
        (agent, "handoff", "transferred"),
    ]

    start = latest()
    handoff_cancel(handoff=handoff)
    assert (agent, "handoff", "cancelled") not in told(start)  # no longer Ben's
    assert (f"queue:{other.pk}", "queue", "") in told(start)


def test_it_tells_the_customer_when_a_person_joins_and_when_it_closes(db: Any) -> None:
    queue = make_queue("general", distribution="pick", assignment=None)
    ben = make_agent("ben", queue, capacity=1)
    handoff = make_handoff(queue, conversation_id="chat-7")
    customer = f"conversation:{handoff.bot_id}:chat-7"

    start = latest()
    assert handoff_pick_next(agent=ben, queue=queue) == handoff
    assert (customer, "joined", "assigned") in told(start)
    assert (f"agent:{ben.pk}", "handoff", "assigned") in told(start)

    start = latest()
    handoff_resolve(handoff_id=handoff.pk, agent=ben)
    assert (customer, "closed", "resolved") in told(start)


def test_it_writes_nothing_when_the_change_rolls_back(db: Any) -> None:
    from django.db import transaction

    start = latest()
    try:
        with transaction.atomic():
            live_emit(("board", "presence", {}))
            raise RuntimeError
    except RuntimeError:
        pass
    assert told(start) == []


def test_the_sweep_purges_events_older_than_an_hour(db: Any) -> None:
    live_emit(("board", "presence", {}), at=timezone.now() - timedelta(minutes=61))
    live_emit(("board", "presence", {}))

    assert sweep_run()["live_events_purged"] == 1
    assert LiveEvent.objects.count() == 1


def test_it_writes_sse_lines() -> None:
    assert (
        sse("offer", {"handoff": "h1"}, id=7) == 'id: 7\nevent: offer\ndata: {"handoff":"h1"}\n\n'
    )
    assert sse("bye") == "event: bye\ndata: {}\n\n"


def events(*ids: int) -> list[Event]:
    return [Event(i, "board", "presence") for i in ids]


def test_the_cursor_hands_out_events_in_order() -> None:
    cursor = Cursor(settled=10)
    assert [e.id for e in cursor.take(events(11, 12), now=0)] == [11, 12]
    assert cursor.settled == 12 and cursor.next_deadline() is None


def test_the_cursor_holds_events_behind_a_gap_until_it_fills() -> None:
    # Id 12 committed first; 11 belongs to a transaction still in flight.
    cursor = Cursor(settled=10, gap_seconds=5)
    assert [e.id for e in cursor.take(events(12, 13), now=0)] == []
    assert cursor.next_deadline() == 5
    assert [e.id for e in cursor.take(events(11, 12, 13), now=1)] == [11, 12, 13]
    assert cursor.settled == 13 and cursor.next_deadline() is None


def test_the_cursor_gives_a_gap_up_and_still_hands_out_a_late_event() -> None:
    cursor = Cursor(settled=10, gap_seconds=5, late_seconds=60)
    assert cursor.take(events(12), now=0) == []
    assert [e.id for e in cursor.take(events(12), now=6)] == [12]  # 11 rolled back, maybe
    assert cursor.late_ids() == [11]
    assert [e.id for e in cursor.take(events(11, 13), now=7)] == [11, 13]  # it did commit
    assert cursor.late_ids() == []
    cursor.take(events(15), now=8)
    cursor.take(events(15), now=14)
    cursor.take([], now=100)
    assert cursor.late_ids() == []  # forgotten after late_seconds


def test_delivery_tells_the_queue_of_a_new_waiting_handoff(bot_client: Any) -> None:  # noqa: F811
    response = bot_client.post(
        "/api/v1/handoffs", {"conversation_id": "c-live", "channel": "webchat", "topic": "billing"}
    )
    assert response.status_code == 202, response.json()

    # The intake stores the handoff in one round trip; the worker's delivery tells the queue.
    start = latest()
    handoff_deliver(handoff_id=response.json()["id"])
    queue_id = Handoff.objects.get(pk=response.json()["id"]).queue_id
    assert told(start)[0] == (f"queue:{queue_id}", "queue", "")

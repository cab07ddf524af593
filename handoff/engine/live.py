"""The live channel's words and rules, pure: who an event is for, what it is called, how it is
written on the wire, and which rows a reader may hand out yet.

Events are rows of `handoff.models.LiveEvent` written in the transaction of the change they tell
(handoff/services/live.py); web processes read them in id order and push them to browsers as
server-sent events (portal/live.py). docs/agent-workspace.md lists the events each page uses.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Audiences: who may receive an event. A stream is authorised for some of them (portal/views/
# live.py) and never sees any other.
BOARD = "board"


def agent_audience(user_id: int) -> str:
    return f"agent:{user_id}"


def queue_audience(queue_id: int) -> str:
    return f"queue:{queue_id}"


QUEUE_PREFIX = "queue:"


def conversation_audience(bot_id: int, conversation_id: str) -> str:
    # The bot's conversation id, as the handoff stores it: for the web chat it is the
    # Conversation's primary key. Qualified by the bot, which owns its conversation ids.
    return f"conversation:{bot_id}:{conversation_id}"


class Kind(StrEnum):
    """The SSE `event:` names. Pages listen to them with `hx-trigger="sse:<kind>"`."""

    # For one agent: an offer made or ended (data "change": made, accepted, declined, expired,
    # withdrawn); a handoff they held changed status (resolved, transferred, cancelled...); their
    # capacity changed by an admin.
    OFFER = "offer"
    HANDOFF = "handoff"
    CAPACITY = "capacity"
    # For a queue's members and the board: its waiting work or its figures changed.
    QUEUE = "queue"
    # For the board: an agent's presence changed.
    PRESENCE = "presence"
    # For the customer's conversation: a person joined, the conversation closed, or it waits
    # again (transferred). A message from the agent will be `message`.
    JOINED = "joined"
    CLOSED = "closed"
    WAITING = "waiting"
    MESSAGE = "message"
    # Said by the stream itself: the first message (carries the current id), "you missed too
    # much, reload in full", and "this stream ends on purpose; reconnect".
    HELLO = "hello"
    REFRESH = "refresh"
    BYE = "bye"


# How an offer ended, by the event the handoff's history records (handoff/services/assignment.py).
OFFER_CHANGES = {
    "offered": "made",
    "assigned": "accepted",
    "offer_declined": "declined",
    "offer_expired": "expired",
    "offer_withdrawn": "withdrawn",
    "cancelled": "withdrawn",  # the customer left while the offer waited
}


@dataclass(frozen=True)
class Event:
    id: int
    audience: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def sse(kind: str, data: dict[str, Any] | None = None, *, id: int | None = None) -> str:
    """One server-sent event. JSON without indentation never holds a newline: one data line."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data or {}, separators=(',', ':'))}\n\n"


def sse_event(event: Event) -> str:
    return sse(event.kind, event.data, id=event.id)


@dataclass
class Cursor:
    """Hands out events in id order, and only once every lower id is settled.

    Ids come from a sequence when the row is inserted, not when it commits: on PostgreSQL a
    transaction holding id 10 may commit after the one holding id 11. A reader that moved past
    11 would never see 10, and a browser's Last-Event-ID of 11 would skip it on replay. So a
    missing id holds back everything after it until it appears, or until `gap_seconds` passed
    (its transaction rolled back: ids are not reused). An id given up on is still watched for
    `late_seconds` and handed out if it turns up after all. SQLite writes one transaction at a
    time, so there ids commit in order and no gap waits.
    """

    settled: int
    gap_seconds: float = 5.0
    late_seconds: float = 60.0
    # Too wide a gap is not a transaction in flight (a sequence jumped): give it up at once.
    widest_gap: int = 1000
    missing_since: dict[int, float] = field(default_factory=dict)
    late: dict[int, float] = field(default_factory=dict)

    def late_ids(self) -> list[int]:
        return sorted(self.late)

    def take(self, rows: list[Event], now: float) -> list[Event]:
        """The events among `rows` (read as: id > settled, or id in late_ids(), in id order)
        that may be handed out now, in order; moves `settled` past them."""
        out = []
        for event in rows:
            if event.id <= self.settled:
                if self.late.pop(event.id, None) is not None:
                    out.append(event)
                continue
            missing = range(self.settled + 1, event.id)
            if missing:
                if len(missing) <= self.widest_gap:
                    for gap in missing:
                        self.missing_since.setdefault(gap, now)
                    if now - max(self.missing_since[gap] for gap in missing) < self.gap_seconds:
                        break  # still in flight: hold this one and the rest back
                    for gap in missing:
                        self.late[gap] = now
                for gap in missing:
                    self.missing_since.pop(gap, None)
            self.missing_since.pop(event.id, None)
            self.settled = event.id
            out.append(event)
        for gap, since in list(self.late.items()):
            if now - since > self.late_seconds:
                del self.late[gap]
        return out

    def next_deadline(self) -> float | None:
        """When the oldest gap waited on will be given up (the reader should look again)."""
        if not self.missing_since:
            return None
        return min(self.missing_since.values()) + self.gap_seconds

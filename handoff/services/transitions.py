"""The one way a handoff changes state: set the status and its times, save those, write the event.

Every change of `Handoff.status` (and a webhook retry, which keeps it) goes through
`handoff_transition`, so the times a status stamps and the history can never drift apart.
"""

from datetime import datetime
from typing import Any

from handoff.engine.vocabulary import TERMINAL, HandoffStatus
from handoff.models import Handoff, HandoffEvent
from handoff.services.events import handoff_event
from handoff.services.live import live_handoff_changed

# The time a handoff records when it enters a status.
STAMPS: dict[str, str] = {
    HandoffStatus.OFFERED: "offered_at",
    HandoffStatus.ASSIGNED: "assigned_at",
    **dict.fromkeys(TERMINAL, "closed_at"),
}


def handoff_transition(
    handoff: Handoff,
    status: str,
    *,
    detail: dict[str, Any],
    at: datetime,
    event: str | None = None,
    **fields: Any,
) -> HandoffEvent:
    """Move the handoff to `status` at `at`, with `fields` changed too, and write the event
    (named after the status unless `event` says otherwise). The caller holds the row lock.

    Saves exactly the fields it sets (one UPDATE), inserts the event (one INSERT) and the live
    events that tell the agents, the board and the customer (one INSERT).
    """
    before = (handoff.status, handoff.agent_id, handoff.queue_id)
    changes: dict[str, Any] = {"status": status}
    if status in STAMPS:
        changes[STAMPS[status]] = at
    if handoff.status == HandoffStatus.OFFERED and status != HandoffStatus.OFFERED:
        changes["offer_expires_at"] = None  # the offer is answered, expired or withdrawn
    if handoff.status in TERMINAL and status not in TERMINAL:
        changes["closed_at"] = None  # reopened (a failed delivery retried)
    changes.update(fields)
    changes["updated_at"] = at
    for name, value in changes.items():
        setattr(handoff, name, value)
    handoff.save(update_fields=list(changes))
    name = event or str(status)
    recorded = handoff_event(handoff, name, detail, at=at)
    live_handoff_changed(
        handoff,
        event=name,
        before_status=before[0],
        before_agent_id=before[1],
        before_queue_id=before[2],
        at=at,
    )
    return recorded

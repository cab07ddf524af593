"""The API's bodies for a handoff, from the core's results (handoff/api/serializers.py documents
them)."""

from datetime import datetime
from typing import Any

from django.utils import timezone

from handoff.engine.vocabulary import HELD, HandoffStatus
from handoff.models import Handoff
from handoff.selectors.handoffs import Waiting, handoff_waiting

# An agent's name is shown while they hold the handoff, and after they resolved it.
AGENT_SHOWN = HELD | {HandoffStatus.RESOLVED}


def waiting_fields(waiting: Waiting) -> dict[str, int | None]:
    """`position` and `estimated_wait_seconds`, as both the create and the read answers give
    them."""
    return {
        "position": waiting.position,
        "estimated_wait_seconds": waiting.estimated_wait_seconds,
    }


def created_body(handoff: Handoff, *, now: datetime, position: int | None = None) -> dict[str, Any]:
    """The handoff as `POST /api/v1/handoffs` answers it (`position` when already known)."""
    return {
        "id": str(handoff.pk),
        "status": handoff.status,
        "queue": {"key": handoff.queue_key, "name": handoff.queue_name},
        "rule": handoff.rule,
        **waiting_fields(handoff_waiting(handoff, now=now, position=position)),
        "message": handoff.message,
        "status_url": f"/api/v1/handoffs/{handoff.pk}",
    }


def detail_body(handoff: Handoff) -> dict[str, Any]:
    """The handoff as `GET /api/v1/handoffs/<id>` answers it (events prefetched)."""
    return {
        "id": str(handoff.pk),
        "conversation_id": handoff.conversation_id,
        "status": handoff.status,
        "queue": {"key": handoff.queue_key, "name": handoff.queue_name}
        if handoff.queue_key
        else None,
        "rule": handoff.rule,
        **waiting_fields(handoff_waiting(handoff, now=timezone.now())),
        "agent": {"display_name": handoff.agent.display_name}
        if handoff.agent and handoff.status in AGENT_SHOWN
        else None,
        "created_at": handoff.created_at.isoformat(),
        "updated_at": handoff.updated_at.isoformat(),
        "events": [
            {"type": e.type, "at": e.at.isoformat(), "detail": e.detail}
            for e in handoff.events.all()
        ],
    }


def conversation_handoff(handoff: Handoff | None, waiting: Waiting | None) -> dict[str, Any] | None:
    """The handoff of a conversation, as the conversation API shows it."""
    if handoff is None:
        return None
    if waiting is None:
        waiting = handoff_waiting(handoff, now=timezone.now())
    return {
        "id": str(handoff.pk),
        "status": handoff.status,
        "queue": {"key": handoff.queue_key, "name": handoff.queue_name},
        **waiting_fields(waiting),
        "message": handoff.message,
    }

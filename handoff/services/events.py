"""The handoff's history: every change is an event with time and detail.

A status change writes its event through `handoff_transition` (handoff/services/transitions.py);
what changes no status (a skills relaxation step, a late delivery attempt, a status callback,
a purge) is written with `handoff_event` directly.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from handoff.models import Handoff, HandoffEvent


def handoff_event(
    handoff: Handoff, type: str, detail: dict[str, Any] | None = None, *, at: datetime | None = None
) -> HandoffEvent:
    return HandoffEvent.objects.create(
        handoff=handoff, type=type, detail=detail or {}, at=at or timezone.now()
    )

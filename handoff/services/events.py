"""The handoff's history: every transition is an event with time and detail (DESIGN §5)."""

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

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from handoff.models import Bot, Handoff

# A fixed Wednesday, in UTC (the test settings' zone): every figure is computed by hand.
DAY = dt.date(2026, 11, 18)


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0) -> dt.datetime:
    """A time on DAY + `day` days."""
    base = dt.datetime.combine(DAY, dt.time(hour, minute, second), tzinfo=dt.UTC)
    return base + dt.timedelta(days=day)


def make_handoff(bot: Bot, *, created: dt.datetime, status: str, **fields: Any) -> Handoff:
    values: dict[str, Any] = {
        "bot": bot,
        "conversation_id": f"c-{uuid.uuid4()}",
        "channel": "webchat",
        "queue_key": "general",
        "queue_name": "General",
        "status": status,
        "created_at": created,
        "updated_at": created,
        "queued_at": created if status != "rejected" else None,
    }
    values.update(fields)
    if status in ("offered", "assigned") and "agent" not in values:
        raise ValueError("offered/assigned handoffs need an agent")
    return Handoff.objects.create(**values)


@pytest.fixture
def bot(db: Any) -> Bot:
    return Bot.objects.create(key="support-bot", name="Support bot")


@pytest.fixture
def other_bot(db: Any) -> Bot:
    return Bot.objects.create(key="sales-bot", name="Sales bot")


@pytest.fixture
def now_fixed(monkeypatch: Any) -> dt.datetime:
    """Today is DAY + 6 (so the default 14 days cover DAY-7 .. DAY+6)."""
    fixed = at(6, 12)
    monkeypatch.setattr(timezone, "now", lambda: fixed)
    return fixed

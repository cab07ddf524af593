import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from handoff.config.snapshot import published_snapshot
from handoff.models import Bot, Handoff, HandoffEvent
from handoff.selectors import analytics


@pytest.fixture
def demo(db: Any, settings: Any) -> None:
    # The demo's webhook queue posts to a local receiver (as `make run` allows).
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True
    call_command("load_demo", stdout=io.StringIO(), stderr=io.StringIO())


def generate(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_history", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_routed_history_of_finished_handoffs(demo: None) -> None:
    out = generate("--days", "3", "--per-day", "40", "--seed", "7")
    handoffs = Handoff.objects.all()
    assert "Created" in out and "retail-bot" in out
    assert handoffs.count() >= 40
    assert {h.bot.key for h in handoffs.select_related("bot")} == {"retail-bot"}
    # Routed by the published configuration: its queues, its rules, its version.
    snapshot = published_snapshot()
    assert snapshot is not None
    assert set(handoffs.values_list("queue_key", flat=True)) <= set(snapshot.queues)
    assert set(handoffs.values_list("config_version_id", flat=True)) == {snapshot.version_id}
    assert handoffs.exclude(rule=None).exists()
    # Only finished handoffs, each with its story told by events.
    assert set(handoffs.values_list("status", flat=True)) <= set(Handoff.TERMINAL)
    assert not handoffs.filter(closed_at=None).exists()
    for h in handoffs.filter(status="resolved")[:5]:
        assert h.queued_at and h.assigned_at and h.closed_at
        assert h.queued_at <= h.assigned_at <= h.closed_at
        types = list(h.events.values_list("type", flat=True))
        assert types[0] == "received" and types[-1] == "resolved" and "assigned" in types
    assert HandoffEvent.objects.filter(type="received").count() == handoffs.count()
    # Webhook deliveries for the VIP queue, delivered or failed after every retry.
    vip = handoffs.filter(queue_key="vip-concierge")
    assert set(vip.values_list("status", flat=True)) <= {"delivered", "failed", "rejected"}


def test_it_is_repeatable_with_a_seed(demo: None) -> None:
    def days_before_today() -> list[tuple]:
        # Today's part depends on the time the command runs; earlier days do not.
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        rows = Handoff.objects.filter(created_at__lt=today).values_list(
            "created_at", "channel", "topic", "status", "queue_key", "closed_at"
        )
        return sorted(rows, key=str)

    generate("--days", "3", "--per-day", "20", "--seed", "3")
    first = days_before_today()
    HandoffEvent.objects.all().delete()
    Handoff.objects.all().delete()
    generate("--days", "3", "--per-day", "20", "--seed", "3")
    assert days_before_today() == first
    assert len(first) >= 30


def test_it_fills_the_dashboard(demo: None) -> None:
    generate("--days", "14", "--per-day", "30", "--seed", "1")
    start, end = analytics.default_range(timezone.localdate())
    board = analytics.dashboard(analytics.Filters(start=start, end=end))
    assert board.totals.total == Handoff.objects.count()
    assert board.totals.resolved > 0
    assert any(w.values["wait_to_accept"]["n"] for w in board.waits)


def test_it_needs_a_published_configuration(db: Any) -> None:
    Bot.objects.create(key="some-bot", name="Some bot")
    with pytest.raises(CommandError, match="No published configuration"):
        generate("--days", "1")


def test_it_needs_a_bot(demo: None) -> None:
    Handoff.objects.all().delete()
    Bot.objects.all().delete()
    with pytest.raises(CommandError, match="No bot"):
        generate("--days", "1")

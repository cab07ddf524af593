from datetime import timedelta
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from handoff.models import Conversation, Handoff
from handoff.services.events import handoff_event
from handoff.services.retention import handoffs_purge_expired
from portal.settings import CELERY_BEAT_SCHEDULE
from tests.handoff.delivery_helpers import event_types, make_handoff, make_queue


def old_handoff(days: int, status: str = "resolved", **extra: Any) -> Handoff:
    at = timezone.now() - timedelta(days=days)
    queue = make_queue(f"q{Handoff.objects.count()}")
    handoff = make_handoff(
        queue,
        now=at,
        status=status,
        closed_at=at if status in Handoff.TERMINAL else None,
        variables={"card": "4111"},
        wrap_up="Refunded",
        **extra,
    )
    handoff_event(handoff, "rejected", {"message": "We are closed", "queue": queue.key}, at=at)
    return handoff


def test_it_purges_content_of_old_closed_handoffs_and_keeps_the_numbers(db: Any) -> None:
    handoff = old_handoff(100)
    conversation = Conversation.objects.create(
        bot=handoff.bot, channel="webchat", state={"transcript": ["hi"]}, handoff=handoff
    )
    assert handoffs_purge_expired(days=90) == 1
    handoff.refresh_from_db()
    assert handoff.transcript == []
    assert handoff.context == {}
    assert handoff.variables == {}
    assert handoff.customer == {}
    assert handoff.agent_message == ""
    assert handoff.wrap_up == ""
    conversation.refresh_from_db()
    assert conversation.state == {}
    # The numbers analytics reads are kept.
    assert handoff.status == "resolved"
    assert handoff.queue_key and handoff.closed_at and handoff.queued_at
    rejected = handoff.events.get(type="rejected")
    assert rejected.detail == {"queue": handoff.queue_key}
    assert event_types(handoff)[-1] == "purged"
    # Run twice: nothing more to do.
    assert handoffs_purge_expired(days=90) == 0


def test_it_keeps_recent_and_open_handoffs(db: Any) -> None:
    recent = old_handoff(10)
    open_one = old_handoff(200, status="queued")
    assert handoffs_purge_expired(days=90) == 0
    for handoff in (recent, open_one):
        handoff.refresh_from_db()
        assert handoff.transcript


def test_it_does_nothing_when_retention_is_off(db: Any) -> None:
    old_handoff(1000)
    with override_settings(HANDOFF_RETENTION_DAYS=0):
        assert handoffs_purge_expired() == 0
        out = StringIO()
        call_command("purge_expired", stdout=out)
        assert "Retention is off" in out.getvalue()


def test_it_purges_from_the_command(db: Any) -> None:
    old_handoff(40)
    out = StringIO()
    call_command("purge_expired", "--days", "30", stdout=out)
    assert "Purged 1 handoffs" in out.getvalue()


def test_it_runs_periodically() -> None:
    entry = CELERY_BEAT_SCHEDULE["purge-expired-handoffs"]
    assert entry["task"] == "handoff.tasks.purge_expired"
    from handoff import tasks

    assert tasks.purge_expired.name == entry["task"]

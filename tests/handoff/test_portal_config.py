"""The admin pages' writes (handoff/services/portal_config.py), called as the views call them:
row ids and plain values, never a form's instance."""

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from handoff.models import AuditEntry, Bot, Channel, EscalationRule, Queue, User
from handoff.services.portal_config import (
    InUseError,
    bot_update,
    channel_delete,
    channel_update,
    queue_overflow_cycle,
)
from tests.conftest import make_user


@pytest.fixture
def admin(db: Any) -> User:
    return make_user("root", "admin")


@pytest.fixture
def used_channel(db: Any) -> Channel:
    channel = Channel.objects.create(key="webchat", name="Web chat", kind="webchat")
    queue = Queue.objects.create(key="general", name="General", is_fallback=True)
    EscalationRule.objects.create(
        name="Web VIP",
        order=1,
        queue=queue,
        conditions={"all": [{"field": "channel", "op": "eq", "value": "webchat"}]},
    )
    return channel


def test_it_refuses_to_rename_a_used_channel_and_changes_nothing(
    admin: User, used_channel: Channel
) -> None:
    with pytest.raises(InUseError) as refused:
        channel_update(
            user=admin, channel_id=used_channel.pk, changes={"key": "web", "name": "Web"}
        )
    assert refused.value.references == ["rule “Web VIP”"]
    assert refused.value.code == "in_use"
    used_channel.refresh_from_db()
    assert (used_channel.key, used_channel.name) == ("webchat", "Web chat")
    assert not AuditEntry.objects.filter(object_type="channel").exists()


def test_it_renames_a_channel_by_id_and_records_the_old_key(admin: User, db: Any) -> None:
    channel = Channel.objects.create(key="sms", name="SMS", kind="sms")
    saved = channel_update(user=admin, channel_id=channel.pk, changes={"key": "text"})
    assert saved.key == "text"
    entry = AuditEntry.objects.get(object_type="channel")
    assert entry.detail == {"fields": ["key"], "old_key": "sms"}


def test_it_records_the_stored_key_when_a_bot_is_renamed(admin: User, db: Any) -> None:
    bot = Bot.objects.create(key="old-bot", name="Old")
    saved = bot_update(
        user=admin,
        bot_id=bot.pk,
        key="new-bot",
        name="New",
        channels=[],
        status_callback_url=None,
    )
    assert (saved.key, saved.name) == ("new-bot", "New")
    assert AuditEntry.objects.get(object_type="bot").detail["old_key"] == "old-bot"


def test_it_finds_an_overflow_loop_through_stored_queues(db: Any) -> None:
    general = Queue.objects.create(key="general", name="General", is_fallback=True)
    sales = Queue.objects.create(key="sales", name="Sales", when_full_queue=general)
    assert queue_overflow_cycle(queue_id=general.pk, target_ids=[sales.pk]) == [
        "General",
        "Sales",
        "General",
    ]
    assert queue_overflow_cycle(queue_id=sales.pk, target_ids=[general.pk]) is None


@pytest.mark.postgres
def test_it_checks_a_channel_is_unused_while_holding_its_row(transactional_db: Any) -> None:
    # Another admin holds the channel while a rule starts using it: the delete waits for them,
    # then sees the rule and refuses, where a check made before the lock would have missed it.
    admin = make_user("root", "admin")
    channel = Channel.objects.create(key="webchat", name="Web chat", kind="webchat")
    queue = Queue.objects.create(key="general", name="General", is_fallback=True)
    locked, release = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                Channel.objects.select_for_update().get(pk=channel.pk)
                locked.set()
                release.wait(10)
                EscalationRule.objects.create(
                    name="Web VIP",
                    order=1,
                    queue=queue,
                    conditions={"all": [{"field": "channel", "op": "eq", "value": "webchat"}]},
                )
        finally:
            connections.close_all()

    def delete() -> None:
        try:
            channel_delete(user=admin, channel_id=channel.pk)
            outcome.append("deleted")
        except BaseException as exc:  # surfaced by the main thread
            outcome.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(0.5)
    assert outcome == [], "channel_delete did not wait for the row lock"
    release.set()
    holder.join(10)
    deleter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], InUseError), outcome
    assert outcome[0].references == ["rule “Web VIP”"]
    assert Channel.objects.filter(pk=channel.pk).exists()

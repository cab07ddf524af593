"""What the database itself refuses, whatever the forms and services let through."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff.models import (
    AgentSkill,
    ApiKey,
    Bot,
    Channel,
    ConfigVersion,
    ContextField,
    EscalationRule,
    Handoff,
    IdempotencyKey,
    Offer,
    Queue,
    QueueMembership,
    Skill,
    Topic,
    TopicNode,
    User,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(db: Any) -> dict[str, Any]:
    agent = User.objects.create_user(username="ada")
    queue = Queue.objects.create(key="general", name="General", is_fallback=True)
    topic = Topic.objects.create(key="refund", name="Refund")
    TopicNode.objects.create(topic=topic, position=0, node_id="ask", type="question")
    bot = Bot.objects.create(key="bot", name="Bot")
    return {
        "agent": agent,
        "queue": queue,
        "channel": Channel.objects.create(key="web", name="Web", kind="webchat"),
        "skill": Skill.objects.create(key="language:ja", name="Japanese"),
        "topic": topic,
        "bot": bot,
        "membership": QueueMembership.objects.create(queue=queue, user=agent, capacity=2),
        "handoff": Handoff.objects.create(bot=bot, conversation_id="c1", channel="web"),
    }


def duplicate_channel(b: dict) -> None:
    Channel.objects.create(key="web", name="Again", kind="sms")


def duplicate_queue(b: dict) -> None:
    Queue.objects.create(key="general", name="Again")


def duplicate_skill(b: dict) -> None:
    Skill.objects.create(key="language:ja", name="Again")


def duplicate_bot(b: dict) -> None:
    Bot.objects.create(key="bot", name="Again")


def duplicate_topic(b: dict) -> None:
    Topic.objects.create(key="refund", name="Again")


def duplicate_node_id(b: dict) -> None:
    TopicNode.objects.create(topic=b["topic"], position=1, node_id="ask", type="end")


def duplicate_node_position(b: dict) -> None:
    TopicNode.objects.create(topic=b["topic"], position=0, node_id="other", type="end")


def duplicate_target(b: dict) -> None:
    ContextField.objects.create(source="a", target="Order")
    ContextField.objects.create(source="b", target="Order")


def duplicate_rule(b: dict) -> None:
    EscalationRule.objects.create(name="VIP", order=1, queue=b["queue"])
    EscalationRule.objects.create(name="VIP", order=2, queue=b["queue"])


def duplicate_version(b: dict) -> None:
    ConfigVersion.objects.create(number=1, document={})
    ConfigVersion.objects.create(number=1, document={})


def duplicate_key_prefix(b: dict) -> None:
    ApiKey.objects.create(bot=b["bot"], prefix="hp_abcdefgh", hashed="0" * 64)
    ApiKey.objects.create(bot=b["bot"], prefix="hp_abcdefgh", hashed="1" * 64)


def duplicate_membership(b: dict) -> None:
    QueueMembership.objects.create(queue=b["queue"], user=b["agent"], capacity=1)


def duplicate_agent_skill(b: dict) -> None:
    AgentSkill.objects.create(user=b["agent"], skill=b["skill"], proficiency=2)
    AgentSkill.objects.create(user=b["agent"], skill=b["skill"], proficiency=3)


def proficiency_zero(b: dict) -> None:
    AgentSkill.objects.create(user=b["agent"], skill=b["skill"], proficiency=0)


def proficiency_six(b: dict) -> None:
    AgentSkill.objects.create(user=b["agent"], skill=b["skill"], proficiency=6)


def negative_capacity(b: dict) -> None:
    QueueMembership.objects.filter(pk=b["membership"].pk).update(capacity=-1, active_count=0)


def over_capacity(b: dict) -> None:
    QueueMembership.objects.filter(pk=b["membership"].pk).update(active_count=3)


def negative_active_count(b: dict) -> None:
    QueueMembership.objects.filter(pk=b["membership"].pk).update(active_count=-1)


def second_fallback(b: dict) -> None:
    Queue.objects.create(key="other", name="Other", is_fallback=True)


def bad_distribution(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(distribution="fanout")


def pick_with_assignment(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(distribution="pick")


def push_without_assignment(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(assignment=None)


def bad_delivery_kind(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(delivery_kind="email")


def webhook_without_url(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(delivery_kind="webhook", webhook_url="")


def bad_skill_matching(b: dict) -> None:
    Queue.objects.filter(pk=b["queue"].pk).update(skill_matching="fuzzy")


def bad_channel_kind(b: dict) -> None:
    Channel.objects.filter(pk=b["channel"].pk).update(kind="fax")


def bad_node_type(b: dict) -> None:
    TopicNode.objects.filter(topic=b["topic"]).update(type="jump")


def bad_field_type(b: dict) -> None:
    ContextField.objects.create(source="a", target="A", type="money")


def max_length_too_long(b: dict) -> None:
    ContextField.objects.create(source="a", target="A", max_length=4001)


def max_length_zero(b: dict) -> None:
    ContextField.objects.create(source="a", target="A", max_length=0)


def bad_presence(b: dict) -> None:
    User.objects.filter(pk=b["agent"].pk).update(presence="asleep")


def bad_status(b: dict) -> None:
    Handoff.objects.filter(pk=b["handoff"].pk).update(status="lost")


def second_open_handoff(b: dict) -> None:
    Handoff.objects.create(bot=b["bot"], conversation_id="c1", channel="web")


def offered_without_agent(b: dict) -> None:
    Handoff.objects.filter(pk=b["handoff"].pk).update(status="offered", agent=None)


def two_pending_offers(b: dict) -> None:
    expires = timezone.now() + timedelta(minutes=1)
    for _ in range(2):
        Offer.objects.create(handoff=b["handoff"], agent=b["agent"], expires_at=expires)


def reused_idempotency_key(b: dict) -> None:
    for _ in range(2):
        IdempotencyKey.objects.create(bot=b["bot"], key="k1", request_hash="0" * 64)


def rule_queue_deleted(b: dict) -> None:
    EscalationRule.objects.create(name="VIP", order=1, queue=b["queue"])
    Queue.objects.filter(pk=b["queue"].pk).delete()


VIOLATIONS: list[Callable[[dict], None]] = [
    duplicate_channel,
    duplicate_queue,
    duplicate_skill,
    duplicate_bot,
    duplicate_topic,
    duplicate_node_id,
    duplicate_node_position,
    duplicate_target,
    duplicate_rule,
    duplicate_version,
    duplicate_key_prefix,
    duplicate_membership,
    duplicate_agent_skill,
    proficiency_zero,
    proficiency_six,
    negative_capacity,
    over_capacity,
    negative_active_count,
    second_fallback,
    bad_distribution,
    pick_with_assignment,
    push_without_assignment,
    bad_delivery_kind,
    webhook_without_url,
    bad_skill_matching,
    bad_channel_kind,
    bad_node_type,
    bad_field_type,
    max_length_too_long,
    max_length_zero,
    bad_presence,
    bad_status,
    second_open_handoff,
    offered_without_agent,
    two_pending_offers,
    reused_idempotency_key,
]


@pytest.mark.parametrize("violate", VIOLATIONS, ids=[v.__name__ for v in VIOLATIONS])
def test_it_is_refused_by_the_database(base: dict, violate: Callable[[dict], None]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        violate(base)


def test_it_protects_a_queue_that_rules_route_to(base: dict) -> None:
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError), transaction.atomic():
        rule_queue_deleted(base)


def test_it_allows_a_full_membership_and_a_closed_conversation_again(base: dict) -> None:
    # The limits are inclusive, and only open handoffs are unique per conversation.
    QueueMembership.objects.filter(pk=base["membership"].pk).update(active_count=2)
    Handoff.objects.filter(pk=base["handoff"].pk).update(status="resolved")
    Handoff.objects.create(bot=base["bot"], conversation_id="c1", channel="web")
    Queue.objects.filter(pk=base["queue"].pk).update(distribution="pick", assignment=None)
    Queue.objects.create(key="other", name="Other", is_fallback=False)
    assert Handoff.objects.count() == 2

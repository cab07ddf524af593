"""Every list page costs the same number of queries with 3 objects as with 500."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff.models import (
    AgentSkill,
    ApiKey,
    Bot,
    Channel,
    ContextField,
    EscalationRule,
    Handoff,
    Queue,
    QueueMembership,
    Skill,
    Topic,
    TopicNode,
    User,
)


def make_channels(n: int, start: int) -> None:
    Channel.objects.bulk_create(
        Channel(key=f"c{start + i}", name=f"C {i}", kind="webchat") for i in range(n)
    )


def make_queues(n: int, start: int) -> None:
    target = Queue.objects.create(key=f"target{start}", name="Target")
    queues = Queue.objects.bulk_create(
        Queue(
            key=f"q{start + i}",
            name=f"Q {i}",
            when_full_action="transfer",
            when_full_queue=target,
            hours={"timezone": "UTC", "weekly": {}, "closed_dates": []},
        )
        for i in range(n)
    )
    agent = User.objects.create(username=f"agent{start}")
    QueueMembership.objects.bulk_create(QueueMembership(queue=q, user=agent) for q in queues)


def make_bots(n: int, start: int) -> None:
    channel = Channel.objects.create(key=f"bc{start}", name="Chan", kind="sms")
    bots = Bot.objects.bulk_create(Bot(key=f"b{start + i}", name=f"B {i}") for i in range(n))
    Bot.channels.through.objects.bulk_create(
        Bot.channels.through(bot_id=b.pk, channel_id=channel.pk) for b in bots
    )
    ApiKey.objects.bulk_create(
        ApiKey(bot=b, prefix=f"hp_{start + i:08d}", hashed="0" * 64, last_used_at=timezone.now())
        for i, b in enumerate(bots)
    )


def make_users(n: int, start: int) -> None:
    users = User.objects.bulk_create(User(username=f"u{start + i}", password="!") for i in range(n))
    agent = Group.objects.get(name="agent")
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=u.pk, group_id=agent.pk) for u in users
    )


def make_topics(n: int, start: int) -> None:
    topics = Topic.objects.bulk_create(Topic(key=f"t{start + i}", name=f"T {i}") for i in range(n))
    TopicNode.objects.bulk_create(
        TopicNode(topic=t, position=0, node_id="end", type="end") for t in topics
    )


def make_context_fields(n: int, start: int) -> None:
    ContextField.objects.bulk_create(
        ContextField(source=f"s{start + i}", target=f"T{start + i}", transform="trim")
        for i in range(n)
    )


def make_rules(n: int, start: int) -> None:
    queue = Queue.objects.create(key=f"rq{start}", name="Rules queue")
    EscalationRule.objects.bulk_create(
        EscalationRule(name=f"r{start + i}", order=start + i, queue=queue) for i in range(n)
    )


def make_failures(n: int, start: int) -> None:
    bot = Bot.objects.create(key=f"fb{start}", name="Failing bot")
    queue = Queue.objects.create(key=f"fq{start}", name="Webhook queue")
    Handoff.objects.bulk_create(
        Handoff(
            bot=bot,
            queue=queue,
            conversation_id=f"c{start + i}",
            channel="webchat",
            status="failed",
            last_error="HTTP 500",
        )
        for i in range(n)
    )


def make_skills(n: int, start: int) -> None:
    skills = Skill.objects.bulk_create(Skill(key=f"s:{start + i}", name=f"S {i}") for i in range(n))
    agent = User.objects.create(username=f"skilled{start}")
    AgentSkill.objects.bulk_create(AgentSkill(user=agent, skill=s, proficiency=3) for s in skills)


@pytest.mark.parametrize(
    "url_name, make",
    [
        ("channel_list", make_channels),
        ("queue_list", make_queues),
        ("bot_list", make_bots),
        ("user_list", make_users),
        ("topic_list", make_topics),
        ("context_field_list", make_context_fields),
        ("rule_list", make_rules),
        ("config_overview", make_queues),
        ("maker_overview", make_rules),
        ("failure_list", make_failures),
        ("skill_list", make_skills),
    ],
)
def test_it_lists_500_objects_in_constant_queries(
    client: Any,
    admin_user: User,
    django_assert_num_queries: Any,
    url_name: str,
    make: Callable[[int, int], None],
) -> None:
    client.force_login(admin_user)
    url = reverse(url_name)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    make(3, 0)
    few = count()
    make(497, 1000)
    with django_assert_num_queries(few):
        response = client.get(url)
    assert response.status_code == 200
    assert few <= 12


def add_members(queue: Queue, n: int, start: int) -> None:
    users = User.objects.bulk_create(User(username=f"m{start + i}") for i in range(n))
    QueueMembership.objects.bulk_create(QueueMembership(queue=queue, user=u) for u in users)


def add_keys(bot: Bot, n: int, start: int) -> None:
    ApiKey.objects.bulk_create(
        ApiKey(bot=bot, prefix=f"hp_{start + i:08d}", hashed="0" * 64, created_by=None)
        for i in range(n)
    )


@pytest.mark.parametrize("page", ["queue_detail", "queue_edit", "bot_detail"])
def test_it_shows_a_queue_or_bot_with_500_rows_in_constant_queries(
    client: Any, admin_user: User, django_assert_num_queries: Any, page: str
) -> None:
    client.force_login(admin_user)
    if page.startswith("queue"):
        queue = Queue.objects.create(key="big", name="Big", is_fallback=True)

        def grow(n: int, start: int) -> None:
            add_members(queue, n, start)

    else:
        bot = Bot.objects.create(key="big", name="Big")

        def grow(n: int, start: int) -> None:
            add_keys(bot, n, start)

    url = reverse(page, args=["big"])
    grow(3, 0)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    grow(497, 1000)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200

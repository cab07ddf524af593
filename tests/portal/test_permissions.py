"""Walk every URL pattern of the portal: anonymous -> login, wrong role -> 403, right role -> 200.

A new page is covered without editing this file, as long as its view is wrapped by
portal.roles.role_required (the test fails on a view that is not) and its URL arguments are
built by URL_OBJECTS below (the test fails on an unknown one, so it must be added there).
"""

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from handoff.models import (
    ApiKey,
    Bot,
    Channel,
    ContextField,
    EscalationRule,
    Handoff,
    Queue,
    Skill,
    Topic,
    TopicNode,
    User,
)
from portal import portal_urls
from portal.roles import ROLES
from tests.conftest import make_user


def _flatten(entries: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in entries:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _flatten(entry.url_patterns, route)
        else:
            found.append((route, entry))
    return found


def patterns() -> list[URLPattern]:
    """Every page outside the bot API, whichever urls module declares it."""
    walked = _flatten(get_resolver().url_patterns)
    pages = [p for route, p in walked if not route.startswith("api/")]
    assert len(pages) >= len(portal_urls.urlpatterns)
    return pages


@pytest.fixture
def people(db: Any) -> dict[str, User]:
    people = {role: make_user(f"sweep-{role}", role) for role in ROLES}
    people["none"] = make_user("sweep-nobody")
    return people


@pytest.fixture
def objects(db: Any, people: dict[str, User]) -> dict[str, Any]:
    channel = Channel.objects.create(key="webchat", name="Web chat", kind="webchat")
    queue = Queue.objects.create(key="general", name="General", is_fallback=True)
    bot = Bot.objects.create(key="support-bot", name="Support bot")
    topic = Topic.objects.create(key="refund", name="Refund")
    return {
        "channel": channel,
        "queue": queue,
        "bot": bot,
        "api_key": ApiKey.objects.create(bot=bot, prefix="hp_sweep123", hashed="0" * 64),
        "topic": topic,
        "topic_node": TopicNode.objects.create(topic=topic, position=0, node_id="end", type="end"),
        "context_field": ContextField.objects.create(source="email", target="Email"),
        "rule": EscalationRule.objects.create(name="All", order=1, queue=queue),
        "user": people["agent"],
        # Assigned to the sweep's agent: they and admins may open it, nobody else.
        "handoff": Handoff.objects.create(
            bot=bot,
            conversation_id="sweep",
            channel="webchat",
            status="assigned",
            queue=queue,
            agent=people["agent"],
        ),
        "skill": Skill.objects.create(key="language:ja", name="Japanese"),
        "failure": Handoff.objects.create(
            bot=bot, conversation_id="sweep-failed", channel="webchat", status="failed"
        ),
    }


# URL name prefix -> (object whose `key` fills <key>, object whose `pk` fills <pk>).
# Longest prefixes first: "topic_node_edit" is about a node of a topic.
URL_OBJECTS = [
    ("agent_handoff", None, "handoff"),
    ("context_field", None, "context_field"),
    ("topic_node", "topic", "topic_node"),
    ("api_key", "bot", "api_key"),
    ("channel", "channel", None),
    ("queue", "queue", None),
    ("topic", "topic", None),
    ("rule", None, "rule"),
    ("user", None, "user"),
    ("failure", None, "failure"),
    ("skill", None, "skill"),
    ("bot", "bot", None),
]


def url_for(pattern: URLPattern, objects: dict[str, Any], people: dict[str, User]) -> str:
    converters = set(pattern.pattern.converters)  # type: ignore[attr-defined]
    name = pattern.name or ""
    if not converters:
        return reverse(name)
    for prefix, key_of, pk_of in URL_OBJECTS:
        if name.startswith(prefix):
            break
    else:
        pytest.fail(f"{name}: add its objects to URL_OBJECTS in {__name__}")
    kwargs: dict[str, Any] = {}
    if "key" in converters and key_of:
        kwargs["key"] = objects[key_of].key
    if "pk" in converters and pk_of:
        kwargs["pk"] = objects[pk_of].pk
    if set(kwargs) != converters:
        pytest.fail(f"{name}: add its arguments {converters} to URL_OBJECTS in {__name__}")
    return reverse(name, kwargs=kwargs)


def test_it_knows_the_roles_of_every_view() -> None:
    for pattern in patterns():
        if pattern.name in portal_urls.PUBLIC:
            continue
        roles = getattr(pattern.callback, "allowed_roles", None)
        assert roles, f"{pattern.name}: wrap the view with portal.roles.role_required"
        assert set(roles) <= set(ROLES)


def test_it_sends_anonymous_users_to_login(client: Any, objects: Any, people: Any) -> None:
    login_path = reverse("login")
    for pattern in patterns():
        if pattern.name in portal_urls.PUBLIC:
            continue
        url = url_for(pattern, objects, people)
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, f"{method.__name__} {url}"
            location = urlsplit(response["Location"])
            assert location.path == login_path, url


def test_it_refuses_wrong_roles_and_admits_right_ones(
    client: Any, objects: Any, people: Any
) -> None:
    checked = 0
    for pattern in patterns():
        if pattern.name in portal_urls.PUBLIC:
            continue
        allowed = set(pattern.callback.allowed_roles)  # type: ignore[attr-defined]
        url = url_for(pattern, objects, people)
        for who, user in people.items():
            client.force_login(user)
            if who in allowed:
                response = client.get(url)
                # POST-only views answer GET with 405; the right role is let through to it.
                if response.status_code == 405:
                    assert response["Allow"] == "POST", url
                elif response.status_code == 302:
                    assert pattern.name == "home", url
                else:
                    assert response.status_code == 200, f"{who} GET {url}"
                # Pages some roles only read (portal.roles.role_required_to_write).
                writers = getattr(pattern.callback, "write_roles", None)
                if writers is not None and who not in writers:
                    assert client.post(url).status_code == 403, f"{who} POST {url}"
            else:
                for method in (client.get, client.post):
                    response = method(url)
                    assert response.status_code == 403, f"{who} {method.__name__} {url}"
            checked += 1
    assert checked == len(people) * (len(patterns()) - len(portal_urls.PUBLIC))


def test_it_gives_admin_every_page() -> None:
    for pattern in patterns():
        if pattern.name not in portal_urls.PUBLIC:
            assert "admin" in pattern.callback.allowed_roles, pattern.name  # type: ignore[attr-defined]


def test_it_lets_only_admins_change_admin_configuration() -> None:
    admin_areas = ("channel_", "queue_", "bot_", "api_key_", "user_", "failure_", "skill_")
    readers = {
        "channel_list",
        "queue_list",
        "queue_detail",
        "bot_list",
        "bot_detail",
        "failure_list",
        "skill_list",
    }
    for pattern in patterns():
        name = pattern.name or ""
        if name.startswith(admin_areas) and name not in readers:
            assert pattern.callback.allowed_roles == ("admin",), name  # type: ignore[attr-defined]

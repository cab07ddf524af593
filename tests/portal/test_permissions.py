"""Walk every URL pattern of the portal: anonymous -> login, wrong role -> 403, right role -> 200.

A new page is covered without editing this file, as long as its view is wrapped by
portal.roles.role_required (the test fails on a view that is not) and its URL arguments are
one of those in ARGS below (the test fails on an unknown one, so it must be added here).
"""

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, reverse

from handoff.models import ApiKey, Bot, Channel, Queue, User
from portal import portal_urls
from portal.roles import ROLES
from tests.conftest import make_user


def patterns() -> list[URLPattern]:
    return [p for p in portal_urls.urlpatterns if isinstance(p, URLPattern)]


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
    api_key = ApiKey.objects.create(bot=bot, prefix="hp_sweep123", hashed="0" * 64)
    return {"channel": channel, "queue": queue, "bot": bot, "api_key": api_key}


def url_for(pattern: URLPattern, objects: dict[str, Any], people: dict[str, User]) -> str:
    converters = set(pattern.pattern.converters)  # type: ignore[attr-defined]
    name = pattern.name or ""
    kwargs: dict[str, Any] = {}
    if converters == {"key"}:
        owner = {"channel": "channel", "queue": "queue", "bot": "bot", "api_key": "bot"}
        kind = name.split("_")[0] if not name.startswith("api_key") else "api_key"
        kwargs["key"] = objects[owner[kind]].key
    elif converters == {"key", "pk"} and name.startswith("api_key"):
        kwargs = {"key": objects["bot"].key, "pk": objects["api_key"].pk}
    elif converters == {"pk"} and name.startswith("user"):
        kwargs["pk"] = people["agent"].pk
    elif converters:
        pytest.fail(f"{name}: teach url_for() how to build its arguments {converters}")
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


def test_it_lets_only_admins_change_configuration() -> None:
    writers = {"new", "edit", "delete", "toggle", "revoke", "rotate"}
    for pattern in patterns():
        if (pattern.name or "").split("_")[-1] in writers or "rotate" in (pattern.name or ""):
            assert pattern.callback.allowed_roles == ("admin",), pattern.name  # type: ignore[attr-defined]

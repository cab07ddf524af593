"""Every URL pattern of the project has an explicit expectation, with and without a login.

Portal pages wrapped by portal.roles.role_required are swept role by role in
tests/portal/test_permissions.py; everything else (the bot API, the public pages, health)
must be listed in EXPECTED below, or this test fails and names the new URL.
"""

import uuid
from typing import Any

from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from tests.portal.test_permissions import _flatten

SOME_ID = uuid.UUID("2f1c6a3e-0000-4000-8000-000000000000")
# name -> (method, URL kwargs, anonymous status). The bot API answers 401 without a key
# (and to portal users: a session is not a bot key); the rest is public by design.
EXPECTED: dict[str, tuple[str, dict[str, Any], int]] = {
    "api-handoff-create": ("post", {}, 401),
    "api-handoff-bot-framework": ("post", {}, 401),
    "api-handoff": ("get", {"handoff_id": SOME_ID}, 401),
    "api-handoff-cancel": ("post", {"handoff_id": SOME_ID}, 401),
    "api-conversation-start": ("post", {}, 401),
    "api-conversation": ("get", {"conversation_id": SOME_ID}, 401),
    "api-conversation-messages": ("post", {"conversation_id": SOME_ID}, 401),
    "api-schema": ("get", {}, 200),
    "api-docs": ("get", {}, 200),
    "health": ("get", {}, 200),
    "login": ("get", {}, 200),
    "logout": ("post", {}, 302),
    "webchat": ("get", {}, 200),
    # Without the demo loaded the visitor gets the chat pane with an explanation, not a 500.
    "webchat_send": ("post", {}, 200),
    "webchat_restart": ("post", {}, 302),
    "webchat_status": ("get", {}, 200),
    # The stream of a conversation this visitor's session does not own.
    "webchat_live": ("get", {"conversation_id": SOME_ID}, 404),
}


def all_patterns() -> list[URLPattern]:
    return [p for _, p in _flatten(get_resolver().url_patterns)]


def test_it_has_an_expectation_for_every_url() -> None:
    uncovered = [
        p.name or str(p.pattern)
        for p in all_patterns()
        if not getattr(p.callback, "allowed_roles", None) and p.name not in EXPECTED
    ]
    assert uncovered == [], f"add these URLs to EXPECTED in {__name__}: {uncovered}"
    names = {p.name for p in all_patterns()}
    assert set(EXPECTED) <= names, set(EXPECTED) - names


def test_it_answers_anonymous_visitors_as_expected(db: Any) -> None:
    for name, (method, kwargs, status) in EXPECTED.items():
        client = Client()
        response = getattr(client, method)(reverse(name, kwargs=kwargs))
        assert response.status_code == status, f"{method.upper()} {name}"
        if status == 401:
            assert response.json()["error"]["code"], name
            assert "Bearer" in response.get("WWW-Authenticate", "Bearer"), name


def test_it_refuses_the_api_to_portal_sessions_and_bad_keys(
    client: Any, db: Any, people: Any
) -> None:
    api = {n: e for n, e in EXPECTED.items() if e[2] == 401}
    for user in people.values():
        client.force_login(user)
        for name, (method, kwargs, _status) in api.items():
            response = getattr(client, method)(reverse(name, kwargs=kwargs))
            assert response.status_code == 401, f"{user.username} {name}"
    bad = Client(headers={"Authorization": "Bearer hp_not-a-real-key"})
    for name, (method, kwargs, _status) in api.items():
        assert getattr(bad, method)(reverse(name, kwargs=kwargs)).status_code == 401, name

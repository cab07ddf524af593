"""'Test your bot' (makers and admins) and the public demo web chat."""

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from handoff.config.document import import_document
from handoff.models import Conversation, Handoff, Queue
from handoff.services.conversations import PORTAL_TEST_BOT
from tests.handoff.conversation_helpers import DOCUMENT, document, publish
from tests.portal.conftest import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def published(db: Any) -> Any:
    return publish()


def start(client: Client, config: str = "published", channel: str = "webchat") -> Any:
    return client.post(
        reverse("test_bot_start"), {"config": config, "channel": channel}, headers=HTMX
    )


def send(client: Client, text: str) -> Any:
    return client.post(reverse("test_bot_send"), {"text": text}, headers=HTMX)


def test_it_shows_the_page_with_the_published_channels(client, maker, published):
    r = login(client, maker).get(reverse("test_bot"))
    assert r.status_code == 200
    html = r.content.decode()
    assert "Test your bot" in html
    assert 'value="webchat"' in html
    assert 'value="email"' not in html  # disabled channels are not offered


def test_it_chats_with_the_published_topics_and_hands_off(client, maker, published):
    login(client, maker)
    r = start(client)
    assert r.status_code == 200
    assert "Hello! How can I help you today?" in r.content.decode()
    conversation = Conversation.objects.get()
    assert conversation.source == "portal"
    assert conversation.bot.key == PORTAL_TEST_BOT

    r = send(client, "refund")
    assert "What is the order number?" in r.content.decode()
    r = send(client, "A-9")
    html = r.content.decode()
    assert 'data-variable="order_number">A-9<' in html
    r = send(client, "700")
    html = r.content.decode()
    handoff = Handoff.objects.get()
    assert "Handoff created" in html
    assert "Returns" in html
    assert reverse("agent_handoff", kwargs={"pk": handoff.pk}) in html
    assert handoff.bot.key == PORTAL_TEST_BOT
    assert handoff.variables == {"order_number": "A-9", "refund_amount": 700}
    assert handoff.config_version == published


def test_it_runs_the_draft_when_asked(client, maker, db):
    import_document(DOCUMENT)  # a draft, never published
    login(client, maker)
    assert "No configuration has been published" in client.get(reverse("test_bot")).content.decode()
    r = client.get(reverse("test_bot") + "?config=draft")
    assert r.status_code == 200
    start(client, config="draft")
    send(client, "I need a human")
    handoff = Handoff.objects.get()
    assert handoff.config_version is None
    assert handoff.reason == "requested_by_customer"
    assert handoff.queue_key == "general"


def test_it_shows_why_an_invalid_draft_cannot_run(client, maker, published):
    Queue.objects.filter(is_fallback=True).update(is_fallback=False)
    r = login(client, maker).get(reverse("test_bot") + "?config=draft")
    html = r.content.decode()
    assert "The draft configuration is not valid." in html
    assert "fallback" in html


def test_it_shows_a_refused_handoff(client, maker, db):
    doc = document()
    doc["context_fields"].append({"source": "missing_var", "target": "Needed", "required": True})
    publish(doc)
    login(client, maker)
    start(client)
    r = send(client, "human")
    html = r.content.decode()
    assert "No handoff" in html
    assert "context.Needed" in html
    assert not Handoff.objects.exists()


def test_it_refuses_other_roles(client, analyst, agent, outsider, published):
    for user in (analyst, agent, outsider):
        login(client, user)
        assert client.get(reverse("test_bot")).status_code == 403
        assert start(client).status_code == 403
    assert not Conversation.objects.exists()


def test_it_needs_a_known_channel_and_a_valid_locale(client, maker, published):
    login(client, maker)
    r = start(client, channel="nope")
    assert "Pick a channel." in r.content.decode()
    r = client.post(
        reverse("test_bot_start"),
        {"config": "published", "channel": "webchat", "locale": "not a locale"},
        headers=HTMX,
    )
    assert "BCP-47" in r.content.decode()
    assert not Conversation.objects.exists()
    client.post(
        reverse("test_bot_start"),
        {"config": "published", "channel": "webchat", "locale": "fr-FR"},
        headers=HTMX,
    )
    assert Conversation.objects.get().state["locale"] == "fr-FR"


# -- the demo web chat ----------------------------------------------------------------------


@pytest.fixture
def demo(db: Any) -> Any:
    doc = document()
    doc["bots"].append({"key": "retail-bot", "name": "Retail", "channels": ["webchat"]})
    cache.clear()
    return publish(doc)


def test_it_serves_the_web_chat_to_anonymous_visitors(client, demo):
    r = client.get(reverse("webchat"))
    assert r.status_code == 200
    assert "Hello! How can I help you today?" in r.content.decode()
    assert "csrftoken" in r.cookies


def test_it_hands_a_web_chat_visitor_to_an_agent(client, demo):
    url = reverse("webchat_send")
    client.post(url, {"text": "refund"}, headers=HTMX)
    client.post(url, {"text": "B-1"}, headers=HTMX)
    r = client.post(url, {"text": "900"}, headers=HTMX)
    html = r.content.decode()
    assert "I am connecting you with a person from Returns." in html
    assert "Waiting for a person" in html
    handoff = Handoff.objects.get()
    assert handoff.bot.key == "retail-bot"
    assert handoff.channel == "webchat"
    assert Conversation.objects.get().source == "webchat"
    assert "Waiting for a person" in client.get(reverse("webchat_status")).content.decode()


def test_it_protects_the_web_chat_with_csrf(demo):
    client = Client(enforce_csrf_checks=True)
    r = client.post(reverse("webchat_send"), {"text": "refund"})
    assert r.status_code == 403
    assert not Conversation.objects.exists()


def test_it_rate_limits_the_web_chat(client, demo, settings):
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 2
    url = reverse("webchat_send")
    codes = [client.post(url, {"text": "hello"}, headers=HTMX).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_it_rate_limits_each_client_behind_the_proxy(client, demo, settings):
    # The same rule as the login throttle (portal/security.py client_address): with one proxy
    # in front, the address it appended is the client, not the proxy's own REMOTE_ADDR.
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 1
    settings.TRUSTED_PROXY_HOPS = 1
    url = reverse("webchat_send")

    def post(forwarded: str) -> int:
        return client.post(
            url,
            {"text": "hello"},
            headers=HTMX,
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded,
        ).status_code

    assert [post("203.0.113.7"), post("203.0.113.7"), post("198.51.100.2")] == [200, 429, 200]


def test_it_starts_the_web_chat_over(client, demo):
    client.post(reverse("webchat_send"), {"text": "refund"})
    client.post(reverse("webchat_restart"))
    client.post(reverse("webchat_send"), {"text": "refund"})
    assert Conversation.objects.count() == 2

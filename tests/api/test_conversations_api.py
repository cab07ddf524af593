from typing import Any

import pytest

from handoff.models import Bot, Conversation, Handoff
from tests.api.conftest import BotClient
from tests.handoff.conversation_helpers import bot_key, document, publish

URL = "/api/v1/conversations"


@pytest.fixture
def client_bot(db: Any) -> BotClient:
    publish()
    bot = Bot.objects.get(key="support-bot")
    return BotClient(bot, bot_key(bot))


@pytest.fixture
def other_bot(client_bot: BotClient) -> BotClient:
    bot = Bot.objects.create(key="other-bot", name="Other")
    return BotClient(bot, bot_key(bot))


def start(client: BotClient, **body: Any) -> str:
    r = client.post(URL, {"channel": "webchat", **body})
    assert r.status_code == 201, r.json()
    return r.json()["id"]


def say(client: BotClient, conversation_id: str, text: str) -> Any:
    return client.post(f"{URL}/{conversation_id}/messages", {"text": text})


def test_it_starts_a_conversation_with_a_greeting(client_bot):
    r = client_bot.post(URL, {"channel": "webchat", "locale": "en-US", "customer": {"name": "Kim"}})
    assert r.status_code == 201
    data = r.json()
    assert data["replies"] == [
        "Hello! How can I help you today? You can ask for a person at any time."
    ]
    conversation = Conversation.objects.get(pk=data["id"])
    assert conversation.bot == client_bot.bot
    assert conversation.source == "api"
    assert conversation.state["customer"] == {"name": "Kim"}


def test_it_answers_each_message_with_replies_and_variables(client_bot):
    conversation_id = start(client_bot)
    r = say(client_bot, conversation_id, "I want a refund")
    assert r.status_code == 200
    assert r.json() == {
        "replies": ["What is the order number?"],
        "variables": {},
        "ended": False,
        "handoff": None,
        "error": None,
    }
    r = say(client_bot, conversation_id, "A-1")
    assert r.json()["variables"] == {"order_number": "A-1"}


def test_it_hands_off_at_a_transfer_and_returns_the_handoff(client_bot):
    conversation_id = start(client_bot)
    for text in ("refund", "A-1"):
        say(client_bot, conversation_id, text)
    r = say(client_bot, conversation_id, "900")
    data = r.json()
    handoff = Handoff.objects.get()
    assert data["ended"] is True
    assert data["variables"] == {"order_number": "A-1", "refund_amount": 900}
    assert data["handoff"] == {
        "id": str(handoff.pk),
        "status": "queued",
        "queue": {"key": "returns", "name": "Returns"},
        "position": 1,
        "estimated_wait_seconds": None,
        "message": None,
    }
    assert data["replies"] == [
        "I am connecting you with a person from Returns. You are number 1 in the queue."
    ]
    assert handoff.bot == client_bot.bot
    assert handoff.conversation_id == conversation_id

    # The same handoff answers later messages, and the conversation shows it.
    r = say(client_bot, conversation_id, "hello?")
    assert r.json()["handoff"]["id"] == str(handoff.pk)
    assert r.json()["replies"] == []
    r = client_bot.get(f"{URL}/{conversation_id}")
    assert r.status_code == 200
    data = r.json()
    assert data["handoff"]["id"] == str(handoff.pk)
    assert data["topics"] == ["refund"]
    assert data["ended"] is True
    assert [t["text"] for t in data["transcript"]][-1] == "hello?"


def test_it_tells_the_customer_when_the_queue_rejects(client_bot):
    doc = document()
    queue = next(q for q in doc["queues"] if q["key"] == "general")
    queue["hours"] = {"timezone": "UTC", "weekly": {}, "closed_dates": []}
    queue["overflow"] = {
        "when_closed": {"action": "reject", "message": "We are closed.", "queue": None},
        "when_full": None,
        "max_wait_seconds": None,
    }
    publish(doc)
    conversation_id = start(client_bot)
    data = say(client_bot, conversation_id, "talk to a person").json()
    assert data["handoff"]["status"] == "rejected"
    assert data["handoff"]["message"] == "We are closed."
    assert data["replies"] == ["We are closed."]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"channel": "nope"}, 400, "invalid"),
        ({"channel": "sms"}, 403, "channel_not_allowed"),
        ({"channel": "email"}, 403, "channel_disabled"),
        ({"channel": "webchat", "surprise": 1}, 400, "invalid"),
        ({"channel": "webchat", "locale": "not a locale"}, 400, "invalid"),
        ({}, 400, "invalid"),
    ],
)
def test_it_refuses_bad_starts_in_the_api_error_format(client_bot, body, status, code):
    r = client_bot.post(URL, body)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert not Conversation.objects.exists()


def test_it_needs_a_bot_key(client_bot):
    r = client_bot.client.post(URL, {"channel": "webchat"}, content_type="application/json")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_it_hides_another_bots_conversation(client_bot, other_bot):
    conversation_id = start(client_bot)
    assert say(other_bot, conversation_id, "hi").status_code == 404
    r = other_bot.get(f"{URL}/{conversation_id}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_it_refuses_a_message_without_text(client_bot):
    conversation_id = start(client_bot)
    r = client_bot.post(f"{URL}/{conversation_id}/messages", {"txt": "hi"})
    assert r.status_code == 400
    assert set(r.json()["error"]["fields"]) == {"txt"}
    r = client_bot.post(f"{URL}/{conversation_id}/messages", {})
    assert set(r.json()["error"]["fields"]) == {"text"}


def test_it_answers_503_before_anything_is_published(db):
    bot = Bot.objects.create(key="support-bot", name="Support")
    r = BotClient(bot, bot_key(bot)).post(URL, {"channel": "webchat"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "not_configured"


def test_it_documents_the_conversation_api(client_bot):
    schema = client_bot.client.get("/api/v1/schema", headers={"Accept": "application/json"})
    text = schema.content.decode()
    for operation in ("conversation_start", "conversation_message", "conversation_get"):
        assert operation in text

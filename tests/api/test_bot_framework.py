import pytest

from handoff.models import Handoff

URL = "/api/v1/handoffs/bot-framework"


def activity(**value):
    return {
        "type": "event",
        "name": "handoff.initiate",
        "channelId": "directline",
        "conversation": {"id": "bf-conv-1"},
        "value": {
            "va_LastTopic": "Billing question",
            "va_Topics": ["Greeting", "Billing question"],
            "va_LastPhrases": "I want a person",
            "va_ConversationId": "bf-conv-1",
            "va_AgentMessage": "Escalated from Copilot",
            "va_Language": "en-US",
            "va_Scope": "bot",
            "order_number": "A-77",
            **value,
        },
        "attachments": [
            {
                "name": "Transcript",
                "contentType": "application/json",
                "content": {
                    "activities": [
                        {
                            "type": "message",
                            "from": {"role": "user"},
                            "text": "hi",
                            "timestamp": "2026-11-25T10:00:00Z",
                        },
                        {"type": "message", "from": {"role": "bot"}, "text": "hello"},
                        {"type": "typing", "from": {"role": "bot"}},
                    ]
                },
            },
            {"name": "Other", "contentType": "image/png", "content": "ignored"},
        ],
    }


def test_it_translates_a_handoff_initiate_activity(bot_client):
    r = bot_client.post(URL, activity())
    assert r.status_code == 202, r.json()
    data = r.json()
    assert data["queue"]["key"] == "billing"  # topic matched by name, channel by kind
    handoff = Handoff.objects.get(pk=data["id"])
    assert handoff.channel == "webchat"
    assert handoff.topic == "billing"
    assert handoff.reason == "bot_framework"
    assert handoff.locale == "en-US"
    assert handoff.variables == {"order_number": "A-77"}
    assert handoff.context["OrderNumber"] == "A-77"
    assert [t["from"] for t in handoff.transcript] == ["customer", "bot"]
    assert handoff.agent_message.endswith("Escalated from Copilot")


def test_it_routes_an_unknown_topic_as_no_topic(bot_client):
    r = bot_client.post(URL, activity(va_LastTopic="Something Copilot made up", reason="angry"))
    assert r.status_code == 202
    assert r.json()["queue"]["key"] == "general"
    handoff = Handoff.objects.get(pk=r.json()["id"])
    assert handoff.topic is None
    assert handoff.reason == "angry"


def test_it_names_bad_fields(bot_client):
    r = bot_client.post(URL, {"channelId": "directline"})
    assert r.status_code == 400
    assert "conversation" in r.json()["error"]["fields"]


def test_it_honours_idempotency_keys(bot_client):
    first = bot_client.post(URL, activity(), headers={"Idempotency-Key": "bf"})
    again = bot_client.post(URL, activity(), headers={"Idempotency-Key": "bf"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()


def test_it_takes_the_customer_from_the_activity(bot_client):
    r = bot_client.post(URL, {**activity(), "from": {"id": "u-42", "name": "Kim Lee"}})
    assert r.status_code == 202, r.json()
    assert Handoff.objects.get(pk=r.json()["id"]).customer == {"id": "u-42", "name": "Kim Lee"}


def test_it_prefers_the_user_copilot_studio_relates_the_handoff_to(bot_client):
    r = bot_client.post(
        URL,
        {
            **activity(),
            "from": {"id": "copilot-bot", "name": "Retail bot", "role": "bot"},
            "relatesTo": {"user": {"id": "29:abc", "name": "Ana Silva"}, "bot": {"id": "b"}},
        },
    )
    assert r.status_code == 202, r.json()
    assert Handoff.objects.get(pk=r.json()["id"]).customer == {"id": "29:abc", "name": "Ana Silva"}


def test_it_never_takes_the_bot_for_the_customer(bot_client):
    r = bot_client.post(URL, {**activity(), "from": {"id": "copilot-bot", "role": "bot"}})
    assert Handoff.objects.get(pk=r.json()["id"]).customer == {}


@pytest.mark.parametrize("name", ["va_LastPhrase", "va_LastPhrases"])
def test_it_builds_the_transcript_from_the_last_phrase(bot_client, name):
    body = activity()
    del body["attachments"]
    del body["value"]["va_LastPhrases"]
    body["value"][name] = "I want a person"
    r = bot_client.post(URL, body)
    assert r.status_code == 202, r.json()
    handoff = Handoff.objects.get(pk=r.json()["id"])
    assert handoff.transcript == [{"from": "customer", "text": "I want a person"}]
    assert name not in handoff.variables

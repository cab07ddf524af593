"""What PostgreSQL or Python cannot take (NUL, a lone surrogate, 1e400, deep nesting) is a 400
in the error format naming the field, never a server error."""

import json

import pytest

from handoff.api.json_codec import MAX_DEPTH
from handoff.models import Handoff

URL = "/api/v1/handoffs"
BOT_FRAMEWORK_URL = "/api/v1/handoffs/bot-framework"
# A JavaScript bot that cuts "😀" (U+1F600, the pair D83D DE00) in half sends this.
HALF_EMOJI = "\\ud83d"


def raw(fields: str) -> str:
    """A body written by hand, so that it can hold what json.dumps never writes."""
    return '{"conversation_id": "c-1", "channel": "webchat", ' + fields + "}"


def assert_names(response, field: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert field in error["fields"], error
    assert Handoff.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ('"variables": {"order": "A-1\\u0000"}', "variables.order"),
        ('"variables": {"ord\\u0000er": "A-1"}', "variables.ord\x00er"),
        (f'"variables": {{"order": "A-1{HALF_EMOJI}"}}', "variables.order"),
        (f'"variables": {{"or{HALF_EMOJI}": 1}}', "variables.or\ud83d"),
        ('"variables": {"amount": 1e400}', "variables.amount"),
        ('"variables": {"amount": -1e400}', "variables.amount"),
        ('"variables": {"amount": 1' + "0" * 400 + "}", "variables.amount"),
        (f'"customer": {{"name": "Kim {HALF_EMOJI}"}}', "customer.name"),
        ('"customer": {"id": "\\u0000"}', "customer.id"),
        (
            f'"transcript": [{{"from": "customer", "text": "hi {HALF_EMOJI}"}}]',
            "transcript[0].text",
        ),
        ('"transcript": [{"from": "customer", "text": "a\\u0000b"}]', "transcript[0].text"),
        (f'"topics": ["refund{HALF_EMOJI}"]', "topics[0]"),
        (f'"reason": "{HALF_EMOJI}"', "reason"),
        ('"agent_message": "\\u0000"', "agent_message"),
    ],
)
def test_it_names_the_field_that_holds_what_postgresql_refuses(bot_client, fields, field):
    assert_names(bot_client.post(URL, raw(fields)), field)


def test_it_names_a_conversation_id_with_nul_or_half_an_emoji(bot_client):
    for value in ("c\\u0000", f"c{HALF_EMOJI}"):
        body = '{"conversation_id": "' + value + '", "channel": "webchat"}'
        assert_names(bot_client.post(URL, body), "conversation_id")


def test_it_refuses_such_a_body_with_an_idempotency_key_too(bot_client):
    r = bot_client.post(
        URL, raw(f'"variables": {{"order": "{HALF_EMOJI}"}}'), headers={"Idempotency-Key": "k-1"}
    )
    assert_names(r, "variables.order")


def test_it_refuses_json_nested_past_the_limit(bot_client):
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert_names(bot_client.post(URL, raw(f'"variables": {{"a": {deep}}}')), "variables.a")
    for depth in (1100, 1500, 100_000):  # past what the parsers themselves take
        r = bot_client.post(URL, raw(f'"variables": {{"a": {"[" * depth}{"]" * depth}}}'))
        assert_names(r, "body")


def test_it_takes_json_nested_up_to_the_limit_to_the_validator(bot_client):
    deep = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)  # the body and variables are two
    r = bot_client.post(URL, raw(f'"variables": {{"a": {deep}}}'))
    assert_names(r, "variables.a")
    assert r.json()["error"]["fields"]["variables.a"].startswith("Expected a string")


def test_it_names_the_variable_a_bot_framework_value_holds(bot_client):
    activity = {
        "type": "event",
        "name": "handoff.initiate",
        "channelId": "directline",
        "conversation": {"id": "bf-1"},
    }
    for value, variable in [
        (f'{{"order": "{HALF_EMOJI}"}}', "variables.order"),
        ('{"order": "a\\u0000"}', "variables.order"),
        ('{"amount": 1e400}', "variables.amount"),
    ]:
        body = json.dumps(activity)[:-1] + f', "value": {value}}}'
        assert_names(bot_client.post(BOT_FRAMEWORK_URL, body), variable)
    body = json.dumps(activity)[:-1] + f', "value": {{"va_LastPhrases": "{HALF_EMOJI}"}}}}'
    assert_names(bot_client.post(BOT_FRAMEWORK_URL, body), "transcript[0].text")
    body = json.dumps({**activity, "conversation": {"id": "bf\x00"}})
    assert_names(bot_client.post(BOT_FRAMEWORK_URL, body), "conversation.id")


def test_it_stores_a_whole_emoji(bot_client):
    r = bot_client.post(URL, raw('"variables": {"mood": "\\ud83d\\ude00"}'))
    assert r.status_code == 202, r.content
    assert Handoff.objects.get().variables["mood"] == "😀"

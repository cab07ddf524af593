import json
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.config.document import import_document
from handoff.engine.conversation import (
    ESCALATE_PHRASES,
    StepResult,
    match_topic,
    parse_answer,
    start,
    step,
)
from handoff.models import Bot, Conversation, Handoff, HandoffEvent
from handoff.services.conversations import (
    CANNOT_HAND_OFF,
    PORTAL_TEST_BOT,
    conversation_message,
    conversation_start,
    portal_test_bot,
)
from tests.handoff.conversation_helpers import DOCUMENT, document, publish

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def doc(db: Any) -> dict[str, Any]:
    # validate_document looks up the users and bots a document names, hence the database.
    return document()


def talk(doc: dict[str, Any], *messages: str, **options: Any) -> list[StepResult]:
    state = start(doc, conversation_id="conv-1", channel="webchat", **options)
    results = []
    for message in messages:
        result = step(doc, state, message, now=NOW)
        state = result.state
        results.append(result)
    return results


# -- nodes ----------------------------------------------------------------------------------


def test_it_greets_in_the_transcript(doc):
    state = start(doc, conversation_id="c", channel="webchat", greeting="Hi there")
    assert state["transcript"] == [{"from": "bot", "text": "Hi there"}]


def test_it_says_message_nodes_and_ends_the_topic(doc):
    (result,) = talk(doc, "What are your opening hours?")
    assert result.replies == ["We open at 9."]
    assert result.transfer is None
    assert result.ended is False
    assert result.state["topic"] is None
    assert result.state["topics"] == ["store-hours"]


def test_it_asks_questions_and_stores_answers(doc):
    first, second = talk(doc, "I want a refund", "A-123")
    assert first.replies == ["What is the order number?"]
    assert second.replies == ["How much should be refunded?"]
    assert second.state["variables"] == {"order_number": "A-123"}
    assert second.state["node"] == "ask-amount"


def test_it_reprompts_an_answer_of_the_wrong_type(doc):
    *_, result = talk(doc, "refund", "A-1", "lots")
    assert result.replies == ["Please answer with a number.", "How much should be refunded?"]
    assert "refund_amount" not in result.state["variables"]
    assert result.state["node"] == "ask-amount"


def test_it_takes_a_number_out_of_a_sentence(doc):
    *_, result = talk(doc, "refund", "A-1", "about 120 euros")
    assert result.state["variables"]["refund_amount"] == 120


def test_it_follows_a_condition_that_holds(doc):
    *_, result = talk(doc, "refund", "A-1", "600")
    assert result.transfer is not None
    assert result.transfer["agent_message"] == "Refund 600 for A-1"
    assert result.ended is True


def test_it_continues_past_a_condition_that_does_not_hold(doc):
    *_, result = talk(doc, "refund", "A-1", "20")
    assert result.replies == ["Refund of 20 ok."]
    assert result.transfer is None
    assert result.ended is False
    assert result.state["topic"] is None


@pytest.mark.parametrize(
    ("answer", "value"),
    [("PayPal", "paypal"), ("2", "paypal"), ("Gift Card!", "gift card"), ("paypall", "paypal")],
)
def test_it_reads_a_choice_by_label_number_or_small_typo(answer, value):
    node = {"value_type": "choice", "choices": ["card", "paypal", "gift card"]}
    assert parse_answer(node, answer) == (True, value)


def test_it_lists_the_choices_and_reprompts_an_unknown_one(doc):
    first, second = talk(doc, "my payment failed", "cash")
    assert first.replies == ["How did you pay? (1. card, 2. paypal, 3. gift card)"]
    assert second.replies == [
        "Please pick one of the options.",
        "How did you pay? (1. card, 2. paypal, 3. gift card)",
    ]


@pytest.mark.parametrize(
    ("value_type", "answer", "expected"),
    [
        ("boolean", "Yes", (True, True)),
        ("boolean", "nope, not yet", (True, False)),
        ("boolean", "maybe", (False, None)),
        ("email", "it is kim@example.com thanks", (True, "kim@example.com")),
        ("email", "kim at example", (False, None)),
        ("phone", "+33 6 12-34-56-78", (True, "+33612345678")),
        ("phone", "12345", (False, None)),
        ("phone", "call me maybe 1234567", (False, None)),
        ("number", "1,250.50", (True, 1250.5)),
        ("number", "3 or 4", (False, None)),
        ("text", "   ", (False, None)),
        ("text", " A-1 ", (True, "A-1")),
    ],
)
def test_it_validates_answers_by_type(value_type, answer, expected):
    assert parse_answer({"value_type": value_type}, answer) == expected


def test_it_escalates_after_too_many_reprompts(doc):
    *_, result = talk(doc, "refund", "A-1", "x", "y", "z")
    assert result.transfer is not None
    assert result.transfer["reason"] == "not_understood"
    assert result.transfer["topic"] == "refund"
    assert result.transfer["topics"] == ["refund", "fallback"]


def test_it_runs_every_question_type_to_the_transfer(doc):
    *_, result = talk(doc, "card declined", "1", "yes", "kim@example.com", "+1 555 010 9999")
    assert result.transfer is not None
    assert result.transfer["variables"] == {
        "payment_method": "card",
        "retried": True,
        "email": "kim@example.com",
        "phone": "+15550109999",
    }
    # An empty reason on an authored transfer node is a topic transfer.
    assert result.transfer["reason"] == "topic_transfer"


# -- triggers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "topic"),
    [
        ("REFUND!!", "refund"),
        ("I want a refnud", "refund"),
        ("can I get my mony back?", "refund"),
        ("payment faild", "payment-problem"),
        ("Opening-hours", "store-hours"),
        ("agnet", "escalate"),
        ("Can I talk to a person, please?", "escalate"),
        ("representative", "escalate"),
        ("hello", None),
        ("refinance", None),
        ("humid", None),
    ],
)
def test_it_matches_triggers_despite_case_punctuation_and_typos(doc, message, topic):
    assert match_topic(doc, message) == topic


def test_it_always_knows_the_escalate_phrases(doc):
    escalate = next(t for t in doc["topics"] if t["key"] == "escalate")
    escalate["trigger_phrases"] = []
    for phrase in ESCALATE_PHRASES:
        assert match_topic(doc, phrase) == "escalate", phrase


def test_it_escalates_when_the_customer_asks_for_a_person(doc):
    (result,) = talk(doc, "I need a human")
    assert result.transfer is not None
    assert result.transfer["reason"] == "requested_by_customer"
    assert result.transfer["topic"] == "escalate"


def test_it_lets_a_request_for_a_person_interrupt_a_question(doc):
    *_, result = talk(doc, "refund", "Agent!")
    assert result.transfer is not None
    assert result.transfer["reason"] == "requested_by_customer"
    # Still about a refund: rules on the topic keep routing it.
    assert result.transfer["topic"] == "refund"
    assert result.transfer["topics"] == ["refund", "escalate"]


def test_it_takes_an_answer_that_merely_mentions_an_agent(doc):
    *_, result = talk(doc, "refund", "my travel agent ordered it")
    assert result.transfer is None
    assert result.state["variables"]["order_number"] == "my travel agent ordered it"


# -- fallback -------------------------------------------------------------------------------


def test_it_counts_what_it_does_not_understand_then_escalates(doc):
    first, second = talk(doc, "blah", "blah blah")
    assert first.replies[0].startswith("Sorry, I did not understand that.")
    assert "Refund" in first.replies[0]
    assert first.transfer is None
    assert second.transfer is not None
    assert second.transfer["reason"] == "not_understood"
    assert second.transfer["topic"] == "fallback"


def test_it_takes_the_fallback_limit_as_an_option(doc):
    results = talk(doc, "a", "b", "c", fallback_limit=3)
    assert [r.transfer is not None for r in results] == [False, False, True]


def test_it_resets_the_fallback_counter_when_a_topic_triggers(doc):
    results = talk(doc, "blah", "opening hours", "blah")
    assert all(r.transfer is None for r in results)
    assert results[-1].state["misunderstood"] == 1


def test_it_runs_the_authored_fallback_topic(doc):
    fallback = next(t for t in doc["topics"] if t["key"] == "fallback")
    fallback["nodes"].insert(0, {"id": "sorry", "type": "message", "text": "Let me get help."})
    *_, result = talk(doc, "blah", "blah")
    assert result.replies == ["Let me get help."]
    assert result.transfer is not None
    assert result.transfer["reason"] == "not_understood"


# -- variables, transfer, state -------------------------------------------------------------


def test_it_merges_variables_across_topics_last_write_wins(doc):
    *_, result = talk(
        doc, "refund", "A-1", "20", "refund", "B-2", "30", "payment failed", "paypal", "human"
    )
    assert result.transfer is not None
    assert result.transfer["variables"] == {
        "order_number": "B-2",
        "refund_amount": 30,
        "payment_method": "paypal",
    }
    assert result.transfer["topics"] == ["refund", "payment-problem", "escalate"]
    assert result.transfer["topic"] == "payment-problem"


def test_it_builds_the_handoff_body_with_the_whole_transcript(doc):
    *_, last = talk(doc, "refund", "A-1", "900", locale="fr-FR", customer={"name": "Kim"})
    body = last.transfer
    assert body is not None
    assert body["conversation_id"] == "conv-1"
    assert body["channel"] == "webchat"
    assert body["locale"] == "fr-FR"
    assert body["customer"] == {"name": "Kim"}
    assert body["topic"] == "refund"
    assert body["topics"] == ["refund"]
    assert body["reason"] == "topic_transfer"
    assert [(t["from"], t["text"]) for t in body["transcript"]] == [
        ("bot", "Hello! How can I help you today? You can ask for a person at any time."),
        ("customer", "refund"),
        ("bot", "What is the order number?"),
        ("customer", "A-1"),
        ("bot", "How much should be refunded?"),
        ("customer", "900"),
    ]
    assert body["transcript"][1]["at"] == NOW.isoformat()


def test_it_keeps_the_state_json_and_the_input_untouched(doc):
    state = start(doc, conversation_id="c", channel="webchat")
    before = json.dumps(state, sort_keys=True)
    result = step(doc, state, "refund", now=NOW)
    assert json.dumps(state, sort_keys=True) == before
    assert json.loads(json.dumps(result.state)) == result.state


def test_it_stays_quiet_once_handed_off(doc):
    *_, result = talk(doc, "human", "hello?")
    assert result.replies == []
    assert result.transfer is None
    assert result.ended is True
    assert result.state["transcript"][-1] == {
        "from": "customer",
        "text": "hello?",
        "at": NOW.isoformat(),
    }


def test_it_stops_a_condition_loop(doc):
    loop = {
        "key": "loop",
        "name": "Loop",
        "trigger_phrases": ["loop"],
        "nodes": [
            {"id": "a", "type": "condition", "variable": "x", "op": "not_exists", "goto": "a"},
            {"id": "end", "type": "end"},
        ],
    }
    doc["topics"].append(loop)
    (result,) = talk(doc, "loop")
    assert result.transfer is not None
    assert result.transfer["reason"] == "bot_error"


# -- with the database: a real handoff ------------------------------------------------------


@pytest.fixture
def published(db: Any) -> Any:
    return publish()


def run(conversation: Conversation, *messages: str) -> Any:
    turn = None
    for message in messages:
        turn = conversation_message(conversation_id=conversation.pk, text=message)
    return turn


def test_it_creates_a_handoff_with_the_collected_context(published):
    bot = Bot.objects.get(key="support-bot")
    conversation, replies = conversation_start(
        bot=bot, channel="webchat", source="api", locale="en-GB", customer={"name": "Kim"}
    )
    assert replies == ["Hello! How can I help you today? You can ask for a person at any time."]
    turn = run(conversation, "I want a refund", "a-77", "750")
    handoff = Handoff.objects.get()
    assert turn.handoff == handoff
    assert turn.ended is True
    assert turn.replies == [
        "I am connecting you with a person from Returns. You are number 1 in the queue."
    ]
    assert handoff.bot == bot
    assert handoff.conversation_id == str(conversation.pk)
    assert handoff.queue_key == "returns"
    assert handoff.rule == "Refunds"
    assert handoff.topic == "refund"
    assert handoff.topics == ["refund"]
    assert handoff.reason == "topic_transfer"
    assert handoff.locale == "en-GB"
    assert handoff.variables == {"order_number": "a-77", "refund_amount": 750}
    assert handoff.context["OrderNumber"] == "A-77"
    assert handoff.context["RefundAmount"] == 750
    assert handoff.agent_message == "Order A-77\n\nRefund 750 for a-77"
    assert handoff.config_version == published
    assert [t["text"] for t in handoff.transcript if t["from"] == "customer"] == [
        "I want a refund",
        "a-77",
        "750",
    ]
    conversation.refresh_from_db()
    assert conversation.handoff == handoff
    assert conversation.state["ended"] is True
    assert HandoffEvent.objects.filter(handoff=handoff, type="conversation").exists()


def test_it_reports_a_handoff_the_intake_refuses(published):
    bot = Bot.objects.get(key="support-bot")
    conversation, _ = conversation_start(bot=bot, channel="webchat", source="api")
    doc = document()
    doc["channels"] = [dict(c, enabled=c["key"] != "webchat") for c in doc["channels"]]
    publish(doc)
    turn = run(conversation, "talk to a person")
    assert turn.handoff is None
    assert turn.error["code"] == "channel_disabled"
    assert turn.replies[-1] == CANNOT_HAND_OFF
    assert not Handoff.objects.exists()


def test_it_runs_the_draft_for_the_portal_test_bot(db):
    import_document(DOCUMENT)
    bot = portal_test_bot()
    assert bot.key == PORTAL_TEST_BOT
    assert set(bot.channels.values_list("key", flat=True)) == {"webchat", "sms", "email"}
    conversation, _ = conversation_start(
        bot=bot, channel="webchat", source="portal", config="draft"
    )
    turn = run(conversation, "refund", "A-1", "501")
    handoff = turn.handoff
    assert handoff is not None, turn.error
    assert handoff.queue_key == "returns"
    assert handoff.config_version is None  # routed with the draft, which is no version
    assert handoff.bot == bot


def test_it_does_not_hand_off_twice(published):
    bot = Bot.objects.get(key="support-bot")
    conversation, _ = conversation_start(bot=bot, channel="webchat", source="api")
    first = run(conversation, "human")
    second = run(conversation, "are you there?")
    assert second.handoff == first.handoff
    assert second.replies == []
    assert Handoff.objects.count() == 1

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from handoff.engine.mapping import Masker, compile_fields, map_context, mask, system_fields


def field(**overrides):
    spec = {
        "source": "v",
        "target": "T",
        "type": "text",
        "required": False,
        "default": None,
        "transform": None,
        "max_length": None,
        "visible_to_agent": True,
        "label": "Label",
    }
    return {**spec, **overrides}


def mapped(variables, *fields, system=None):
    return map_context(compile_fields(list(fields)), system or {}, variables)


@pytest.mark.parametrize(
    ("type_", "raw", "value", "stored"),
    [
        ("number", "250.40", 250.4, 250.4),
        ("number", "250", 250, 250),
        ("number", " -7.5 ", -7.5, -7.5),
        ("number", 12, 12, 12),
        ("number", 1.5, 1.5, 1.5),
        ("boolean", "true", True, True),
        ("boolean", "Yes", True, True),
        ("boolean", "1", True, True),
        ("boolean", "false", False, False),
        ("boolean", "no", False, False),
        ("boolean", "0", False, False),
        ("boolean", 0, False, False),
        ("boolean", True, True, True),
        (
            "datetime",
            "2026-11-25T10:00:00Z",
            datetime(2026, 11, 25, 10, tzinfo=UTC),
            "2026-11-25T10:00:00+00:00",
        ),
        (
            "datetime",
            "2026-11-25T11:00:00+01:00",
            datetime(2026, 11, 25, 10, tzinfo=UTC),
            "2026-11-25T11:00:00+01:00",
        ),
        ("text", "A-1", "A-1", "A-1"),
        ("text", 42, "42", "42"),
        ("text", 2.5, "2.5", "2.5"),
        ("text", True, "true", "true"),
        ("text", ["a", "b"], "a, b", "a, b"),
    ],
)
def test_it_converts_values_to_the_fields_type(type_, raw, value, stored):
    result = mapped({"v": raw}, field(type=type_))
    assert result.values["T"] == value
    assert result.context["T"] == stored
    assert result.warnings == []
    assert result.errors == {}


@pytest.mark.parametrize(
    ("type_", "raw"),
    [
        ("number", "abc"),
        ("number", "250,40"),
        ("number", True),
        ("boolean", "maybe"),
        ("boolean", 2),
        ("datetime", "yesterday"),
        ("datetime", 1700000000),
        ("text", {"a": 1}),
    ],
)
def test_it_warns_and_leaves_out_an_optional_field_that_does_not_convert(type_, raw):
    result = mapped({"v": raw}, field(type=type_))
    assert "T" not in result.context
    assert "T" not in result.values
    assert result.errors == {}
    assert len(result.warnings) == 1
    assert result.warnings[0]["field"] == "T"
    assert "T (from v)" in result.warnings[0]["message"]


@pytest.mark.parametrize(
    ("type_", "raw"), [("number", "abc"), ("boolean", "maybe"), ("datetime", "soon")]
)
def test_it_errors_on_a_required_field_that_does_not_convert(type_, raw):
    result = mapped({"v": raw}, field(type=type_, required=True, default="x"))
    assert "T" not in result.context
    assert set(result.errors) == {"T"}
    assert result.warnings == []


def test_it_errors_on_a_missing_required_field():
    for variables in ({}, {"v": None}, {"v": ""}, {"v": "   "}):
        result = mapped(variables, field(required=True, transform="trim"))
        assert result.errors == {"T": "Required context field T (from v) is missing."}


def test_it_uses_the_default_of_an_optional_field_without_warning_when_missing():
    result = mapped({}, field(type="number", default="10"))
    assert result.context == {"T": 10}
    assert result.warnings == []


def test_it_uses_the_default_and_warns_when_the_value_is_bad():
    result = mapped({"v": "lots"}, field(type="number", default=1))
    assert result.context == {"T": 1}
    assert result.warnings == [
        {"field": "T", "message": "Context field T (from v) is not a number; uses the default 1."}
    ]


def test_it_leaves_out_an_optional_missing_field_without_warning():
    result = mapped({}, field())
    assert result.context == {}
    assert result.warnings == []
    assert result.visible == []


def test_it_enforces_max_length_after_the_transform():
    assert mapped({"v": "  abcd  "}, field(max_length=4, transform="trim")).context == {"T": "abcd"}
    too_long = mapped({"v": "abcde"}, field(max_length=4))
    assert too_long.context == {}
    assert "longer than 4 characters" in too_long.warnings[0]["message"]
    required = mapped({"v": "abcde"}, field(max_length=4, required=True))
    assert "longer than 4 characters" in required.errors["T"]


@pytest.mark.parametrize(
    ("transform", "raw", "stored"),
    [
        ("trim", "  A-1 \n", "A-1"),
        ("lower", "Ab C", "ab c"),
        ("upper", "Ab c", "AB C"),
        (None, " As Is ", " As Is "),
        ("mask_all", "secret", "******"),
        ("mask_keep_last4", "4111111111111111", "************1111"),
        ("mask_keep_last4", "+33612345678", "********5678"),
        ("mask_keep_last4", "1234567", "*******"),  # too short to show any of it
        ("redact_email", "alice@example.com", "a***@example.com"),
        ("redact_email", "al@example.com", "***@example.com"),
        ("redact_email", "not-an-email", "************"),
    ],
)
def test_it_applies_every_transform_and_mask(transform, raw, stored):
    assert mapped({"v": raw}, field(transform=transform)).context == {"T": stored}


def test_rules_see_the_value_before_masking():
    result = mapped({"v": "4111111111111111"}, field(transform="mask_keep_last4"))
    assert result.values["T"] == "4111111111111111"
    assert result.context["T"] == "************1111"


def test_it_masks_a_number_field_as_text():
    result = mapped({"v": "250.40"}, field(type="number", transform="mask_all"))
    assert result.values["T"] == 250.4
    assert result.context["T"] == "*****"
    assert result.masker.text("paid 250.40 or 250.4") == "paid ****** or *****"


def test_it_lists_only_visible_fields_for_the_agent():
    result = mapped(
        {"a": "1", "b": "2"},
        field(source="a", target="A", label="First"),
        field(source="b", target="B", visible_to_agent=False),
    )
    assert result.visible == [{"target": "A", "label": "First", "value": "1"}]
    assert result.context == {"A": "1", "B": "2"}


def test_it_masks_an_unmasked_field_that_repeats_a_masked_value():
    result = mapped(
        {"card": "4111111111111111"},
        field(source="card", target="Card", transform="mask_keep_last4"),
        field(source="card", target="Raw"),
    )
    assert result.context == {"Card": "************1111", "Raw": "************1111"}


def test_it_treats_an_unusable_masked_value_as_a_secret_too():
    result = mapped({"pin": "12345678901"}, field(source="pin", max_length=4, transform="mask_all"))
    assert result.context == {}
    assert "12345678901" not in result.masker.text("my pin is 12345678901")


SYSTEM_REQUEST = {
    "conversation_id": "conv-1",
    "channel": "webchat",
    "topic": "refund",
    "topics": ["greeting", "refund"],
    "locale": "fr-FR",
    "agent_message": "Angry customer",
    "customer": {
        "id": "c-9",
        "name": "Alice",
        "email": "alice@example.com",
        "phone": "+33612345678",
    },
    "transcript": [
        {"from": "customer", "text": "hello"},
        {"from": "bot", "text": "How can I help?"},
        {"from": "customer", "text": "I want my money back"},
        {"from": "system", "text": "transfer"},
    ],
}


def test_it_builds_the_system_fields():
    assert system_fields(SYSTEM_REQUEST, bot_key="support-bot") == {
        "va_LastTopic": "refund",
        "va_Topics": ["greeting", "refund"],
        "va_LastPhrases": "I want my money back",
        "va_Phrases": "hello\nI want my money back",
        "va_ConversationId": "conv-1",
        "va_AgentMessage": "Angry customer",
        "va_BotId": "support-bot",
        "va_Language": "fr-FR",
        "va_Scope": "bot",
        "transcript.last_user_message": "I want my money back",
        "transcript.turns": 4,
        "customer.id": "c-9",
        "customer.name": "Alice",
        "customer.email": "alice@example.com",
        "customer.phone": "+33612345678",
    }


def test_it_builds_system_fields_from_an_empty_request():
    fields = system_fields({}, bot_key="b")
    assert fields["va_LastTopic"] is None
    assert fields["va_Topics"] == []
    assert fields["transcript.turns"] == 0
    assert fields["customer.email"] is None


def test_it_keeps_an_unknown_bot_framework_topic_name_as_the_last_topic():
    fields = system_fields({"topic": None, "topic_name": "Store hours"}, bot_key="b")
    assert fields["va_LastTopic"] == "Store hours"


def test_it_maps_system_fields_and_list_values():
    system = system_fields(SYSTEM_REQUEST, bot_key="support-bot")
    result = mapped(
        {},
        field(source="va_Topics", target="Topics"),
        field(source="customer.email", target="Email", transform="redact_email"),
        field(source="transcript.turns", target="Turns", type="number"),
        system=system,
    )
    assert result.context == {"Topics": "greeting, refund", "Email": "a***@example.com", "Turns": 4}


def test_the_masker_replaces_every_form_and_case():
    masker = Masker()
    masker.add("Alice@Example.com", "a***@example.com")
    assert masker.text("write to ALICE@example.COM please") == "write to a***@example.com please"
    assert masker.value({"a": ["alice@example.com", 3, None]}) == {
        "a": ["a***@example.com", 3, None]
    }


def test_the_masker_replaces_short_values_only_where_they_stand_alone():
    masker = Masker()
    masker.add("42", "**")
    assert masker.text("42 and 420 and x42 and (42)") == "** and 420 and x42 and (**)"
    assert masker.value(42) == "**"
    assert masker.value(420) == 420


def test_the_masker_ignores_blank_values():
    masker = Masker()
    masker.add("   ", "***")
    masker.add("", "")
    assert not masker
    assert masker.text("a   b") == "a   b"


def test_mask_keeps_the_last_four_of_long_values_only():
    assert mask("12345678", "mask_keep_last4") == "****5678"
    assert mask("1234", "mask_keep_last4") == "****"


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text(alphabet="ab1 -Xé", min_size=1, max_size=6), min_size=1, max_size=4),
    text=st.text(alphabet="ab1 -Xé.", max_size=60),
)
def test_the_fast_masker_path_agrees_with_the_regex(secrets, text):
    masker = Masker()
    for secret in secrets:
        masker.add(secret, "#")
    assume(masker)
    expected = masker._compiled().sub(masker._replace, text)
    assert masker.text(text) == expected


def test_the_masker_falls_back_to_the_regex_when_lower_case_changes_lengths():
    masker = Masker()
    masker.add("secret", "******")
    assert masker.text("İ secret SECRET") == "İ ****** ******"

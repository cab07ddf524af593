"""The handoff body's checks (handoff/engine/body.py) and the API's description of the body
(handoff/api/serializers.py, the OpenAPI schema) must say the same thing: the same limits, and
for any body the same cleaned data or the same named fields and messages."""

import json
from typing import Any

import pytest
from django.utils.dateparse import parse_datetime
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handoff.api.errors import flatten_fields
from handoff.api.serializers import HandoffCreateInput
from handoff.engine import body as spec
from handoff.engine.body import is_datetime, validate_handoff_body
from handoff.errors import Invalid


def by_serializer(body: Any) -> tuple[str, Any]:
    serializer = HandoffCreateInput(data=body)
    if serializer.is_valid():
        return "ok", json.loads(json.dumps(serializer.validated_data))
    return "invalid", list(flatten_fields(serializer.errors).items())


def by_validator(body: Any) -> tuple[str, Any]:
    try:
        cleaned = validate_handoff_body(body)
    except Invalid as exc:
        assert exc.code == "invalid"
        assert exc.message == f"Invalid request: {', '.join(exc.fields)}."
        return "invalid", list(exc.fields.items())
    return "ok", json.loads(json.dumps(cleaned))


def test_it_cleans_a_body_as_the_api_always_did() -> None:
    body = {
        "conversation_id": 42,
        "channel": " webchat ",
        "topic": None,
        "topics": ["a", 7],
        "customer": {"name": " Kim "},
        "variables": {"n": 1.5},
        "transcript": [{"from": "bot", "text": "  hi  ", "at": " 2026-11-25T10:00:00Z "}],
    }
    assert validate_handoff_body(body) == {
        "conversation_id": "42",
        "channel": "webchat",
        "topic": None,
        "topics": ["a", "7"],
        "customer": {"name": "Kim"},
        "variables": {"n": 1.5},
        "transcript": [{"text": "  hi  ", "at": "2026-11-25T10:00:00Z", "from": "bot"}],
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (None, {"body": "No data provided"}),
        ([1, 2], {"body": "Invalid data. Expected a dictionary, but got list."}),
        ({"channel": "x", "b": 1, "a": 2}, {"a": "Unknown field.", "b": "Unknown field."}),
        (
            {"channel": "", "customer": "kim"},
            {
                "conversation_id": "This field is required.",
                "channel": "This field may not be blank.",
                "customer.body": "Invalid data. Expected a dictionary, but got str.",
            },
        ),
        (
            {"conversation_id": "c", "channel": "w", "transcript": {"from": "bot"}},
            {"transcript.body": 'Expected a list of items but got type "dict".'},
        ),
        (
            {"conversation_id": "c", "channel": "w", "topics": ["ok", None, ""]},
            {
                "topics[1]": "This field may not be null.",
                "topics[2]": "This field may not be blank.",
            },
        ),
        (
            {"conversation_id": "c\x00" + "x" * 200, "channel": "w"},
            {
                "conversation_id": "Ensure this field has no more than 200 characters. "
                "Null characters are not allowed."
            },
        ),
        (
            {"conversation_id": "c", "channel": "w", "variables": {"": 1, "a": [1]}},
            {
                "variables.(empty)": "Variable names are 1 to 100 characters.",
                "variables.a": "Expected a string, number, boolean or null.",
            },
        ),
        (
            {"conversation_id": "c", "channel": "w", "transcript": [{"from": "robot"}, None]},
            {
                "transcript[0].text": "This field is required.",
                "transcript[0].from": '"robot" is not a valid choice.',
                "transcript[1]": "This field may not be null.",
            },
        ),
    ],
)
def test_it_names_each_bad_field_as_the_api_always_did(body: Any, fields: dict) -> None:
    with pytest.raises(Invalid) as caught:
        validate_handoff_body(body)
    assert caught.value.fields == fields
    assert by_serializer(body) == ("invalid", list(fields.items()))


# -- any body: the validator and the serializer agree ----------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["", "  ", "\x00", "\ud800x", "é", "customer", "bot"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "text"]), st.integers(), max_size=2),
)


def sized(limit: int) -> st.SearchStrategy[str]:
    """Text at and around a length limit, sometimes padded with spaces."""
    return st.builds(
        lambda n, pad, char: (" " * pad) + char * n + (" " * pad),
        st.sampled_from([0, 1, limit - 1, limit, limit + 1]),
        st.sampled_from([0, 0, 1]),
        st.sampled_from(["x", "é", " "]),
    )


def text_value(limit: int) -> st.SearchStrategy[Any]:
    return st.one_of(sized(limit), junk)


datetimes = st.one_of(
    st.sampled_from(
        [
            "2026-11-25T10:00:00Z",
            "2026-11-25 10:00",
            "2026-1-5T1:2:3.1234567+02:30",
            "2026-11-25T10:00:00+99:00",
            "2026-13-25T10:00:00",
            "2026-11-25",
            "yesterday",
            "2026-11-25T10:00:00\n",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    junk,
)

line = st.fixed_dictionaries(
    {},
    optional={
        "from": st.one_of(st.sampled_from(["customer", "bot", "system", "robot", ""]), junk),
        "text": text_value(spec.MAX_TEXT),
        "at": datetimes,
        "extra": junk,
    },
)

customer = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": text_value(200),
            "name": text_value(200),
            "email": text_value(320),
            "phone": text_value(50),
            "mail": junk,
        },
    ),
    junk,
)

variables = st.one_of(
    st.dictionaries(
        st.one_of(st.text(max_size=3), st.sampled_from(["", "x" * 101, "non_field_errors"])),
        st.one_of(junk, sized(spec.MAX_TEXT), st.just(float("nan"))),
        max_size=4,
    ),
    st.builds(lambda n: {f"v{i}": i for i in range(n)}, st.sampled_from([200, 201])),
    junk,
)

handoff_body = st.fixed_dictionaries(
    {},
    optional={
        "conversation_id": text_value(200),
        "channel": text_value(100),
        "topic": text_value(200),
        "topics": st.one_of(
            st.lists(text_value(200), max_size=3),
            st.builds(lambda n: ["t"] * n, st.sampled_from([200, 201])),
            junk,
        ),
        "locale": st.one_of(st.sampled_from(["en-US", "ja", "not a locale", "e", " fr-FR "]), junk),
        "reason": text_value(200),
        "customer": customer,
        "variables": variables,
        "transcript": st.one_of(
            st.lists(st.one_of(line, junk), max_size=3),
            st.builds(
                lambda n: [{"from": "bot", "text": "t"}] * n,
                st.sampled_from([spec.MAX_TRANSCRIPT, spec.MAX_TRANSCRIPT + 1]),
            ),
            junk,
        ),
        "agent_message": text_value(1000),
        "surprise": junk,
        "non_field_errors": junk,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(handoff_body, junk))
@example({"conversation_id": "c", "channel": "w", "transcript": [{"from": "bot", "text": ""}]})
@example({"conversation_id": 1.0, "channel": True})
def test_it_agrees_with_the_serializer_on_any_body(body: Any) -> None:
    assert by_validator(body) == by_serializer(body)


@settings(max_examples=300, deadline=None)
@given(st.one_of(datetimes.filter(lambda v: isinstance(v, str)), st.text(max_size=30)))
def test_it_reads_dates_as_django_does(value: str) -> None:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    assert is_datetime(value) == (parsed is not None)


# -- the schema documents the limits the validator applies -----------------------------------


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def limits(schema: dict, name: str) -> dict[str, Any]:
    """Each property's maxLength (text) or maxItems (lists) as the schema documents it."""
    out: dict[str, Any] = {}
    for prop, definition in component(schema, name)["properties"].items():
        if "maxLength" in definition:
            out[prop] = definition["maxLength"]
        if "maxItems" in definition:
            out[prop] = definition["maxItems"]
            if "maxLength" in definition.get("items", {}):
                out[f"{prop}[]"] = definition["items"]["maxLength"]
    return out


def validator_limits(obj: spec.Object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, check in obj.fields.items():
        if isinstance(check, spec.Text):
            out[name] = check.max_length
        elif isinstance(check, spec.TextList):
            out[name] = check.max_items
            out[f"{name}[]"] = check.item.max_length
        elif isinstance(check, spec.ObjectList):
            out[name] = check.max_items
    return out


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(
    ("component_name", "obj"),
    [
        ("HandoffCreateInputRequest", spec.HANDOFF_BODY),
        ("CustomerRequest", spec.CUSTOMER),
        ("TranscriptItemRequest", spec.TRANSCRIPT_LINE),
    ],
)
def test_the_schema_documents_the_validators_limits(
    schema: dict, component_name: str, obj: spec.Object
) -> None:
    assert limits(schema, component_name) == validator_limits(obj)


def test_the_serializer_limits_the_transcript_as_the_validator_does() -> None:
    # drf-spectacular does not document a nested list's length: the serializer says it.
    transcript: Any = HandoffCreateInput().fields["transcript"]
    assert transcript.max_length == spec.HANDOFF_BODY.fields["transcript"].max_items


def test_the_schema_documents_the_required_fields_and_choices(schema: dict) -> None:
    for component_name, obj in [
        ("HandoffCreateInputRequest", spec.HANDOFF_BODY),
        ("TranscriptItemRequest", spec.TRANSCRIPT_LINE),
    ]:
        required = [name for name, check in obj.fields.items() if check.required]
        assert sorted(component(schema, component_name).get("required", [])) == sorted(required)
    speaker = component(schema, "TranscriptItemRequest")["properties"]["from"]
    choices = speaker.get("enum") or component(schema, speaker["$ref"].rsplit("/", 1)[1])["enum"]
    assert tuple(choices) == spec.SPEAKERS


def test_every_operation_documents_throttling_and_unavailability(schema: dict) -> None:
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    assert len(operations) >= 7
    for operation in operations:
        assert {"429", "503"} <= set(operation["responses"]), operation["operationId"]
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"]
        assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_the_schema_documents_the_variables_and_transcript_limits(schema: dict) -> None:
    body = component(schema, "HandoffCreateInputRequest")["properties"]
    variables = spec.HANDOFF_BODY.fields["variables"]
    assert body["variables"]["maxProperties"] == variables.max_items
    assert body["variables"]["x-name-length"]["maxLength"] == variables.max_name
    text = body["variables"]["additionalProperties"]["anyOf"][0]
    assert text == {"type": "string", "maxLength": variables.max_text}
    assert body["transcript"]["maxItems"] == spec.HANDOFF_BODY.fields["transcript"].max_items


def test_the_schema_names_every_status_a_handoff_can_have(schema: dict) -> None:
    from handoff.engine.vocabulary import HandoffStatus

    assert component(schema, "HandoffStatusEnum")["enum"] == [s.value for s in HandoffStatus]
    detail = component(schema, "HandoffDetail")["properties"]["status"]
    assert detail == {"$ref": "#/components/schemas/HandoffStatusEnum"}

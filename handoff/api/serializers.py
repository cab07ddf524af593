"""The API's bodies, for the OpenAPI schema (docs/api.md) and the API's own small inputs.

A handoff body is checked by handoff/engine/body.py, for the API and the core alike; the
serializers below describe that same body, with the same limits and the same answers
(tests/api/test_handoff_body.py compares the two on any body).
"""

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from handoff.engine.body import (
    LOCALE_RE,
    MAX_TEXT,
    MAX_TOPICS,
    MAX_TRANSCRIPT,
    MAX_UNKNOWN_NAMED,
    MAX_VARIABLE_NAME,
    MAX_VARIABLES,
    SPEAKERS,
    variable_problem,
)
from handoff.engine.vocabulary import HandoffStatus


class StrictSerializer(serializers.Serializer):
    """Unknown keys are an error, so that a typo never passes silently."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown[:MAX_UNKNOWN_NAMED]}
                )
        return super().to_internal_value(data)


class CustomerSerializer(StrictSerializer):
    id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.CharField(max_length=320, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)


class TranscriptItemSerializer(StrictSerializer):
    text = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, trim_whitespace=False)
    at = serializers.CharField(required=False, max_length=64)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields["from"] = serializers.ChoiceField(choices=list(SPEAKERS))
        return fields

    def validate_at(self, value: str) -> str:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise serializers.ValidationError("Expected an ISO-8601 date and time.")
        return value


class VariablesField(serializers.DictField):
    """Bot variables: name -> string, number, boolean or null."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object of name to value.")
        if len(data) > MAX_VARIABLES:
            raise serializers.ValidationError(f"At most {MAX_VARIABLES} variables.")
        errors: dict[str, str] = {}
        for name, value in data.items():
            problem = variable_problem(name, value, max_name=MAX_VARIABLE_NAME, max_text=MAX_TEXT)
            if problem is not None:
                errors[name[:MAX_VARIABLE_NAME] or "(empty)"] = problem
        if errors:
            raise serializers.ValidationError(errors)
        return dict(data)


class HandoffCreateInput(StrictSerializer):
    conversation_id = serializers.CharField(max_length=200)
    channel = serializers.CharField(max_length=100)
    topic = serializers.CharField(max_length=200, required=False, allow_null=True)
    topics = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=MAX_TOPICS
    )
    locale = serializers.CharField(max_length=35, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    customer = CustomerSerializer(required=False)
    variables = VariablesField(required=False)
    transcript = TranscriptItemSerializer(
        many=True,
        required=False,
        max_length=MAX_TRANSCRIPT,  # type: ignore[call-arg]  # passed on to the ListSerializer
    )
    agent_message = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    def validate_locale(self, value: str) -> str:
        if value and not LOCALE_RE.match(value):
            raise serializers.ValidationError("Expected a BCP-47 tag such as en-US.")
        return value


class QueueRef(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class HandoffCreated(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=[
            s.value
            for s in (
                HandoffStatus.QUEUED,
                HandoffStatus.REJECTED,
                HandoffStatus.OFFERED,
                HandoffStatus.ASSIGNED,
            )
        ]
    )
    queue = QueueRef()
    rule = serializers.CharField(allow_null=True)
    position = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    status_url = serializers.CharField()


class AgentRef(serializers.Serializer):
    display_name = serializers.CharField()


class EventOut(serializers.Serializer):
    type = serializers.CharField()
    at = serializers.DateTimeField()
    detail = serializers.DictField()


class HandoffDetail(serializers.Serializer):
    id = serializers.UUIDField()
    conversation_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in HandoffStatus])
    queue = QueueRef(allow_null=True)
    rule = serializers.CharField(allow_null=True)
    position = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)
    agent = AgentRef(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    events = EventOut(many=True)


class ErrorInner(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "fields" would shadow Serializer.fields as a class attribute.
        fields["fields"] = serializers.DictField(
            child=serializers.CharField(), help_text="Each bad field and its problem."
        )
        return fields


class ErrorOut(serializers.Serializer):
    error = ErrorInner()


class BotFrameworkConversation(serializers.Serializer):
    id = serializers.CharField(max_length=200)


class BotFrameworkAttachment(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    contentType = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    content = serializers.JSONField(required=False, allow_null=True)


class BotFrameworkAccount(serializers.Serializer):
    """A ChannelAccount: the customer's id and name fill the handoff's customer."""

    id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    role = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class BotFrameworkReference(serializers.Serializer):
    user = BotFrameworkAccount(required=False, allow_null=True)


class BotFrameworkActivity(serializers.Serializer):
    """A Bot Framework `handoff.initiate` event activity; unknown members are ignored.

    The customer is `relatesTo.user` (Copilot Studio), else `from` unless its role is bot.
    """

    type = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    channelId = serializers.CharField(max_length=100)
    conversation = BotFrameworkConversation()
    value = serializers.DictField(required=False)
    attachments = BotFrameworkAttachment(many=True, required=False)
    relatesTo = BotFrameworkReference(required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields["from"] = BotFrameworkAccount(required=False, allow_null=True)
        return fields

    def validate_name(self, value: str) -> str:
        if value and value != "handoff.initiate":
            raise serializers.ValidationError("Expected the event handoff.initiate.")
        return value

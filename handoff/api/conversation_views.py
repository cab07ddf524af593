"""The conversation API: a channel adapter runs the authored topics through the portal.

Start a conversation, send each customer message, get the bot's replies and, at a transfer,
the handoff created. Bot-key auth, errors and throttling as for the handoff API (docs/api.md).
"""

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from handoff.api.presenters import conversation_handoff
from handoff.api.serializers import (
    CustomerSerializer,
    ErrorOut,
    QueueRef,
    StrictSerializer,
)
from handoff.api.views import ERRORS, BotApi
from handoff.config.snapshot import published_snapshot
from handoff.engine.body import LOCALE_RE, MAX_TEXT
from handoff.engine.intake import intake_check
from handoff.engine.vocabulary import HandoffStatus
from handoff.models import Conversation
from handoff.services.conversations import conversation_message, conversation_start


class ConversationHandoffOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[s.value for s in HandoffStatus])
    queue = QueueRef()
    position = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(allow_null=True)


class HandoffErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


def bot_conversation(bot: Any, conversation_id: uuid.UUID) -> Conversation:
    # Another bot's conversation is a 404, like another bot's handoff.
    return get_object_or_404(
        Conversation.objects.select_related("handoff"), pk=conversation_id, bot=bot
    )


class ConversationStartApi(BotApi):
    class ConversationStartInput(StrictSerializer):
        channel = serializers.CharField(max_length=100)
        locale = serializers.CharField(max_length=35, required=False, allow_blank=True)
        customer = CustomerSerializer(required=False)

        def validate_locale(self, value: str) -> str:
            if value and not LOCALE_RE.match(value):
                raise serializers.ValidationError("Expected a BCP-47 tag such as en-US.")
            return value

    class ConversationStarted(serializers.Serializer):
        id = serializers.UUIDField()
        replies = serializers.ListField(child=serializers.CharField())

    # drf-spectacular names schema components after the class: keep them unique.
    InputSerializer = ConversationStartInput
    OutputSerializer = ConversationStarted

    @extend_schema(
        operation_id="conversation_start",
        summary="Start a conversation with the authored topics",
        request=InputSerializer,
        responses={201: OutputSerializer, **{c: ERRORS[c] for c in (400, 401, 403, 415, 429)}},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # The checks of the handoff API, up front: a conversation that could never be handed
        # off is refused now rather than at its transfer.
        intake_check(published_snapshot(), bot_key=self.bot.key, channel=data["channel"])
        conversation, replies = conversation_start(
            bot=self.bot,
            channel=data["channel"],
            source=Conversation.Source.API,
            locale=data.get("locale", ""),
            customer=data.get("customer"),
        )
        return Response({"id": str(conversation.pk), "replies": replies}, status=201)


class ConversationMessageApi(BotApi):
    class ConversationMessageInput(StrictSerializer):
        text = serializers.CharField(max_length=MAX_TEXT, trim_whitespace=False)

    class ConversationTurn(serializers.Serializer):
        replies = serializers.ListField(child=serializers.CharField())
        variables = serializers.DictField()
        ended = serializers.BooleanField()
        handoff = ConversationHandoffOut(allow_null=True)
        error = HandoffErrorOut(
            allow_null=True, help_text="Why a transfer could not create a handoff."
        )

    InputSerializer = ConversationMessageInput
    OutputSerializer = ConversationTurn

    @extend_schema(
        operation_id="conversation_message",
        summary="Send the customer's message; get the bot's replies (and the handoff)",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            404: OpenApiResponse(ErrorOut),
            **{c: ERRORS[c] for c in (400, 401, 415, 429)},
        },
    )
    def post(self, request: Request, conversation_id: uuid.UUID) -> Response:
        conversation = bot_conversation(self.bot, conversation_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = conversation_message(
            conversation_id=conversation.pk, text=serializer.validated_data["text"]
        )
        error = None
        if turn.error is not None:
            error = {"code": turn.error["code"], "message": turn.error["message"]}
        return Response(
            {
                "replies": turn.replies,
                "variables": turn.variables,
                "ended": turn.ended,
                "handoff": conversation_handoff(turn.handoff, turn.waiting),
                "error": error,
            }
        )


class ConversationDetailApi(BotApi):
    class ConversationDetail(serializers.Serializer):
        id = serializers.UUIDField()
        channel = serializers.CharField()
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()
        topic = serializers.CharField(allow_null=True, help_text="The topic running now.")
        topics = serializers.ListField(child=serializers.CharField())
        variables = serializers.DictField()
        ended = serializers.BooleanField()
        transcript = serializers.ListField(child=serializers.DictField())
        handoff = ConversationHandoffOut(allow_null=True)

    OutputSerializer = ConversationDetail

    @extend_schema(
        operation_id="conversation_get",
        summary="A conversation: its variables, transcript and handoff",
        responses={200: OutputSerializer, 401: ERRORS[401], 404: OpenApiResponse(ErrorOut)},
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        conversation = bot_conversation(self.bot, conversation_id)
        state = conversation.state
        return Response(
            {
                "id": str(conversation.pk),
                "channel": conversation.channel,
                "created_at": conversation.created_at.isoformat(),
                "updated_at": conversation.updated_at.isoformat(),
                "topic": state.get("topic"),
                "topics": list(state.get("topics") or []),
                "variables": dict(state.get("variables") or {}),
                "ended": bool(state.get("ended")),
                "transcript": list(state.get("transcript") or []),
                "handoff": conversation_handoff(conversation.handoff, None),
            }
        )

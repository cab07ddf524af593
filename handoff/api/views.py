"""The REST handoff API v1 (docs/api.md): one APIView per operation."""

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff.api import bot_framework
from handoff.api.errors import ApiError, error_response
from handoff.api.presenters import created_body, detail_body
from handoff.api.serializers import (
    BotFrameworkActivity,
    ErrorOut,
    HandoffCreated,
    HandoffCreateInput,
    HandoffDetail,
)
from handoff.api.throttling import PerKeyThrottle
from handoff.config.snapshot import LOOK_UP, Snapshot, published_snapshot
from handoff.engine.body import validate_handoff_body
from handoff.errors import DomainError
from handoff.models import Bot, Handoff
from handoff.selectors.api_keys import KeyRow
from handoff.services.assignment import handoff_cancel
from handoff.services.idempotency import (
    idempotency_claim,
    idempotency_finish,
    idempotency_release,
    request_hash,
)
from handoff.services.intake import handoff_intake

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="At most 255 characters; the same key and body within 24 hours replays the "
    "first response.",
)

ERRORS = {
    code: OpenApiResponse(ErrorOut, description=text)
    for code, text in {
        400: "Invalid body; every bad field is named in error.fields.",
        401: "Missing, invalid or revoked API key.",
        403: "The channel is disabled or not allowed for this bot.",
        409: "The same Idempotency-Key is still being processed.",
        413: "Body over 1 MiB.",
        415: "Not JSON.",
        422: "Idempotency-Key reused with another body, or required context fields missing.",
        429: "Throttled; see Retry-After.",
    }.items()
}


class BotApi(APIView):
    throttle_classes = [PerKeyThrottle]

    @property
    def bot(self) -> Bot:
        assert isinstance(self.request.user, Bot)
        return self.request.user

    def published_snapshot(self) -> Snapshot | None:
        """The latest published configuration, as read with the bot's key."""
        grant = self.request.auth
        return published_snapshot(grant.published if isinstance(grant, KeyRow) else LOOK_UP)


def intake(
    bot: Bot, body: Any, *, snapshot: Snapshot | None, topic_name: str | None = None
) -> Response:
    """Check the body, route it with the published configuration and store the handoff.

    A body that is not valid is raised; what the configuration refuses is answered, so that
    with an Idempotency-Key the refusal is remembered and replayed (with_idempotency).
    """
    data = validate_handoff_body(body)
    try:
        result = handoff_intake(bot=bot, data=data, topic_name=topic_name, snapshot=snapshot)
    except DomainError as exc:
        return error_response(exc)
    answer = created_body(result.handoff, now=timezone.now(), position=result.position)
    return Response(answer, status=202 if result.created else 200)


def with_idempotency(request: Request, bot: Bot, run: Any) -> Response:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return run()
    if not key or len(key) > 255:
        raise ApiError(
            400,
            "invalid",
            "Invalid Idempotency-Key.",
            {"Idempotency-Key": "Use 1 to 255 characters."},
        )
    claim = idempotency_claim(bot=bot, key=key, body_hash=request_hash(request.data))
    if claim.outcome == "replay":
        return Response(claim.body, status=claim.status)
    if claim.outcome == "mismatch":
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different body.",
            {"Idempotency-Key": "Already used with a different body."},
        )
    if claim.outcome == "processing":
        raise ApiError(
            409, "idempotency_in_progress", "A request with this Idempotency-Key is in progress."
        )
    assert claim.row_id is not None
    try:
        response = run()
    except BaseException:
        idempotency_release(row_id=claim.row_id)
        raise
    idempotency_finish(row_id=claim.row_id, status=response.status_code, body=response.data)
    return response


class HandoffCreateApi(BotApi):
    @extend_schema(
        operation_id="handoff_create",
        summary="Hand a conversation to a human agent",
        parameters=[IDEMPOTENCY_HEADER],
        request=HandoffCreateInput,
        responses={
            202: HandoffCreated,
            200: OpenApiResponse(HandoffCreated, description="An open handoff already exists."),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        def run() -> Response:
            return intake(self.bot, request.data, snapshot=self.published_snapshot())

        return with_idempotency(request, self.bot, run)


class BotFrameworkHandoffApi(BotApi):
    @extend_schema(
        operation_id="handoff_create_bot_framework",
        summary="Hand off from a Bot Framework handoff.initiate event",
        parameters=[IDEMPOTENCY_HEADER],
        request=BotFrameworkActivity,
        responses={
            202: HandoffCreated,
            200: OpenApiResponse(HandoffCreated, description="An open handoff already exists."),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        def run() -> Response:
            activity = BotFrameworkActivity(data=request.data)
            activity.is_valid(raise_exception=True)
            snapshot = self.published_snapshot()
            raw = request.data if isinstance(request.data, dict) else {}
            body, topic_name = bot_framework.translate(activity.validated_data, raw, snapshot)
            return intake(self.bot, body, snapshot=snapshot, topic_name=topic_name)

        return with_idempotency(request, self.bot, run)


def bot_handoff(bot: Bot, handoff_id: uuid.UUID) -> Handoff:
    # Another bot's handoff is a 404: its existence is not this bot's business.
    return get_object_or_404(
        Handoff.objects.select_related("agent").prefetch_related("events"),
        pk=handoff_id,
        bot=bot,
    )


class HandoffDetailApi(BotApi):
    @extend_schema(
        operation_id="handoff_get",
        summary="A handoff as the bot may see it",
        responses={200: HandoffDetail, 401: ERRORS[401], 404: OpenApiResponse(ErrorOut)},
    )
    def get(self, request: Request, handoff_id: uuid.UUID) -> Response:
        return Response(detail_body(bot_handoff(self.bot, handoff_id)))


class HandoffCancelApi(BotApi):
    @extend_schema(
        operation_id="handoff_cancel",
        summary="The customer left: cancel the handoff",
        request=None,
        responses={
            200: HandoffDetail,
            401: ERRORS[401],
            404: OpenApiResponse(ErrorOut),
            409: OpenApiResponse(ErrorOut, description="The handoff is already terminal."),
        },
    )
    def post(self, request: Request, handoff_id: uuid.UUID) -> Response:
        handoff = get_object_or_404(Handoff.objects.only("pk"), pk=handoff_id, bot=self.bot)
        handoff_cancel(handoff=handoff, reason="customer_left")  # a terminal one: 409 terminal
        return Response(detail_body(bot_handoff(self.bot, handoff_id)))

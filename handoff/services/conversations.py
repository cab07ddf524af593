"""Conversations with the topics runtime: stored between messages, handed off for real.

The interpreter (handoff/engine/conversation.py) is pure; this module loads and saves its state and,
when a turn ends in a transfer, creates the handoff through `handoff_intake`, the same path
as `POST /api/v1/handoffs`. See docs/conversations.md.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from handoff.api.errors import ApiError
from handoff.api.serializers import HandoffCreateInput
from handoff.config.document import export_document
from handoff.config.snapshot import Snapshot, published_snapshot, snapshot_of
from handoff.config.validation import ConfigError, validate_document
from handoff.engine import conversation as runtime
from handoff.models import Bot, Channel, Conversation, Handoff
from handoff.services.events import handoff_event
from handoff.services.intake import handoff_created_body, handoff_intake

# "Test your bot" hands off as this bot, created on demand and allowed on every channel, so
# that the handoffs a maker creates while testing are real, routed, and easy to tell apart.
PORTAL_TEST_BOT = "portal-test-bot"
PORTAL_TEST_BOT_NAME = "Portal test bot"

DRAFT = "draft"
PUBLISHED = "published"
CANNOT_HAND_OFF = "Sorry, I could not connect you with a person right now. Please try again later."


class NotConfigured(Exception):
    """The configuration to run is missing (nothing published) or invalid (a draft)."""

    def __init__(self, message: str, errors: list[ConfigError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class Turn:
    conversation: Conversation
    replies: list[str]
    handoff: Handoff | None  # created (or found open) at this turn or an earlier one
    handoff_body: dict[str, Any] | None  # as POST /api/v1/handoffs answers it
    error: dict[str, Any] | None  # why a transfer could not create a handoff

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.conversation.state.get("variables") or {})

    @property
    def ended(self) -> bool:
        return bool(self.conversation.state.get("ended"))


# -- configuration --------------------------------------------------------------------------


def draft_snapshot(document: dict[str, Any]) -> Snapshot:
    # A draft is no version: its handoffs record none (config_version is null).
    return snapshot_of(document)


def configuration(config: str) -> Snapshot:
    """The configuration a conversation runs with: the latest published one, or the draft."""
    if config == DRAFT:
        document, errors = validate_document(export_document())
        if errors:
            # Marked, not translated: the API says it in English; the portal translates it.
            raise NotConfigured(gettext_noop("The draft configuration is not valid."), errors)
        return draft_snapshot(document)
    snapshot = published_snapshot()
    if snapshot is None:
        raise NotConfigured(
            gettext_noop("No configuration has been published yet; publish one first.")
        )
    return snapshot


def portal_test_bot() -> Bot:
    """The bot "Test your bot" hands off as; it is allowed on every channel there is."""
    bot, _created = Bot.objects.get_or_create(
        key=PORTAL_TEST_BOT, defaults={"name": PORTAL_TEST_BOT_NAME}
    )
    missing = Channel.objects.exclude(bots=bot)
    if missing.exists():
        bot.channels.add(*missing)
    return bot


# -- conversations --------------------------------------------------------------------------


def conversation_start(
    *,
    bot: Bot,
    channel: str,
    source: str,
    locale: str = "",
    customer: dict[str, Any] | None = None,
    config: str = PUBLISHED,
) -> tuple[Conversation, list[str]]:
    """A new conversation and the bot's greeting. The channel was checked by the caller."""
    snapshot = configuration(config)
    now = timezone.now()
    conversation_id = uuid.uuid4()
    state = runtime.start(
        snapshot.document,
        conversation_id=str(conversation_id),
        channel=channel,
        locale=locale,
        customer=customer,
        now=now,
    )
    state["config"] = config
    conversation = Conversation.objects.create(
        id=conversation_id,
        bot=bot,
        channel=channel,
        source=source,
        state=state,
        created_at=now,
        updated_at=now,
    )
    replies = [t["text"] for t in state["transcript"] if t["from"] == "bot"]
    return conversation, replies


def conversation_message(*, conversation_id: uuid.UUID | str, text: str) -> Turn:
    """One customer message: the bot's turn, stored; at a transfer, the handoff created.

    Holds the conversation's row lock for the turn, so that two messages sent at once are
    answered one after the other, never from the same old state.
    """
    now = timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().select_related("bot").get(pk=conversation_id)
        )
        config = conversation.state.get("config", PUBLISHED)
        snapshot = configuration(config)
        result = runtime.step(snapshot.document, conversation.state, text, now=now)
        state = result.state
        replies = list(result.replies)
        handoff = None
        body = None
        error = None
        if result.transfer is not None:
            handoff, body, error = _hand_off(conversation, result.transfer, snapshot, config)
            extra = [handoff_reply(body)] if body is not None else [CANNOT_HAND_OFF]
            runtime.say(state, extra, now)
            replies += extra
            if error is not None:
                state["handoff_error"] = error
        conversation.state = state
        conversation.updated_at = now
        fields = ["state", "updated_at"]
        if handoff is not None:
            conversation.handoff = handoff
            fields.append("handoff")
        conversation.save(update_fields=fields)
    if handoff is None and conversation.handoff_id is not None:
        handoff = Handoff.objects.get(pk=conversation.handoff_id)
        body = handoff_created_body(handoff, now=now)
    return Turn(
        conversation=conversation, replies=replies, handoff=handoff, handoff_body=body, error=error
    )


def _hand_off(
    conversation: Conversation, transfer: dict[str, Any], snapshot: Snapshot, config: str
) -> tuple[Handoff | None, dict[str, Any] | None, dict[str, Any] | None]:
    serializer = HandoffCreateInput(data=transfer)
    if not serializer.is_valid():
        # The runtime builds this body itself; a refusal here is a bug worth seeing, not a 500.
        return None, None, {"code": "invalid", "message": str(serializer.errors)}
    try:
        with transaction.atomic():
            _status, body = handoff_intake(
                bot=conversation.bot,
                data=serializer.validated_data,
                snapshot=snapshot if config == DRAFT else None,
                any_channel=conversation.source == Conversation.Source.PORTAL,
            )
            handoff = Handoff.objects.get(pk=body["id"])
            detail = {"conversation": str(conversation.pk), "source": conversation.source}
            handoff_event(handoff, "conversation", {**detail, "config": config})
    except ApiError as exc:
        return None, None, {"code": exc.error_code, "message": exc.message, "fields": exc.fields}
    return handoff, body, None


def handoff_reply(body: dict[str, Any]) -> str:
    """What the customer is told once the handoff is stored."""
    if body["status"] == "rejected":
        return str(body.get("message") or CANNOT_HAND_OFF)
    text = f"I am connecting you with a person from {body['queue']['name']}."
    if body.get("position"):
        text += f" You are number {body['position']} in the queue."
    wait = body.get("estimated_wait_seconds")
    if wait:
        minutes = max(1, round(wait / 60))
        text += f" The wait is about {minutes} minute{'s' if minutes != 1 else ''}."
    return text


def conversation_handoff_body(conversation: Conversation) -> dict[str, Any] | None:
    if conversation.handoff is None:
        return None
    return handoff_created_body(conversation.handoff, now=timezone.now())

"""Conversations with the topics runtime: stored between messages, handed off for real.

The interpreter (handoff/engine/conversation.py) is pure; this module loads and saves its state and,
when a turn ends in a transfer, creates the handoff through `handoff_intake`, the same path
as `POST /api/v1/handoffs`. See docs/conversations.md.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from handoff.config.snapshot import Snapshot, draft_snapshot, published_snapshot
from handoff.engine import conversation as runtime
from handoff.engine.body import validate_handoff_body
from handoff.engine.intake import NotConfigured
from handoff.engine.vocabulary import HandoffStatus
from handoff.errors import DomainError
from handoff.models import Bot, Channel, Conversation, Handoff
from handoff.selectors.handoffs import Waiting, handoff_waiting
from handoff.services.events import handoff_event
from handoff.services.intake import handoff_intake

# "Test your bot" hands off as this bot, created on demand and allowed on every channel, so
# that the handoffs a maker creates while testing are real, routed, and easy to tell apart.
PORTAL_TEST_BOT = "portal-test-bot"
PORTAL_TEST_BOT_NAME = "Portal test bot"

DRAFT = "draft"
PUBLISHED = "published"
CANNOT_HAND_OFF = "Sorry, I could not connect you with a person right now. Please try again later."


@dataclass
class Turn:
    conversation: Conversation
    replies: list[str]
    handoff: Handoff | None  # created (or found open) at this turn or an earlier one
    waiting: Waiting | None  # the handoff's place in its queue, as of this turn
    error: dict[str, Any] | None  # why a transfer could not create a handoff: code, message, fields

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.conversation.state.get("variables") or {})

    @property
    def ended(self) -> bool:
        return bool(self.conversation.state.get("ended"))


# -- configuration --------------------------------------------------------------------------


def configuration(config: str) -> Snapshot:
    """The configuration a conversation runs with: the latest published one, or the draft.

    Raises NotConfigured when there is none to run (nothing published, or a draft that would
    not publish).
    """
    if config == DRAFT:
        snapshot, problems = draft_snapshot()
        if problems:
            # Marked, not translated: the API says it in English; the portal translates it.
            raise NotConfigured(gettext_noop("The draft configuration is not valid."), problems)
        return snapshot
    published = published_snapshot()
    if published is None:
        raise NotConfigured()
    return published


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
        waiting = None
        error = None
        if result.transfer is not None:
            handoff, waiting, error = _hand_off(
                conversation, result.transfer, snapshot, config, now
            )
            extra = [CANNOT_HAND_OFF]
            if handoff is not None and waiting is not None:
                extra = [handoff_reply(handoff, waiting)]
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
        waiting = handoff_waiting(handoff, now=now)
    return Turn(
        conversation=conversation, replies=replies, handoff=handoff, waiting=waiting, error=error
    )


def _hand_off(
    conversation: Conversation,
    transfer: dict[str, Any],
    snapshot: Snapshot,
    config: str,
    now: datetime,
) -> tuple[Handoff | None, Waiting | None, dict[str, Any] | None]:
    try:
        # The runtime builds this body itself; a refusal here is a bug worth seeing, not a 500.
        data = validate_handoff_body(transfer)
        with transaction.atomic():
            result = handoff_intake(
                bot=conversation.bot,
                data=data,
                snapshot=snapshot if config == DRAFT else None,
                any_channel=conversation.source == Conversation.Source.PORTAL,
            )
            detail = {"conversation": str(conversation.pk), "source": conversation.source}
            handoff_event(result.handoff, "conversation", {**detail, "config": config})
    except DomainError as exc:
        return None, None, exc.as_dict()
    waiting = handoff_waiting(result.handoff, now=now, position=result.position)
    return result.handoff, waiting, None


def handoff_reply(handoff: Handoff, waiting: Waiting) -> str:
    """What the customer is told once the handoff is stored."""
    if handoff.status == HandoffStatus.REJECTED:
        return str(handoff.message or CANNOT_HAND_OFF)
    text = f"I am connecting you with a person from {handoff.queue_name}."
    if waiting.position:
        text += f" You are number {waiting.position} in the queue."
    if waiting.estimated_wait_seconds:
        minutes = max(1, round(waiting.estimated_wait_seconds / 60))
        text += f" The wait is about {minutes} minute{'s' if minutes != 1 else ''}."
    return text

"""Storing a routed handoff: one transaction, delivery published only after commit."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff.api.errors import ApiError
from handoff.delivery.publish import publish_delivery
from handoff.engine.routing import Decision, decide
from handoff.models import Bot, Handoff, HandoffEvent, Queue
from handoff.selectors import handoffs as selectors
from handoff.selectors.handoffs import Snapshot
from handoff.services.live import live_handoff_queued

# A handoff keeps the explanation of how it was routed; with hundreds of rules the rules that
# did not match would dominate every stored row, so past this many they are summarised.
STORED_RULE_MISSES = 20


def stored_explanation(explanation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    misses = [e for e in explanation if e.get("step") == "rule" and e.get("result") != "matched"]
    if len(misses) <= STORED_RULE_MISSES:
        return explanation
    dropped = {id(e) for e in misses[STORED_RULE_MISSES:]}
    kept = [e for e in explanation if id(e) not in dropped]
    summary = {
        "step": "rules_not_stored",
        "count": len(dropped),
        "text": f"{len(dropped)} more rule(s) did not match (not stored; see the simulator).",
    }
    last_miss = kept.index(misses[STORED_RULE_MISSES - 1]) + 1
    return [*kept[:last_miss], summary, *kept[last_miss:]]


@dataclass
class IntakeResult:
    handoff: Handoff
    created: bool


def handoff_create(
    *,
    bot: Bot,
    request: dict[str, Any],
    decision: Decision,
    snapshot: Snapshot,
    now: datetime,
    topic: str | None,
) -> IntakeResult:
    """Store the handoff and its first events; a concurrent twin returns the open one."""
    queued = decision.status == "queued"
    handoff = Handoff(
        bot=bot,
        conversation_id=request["conversation_id"],
        channel=request["channel"],
        topic=topic,
        topics=request.get("topics", []),
        locale=request.get("locale", ""),
        reason=request.get("reason", ""),
        customer=decision.customer,
        variables=decision.variables,
        context=decision.context,
        transcript=decision.transcript,
        agent_message=decision.agent_message,
        status="queued" if queued else "rejected",
        # Only the id: loading the row would decrypt its webhook secret for nothing.
        queue_id=Queue.objects.filter(key=decision.queue_key).values_list("pk", flat=True).first(),
        queue_key=decision.queue_key,
        queue_name=decision.queue_name,
        priority=decision.priority,
        rule=decision.rule,
        required_skills=decision.required_skills,
        message=decision.message,
        config_version_id=snapshot.version_id,
        decision={
            "explanation": stored_explanation(decision.explanation),
            "warnings": decision.warnings,
        },
        created_at=now,
        updated_at=now,
        queued_at=now if queued else None,
        closed_at=None if queued else now,
    )
    try:
        with transaction.atomic():
            handoff.save(force_insert=True)
            routed = {
                "queue": decision.queue_key,
                "rule": decision.rule,
                "config_version": snapshot.number,
            }
            events: list[tuple[str, dict[str, Any]]] = [("received", {"channel": handoff.channel})]
            events += [("context_warning", warning) for warning in decision.warnings]
            if queued:
                events.append(("queued", routed))
            else:
                events.append(("rejected", {**routed, "message": decision.message}))
            HandoffEvent.objects.bulk_create(
                [HandoffEvent(handoff=handoff, type=t, detail=d, at=now) for t, d in events]
            )
            if queued:
                live_handoff_queued(handoff)
                handoff_id = handoff.pk
                webhook = snapshot.queues.get(decision.queue_key, {}).get("delivery", {})
                track = webhook.get("kind") == "webhook"
                transaction.on_commit(lambda: publish_delivery(handoff_id, track=track))
    except IntegrityError:
        # Another request for the same conversation won the race (one open handoff each).
        existing = selectors.open_handoff(bot_id=bot.pk, conversation_id=request["conversation_id"])
        if existing is None:
            raise
        return IntakeResult(handoff=existing, created=False)
    return IntakeResult(handoff=handoff, created=True)


def waiting_fields(
    handoff: Handoff, *, now: datetime, position: int | None = None
) -> dict[str, int | None]:
    """`position` and `estimated_wait_seconds`, as both the create and the read answers give
    them (`position` when already known)."""
    if position is None:
        position = selectors.queue_position(handoff)
    return {
        "position": position,
        "estimated_wait_seconds": selectors.estimated_wait_seconds(
            queue_key=handoff.queue_key, position=position, now=now
        ),
    }


def handoff_created_body(
    handoff: Handoff, *, now: datetime, position: int | None = None
) -> dict[str, Any]:
    """The handoff as `POST /api/v1/handoffs` answers it (`position` when already known)."""
    return {
        "id": str(handoff.pk),
        "status": handoff.status,
        "queue": {"key": handoff.queue_key, "name": handoff.queue_name},
        "rule": handoff.rule,
        **waiting_fields(handoff, now=now, position=position),
        "message": handoff.message,
        "status_url": f"/api/v1/handoffs/{handoff.pk}",
    }


class RoutingConfig(Protocol):
    @property
    def channels(self) -> dict[str, dict[str, Any]]: ...
    @property
    def topics(self) -> dict[str, dict[str, Any]]: ...
    @property
    def bots(self) -> dict[str, dict[str, Any]]: ...


def intake_refusal(
    *, config: RoutingConfig, bot_key: str, data: dict[str, Any], any_channel: bool = False
) -> ApiError | None:
    """What the configuration refuses in a valid body: unknown keys (400), channels (403).

    The API raises it; the simulator shows it the same way.
    """
    channel = config.channels.get(data["channel"])
    if channel is None:
        return ApiError(400, "invalid", "Unknown channel.", {"channel": "Unknown channel key."})
    topic = data.get("topic")
    if topic is not None and topic not in config.topics:
        return ApiError(400, "invalid", "Unknown topic.", {"topic": "Unknown topic key."})
    if not channel.get("enabled", True):
        return ApiError(403, "channel_disabled", f"The channel {channel['key']} is disabled.")
    allowed = config.bots.get(bot_key, {}).get("channels", [])
    if channel["key"] not in allowed and not any_channel:
        return ApiError(
            403, "channel_not_allowed", f"This bot may not hand off on channel {channel['key']}."
        )
    return None


def handoff_intake(
    *,
    bot: Bot,
    data: dict[str, Any],
    topic_name: str | None = None,
    snapshot: Snapshot | None = None,
    any_channel: bool = False,
) -> tuple[int, dict[str, Any]]:
    """Route a validated handoff body and store the handoff: (202 or 200, the response body).

    The API, the Bot Framework endpoint and the conversation runtime all come through here.
    `snapshot` is the configuration to route with (default: the latest published one; "Test
    your bot" passes the draft). `any_channel` skips the bot's channel list, for the portal's
    test bot, which may be newer than the published configuration. Refusals raise ApiError.
    """
    if snapshot is None:
        snapshot = selectors.published_snapshot()
    if snapshot is None:
        raise ApiError(
            503, "not_configured", "No configuration has been published yet; publish one first."
        )
    refusal = intake_refusal(config=snapshot, bot_key=bot.key, data=data, any_channel=any_channel)
    if refusal is not None:
        raise refusal
    topic = data.get("topic")

    now = timezone.now()
    # No look-up of an open handoff for this conversation first: the partial unique index
    # answers that at insert time (handoff_create), one query less for every new handoff.
    routed = dict(data)
    if topic_name is not None:
        # A Bot Framework topic name we do not know: kept in the context, routed as no topic.
        routed["topic_name"] = topic_name
    decision = decide(
        snapshot.document,
        routed,
        bot_key=bot.key,
        queue_states=(states := selectors.queue_states(now)),
        now=now,
    )
    if decision.errors:
        existing = selectors.open_handoff(bot_id=bot.pk, conversation_id=data["conversation_id"])
        if existing is not None:
            return 200, handoff_created_body(existing, now=now)
        raise ApiError(
            422,
            "context_invalid",
            "Required context fields are missing or invalid.",
            {f"context.{target}": message for target, message in decision.errors.items()},
        )
    result = handoff_create(
        bot=bot, request=data, decision=decision, snapshot=snapshot, now=now, topic=topic
    )
    if not result.created:
        return 200, handoff_created_body(result.handoff, now=now)
    # A new handoff's place in line follows from the queue state it was routed with: one
    # count query less on every request.
    position = None
    if result.handoff.status == "queued":
        state = states.get(result.handoff.queue_key)
        position = (state.ahead_of(result.handoff.priority) if state else 0) + 1
    return 202, handoff_created_body(result.handoff, now=now, position=position)

"""Storing a routed handoff: one transaction, delivery published only after commit."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import JSONField
from django.utils import timezone
from psycopg.types.json import Jsonb

from handoff.config.snapshot import Snapshot, published_snapshot
from handoff.delivery.publish import publish_delivery
from handoff.engine.intake import intake_plan
from handoff.engine.routing import Decision
from handoff.engine.vocabulary import DeliveryKind, HandoffStatus
from handoff.models import Bot, Handoff, HandoffEvent, Queue
from handoff.selectors import handoffs as selectors
from handoff.selectors.sql import hot_cursor

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


def handoff_from_decision(
    *,
    bot: Bot,
    request: dict[str, Any],
    decision: Decision,
    snapshot: Snapshot,
    queue_id: int | None,
    now: datetime,
) -> Handoff:
    """The handoff row (not saved) for a valid request routed as `decision` at `now`: queued,
    or rejected and closed at once."""
    queued = decision.status == HandoffStatus.QUEUED
    return Handoff(
        bot=bot,
        conversation_id=request["conversation_id"],
        channel=request["channel"],
        topic=request.get("topic"),
        topics=request.get("topics", []),
        locale=request.get("locale", ""),
        reason=request.get("reason", ""),
        customer=decision.customer,
        variables=decision.variables,
        context=decision.context,
        transcript=decision.transcript,
        agent_message=decision.agent_message,
        status=HandoffStatus.QUEUED if queued else HandoffStatus.REJECTED,
        queue_id=queue_id,
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


@dataclass(frozen=True)
class IntakeResult:
    handoff: Handoff
    created: bool  # False: the conversation's open handoff, found instead
    position: int | None = None  # in its queue, when known without a query


def _events(
    decision: Decision, snapshot: Snapshot, handoff: Handoff, now: datetime
) -> list[HandoffEvent]:
    routed = {"queue": decision.queue_key, "rule": decision.rule, "config_version": snapshot.number}
    events: list[tuple[str, dict[str, Any]]] = [("received", {"channel": handoff.channel})]
    events += [("context_warning", warning) for warning in decision.warnings]
    if handoff.status == HandoffStatus.QUEUED:
        events.append(("queued", routed))
    else:
        events.append(("rejected", {**routed, "message": decision.message}))
    return [HandoffEvent(handoff=handoff, type=t, detail=d, at=now) for t, d in events]


_HANDOFF_FIELDS = list(Handoff._meta.concrete_fields)
_EVENT_FIELDS = [
    f for f in HandoffEvent._meta.concrete_fields if f.attname not in ("id", "handoff_id")
]
_INSERT_SQL: dict[int, str] = {}  # by number of events


def _insert_sql(ops: Any, event_count: int) -> str:
    def columns(fields: list[Any]) -> list[str]:
        return [ops.quote_name(str(f.column)) for f in fields]

    values = [
        # Only the queue's id: loading its row would decrypt its webhook secret for nothing.
        f"(SELECT id FROM {Queue._meta.db_table} WHERE key = %s)"  # noqa: S608
        if f.attname == "queue_id"
        else "%s"
        for f in _HANDOFF_FIELDS
    ]
    casts = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in _EVENT_FIELDS)
    rows = ", ".join(f"({number}, {casts})" for number in range(event_count))
    event_columns = columns(_EVENT_FIELDS)
    picked = ", ".join(f"e.{column}" for column in event_columns)
    # Names from the models; every value is a parameter. Events get their ids in their order.
    return (
        f"WITH h AS (INSERT INTO {Handoff._meta.db_table} "  # noqa: S608
        f"({', '.join(columns(_HANDOFF_FIELDS))}) VALUES ({', '.join(values)}) RETURNING id) "
        f"INSERT INTO {HandoffEvent._meta.db_table} (handoff_id, {', '.join(event_columns)}) "
        f"SELECT h.id, {picked} FROM h, (VALUES {rows}) AS e(n, {', '.join(event_columns)}) "
        "ORDER BY e.n"
    )


def _json(value: Any) -> Jsonb:
    """A JSON column's value written by orjson: the standard library's encoder (what Django
    uses) took a fifth of an intake's Python time on the explanation and the transcript."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson does not write (a lazy translation, a huge integer)
        data = json.dumps(value).encode()
    return Jsonb(value, dumps=lambda _: data)


def _insert_in_one_statement(handoff: Handoff, events: list[HandoffEvent], queue_key: str) -> None:
    """PostgreSQL: the handoff, its queue's id and its events in one statement, so one round
    trip (the ORM's BEGIN, two inserts and COMMIT are four). A statement is atomic."""
    db = connections[DEFAULT_DB_ALIAS]

    def prepared(field: Any, row: Any = handoff) -> Any:
        value = getattr(row, field.attname)
        if isinstance(field, JSONField) and value is not None:
            return _json(value)
        return field.get_db_prep_save(value, db)

    sql = _INSERT_SQL.get(len(events))
    if sql is None:
        sql = _INSERT_SQL.setdefault(len(events), _insert_sql(db.ops, len(events)))
    params = [queue_key if f.attname == "queue_id" else prepared(f) for f in _HANDOFF_FIELDS]
    for event in events:
        params += [prepared(f, event) for f in _EVENT_FIELDS]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)


def handoff_create(
    *,
    bot: Bot,
    request: dict[str, Any],
    decision: Decision,
    snapshot: Snapshot,
    now: datetime,
) -> IntakeResult:
    """Store the handoff and its first events; a concurrent twin returns the open one."""
    handoff = handoff_from_decision(
        bot=bot, request=request, decision=decision, snapshot=snapshot, queue_id=None, now=now
    )
    events = _events(decision, snapshot, handoff, now)
    queued = handoff.status == HandoffStatus.QUEUED
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            _insert_in_one_statement(handoff, events, decision.queue_key)
        else:
            # Inside a caller's transaction a savepoint keeps it usable after a conflict.
            with transaction.atomic():
                # Only the id: loading the row would decrypt its webhook secret for nothing.
                handoff.queue_id = (
                    Queue.objects.filter(key=decision.queue_key)
                    .values_list("pk", flat=True)
                    .first()
                )
                handoff.save(force_insert=True)
                HandoffEvent.objects.bulk_create(events)
    except IntegrityError:
        # Another request for the same conversation won the race (one open handoff each).
        existing = selectors.open_handoff(bot_id=bot.pk, conversation_id=request["conversation_id"])
        if existing is None:
            raise
        return IntakeResult(handoff=existing, created=False)
    if queued:
        handoff_id = handoff.pk
        webhook = snapshot.queues.get(decision.queue_key, {}).get("delivery", {})
        track = webhook.get("kind") == DeliveryKind.WEBHOOK
        transaction.on_commit(lambda: publish_delivery(handoff_id, track=track))
    return IntakeResult(handoff=handoff, created=True)


def handoff_intake(
    *,
    bot: Bot,
    data: dict[str, Any],
    topic_name: str | None = None,
    snapshot: Snapshot | None = None,
    any_channel: bool = False,
) -> IntakeResult:
    """Route a valid handoff body (handoff/engine/body.py) and store the handoff, or find the
    conversation's open one.

    The API, the Bot Framework endpoint and the conversation runtime all come through here.
    `snapshot` is the configuration to route with (default: the latest published one; "Test
    your bot" passes the draft). `any_channel` skips the bot's channel list, for the portal's
    test bot, which may be newer than the published configuration. Raises the refusals of
    handoff/engine/intake.py (domain errors).
    """
    if snapshot is None:
        snapshot = published_snapshot()
    now = timezone.now()
    # No look-up of an open handoff for this conversation first: the partial unique index
    # answers that at insert time (handoff_create), one query less for every new handoff.
    plan = intake_plan(
        snapshot,
        data,
        bot_key=bot.key,
        now=now,
        queue_states=selectors.queue_states,
        topic_name=topic_name,
        any_channel=any_channel,
    )
    if plan.refusal is not None:
        existing = selectors.open_handoff(bot_id=bot.pk, conversation_id=data["conversation_id"])
        if existing is not None:
            return IntakeResult(handoff=existing, created=False)
        raise plan.refusal
    result = handoff_create(
        bot=bot, request=data, decision=plan.decision, snapshot=plan.config, now=now
    )
    if not result.created or result.handoff.status != HandoffStatus.QUEUED:
        return result
    # A new handoff's place in line follows from the queue state it was routed with: one
    # count query less on every request.
    state = plan.queue_states.get(result.handoff.queue_key)
    position = (state.ahead_of(result.handoff.priority) if state else 0) + 1
    return IntakeResult(handoff=result.handoff, created=True, position=position)

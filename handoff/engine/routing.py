"""The routing engine (docs/routing.md): published snapshot + request in, decision out.

Pure: no ORM, no I/O. The API, the simulator and the tests all call `decide`. The order of
work is: system fields, context mapping (mapping.py), rules in order (conditions.py), the
queue's state (hours.py, capacity, waiting time), overflow, and the fallback queue. Every step
leaves an entry in `Decision.explanation`. docs/routing.md describes the semantics.
"""

import dataclasses
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handoff.engine.conditions import MISSING, Condition, compile_condition, show, text_form
from handoff.engine.hours import Hours, check_hours, compile_hours
from handoff.engine.mapping import (
    FieldSpec,
    Mapped,
    Masker,
    compile_fields,
    map_context,
    system_fields,
)
from handoff.engine.vocabulary import HandoffStatus, OverflowAction

# Plain strings, as the decision and its explanation are stored as JSON.
QUEUED = HandoffStatus.QUEUED.value
REJECTED = HandoffStatus.REJECTED.value
TRANSFER = OverflowAction.TRANSFER.value
REJECT = OverflowAction.REJECT.value
QUEUE_ANYWAY = OverflowAction.QUEUE_ANYWAY.value
DEFAULT_REJECT_MESSAGE = "Sorry, nobody can take your conversation right now."
TEMPLATE_RE = re.compile(r"\{(context|variables|customer)\.([^{}\s]{1,200})\}")


@dataclass(frozen=True)
class QueueState:
    waiting: int = 0  # handoffs queued or offered in that queue now
    longest_wait_seconds: float | None = None
    # (priority, waiting count) pairs: how many a new handoff of a given priority queues behind.
    waiting_by_priority: tuple[tuple[int, int], ...] = ()

    def ahead_of(self, priority: int) -> int:
        """Waiting handoffs served before a new one of this priority (same priority: earlier)."""
        return sum(count for p, count in self.waiting_by_priority if p <= priority)


@dataclass
class Decision:
    status: str  # "queued" or "rejected"
    queue_key: str
    queue_name: str
    rule: str | None  # name of the matched rule, None for fallback
    priority: int  # rule priority override, else the queue's priority
    required_skills: dict[str, int]
    agent_message: str  # rule template rendered + bot agent_message, joined by a blank line
    message: str | None  # text for the customer when rejected
    context: dict[str, Any]  # target -> mapped, typed, masked value (JSON-serialisable)
    visible_context: list[dict]  # [{"target","label","value"}], visible_to_agent fields only
    variables: dict[str, Any]  # request variables, masked values masked
    customer: dict[str, Any]  # masked the same way
    transcript: list[dict]  # masked the same way
    warnings: list[dict]  # [{"field": target, "message": ...}] optional fields that fell back
    errors: dict[str, str]  # required fields missing/invalid: target -> message (API: 422)
    explanation: list[dict]  # every step, each {"step": ..., "text": ..., ...}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- compiled snapshot -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    order: int
    enabled: bool
    mode: str  # "all" or "any"
    conditions: tuple[Condition, ...]
    queue: str
    priority: int | None
    require_skills: dict[str, int]
    agent_message: str
    head: str  # 'Rule "VIP" (order 1)'
    # Each condition with the start of its failure text, built once: the hot loop only appends.
    checks: tuple[tuple[Condition, str], ...]


@dataclass(frozen=True)
class CompiledQueue:
    key: str
    name: str
    priority: int
    hours: Hours | None
    max_waiting: int | None
    when_closed: dict[str, Any] | None
    when_full: dict[str, Any] | None
    max_wait_seconds: int | None


@dataclass(frozen=True)
class CompiledSnapshot:
    rules: tuple[CompiledRule, ...]
    queues: dict[str, CompiledQueue]
    fallback: str
    fields: tuple[FieldSpec, ...]
    # Known skill keys, to drop skills rendered from the context that nobody defined; None
    # when the snapshot has no skills section (then rendered keys are kept as they are).
    skills: frozenset[str] | None = None


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _compile_rule(raw: dict[str, Any], index: int) -> CompiledRule:
    conditions = raw.get("conditions")
    conditions = conditions if isinstance(conditions, dict) else {}
    mode = "any" if "any" in conditions and "all" not in conditions else "all"
    items = conditions.get(mode)
    skills = raw.get("require_skills")
    name = str(raw.get("name") or f"rule {index + 1}")
    order = _int(raw.get("order"), index) or 0
    head = f'Rule "{name}" (order {order})'
    conditions = tuple(compile_condition(c) for c in (items if isinstance(items, list) else ()))
    return CompiledRule(
        name=name,
        order=order,
        enabled=raw.get("enabled", True) is not False,
        mode=mode,
        conditions=conditions,
        head=head,
        checks=tuple((c, f"{head}: {c.describe}: {c.field} is ") for c in conditions),
        queue=str(raw.get("queue") or ""),
        priority=_int(raw.get("priority")),
        require_skills={
            str(k): v for k, v in (skills.items() if isinstance(skills, dict) else ()) if _int(v)
        },
        agent_message=raw["agent_message"] if isinstance(raw.get("agent_message"), str) else "",
    )


def _action(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    return {
        "action": raw.get("action") or QUEUE_ANYWAY,
        "message": raw.get("message"),
        "queue": raw.get("queue"),
    }


def _compile_queue(raw: dict[str, Any]) -> CompiledQueue:
    overflow = raw.get("overflow")
    overflow = overflow if isinstance(overflow, dict) else {}
    key = str(raw.get("key"))
    return CompiledQueue(
        key=key,
        name=str(raw.get("name") or key),
        priority=_int(raw.get("priority"), 0) or 0,
        hours=compile_hours(raw.get("hours")),
        max_waiting=_int(raw.get("max_waiting")),
        when_closed=_action(overflow.get("when_closed")),
        when_full=_action(overflow.get("when_full")),
        max_wait_seconds=_int(overflow.get("max_wait_seconds")),
    )


def compile_snapshot(snapshot: dict[str, Any]) -> CompiledSnapshot:
    """Everything about a snapshot that does not depend on the request, done once."""
    raw_rules = [r for r in snapshot.get("rules") or () if isinstance(r, dict)]
    rules = [_compile_rule(r, i) for i, r in enumerate(raw_rules)]
    # Python's sort is stable: equal orders keep their document order.
    rules.sort(key=lambda r: r.order)
    raw_queues = [q for q in snapshot.get("queues") or () if isinstance(q, dict) and "key" in q]
    queues = {str(q["key"]): _compile_queue(q) for q in raw_queues}
    fallback = next((str(q["key"]) for q in raw_queues if q.get("fallback") is True), None)
    if fallback is None:  # publish guarantees one; keep routing somewhere regardless
        fallback = next(iter(queues), "")
    return CompiledSnapshot(
        rules=tuple(rules),
        queues=queues,
        fallback=fallback,
        fields=compile_fields(snapshot.get("context_fields")),
        skills=_skill_keys(snapshot.get("skills")),
    )


def _skill_keys(raw: Any) -> frozenset[str] | None:
    if not isinstance(raw, list):
        return None
    return frozenset(str(s["key"]) for s in raw if isinstance(s, dict) and "key" in s)


# Published snapshots are immutable and the API hands us the same dict for a version, so the
# compiled form is cached by identity. The entry holds the dict itself, so its id cannot be
# reused while cached; the fingerprint catches a caller that adds or removes items in place.
_CACHE_SIZE = 16
_cache: dict[int, tuple[dict[str, Any], tuple[Any, ...], CompiledSnapshot]] = {}
_cache_lock = threading.Lock()


def _fingerprint(snapshot: dict[str, Any]) -> tuple[Any, ...]:
    parts: list[Any] = []
    for name in ("rules", "queues", "context_fields", "skills"):
        items = snapshot.get(name)
        parts += [id(items), len(items) if isinstance(items, list) else -1]
    return tuple(parts)


def compiled(snapshot: "dict[str, Any] | CompiledSnapshot") -> CompiledSnapshot:
    if isinstance(snapshot, CompiledSnapshot):
        return snapshot
    key = id(snapshot)
    fingerprint = _fingerprint(snapshot)
    entry = _cache.get(key)
    if entry is not None and entry[0] is snapshot and entry[1] == fingerprint:
        return entry[2]
    result = compile_snapshot(snapshot)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (snapshot, fingerprint, result)
    return result


# -- decide ----------------------------------------------------------------------------------


def decide(
    snapshot: "dict[str, Any] | CompiledSnapshot",
    request: dict[str, Any],
    *,
    bot_key: str,
    queue_states: Mapping[str, QueueState],
    now: datetime,
) -> Decision:
    """Route one validated handoff request with a published snapshot.

    The snapshot is treated as immutable (it is cached compiled by identity): to route with a
    changed document, pass a new dict or a fresh `compile_snapshot()`.
    """
    plan = compiled(snapshot)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    variables = request.get("variables")
    variables = variables if isinstance(variables, dict) else {}
    customer = request.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    transcript = request.get("transcript")
    transcript = transcript if isinstance(transcript, list) else []

    explanation: list[dict[str, Any]] = []
    system = system_fields(request, bot_key=bot_key)
    mapped = map_context(plan.fields, system, variables)
    masker = mapped.masker
    _explain_system(system, masker, explanation)
    for note in mapped.notes:
        text = masker.text("Context: " + note["text"])
        explanation.append({"step": "context", "field": note["field"], "text": text})

    facts = {
        "topic": request.get("topic") if isinstance(request.get("topic"), str) else None,
        "topics": system["va_Topics"],
        "channel": request.get("channel"),
        "locale": request.get("locale"),
        "reason": request.get("reason"),
        "bot": bot_key,
        "transcript.turns": system["transcript.turns"],
    }
    sources = {
        "request": facts,
        "variables": variables,
        "context": mapped.values,
        "customer": customer,
    }
    rule = _pick_rule(plan, sources, masker, explanation)

    if rule is not None:
        start = rule.queue
    else:
        start = plan.fallback
        explanation.append(
            {
                "step": "fallback",
                "queue": start,
                "text": f"No rule matched: the fallback queue {start} takes the handoff.",
            }
        )
    status, queue, message = _place(plan, start, queue_states, now, explanation)

    masked_variables = masker.value(variables)
    masked_customer = masker.value(customer)
    agent_message = _agent_message(rule, mapped, masked_variables, masked_customer, request)
    priority = rule.priority if rule is not None and rule.priority is not None else queue.priority
    required_skills = _required_skills(plan, rule, sources, masker, explanation)
    if status == QUEUED:
        text = f"Queued in {queue.name} ({queue.key}) with priority {priority}."
    else:
        text = f"Rejected by {queue.name} ({queue.key}); the customer is told: {message}"
    explanation.append({"step": "result", "status": status, "queue": queue.key, "text": text})

    return Decision(
        status=status,
        queue_key=queue.key,
        queue_name=queue.name,
        rule=rule.name if rule is not None else None,
        priority=priority,
        required_skills=required_skills,
        agent_message=agent_message,
        message=message,
        context=mapped.context,
        visible_context=mapped.visible,
        variables=masked_variables,
        customer=masked_customer,
        transcript=masker.value(transcript),
        warnings=mapped.warnings,
        errors=mapped.errors,
        explanation=explanation,
    )


def _explain_system(system: dict[str, Any], masker: Masker, explanation: list[dict]) -> None:
    shown = {name: masker.text(show(value, 60)) for name, value in system.items()}
    listed = ", ".join(
        f"{name}={value}" for name, value in shown.items() if value not in ("null", "[]")
    )
    explanation.append({"step": "system", "fields": shown, "text": f"System fields: {listed}."})


def _pick_rule(
    plan: CompiledSnapshot,
    sources: dict[str, dict[str, Any]],
    masker: Masker,
    explanation: list[dict],
) -> CompiledRule | None:
    shown: dict[str, str] = {}  # each field's value rendered once, masked: it is stored
    append = explanation.append
    rules = plan.rules
    for index, rule in enumerate(rules):
        if not rule.enabled:
            append(
                {
                    "step": "rule",
                    "rule": rule.name,
                    "result": "disabled",
                    "text": rule.head + ": disabled.",
                }
            )
            continue
        why = None
        if rule.mode == "all":
            for condition, prefix in rule.checks:
                actual = sources[condition.source].get(condition.key, MISSING)
                if not condition.test(actual):
                    tail = shown.get(condition.memo)
                    if tail is None:
                        tail = masker.text(show(actual)) + condition.why_suffix(actual) + "."
                        shown[condition.memo] = tail
                    why = prefix + tail
                    break
        else:
            reasons: list[str] = []
            for condition in rule.conditions:
                actual = sources[condition.source].get(condition.key, MISSING)
                if condition.test(actual):
                    break
                reasons.append(condition.why_not(actual, masker.text(show(actual))))
            else:
                reasons = reasons or ["no conditions (any of none never matches)"]
                why = f"{rule.head}: none held: " + "; ".join(reasons) + "."
        if why is not None:
            append({"step": "rule", "rule": rule.name, "result": "no_match", "text": why})
            continue
        if rule.queue not in plan.queues:
            explanation.append(
                {
                    "step": "rule",
                    "rule": rule.name,
                    "result": "unknown_queue",
                    "text": f"{rule.head}: matched, but queue {rule.queue} is unknown; skipped.",
                }
            )
            continue
        explanation.append(
            {
                "step": "rule",
                "rule": rule.name,
                "result": "matched",
                "text": f"{rule.head}: matched, routing to {rule.queue}.",
            }
        )
        later = len(rules) - index - 1
        if later:
            explanation.append(
                {
                    "step": "rules_skipped",
                    "count": later,
                    "text": f"{later} later rule(s) not evaluated: the first match wins.",
                }
            )
        return rule
    return None


def _place(
    plan: CompiledSnapshot,
    start: str,
    queue_states: Mapping[str, QueueState],
    now: datetime,
    explanation: list[dict],
) -> tuple[str, CompiledQueue, str | None]:
    """Check the queue's state and follow overflow; transfer chains never loop."""
    queue = plan.queues.get(start) or CompiledQueue(start, start, 0, None, None, None, None, None)
    visited: list[str] = []
    while True:
        visited.append(queue.key)
        action, when = _check_queue(
            queue, queue_states.get(queue.key) or QueueState(), now, explanation
        )
        if action is None:
            return QUEUED, queue, None
        kind = action["action"]
        if kind == REJECT:
            message = action.get("message") or DEFAULT_REJECT_MESSAGE
            explanation.append(
                {
                    "step": "overflow",
                    "queue": queue.key,
                    "when": when,
                    "action": REJECT,
                    "text": f"Overflow of {queue.key} ({when}): reject.",
                }
            )
            return REJECTED, queue, message
        target = action.get("queue")
        entry = {"step": "overflow", "queue": queue.key, "when": when, "action": TRANSFER}
        if not isinstance(target, str) or target not in plan.queues:
            entry["text"] = (
                f"Overflow of {queue.key} ({when}): transfer to unknown queue {target}; "
                f"queued in {queue.key} anyway."
            )
            explanation.append(entry)
            return QUEUED, queue, None
        if target in visited:
            chain = " -> ".join([*visited, target])
            entry["text"] = (
                f"Overflow of {queue.key} ({when}): transfer to {target} would loop ({chain}); "
                f"queued in {queue.key} anyway."
            )
            explanation.append(entry)
            return QUEUED, queue, None
        entry["target"] = target
        entry["text"] = f"Overflow of {queue.key} ({when}): transfer to {target}."
        explanation.append(entry)
        queue = plan.queues[target]


def _check_queue(
    queue: CompiledQueue, state: QueueState, now: datetime, explanation: list[dict]
) -> tuple[dict[str, Any] | None, str]:
    """The overflow action to take (None: queue here), after closed, full and wait checks.

    A queue_anyway answer to one problem goes on to the next check: queueing a closed queue
    anyway does not also ignore that it is full.
    """
    is_open, why = check_hours(queue.hours, now)
    explanation.append(
        {
            "step": "queue",
            "queue": queue.key,
            "check": "hours",
            "ok": is_open,
            "text": f"{queue.key}: {why}.",
        }
    )
    if not is_open:
        action = _act(queue, queue.when_closed, "when_closed", explanation)
        if action is not None:
            return action, "when_closed"

    if queue.max_waiting is None:
        full, why = False, f"{state.waiting} waiting, no limit"
    else:
        full = state.waiting >= queue.max_waiting
        why = f"{state.waiting} waiting of at most {queue.max_waiting}" + (": full" if full else "")
    explanation.append(
        {
            "step": "queue",
            "queue": queue.key,
            "check": "capacity",
            "ok": not full,
            "text": f"{queue.key}: {why}.",
        }
    )
    if full:
        action = _act(queue, queue.when_full, "when_full", explanation)
        if action is not None:
            return action, "when_full"
        return None, ""

    limit = queue.max_wait_seconds
    longest = state.longest_wait_seconds
    if limit is not None:
        late = longest is not None and longest > limit
        waited = "nobody waiting" if longest is None else f"longest wait {longest:.0f}s"
        explanation.append(
            {
                "step": "queue",
                "queue": queue.key,
                "check": "wait",
                "ok": not late,
                "text": f"{queue.key}: {waited}, limit {limit}s" + (": exceeded." if late else "."),
            }
        )
        if late:
            # Waiting too long is a kind of full: it has no action of its own.
            action = _act(queue, queue.when_full, "when_full", explanation)
            if action is not None:
                return action, "when_full (wait exceeded)"
    return None, ""


def _act(
    queue: CompiledQueue, action: dict[str, Any] | None, when: str, explanation: list[dict]
) -> dict[str, Any] | None:
    if action is None or action["action"] not in (TRANSFER, REJECT):
        how = "no overflow set" if action is None else "overflow queue_anyway"
        explanation.append(
            {
                "step": "overflow",
                "queue": queue.key,
                "when": when,
                "action": QUEUE_ANYWAY,
                "text": f"Overflow of {queue.key} ({when}): {how}, so it queues anyway.",
            }
        )
        return None
    return action


# -- required skills -------------------------------------------------------------------------


def _required_skills(
    plan: CompiledSnapshot,
    rule: CompiledRule | None,
    sources: dict[str, dict[str, Any]],
    masker: Masker,
    explanation: list[dict],
) -> dict[str, int]:
    """The rule's `require_skills`; a key such as `language:{context.Language}` is rendered
    with the converted context (before masking, as rules see it), lower-cased when only that
    form is a known skill. A rendered
    key that is not a known skill, or whose value is missing, is dropped with a line saying so:
    an unusual language never stops the customer from reaching a person."""
    if rule is None or not rule.require_skills:
        return {}
    required: dict[str, int] = {}
    for template, level in rule.require_skills.items():
        if "{" not in template:
            required[template] = max(level, required.get(template, 0))
            continue
        missing = False

        def value(match: re.Match[str]) -> str:
            nonlocal missing
            found = sources[match.group(1)].get(match.group(2))
            text = text_form(found) if found is not None else None
            if not text or not text.strip():
                missing = True
                return ""
            return text.strip()

        key = TEMPLATE_RE.sub(value, template)
        if plan.skills is not None and key not in plan.skills and key.lower() in plan.skills:
            key = key.lower()  # "JA" from the bot finds the skill language:ja
        if missing:
            why = f"{template} has no value to fill in"
        elif plan.skills is not None and key not in plan.skills:
            why = f"{key} (from {template}) is not a known skill"
        else:
            required[key] = max(level, required.get(key, 0))
            explanation.append(
                {
                    "step": "skills",
                    "text": masker.text(f"Requires {key} at level {level} (from {template})."),
                }
            )
            continue
        text = masker.text(f"Skill requirement dropped: {why}.")
        explanation.append({"step": "skills", "text": text})
    return required


# -- agent message ---------------------------------------------------------------------------


def render_template(
    template: str, context: dict[str, Any], variables: dict[str, Any], customer: dict[str, Any]
) -> str:
    """{context.X}, {variables.X}, {customer.X}; a missing value renders empty.

    A regex substitution, never str.format: values are data, not format specs.
    """
    sources = {"context": context, "variables": variables, "customer": customer}

    def value(match: re.Match[str]) -> str:
        found = sources[match.group(1)].get(match.group(2))
        text = text_form(found) if found is not None else None
        return text or ""

    return TEMPLATE_RE.sub(value, template)


def _agent_message(
    rule: CompiledRule | None,
    mapped: Mapped,
    variables: dict[str, Any],
    customer: dict[str, Any],
    request: dict[str, Any],
) -> str:
    parts = []
    if rule is not None and rule.agent_message:
        parts.append(render_template(rule.agent_message, mapped.context, variables, customer))
    bot_message = request.get("agent_message")
    if isinstance(bot_message, str):
        parts.append(mapped.masker.text(bot_message))
    return "\n\n".join(part.strip() for part in parts if part.strip())


def explain_text(decision: Decision) -> list[str]:
    """The explanation as numbered, human-readable lines (the simulator shows these)."""
    lines = [f"{n}. {step.get('text', '')}" for n, step in enumerate(decision.explanation, 1)]
    lines += [f"Warning: {w['message']}" for w in decision.warnings]
    lines += [f"Error: {message}" for message in decision.errors.values()]
    return lines


__all__ = [
    "CompiledSnapshot",
    "Decision",
    "QueueState",
    "compile_snapshot",
    "decide",
    "explain_text",
    "render_template",
]

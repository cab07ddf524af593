"""The simulator's core: route a handoff request the way the API would, without storing it.

The steps mirror handoff/api/views.py `intake` (validate the body with HandoffCreateInput,
check channel, topic and bot, `decide`, refuse missing required context with a 422), but run
against either the published snapshot or the draft (the draft tables exported and
normalised). Nothing is written. tests/portal/test_simulator.py checks that the errors are the
ones the API answers for the same body.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from handoff.api.errors import flatten_fields
from handoff.api.serializers import HandoffCreateInput
from handoff.config.document import export_document, latest_version
from handoff.config.validation import ConfigError, validate_document
from handoff.engine import skills as sk
from handoff.engine.routing import Decision, QueueState, decide, explain_text
from handoff.models import User
from handoff.selectors import handoffs as selectors
from handoff.services.intake import intake_refusal

DRAFT = "draft"
PUBLISHED = "published"
TARGETS = (DRAFT, PUBLISHED)


@dataclass
class SimConfig:
    """One configuration to simulate with, and what the API's checks need from it."""

    target: str  # DRAFT or PUBLISHED
    document: dict[str, Any]
    version_number: int | None  # the published version; None for the draft
    problems: list[ConfigError] = field(default_factory=list)  # the draft would not publish

    @property
    def channels(self) -> dict[str, dict]:
        return {c["key"]: c for c in self.document.get("channels", []) if isinstance(c, dict)}

    @property
    def bots(self) -> dict[str, dict]:
        return {b["key"]: b for b in self.document.get("bots", []) if isinstance(b, dict)}

    @property
    def topics(self) -> dict[str, dict]:
        return {t["key"]: t for t in self.document.get("topics", []) if isinstance(t, dict)}

    @property
    def queues(self) -> dict[str, dict]:
        return {q["key"]: q for q in self.document.get("queues", []) if isinstance(q, dict)}


@dataclass
class QueueReport:
    key: str
    name: str
    waiting: int
    longest_wait_seconds: float | None
    is_open: bool | None = None
    is_full: bool | None = None
    wait_exceeded: bool | None = None
    overflow: list[dict] = field(default_factory=list)  # overflow steps taken at this queue
    checks: list[str] = field(default_factory=list)  # the engine's own words


@dataclass
class SimulationResult:
    target: str
    version_number: int | None
    body: Any  # the request body as sent (a dict when it parsed)
    status_code: int  # what the API would answer: 202, or the error status
    error: dict[str, Any] | None  # {"code", "message", "fields"} as in the API's error body
    decision: Decision | None
    problems: list[ConfigError] = field(default_factory=list)
    queues: list[QueueReport] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)  # [{"rule", "result", "text"}]
    lines: list[str] = field(default_factory=list)  # explain_text(decision)
    agents: list[dict] = field(default_factory=list)  # the queue's members and their match
    skill_matching: str = "none"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_json(self) -> str:
        """The error exactly as the API's response body."""
        return json.dumps({"error": self.error}, indent=2, ensure_ascii=False)

    @property
    def context_json(self) -> str:
        context = self.decision.context if self.decision else {}
        return json.dumps(context, indent=2, ensure_ascii=False, default=str)


@dataclass
class Difference:
    label: str
    draft: Any
    published: Any

    @property
    def draft_text(self) -> str:
        return json.dumps(self.draft, ensure_ascii=False, default=str)

    @property
    def published_text(self) -> str:
        return json.dumps(self.published, ensure_ascii=False, default=str)


@dataclass
class Comparison:
    draft: SimulationResult
    published: SimulationResult
    differences: list[Difference]

    @property
    def same(self) -> bool:
        return not self.differences


def simulation_config(*, target: str) -> SimConfig | None:
    """The draft (always) or the latest published version (None before the first publish)."""
    if target == DRAFT:
        exported = export_document()
        normalised, problems = validate_document(exported)
        # A draft with problems cannot be normalised reliably; the export is canonical enough
        # for the engine, which tolerates what validation would refuse.
        return SimConfig(DRAFT, exported if problems else normalised, None, problems)
    version = latest_version()
    if version is None:
        return None
    return SimConfig(PUBLISHED, version.document, version.number)


def parse_body(text: str) -> tuple[Any, dict[str, Any] | None]:
    """A pasted JSON body, or the error the API gives for a body that is not JSON."""
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, _error("invalid_json", f"The body is not valid JSON: {exc}")


def _error(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields or {}}


def simulate(
    body: Any,
    *,
    config: SimConfig | None,
    target: str,
    bot_key: str,
    now: datetime | None = None,
    queue_states: dict[str, QueueState] | None = None,
) -> SimulationResult:
    """Validate and route `body` as POST /api/v1/handoffs would, storing nothing."""
    now = now or timezone.now()
    result = SimulationResult(
        target=target,
        version_number=config.version_number if config else None,
        body=body,
        status_code=202,
        error=None,
        decision=None,
        problems=config.problems if config else [],
    )

    def fail(status: int, error: dict[str, Any]) -> SimulationResult:
        result.status_code, result.error = status, error
        return result

    # The API answers bots in the default language; the simulator shows the same words.
    with translation.override(settings.LANGUAGE_CODE):
        serializer = HandoffCreateInput(data=body)
        if not serializer.is_valid():
            fields = flatten_fields(serializer.errors)
            return fail(400, _error("invalid", f"Invalid request: {', '.join(fields)}.", fields))
    data = dict(serializer.validated_data)
    if config is None:
        return fail(
            503,
            _error(
                "not_configured",
                "No configuration has been published yet; publish one first.",
            ),
        )
    refusal = intake_refusal(config=config, bot_key=bot_key, data=data)
    if refusal is not None:
        return fail(
            refusal.status_code, _error(refusal.error_code, refusal.message, refusal.fields)
        )

    states = selectors.queue_states(now) if queue_states is None else queue_states
    decision = decide(config.document, data, bot_key=bot_key, queue_states=states, now=now)
    result.decision = decision
    result.lines = explain_text(decision)
    result.rules = rule_outcomes(decision, config.document)
    result.queues = queue_reports(decision, config, states)
    result.skill_matching, result.agents = agent_matches(decision, config)
    if decision.errors:
        return fail(
            422,
            _error(
                "context_invalid",
                "Required context fields are missing or invalid.",
                {f"context.{name}": message for name, message in decision.errors.items()},
            ),
        )
    return result


def rule_outcomes(decision: Decision, document: dict[str, Any]) -> list[dict[str, str]]:
    """Every rule in evaluation order: matched, why not, or not evaluated after the match."""
    seen = [
        {"rule": s["rule"], "result": s["result"], "text": s["text"]}
        for s in decision.explanation
        if s.get("step") == "rule"
    ]
    rules = [r for r in document.get("rules") or () if isinstance(r, dict)]
    # The engine's order (routing.compile_snapshot): by `order`, else the position; ties keep
    # document order (a stable sort).
    ordered = [r for _, r in sorted(enumerate(rules), key=lambda p: _rule_order(p[1], p[0]))]
    for rule in ordered[len(seen) :]:
        seen.append(
            {
                "rule": str(rule.get("name")),
                "result": "not_evaluated",
                "text": _("Not evaluated: the first matching rule wins."),
            }
        )
    return seen


def agent_matches(decision: Decision, config: SimConfig) -> tuple[str, list[dict[str, Any]]]:
    """The members of the chosen queue, best skill match first, and who may get the handoff.

    Mirrors assignment.rank_agents (handoff/engine/skills.py): `exact` keeps only agents meeting
    every required level, `closest` prefers the best match and, with a relaxation period, says
    after how many seconds of waiting each agent would qualify; `none` ignores skills. Presence is
    today's. The simulated handoff has just arrived: relaxation step 0.
    """
    queue = config.queues.get(decision.queue_key) or {}
    matching = str(queue.get("skill_matching") or "none")
    held = {
        a["username"]: a.get("skills") or {}
        for a in config.document.get("agents", [])
        if isinstance(a, dict) and isinstance(a.get("username"), str)
    }
    members = [m for m in queue.get("members") or () if isinstance(m, dict)]
    presence = dict(
        User.objects.filter(username__in=[m.get("username") for m in members]).values_list(
            "username", "presence"
        )
    )
    required = decision.required_skills
    relax_after = queue.get("skill_relax_after_seconds")
    relax_after = relax_after if isinstance(relax_after, int) else None
    last_step = max((int(v) for v in required.values()), default=0)
    out = []
    for member in members:
        name = str(member.get("username"))
        skills = {str(k): int(v) for k, v in held.get(name, {}).items()}
        # The first relaxation step at which this agent qualifies (None: never).
        steps = range(last_step + 1) if matching == sk.CLOSEST and relax_after else range(1)
        from_step = next(
            (
                n
                for n in steps
                if sk.qualifies(
                    matching=matching,
                    relax_after=relax_after,
                    required=required,
                    step=n,
                    held=skills,
                )
            ),
            None,
        )
        out.append(
            {
                "username": name,
                "capacity": member.get("capacity"),
                "presence": presence.get(name, "unknown"),
                "skills": {key: skills.get(key, 0) for key in required},
                "shortfall": sk.shortfall(required, skills)
                if required and matching != "none"
                else 0,
                "eligible": from_step == 0,
                "eligible_after_seconds": (
                    from_step * relax_after if from_step and relax_after else None
                ),
                "rank": sk.match_key(required, skills) if matching == sk.CLOSEST else (),
            }
        )
    out.sort(key=lambda a: (not a["eligible"], a["rank"], a["shortfall"], a["username"]))
    for a in out:
        del a["rank"]
    return matching, out


def _rule_order(rule: dict[str, Any], index: int) -> int:
    value = rule.get("order")
    return value if isinstance(value, int) and not isinstance(value, bool) else index


def queue_reports(
    decision: Decision, config: SimConfig, states: dict[str, QueueState]
) -> list[QueueReport]:
    """Each queue the decision visited (overflow may transfer), with its state as checked."""
    reports: dict[str, QueueReport] = {}
    queues = config.queues
    for step in decision.explanation:
        key = step.get("queue")
        if step.get("step") not in ("queue", "overflow") or not isinstance(key, str):
            continue
        report = reports.get(key)
        if report is None:
            state = states.get(key) or QueueState()
            report = QueueReport(
                key=key,
                name=str(queues.get(key, {}).get("name") or key),
                waiting=state.waiting,
                longest_wait_seconds=state.longest_wait_seconds,
            )
            reports[key] = report
        report.checks.append(step.get("text", ""))
        if step["step"] == "overflow":
            report.overflow.append(step)
        elif step.get("check") == "hours":
            report.is_open = bool(step.get("ok"))
        elif step.get("check") == "capacity":
            report.is_full = not step.get("ok")
        elif step.get("check") == "wait":
            report.wait_exceeded = not step.get("ok")
    return list(reports.values())


# -- draft against published ----------------------------------------------------------------


def _outcome(result: SimulationResult) -> dict[str, Any]:
    d = result.decision
    rules = {r["rule"]: r["result"] for r in result.rules}
    return {
        _("HTTP status"): result.status_code,
        _("Error"): result.error,
        _("Status"): d.status if d else None,
        _("Queue"): d.queue_key if d else None,
        _("Rule"): d.rule if d else None,
        _("Priority"): d.priority if d else None,
        _("Required skills"): d.required_skills if d else None,
        _("Agent message"): d.agent_message if d else None,
        _("Customer message"): d.message if d else None,
        _("Context"): d.context if d else None,
        _("Visible context"): d.visible_context if d else None,
        _("Warnings"): d.warnings if d else None,
        **{_("Rule “%(name)s”") % {"name": name}: outcome for name, outcome in rules.items()},
    }


def simulate_compare(body: Any, *, bot_key: str, now: datetime | None = None) -> Comparison:
    """Run `body` against the draft and the published configuration; list what differs."""
    now = now or timezone.now()
    states = selectors.queue_states(now)
    draft = simulate(
        body,
        config=simulation_config(target=DRAFT),
        target=DRAFT,
        bot_key=bot_key,
        now=now,
        queue_states=states,
    )
    published = simulate(
        body,
        config=simulation_config(target=PUBLISHED),
        target=PUBLISHED,
        bot_key=bot_key,
        now=now,
        queue_states=states,
    )
    a, b = _outcome(draft), _outcome(published)
    differences = [
        Difference(label, a.get(label), b.get(label))
        for label in dict.fromkeys([*a, *b])
        if a.get(label) != b.get(label)
    ]
    return Comparison(draft=draft, published=published, differences=differences)


__all__ = [
    "DRAFT",
    "PUBLISHED",
    "TARGETS",
    "Comparison",
    "Difference",
    "QueueReport",
    "SimConfig",
    "SimulationResult",
    "parse_body",
    "simulate",
    "simulate_compare",
    "simulation_config",
]

"""What the simulator page shows of a simulation (handoff/selectors/simulation.py): the status
and error body the API would answer, every rule's outcome, the queues visited, and the draft
compared with the published configuration."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from handoff.config.validation import ConfigError
from handoff.engine.routing import Decision, QueueState, explain_text
from handoff.errors import HTTP_STATUS
from handoff.selectors import handoffs as selectors
from handoff.selectors import simulation as core
from handoff.selectors.simulation import DRAFT, PUBLISHED, SimulationConfig


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


def parse_body(text: str) -> tuple[Any, dict[str, Any] | None]:
    """A pasted JSON body, or the error the API gives for a body that is not JSON."""
    try:
        return json.loads(text), None
    except ValueError as exc:
        message = f"The body is not valid JSON: {exc}"
        return None, {"code": "invalid_json", "message": message, "fields": {}}


def simulate(
    body: Any,
    *,
    config: SimulationConfig | None,
    target: str,
    bot_key: str,
    now: datetime | None = None,
    queue_states: dict[str, QueueState] | None = None,
) -> SimulationResult:
    """Check and route `body` as POST /api/v1/handoffs would, storing nothing; as shown."""
    simulation = core.simulate(
        body,
        config=config,
        bot_key=bot_key,
        now=now or timezone.now(),
        queue_states=queue_states,
    )
    error = simulation.error
    result = SimulationResult(
        target=target,
        version_number=config.snapshot.number if config else None,
        body=body,
        status_code=HTTP_STATUS[error.kind] if error else 202,
        error=error.as_dict() if error else None,
        decision=simulation.decision,
        problems=config.problems if config else [],
        skill_matching=simulation.skill_matching,
        agents=simulation.agents,
    )
    decision = simulation.decision
    if config is not None and decision is not None:
        result.lines = explain_text(decision)
        result.rules = rule_outcomes(decision, config.snapshot.document)
        result.queues = queue_reports(decision, config.snapshot.queues, simulation.queue_states)
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
    ordered = [r for _i, r in sorted(enumerate(rules), key=lambda p: _rule_order(p[1], p[0]))]
    for rule in ordered[len(seen) :]:
        seen.append(
            {
                "rule": str(rule.get("name")),
                "result": "not_evaluated",
                "text": _("Not evaluated: the first matching rule wins."),
            }
        )
    return seen


def _rule_order(rule: dict[str, Any], index: int) -> int:
    value = rule.get("order")
    return value if isinstance(value, int) and not isinstance(value, bool) else index


def queue_reports(
    decision: Decision, queues: dict[str, dict[str, Any]], states: dict[str, QueueState]
) -> list[QueueReport]:
    """Each queue the decision visited (overflow may transfer), with its state as checked."""
    reports: dict[str, QueueReport] = {}
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
    draft, published = (
        simulate(
            body,
            config=core.simulation_config(target=target),
            target=target,
            bot_key=bot_key,
            now=now,
            queue_states=states,
        )
        for target in (DRAFT, PUBLISHED)
    )
    a, b = _outcome(draft), _outcome(published)
    differences = [
        Difference(label, a.get(label), b.get(label))
        for label in dict.fromkeys([*a, *b])
        if a.get(label) != b.get(label)
    ]
    return Comparison(draft=draft, published=published, differences=differences)

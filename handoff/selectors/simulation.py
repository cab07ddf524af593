"""The simulator's core: route a handoff request the way the API would, without storing it.

The steps are the API's own: the body checked by handoff/engine/body.py, then the intake planned
by handoff/engine/intake.py (refusals, decision, missing required context), against either the
published snapshot or the draft (the draft tables exported and normalised). Nothing is written.
The portal shows the result (portal/simulation.py); tests/portal/test_simulator.py checks that
the errors are the ones the API answers for the same body.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff.config.snapshot import Snapshot, draft_snapshot, published_snapshot
from handoff.config.validation import ConfigError
from handoff.engine import skills as sk
from handoff.engine.body import validate_handoff_body
from handoff.engine.intake import intake_plan
from handoff.engine.routing import Decision, QueueState
from handoff.engine.vocabulary import SkillMatching
from handoff.errors import DomainError
from handoff.models import User
from handoff.selectors import handoffs as selectors

DRAFT = "draft"
PUBLISHED = "published"
TARGETS = (DRAFT, PUBLISHED)


@dataclass(frozen=True)
class SimulationConfig:
    """One configuration to simulate with."""

    target: str  # DRAFT or PUBLISHED
    snapshot: Snapshot
    problems: list[ConfigError] = field(default_factory=list)  # the draft would not publish


@dataclass
class Simulation:
    error: DomainError | None  # what the API would refuse the request with
    decision: Decision | None  # also when required context is missing: still explained
    queue_states: dict[str, QueueState] = field(default_factory=dict)  # as routed with
    skill_matching: str = SkillMatching.NONE
    agents: list[dict[str, Any]] = field(default_factory=list)  # the queue's members and match


def simulation_config(*, target: str) -> SimulationConfig | None:
    """The draft (always) or the latest published version (None before the first publish)."""
    if target == DRAFT:
        snapshot, problems = draft_snapshot()
        return SimulationConfig(DRAFT, snapshot, problems)
    published = published_snapshot()
    if published is None:
        return None
    return SimulationConfig(PUBLISHED, published)


def simulate(
    body: Any,
    *,
    config: SimulationConfig | None,
    bot_key: str,
    now: datetime,
    queue_states: dict[str, QueueState] | None = None,
) -> Simulation:
    """Check and route `body` as POST /api/v1/handoffs would, storing nothing.

    `queue_states` is the queues' state to route with (default: as they are now).
    """

    def states(at: datetime) -> dict[str, QueueState]:
        return selectors.queue_states(at) if queue_states is None else queue_states

    try:
        plan = intake_plan(
            config.snapshot if config else None,
            validate_handoff_body(body),
            bot_key=bot_key,
            now=now,
            queue_states=states,
        )
    except DomainError as exc:
        return Simulation(error=exc, decision=None)
    matching, agents = agent_matches(plan.decision, plan.config)
    return Simulation(
        error=plan.refusal,
        decision=plan.decision,
        queue_states=plan.queue_states,
        skill_matching=matching,
        agents=agents,
    )


def agent_matches(decision: Decision, config: Snapshot) -> tuple[str, list[dict[str, Any]]]:
    """The members of the chosen queue, best skill match first, and who may get the handoff.

    Mirrors assignment.rank_agents (handoff/engine/skills.py): `exact` keeps only agents meeting
    every required level, `closest` prefers the best match and, with a relaxation period, says
    after how many seconds of waiting each agent would qualify; `none` ignores skills. Presence is
    today's. The simulated handoff has just arrived: relaxation step 0.
    """
    queue = config.queues.get(decision.queue_key) or {}
    matching = str(queue.get("skill_matching") or SkillMatching.NONE)
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
                if required and matching != SkillMatching.NONE
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

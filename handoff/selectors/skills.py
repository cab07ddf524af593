"""Reads for skills-based routing: who waits for which skills, and which agents match."""

from dataclasses import dataclass, field
from datetime import datetime

from handoff.engine import skills as sk
from handoff.models import AgentSkill, Handoff, Queue, QueueMembership, User


@dataclass
class SkillMatch:
    username: str
    display_name: str
    present: bool
    free: int
    skills: dict[str, int]  # the agent's level in each required skill (0 = not held)


@dataclass
class SkillWait:
    handoff: Handoff
    matching: str
    required: dict[str, int]
    step: int
    effective: dict[str, int]  # the requirement at this step
    next_step_at: datetime | None
    matches: list[SkillMatch] = field(default_factory=list)  # members who qualify now


def skill_waits(*, now: datetime, limit: int = 20) -> list[SkillWait]:
    """Waiting handoffs that require skills in a skills-matching queue, oldest first.

    Three queries, whatever the number of handoffs and agents."""
    handoffs = list(
        Handoff.objects.filter(status=Handoff.Status.QUEUED)
        .exclude(required_skills={})
        .exclude(queue__skill_matching=Queue.SkillMatching.NONE)
        .select_related("queue")
        .only(
            "pk",
            "customer",
            "conversation_id",
            "queue_name",
            "required_skills",
            "queued_at",
            "skill_step",
            "priority",
            "queue__skill_matching",
            "queue__skill_relax_after_seconds",
        )
        .order_by("priority", "queued_at")[:limit]
    )
    queue_ids = {h.queue_id for h in handoffs if h.queue_id is not None}
    members: dict[int, list[QueueMembership]] = {}
    for m in (
        QueueMembership.objects.filter(queue_id__in=queue_ids, user__is_active=True)
        .only(
            "queue_id",
            "capacity",
            "active_count",
            "user__username",
            "user__first_name",
            "user__last_name",
            "user__presence",
        )
        .select_related("user")
    ):
        members.setdefault(m.queue_id, []).append(m)
    held: dict[int, dict[str, int]] = {}
    user_ids = {m.user_id for ms in members.values() for m in ms}
    for user_id, key, level in AgentSkill.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "skill__key", "proficiency"
    ):
        held.setdefault(user_id, {})[key] = level
    return [_wait(h, members.get(h.queue_id or 0, []), held, now) for h in handoffs]


def _wait(
    handoff: Handoff,
    members: list[QueueMembership],
    held: dict[int, dict[str, int]],
    now: datetime,
) -> SkillWait:
    queue = handoff.queue
    assert queue is not None  # filtered on the queue's matching
    required = {k: int(v) for k, v in (handoff.required_skills or {}).items()}
    relax_after = queue.skill_relax_after_seconds
    step = sk.relax_step(
        matching=queue.skill_matching,
        relax_after=relax_after,
        required=required,
        queued_at=handoff.queued_at,
        now=now,
    )
    effective = sk.effective_requirements(required, step)
    next_at = None
    if queue.skill_matching == sk.CLOSEST and relax_after and effective and handoff.queued_at:
        next_at = sk.step_time(queued_at=handoff.queued_at, relax_after=relax_after, step=step + 1)
    wait = SkillWait(
        handoff=handoff,
        matching=queue.skill_matching,
        required=required,
        step=step,
        effective=effective,
        next_step_at=next_at,
    )
    ranked = sorted(members, key=lambda m: sk.match_key(required, held.get(m.user_id, {})))
    for m in ranked:
        skills = held.get(m.user_id, {})
        if sk.qualifies(
            matching=queue.skill_matching,
            relax_after=relax_after,
            required=required,
            step=step,
            held=skills,
        ):
            wait.matches.append(
                SkillMatch(
                    username=m.user.username,
                    display_name=m.user.display_name,
                    present=m.user.presence == User.Presence.AVAILABLE,
                    free=max(0, m.capacity - m.active_count),
                    skills={key: skills.get(key, 0) for key in required},
                )
            )
    return wait

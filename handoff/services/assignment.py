"""Built-in agents: push offers, pick, accept/decline/resolve/transfer/cancel.

Capacity is `QueueMembership.active_count` (offered + assigned work from that queue). It is
only ever raised by a conditional UPDATE (`active_count < capacity`) and a CHECK constraint
backs it, so no agent holds more than their capacity whatever the number of workers. Row
locks are taken in one order everywhere: handoff, then offer, then membership.

Freed capacity is refilled right after the commit that freed it (in the same process), not at
the next sweep; the sweep only catches what a crash left behind.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from handoff.delivery.publish import publish_delivery, publish_offer_expiry
from handoff.engine import skills as sk
from handoff.engine.vocabulary import (
    HELD,
    REFUSED,
    AssignmentMethod,
    DeliveryKind,
    Distribution,
    HandoffStatus,
    OfferOutcome,
    Presence,
    SkillMatching,
)
from handoff.errors import Conflict
from handoff.models import AgentSkill, Handoff, Offer, OverflowAction, Queue, QueueMembership, User
from handoff.services.events import handoff_event
from handoff.services.live import live_presence_changed
from handoff.services.transitions import handoff_transition
from handoff.services.webhooks import status_callback_after_commit

log = logging.getLogger(__name__)

# How many waiting handoffs one fill looks at to find one a free agent can take.
SCAN = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A handoff every present agent has refused is offered again to one of them only after a pause
# that doubles with each refusal in its queue: 10 s, 20 s, 40 s, ... at most 5 minutes.
REOFFER_PAUSE_SECONDS = 10
REOFFER_PAUSE_MAX_SECONDS = 300

# The line of waiting work: highest priority (lowest number) first, then by place in the line,
# which is the time the handoff entered its queue or, once refused, the time of its last
# refusal: a refused handoff goes to the back, behind everything waiting then.
WAITING_ORDER = ("priority", Coalesce("refused_at", "queued_at"), "created_at")


@dataclass
class Candidate:
    membership_id: int
    user_id: int
    username: str
    capacity: int
    active_count: int
    last_assigned_at: datetime | None
    presence_changed_at: datetime
    skills: dict[str, int]

    @property
    def free(self) -> int:
        return self.capacity - self.active_count


# -- choosing an agent ---------------------------------------------------------------------


def _available_members(queue: Queue) -> list[Candidate]:
    """The queue's members who are present (`available`), full or not."""
    rows = list(
        QueueMembership.objects.filter(
            queue=queue, user__presence=Presence.AVAILABLE, user__is_active=True
        ).values_list(
            "pk",
            "user_id",
            "user__username",
            "capacity",
            "active_count",
            "user__last_assigned_at",
            "user__presence_changed_at",
        )
    )
    skills: dict[int, dict[str, int]] = {}
    if rows and queue.skill_matching != SkillMatching.NONE:
        for user_id, key, level in AgentSkill.objects.filter(
            user_id__in=[r[1] for r in rows]
        ).values_list("user_id", "skill__key", "proficiency"):
            skills.setdefault(user_id, {})[key] = level
    return [Candidate(*row, skills=skills.get(row[1], {})) for row in rows]


def _order_key(queue: Queue, c: Candidate, required: dict[str, Any]) -> tuple:
    # Skills first (closest matching prefers the best match), then the queue's method.
    closest = queue.skill_matching == SkillMatching.CLOSEST
    skill = sk.match_key(required, c.skills) if closest else ()
    last = c.last_assigned_at or _EPOCH
    if queue.assignment == AssignmentMethod.HIGHEST_CAPACITY:
        return (skill, -c.free, last, c.username)
    if queue.assignment == AssignmentMethod.MOST_IDLE:
        return (skill, max(last, c.presence_changed_at), c.username)
    return (skill, last, c.username)  # round robin


def skill_step(*, queue: Queue, handoff: Handoff, now: datetime) -> int:
    """The handoff's current relaxation step in its queue (0 unless `closest` relaxes)."""
    return sk.relax_step(
        matching=queue.skill_matching,
        relax_after=queue.skill_relax_after_seconds,
        required=handoff.required_skills or {},
        queued_at=handoff.queued_at,
        now=now,
    )


def agent_qualifies(*, queue: Queue, handoff: Handoff, held: dict[str, int], now: datetime) -> bool:
    return sk.qualifies(
        matching=queue.skill_matching,
        relax_after=queue.skill_relax_after_seconds,
        required=handoff.required_skills or {},
        step=skill_step(queue=queue, handoff=handoff, now=now),
        held=held,
    )


def rank_agents(
    *,
    queue: Queue,
    handoff: Handoff,
    members: list[Candidate],
    refused: dict[int, datetime],
    now: datetime | None = None,
) -> list[Candidate]:
    """The free agents who may get this handoff, best first (see docs/delivery.md).

    `refused` maps each agent who declined the handoff or let an offer of it expire to the
    time they last did.
    """
    now = now or timezone.now()
    required = handoff.required_skills or {}
    eligible = [
        c for c in members if agent_qualifies(queue=queue, handoff=handoff, held=c.skills, now=now)
    ]
    # Who refused it gets it again only when no other eligible agent is present, even a busy
    # one (whose turn will come when they free up). When everyone present has refused it, the
    # re-offers rotate: the agent whose refusal is the oldest first.
    others = [c for c in eligible if c.user_id not in refused]
    pool = others or eligible
    free = [c for c in pool if c.free > 0]
    return sorted(
        free, key=lambda c: (refused.get(c.user_id, _EPOCH), _order_key(queue, c, required))
    )


def reoffer_pause(refusals: int) -> timedelta:
    """How long a handoff refused `refusals` times waits before going back to a refuser."""
    if refusals <= 0:
        return timedelta(0)
    seconds = REOFFER_PAUSE_SECONDS * 2 ** min(refusals - 1, 16)
    return timedelta(seconds=min(seconds, REOFFER_PAUSE_MAX_SECONDS))


def _claim(membership_id: int) -> bool:
    """Take one unit of capacity; False when another worker took the last one first."""
    return (
        QueueMembership.objects.filter(pk=membership_id, active_count__lt=F("capacity")).update(
            active_count=F("active_count") + 1
        )
        == 1
    )


def _release(*, queue_id: int | None, user_id: int | None) -> None:
    if queue_id is None or user_id is None:
        return
    QueueMembership.objects.filter(queue_id=queue_id, user_id=user_id, active_count__gt=0).update(
        active_count=F("active_count") - 1
    )


# -- after-commit work ---------------------------------------------------------------------


def _refill_now(queue_id: int) -> None:
    try:
        queue_fill(queue_id=queue_id)
    except Exception:  # the commit is done; the sweep fills what this missed
        log.exception("refill of queue %s failed", queue_id)


def refill_after_commit(queue_id: int | None) -> None:
    if queue_id is not None:
        transaction.on_commit(lambda: _refill_now(queue_id))


def _publish_expiry_after_commit(offer_id: int, seconds: int) -> None:
    # If this publish fails the sweep expires the offer (it looks at Offer.expires_at).
    transaction.on_commit(lambda: publish_offer_expiry(offer_id, countdown=seconds))


# -- offers --------------------------------------------------------------------------------


def _lock_waiting(handoff_id: uuid.UUID, queue_id: int) -> Handoff | None:
    return (
        Handoff.objects.select_for_update(skip_locked=True)
        .filter(pk=handoff_id, queue_id=queue_id, status=HandoffStatus.QUEUED)
        .first()
    )


def _reoffer_paused(handoff: Handoff, refusals: int, now: datetime) -> bool:
    refused_at = handoff.refused_at
    return refused_at is not None and now < refused_at + reoffer_pause(refusals)


def _refusals(handoff: Handoff) -> tuple[dict[int, datetime], int]:
    """Who refused the handoff (agent -> their last refusal), and how often in its queue."""
    refused: dict[int, datetime] = {}
    in_queue = 0
    for agent_id, closed_at in Offer.objects.filter(
        handoff=handoff, outcome__in=REFUSED
    ).values_list("agent_id", "closed_at"):
        at = closed_at or _EPOCH
        refused[agent_id] = max(refused.get(agent_id, _EPOCH), at)
        in_queue += handoff.queued_at is None or at >= handoff.queued_at
    return refused, in_queue


def _offer(*, handoff: Handoff, queue: Queue, agent: Candidate, now: datetime) -> Offer:
    expires = now + timedelta(seconds=queue.offer_timeout_seconds)
    offer = Offer.objects.create(
        handoff=handoff, agent_id=agent.user_id, offered_at=now, expires_at=expires
    )
    User.objects.filter(pk=agent.user_id).update(last_assigned_at=now)
    handoff_transition(
        handoff,
        HandoffStatus.OFFERED,
        detail={
            "agent": agent.username,
            "offer": offer.pk,
            "expires_at": expires.isoformat(),
            "assignment": queue.assignment,
        },
        at=now,
        agent_id=agent.user_id,
        offer_expires_at=expires,
    )
    _publish_expiry_after_commit(offer.pk, queue.offer_timeout_seconds)
    return offer


def _record_relaxation(*, handoff: Handoff, queue: Queue, now: datetime) -> int:
    """Record each relaxation step reached since the last one as a `skills_relaxed` event.

    The conditional UPDATE makes it once per step whatever the number of concurrent sweeps:
    only the worker that moves `skill_step` forward writes the events. Returns steps recorded.
    """
    step = skill_step(queue=queue, handoff=handoff, now=now)
    if step <= handoff.skill_step:
        return 0
    done = handoff.skill_step
    if not Handoff.objects.filter(pk=handoff.pk, skill_step=done).update(skill_step=step):
        return 0  # another worker recorded it
    handoff.skill_step = step
    required = handoff.required_skills or {}
    relax_after = queue.skill_relax_after_seconds or 0
    for n in range(done + 1, step + 1):
        at = sk.step_time(queued_at=handoff.queued_at or now, relax_after=relax_after, step=n)
        handoff_event(
            handoff,
            "skills_relaxed",
            {"step": n, "required": sk.effective_requirements(required, n)},
            at=min(at, now),
        )
    return step - done


def queue_relax_skills(*, queue_id: int, now: datetime | None = None) -> int:
    """Record the relaxation steps that waiting handoffs of a `closest` queue reached.

    Returns how many handoffs reached a new step (the caller then fills the queue again).
    """
    now = now or timezone.now()
    queue = Queue.objects.filter(pk=queue_id).first()
    if (
        queue is None
        or queue.skill_matching != SkillMatching.CLOSEST
        or not queue.skill_relax_after_seconds
    ):
        return 0
    moved = 0
    waiting = Handoff.objects.filter(queue=queue, status__in=Handoff.WAITING).exclude(
        required_skills={}
    )
    for handoff in waiting.only("pk", "required_skills", "queued_at", "skill_step")[: SCAN * 5]:
        moved += _record_relaxation(handoff=handoff, queue=queue, now=now) > 0
    return moved


def relaxing_queue_ids() -> list[int]:
    return list(
        Queue.objects.filter(
            skill_matching=SkillMatching.CLOSEST,
            skill_relax_after_seconds__isnull=False,
            handoffs__status=HandoffStatus.QUEUED,
        )
        .distinct()
        .values_list("pk", flat=True)
    )


def _offer_one(queue: Queue, skipped: set[uuid.UUID], now: datetime | None = None) -> bool:
    """Offer the first waiting handoff some free agent may take; False when none can be."""
    now = now or timezone.now()
    with transaction.atomic():
        members = _available_members(queue)
        if not any(c.free > 0 for c in members):
            return False
        waiting = list(
            Handoff.objects.filter(queue=queue, status=HandoffStatus.QUEUED)
            .exclude(pk__in=skipped)
            .order_by(*WAITING_ORDER)
            .values_list("pk", flat=True)[:SCAN]
        )
        for handoff_id in waiting:
            if not any(c.free > 0 for c in members):
                return False  # other workers took the last free capacity meanwhile
            # Another worker may hold or have taken this one: skip it, do not wait.
            handoff = _lock_waiting(handoff_id, queue.pk)
            if handoff is None:
                skipped.add(handoff_id)
                continue
            _record_relaxation(handoff=handoff, queue=queue, now=now)
            refused, refusals = _refusals(handoff)
            for agent in rank_agents(
                queue=queue, handoff=handoff, members=members, refused=refused, now=now
            ):
                if agent.user_id in refused and _reoffer_paused(handoff, refusals, now):
                    break  # the sweep (every 10 s) tries again after the pause
                if _claim(agent.membership_id):
                    _offer(handoff=handoff, queue=queue, agent=agent, now=now)
                    return True
                agent.active_count = agent.capacity  # someone else filled them meanwhile
            skipped.add(handoff_id)
    return False


def queue_fill(*, queue_id: int, now: datetime | None = None) -> int:
    """Offer waiting work while capacity exists, highest priority then oldest first.

    Returns the number of offers made. Safe to run concurrently and repeatedly. `now` (tests,
    the sweep) is the time skills relaxation is judged at; offers are stamped with it too.
    """
    queue = Queue.objects.filter(pk=queue_id).first()
    if (
        queue is None
        or queue.distribution != Distribution.PUSH
        or queue.delivery_kind != DeliveryKind.AGENTS
    ):
        return 0
    offered = 0
    skipped: set[uuid.UUID] = set()
    while _offer_one(queue, skipped, now):
        offered += 1
    return offered


def _back_to_queue(
    *, handoff: Handoff, offer: Offer, outcome: str, event: str, now: datetime
) -> None:
    """Close a pending offer and put the handoff back in its queue. Holds the handoff lock."""
    offer.outcome = outcome
    offer.closed_at = now
    offer.save(update_fields=["outcome", "closed_at"])
    _release(queue_id=handoff.queue_id, user_id=offer.agent_id)
    # A refusal (not a withdrawn offer) sends the handoff to the back of the line.
    refused_at = now if outcome in REFUSED else handoff.refused_at
    handoff_transition(
        handoff,
        HandoffStatus.QUEUED,
        event=event,
        detail={"agent": offer.agent.username, "offer": offer.pk, "status": HandoffStatus.QUEUED},
        at=now,
        agent=None,
        refused_at=refused_at,
    )
    refill_after_commit(handoff.queue_id)


def _lock(handoff_id: uuid.UUID | str) -> Handoff:
    return Handoff.objects.select_for_update().get(pk=handoff_id)


def _pending_offer(handoff: Handoff, agent_id: int | None = None) -> Offer | None:
    # of=("self",): lock the offer only. A plain FOR UPDATE also locks the joined agent's
    # User row, before the membership, while _offer updates the membership then the user:
    # concurrent expiries and fills deadlocked on PostgreSQL.
    offers = Offer.objects.select_for_update(of=("self",)).select_related("agent")
    offers = offers.filter(handoff=handoff, outcome=OfferOutcome.PENDING)
    if agent_id is not None:
        offers = offers.filter(agent_id=agent_id)
    return offers.first()


def offer_expire(*, offer_id: int, now: datetime | None = None) -> bool:
    """Expire a pending offer whose time is up; the handoff goes to the next agent."""
    now = now or timezone.now()
    handoff_id = (
        Offer.objects.filter(pk=offer_id, outcome=OfferOutcome.PENDING, expires_at__lte=now)
        .values_list("handoff_id", flat=True)
        .first()
    )
    if handoff_id is None:
        return False
    with transaction.atomic():
        handoff = _lock(handoff_id)
        offer = _pending_offer(handoff)
        if offer is None or offer.pk != offer_id or offer.expires_at > now:
            return False  # accepted, declined or expired by someone else meanwhile
        _back_to_queue(
            handoff=handoff,
            offer=offer,
            outcome=OfferOutcome.EXPIRED,
            event="offer_expired",
            now=now,
        )
    return True


def handoff_accept(*, handoff_id: uuid.UUID | str, agent: User) -> Handoff:
    """The agent accepts the offer they hold: the handoff becomes `assigned`."""
    now = timezone.now()
    expired = False
    with transaction.atomic():
        handoff = _lock(handoff_id)
        offer = _pending_offer(handoff, agent.pk)
        if handoff.status != HandoffStatus.OFFERED or offer is None:
            raise Conflict("This handoff is not offered to you.", code="not_offered")
        if offer.expires_at <= now:
            _back_to_queue(
                handoff=handoff,
                offer=offer,
                outcome=OfferOutcome.EXPIRED,
                event="offer_expired",
                now=now,
            )
            expired = True
        else:
            offer.outcome = OfferOutcome.ACCEPTED
            offer.closed_at = now
            offer.save(update_fields=["outcome", "closed_at"])
            handoff_transition(
                handoff,
                HandoffStatus.ASSIGNED,
                detail={"agent": agent.username, "via": "offer"},
                at=now,
            )
            status_callback_after_commit(handoff=handoff, state="accepted")
    if expired:
        raise Conflict("The offer has expired.", code="offer_expired")
    return handoff


def handoff_decline(*, handoff_id: uuid.UUID | str, agent: User) -> Handoff:
    """The agent declines the offer: the handoff goes back to the queue and on to another agent."""
    with transaction.atomic():
        handoff = _lock(handoff_id)
        offer = _pending_offer(handoff, agent.pk)
        if handoff.status != HandoffStatus.OFFERED or offer is None:
            raise Conflict("This handoff is not offered to you.", code="not_offered")
        _back_to_queue(
            handoff=handoff,
            offer=offer,
            outcome=OfferOutcome.DECLINED,
            event="offer_declined",
            now=timezone.now(),
        )
    return handoff


def handoff_resolve(*, handoff_id: uuid.UUID | str, agent: User, wrap_up: str = "") -> Handoff:
    """The agent finishes an assigned handoff; their capacity is refilled at once."""
    now = timezone.now()
    with transaction.atomic():
        handoff = _lock(handoff_id)
        if handoff.status != HandoffStatus.ASSIGNED or handoff.agent_id != agent.pk:
            raise Conflict("This handoff is not assigned to you.", code="not_assigned")
        _release(queue_id=handoff.queue_id, user_id=agent.pk)
        handoff_transition(
            handoff,
            HandoffStatus.RESOLVED,
            detail={"agent": agent.username},
            at=now,
            wrap_up=wrap_up,
        )
        status_callback_after_commit(handoff=handoff, state="completed")
        refill_after_commit(handoff.queue_id)
    return handoff


def _move(*, handoff: Handoff, queue: Queue, detail: dict[str, Any], now: datetime) -> None:
    """Put a handoff at the back of another queue's wait (event `transferred`, whose detail
    adds from, to and status to `detail`); delivery is published after commit."""
    handoff_transition(
        handoff,
        HandoffStatus.QUEUED,
        event="transferred",
        detail={
            **detail,
            "from": handoff.queue_key,
            "to": queue.key,
            "status": HandoffStatus.QUEUED,
        },
        at=now,
        queue=queue,
        queue_key=queue.key,
        queue_name=queue.name,
        agent=None,
        offer_expires_at=None,
        # queued_at is the time the handoff entered its current queue: waits and max_wait
        # count from there (the first queueing is in the events and created_at).
        queued_at=now,
        refused_at=None,
        dispatched_at=None,
        next_attempt_at=None,
        delivery_attempts=0,
    )
    handoff_id = handoff.pk
    transaction.on_commit(lambda: publish_delivery(handoff_id))


def handoff_transfer(*, handoff_id: uuid.UUID | str, agent: User, queue: Queue) -> Handoff:
    """The agent hands an assigned handoff to another queue, where it waits like new work."""
    now = timezone.now()
    with transaction.atomic():
        handoff = _lock(handoff_id)
        if handoff.status != HandoffStatus.ASSIGNED or handoff.agent_id != agent.pk:
            raise Conflict("This handoff is not assigned to you.", code="not_assigned")
        old_queue_id = handoff.queue_id
        _release(queue_id=old_queue_id, user_id=agent.pk)
        _move(handoff=handoff, queue=queue, detail={"by": agent.username}, now=now)
        refill_after_commit(old_queue_id)
    return handoff


def handoff_cancel(*, handoff: Handoff, reason: str = "customer_left") -> Handoff:
    """Cancel an open handoff: withdraw its offer, free the capacity it held, refill it.

    A terminal handoff (judged under its row lock) is a conflict: nothing to cancel.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(handoff.pk)
        if locked.is_terminal:
            raise Conflict(
                f"The handoff is already {locked.status}; nothing to cancel.", code="terminal"
            )
        held_by = locked.agent_id if locked.status in HELD else None
        Offer.objects.filter(handoff=locked, outcome=OfferOutcome.PENDING).update(
            outcome=OfferOutcome.WITHDRAWN, closed_at=now
        )
        _release(queue_id=locked.queue_id, user_id=held_by)
        handoff_transition(
            locked,
            HandoffStatus.CANCELLED,
            detail={"reason": reason, "from": locked.status},
            at=now,
            offer_expires_at=None,
            next_attempt_at=None,
        )
        if held_by is not None:
            refill_after_commit(locked.queue_id)
    return locked


def handoff_pick_next(*, agent: User, queue: Queue) -> Handoff | None:
    """The agent takes the next waiting handoff of a queue they belong to (assigned at once).

    None when the agent is not a member, is at capacity, or nothing waits that they may take.
    """
    membership = QueueMembership.objects.filter(queue=queue, user=agent).first()
    if membership is None or membership.active_count >= membership.capacity:
        return None
    skills = dict(AgentSkill.objects.filter(user=agent).values_list("skill__key", "proficiency"))
    now = timezone.now()
    with transaction.atomic():
        waiting = (
            Handoff.objects.filter(queue=queue, status=HandoffStatus.QUEUED)
            .order_by(*WAITING_ORDER)
            .values_list("pk", flat=True)[:SCAN]
        )
        for handoff_id in waiting:
            handoff = _lock_waiting(handoff_id, queue.pk)
            if handoff is None or not agent_qualifies(
                queue=queue, handoff=handoff, held=skills, now=now
            ):
                continue
            if not _claim(membership.pk):
                return None
            User.objects.filter(pk=agent.pk).update(last_assigned_at=now)
            handoff_transition(
                handoff,
                HandoffStatus.ASSIGNED,
                detail={"agent": agent.username, "via": "pick"},
                at=now,
                agent=agent,
            )
            status_callback_after_commit(handoff=handoff, state="accepted")
            return handoff
    return None


def agent_set_presence(*, agent: User, presence: str) -> User:
    """Change the agent's presence. Going `available` pulls waiting work at once; leaving it
    withdraws the offers the agent has not answered (they go to someone else)."""
    now = timezone.now()
    with transaction.atomic():
        changed = (
            User.objects.filter(pk=agent.pk)
            .exclude(presence=presence)
            .update(presence=presence, presence_changed_at=now)
        )
        agent.presence = presence
        if changed:
            agent.presence_changed_at = now
            live_presence_changed(user_id=agent.pk, presence=presence, at=now)
        if presence != Presence.AVAILABLE:
            for handoff_id in Offer.objects.filter(
                agent=agent, outcome=OfferOutcome.PENDING
            ).values_list("handoff_id", flat=True):
                handoff = _lock(handoff_id)
                offer = _pending_offer(handoff, agent.pk)
                if offer is not None:
                    _back_to_queue(
                        handoff=handoff,
                        offer=offer,
                        outcome=OfferOutcome.WITHDRAWN,
                        event="offer_withdrawn",
                        now=now,
                    )
        else:
            for queue_id in QueueMembership.objects.filter(
                user=agent, queue__distribution=Distribution.PUSH
            ).values_list("queue_id", flat=True):
                refill_after_commit(queue_id)
    return agent


# -- waiting too long ------------------------------------------------------------------------


def queue_apply_max_wait(*, queue_id: int, now: datetime | None = None) -> int:
    """Apply the queue's `when_full` action to handoffs waiting longer than `max_wait_seconds`.

    Only built-in agent queues: a webhook queue's wait is the receiver's business. Returns
    how many handoffs moved.
    """
    now = now or timezone.now()
    queue = Queue.objects.filter(pk=queue_id).select_related("when_full_queue").first()
    if (
        queue is None
        or queue.max_wait_seconds is None
        or queue.delivery_kind != DeliveryKind.AGENTS
    ):
        return 0
    action = queue.when_full_action
    target = queue.when_full_queue
    if action == OverflowAction.TRANSFER and (target is None or target.pk == queue.pk):
        return 0
    if action not in (OverflowAction.TRANSFER, OverflowAction.REJECT):
        return 0  # queue_anyway (or none): keep waiting
    cutoff = now - timedelta(seconds=queue.max_wait_seconds)
    moved = 0
    for handoff_id in Handoff.objects.filter(
        queue=queue, status=HandoffStatus.QUEUED, queued_at__lte=cutoff
    ).values_list("pk", flat=True)[:SCAN]:
        with transaction.atomic():
            handoff = _lock_waiting(handoff_id, queue.pk)
            if handoff is None:
                continue
            waited = int((now - (handoff.queued_at or now)).total_seconds())
            detail: dict[str, Any] = {"reason": "max_wait", "waited_seconds": waited}
            if action == OverflowAction.TRANSFER and target is not None:
                _move(handoff=handoff, queue=target, detail=detail, now=now)
            else:
                message = queue.when_full_message or None
                handoff_transition(
                    handoff,
                    HandoffStatus.REJECTED,
                    detail={**detail, "message": message},
                    at=now,
                    message=message,
                )
                # For the bot a rejection after waiting is a failed handoff (tell the customer).
                status_callback_after_commit(handoff=handoff, state="failed")
            moved += 1
    return moved


def stale_offer_ids(*, now: datetime) -> list[int]:
    return list(
        Offer.objects.filter(outcome=OfferOutcome.PENDING, expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )


def push_queues_with_waiting_work() -> list[int]:
    """Push queues that have waiting work and a present member with free capacity."""
    waiting = Handoff.objects.filter(status=HandoffStatus.QUEUED).values("queue_id")
    return list(
        Queue.objects.filter(
            distribution=Distribution.PUSH,
            delivery_kind=DeliveryKind.AGENTS,
            pk__in=waiting,
        )
        .filter(
            Q(
                memberships__active_count__lt=F("memberships__capacity"),
                memberships__user__presence=Presence.AVAILABLE,
            )
        )
        .distinct()
        .values_list("pk", flat=True)
    )

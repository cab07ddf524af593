"""Reads for the agent workspace and the supervisor board.

Both pages are polled every second or two by every open browser, so each read here uses a
fixed number of queries whatever the number of handoffs, queues or agents. Lists never load
the heavy JSON columns (a transcript may hold 1,000 turns of 4,000 characters).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Min, Q, QuerySet
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber
from django.utils.dateparse import parse_datetime

from handoff.config.document import export_document
from handoff.models import ConfigVersion, Handoff, Offer, Queue, QueueMembership, User

HEAVY = ("transcript", "variables", "context", "decision", "topics", "required_skills")
WAITING = ("queued", "offered")
# How many waiting handoffs of one pick queue the inbox lists (the count shows the rest).
PICK_LIST = 10
# How far back the supervisor board counts failed deliveries.
FAILED_WINDOW = timedelta(hours=24)
MASKING = {"mask_all", "mask_keep_last4", "redact_email"}


def _light(qs: QuerySet[Handoff]) -> QuerySet[Handoff]:
    return qs.defer(*HEAVY)


# -- the agent's desk ----------------------------------------------------------------------


@dataclass
class DeskQueue:
    queue: Queue
    capacity: int
    active: int
    waiting: int = 0
    longest_wait_since: datetime | None = None
    # Pick queues: the first waiting handoffs, in the order "take next" serves them.
    next_up: list[Handoff] = field(default_factory=list)

    @property
    def is_pick(self) -> bool:
        return self.queue.distribution == Queue.Distribution.PICK


@dataclass
class Desk:
    offered: list[Handoff]
    assigned: list[Handoff]
    queues: list[DeskQueue]

    @property
    def active(self) -> int:
        return sum(q.active for q in self.queues)

    @property
    def capacity(self) -> int:
        return sum(q.capacity for q in self.queues)


def agent_desk(*, agent: User) -> Desk:
    """What the agent's inbox shows: their offers, their work, their queues. At most 4 queries."""
    memberships = list(
        QueueMembership.objects.filter(user=agent)
        .select_related("queue")
        .order_by("queue__priority", "queue__key")
    )
    mine = list(
        _light(Handoff.objects.filter(agent=agent, status__in=("offered", "assigned"))).order_by(
            "offered_at", "assigned_at", "created_at"
        )
    )
    queues = {
        m.queue_id: DeskQueue(queue=m.queue, capacity=m.capacity, active=m.active_count)
        for m in memberships
    }
    if queues:
        for row in (
            Handoff.objects.filter(queue_id__in=list(queues), status__in=WAITING)
            .values("queue_id")
            .annotate(waiting=Count("pk"), oldest=Min("queued_at"))
        ):
            queues[row["queue_id"]].waiting = row["waiting"]
            queues[row["queue_id"]].longest_wait_since = row["oldest"]
    pick_ids = [qid for qid, q in queues.items() if q.is_pick and q.waiting]
    if pick_ids:
        # The same order as assignment.handoff_pick_next, the first PICK_LIST of each queue.
        ranked = _light(
            Handoff.objects.filter(queue_id__in=pick_ids, status=Handoff.Status.QUEUED)
        ).annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("queue_id")],
                order_by=[F("priority").asc(), F("queued_at").asc(), F("created_at").asc()],
            )
        )
        for handoff in ranked.filter(rank__lte=PICK_LIST).order_by("queue_id", "rank"):
            assert handoff.queue_id is not None
            queues[handoff.queue_id].next_up.append(handoff)
    return Desk(
        offered=[h for h in mine if h.status == Handoff.Status.OFFERED],
        assigned=[h for h in mine if h.status == Handoff.Status.ASSIGNED],
        queues=list(queues.values()),
    )


def handoff_for_viewer(*, user: User, handoff_id: Any, any_handoff: bool) -> Handoff | None:
    """The handoff if this user may see it: their own (offered, assigned or once held by them),
    or any handoff for a supervisor (`any_handoff`). None means 404."""
    handoffs = Handoff.objects.select_related("config_version", "bot", "queue")
    if not any_handoff:
        handoffs = handoffs.filter(agent=user)
    return handoffs.filter(pk=handoff_id).first()


def own_handoff(*, user: User, handoff_id: Any) -> Handoff | None:
    """The handoff if it is offered or assigned to this user (or was, and they closed it)."""
    return _light(Handoff.objects.filter(pk=handoff_id, agent=user)).first()


# -- the handoff page ----------------------------------------------------------------------


@dataclass
class ContextItem:
    label: str
    target: str
    value: Any
    masked: bool


@dataclass
class Answer:
    label: str
    name: str
    value: Any
    question: str = ""  # the bot's question, when a topic of the version asks for it


@dataclass
class Turn:
    sender: str  # customer, bot, system
    text: str
    at: datetime | None


@dataclass
class Sheet:
    """Everything the agent reads about one handoff, resolved against its own config version."""

    context: list[ContextItem]
    answers: list[Answer]
    customer: dict[str, Any]
    transcript: list[Turn]
    channel_name: str
    topic_name: str | None
    events: list[Any]


def _document(handoff: Handoff) -> dict[str, Any]:
    # The version it was routed with, so the agent sees what routing saw. Only "Test your
    # bot" routes with the draft (no version): its handoffs are read against the draft.
    version: ConfigVersion | None = handoff.config_version
    if version is not None:
        return version.document
    return export_document()


def _question_prompts(document: dict[str, Any]) -> dict[str, str]:
    prompts: dict[str, str] = {}
    for topic in document.get("topics", []):
        for node in topic.get("nodes", []):
            if node.get("type") == "question" and node.get("variable") and node.get("prompt"):
                prompts.setdefault(node["variable"], node["prompt"])
    return prompts


def handoff_sheet(*, handoff: Handoff) -> Sheet:
    """The context the agent may see. A context field not `visible_to_agent` is left out, and
    so is the bot variable or customer attribute it was mapped from; a context value no field
    of the version describes is left out too (its visibility is unknown)."""
    document = _document(handoff)
    fields = document.get("context_fields", [])
    hidden_sources = {f["source"] for f in fields if not f.get("visible_to_agent", True)}
    visible = [f for f in fields if f.get("visible_to_agent", True)]
    context = [
        ContextItem(
            label=f.get("label") or f["target"],
            target=f["target"],
            value=handoff.context[f["target"]],
            masked=f.get("transform") in MASKING,
        )
        for f in visible
        if f["target"] in handoff.context
    ]
    labels = {f["source"]: f.get("label") for f in visible if f.get("label")}
    prompts = _question_prompts(document)
    answers = [
        Answer(
            label=labels.get(name) or prompts.get(name) or name,
            name=name,
            value=value,
            question=prompts.get(name, ""),
        )
        for name, value in (handoff.variables or {}).items()
        if name not in hidden_sources
    ]
    customer = {
        key: value
        for key, value in (handoff.customer or {}).items()
        if f"customer.{key}" not in hidden_sources and value not in (None, "")
    }
    transcript = [
        Turn(
            sender=str(turn.get("from") or "system"),
            text=str(turn.get("text") or ""),
            at=parse_datetime(turn["at"]) if isinstance(turn.get("at"), str) else None,
        )
        for turn in handoff.transcript or []
        if isinstance(turn, dict)
    ]
    channels = {c["key"]: c for c in document.get("channels", [])}
    topics = {t["key"]: t for t in document.get("topics", [])}
    topic = topics.get(handoff.topic or "")
    return Sheet(
        context=context,
        answers=answers,
        customer=customer,
        transcript=transcript,
        channel_name=channels.get(handoff.channel, {}).get("name") or handoff.channel,
        topic_name=(topic or {}).get("name") or handoff.topic,
        events=list(handoff.events.order_by("at", "id")),
    )


# -- the supervisor board ------------------------------------------------------------------


@dataclass
class BoardQueue:
    queue: Queue
    waiting: int = 0
    offered: int = 0
    assigned: int = 0
    failed: int = 0
    longest_wait_since: datetime | None = None
    present: int = 0
    free: int = 0


@dataclass
class BoardAgent:
    user: User
    active: int = 0
    capacity: int = 0
    queues: list[str] = field(default_factory=list)


@dataclass
class Board:
    queues: list[BoardQueue]
    agents: dict[str, list[BoardAgent]]  # presence -> agents, in User.Presence order
    offers: list[Offer]
    failures: list[Handoff]


def _board_counts(since: datetime) -> list[Mapping[str, Any]]:
    """Handoffs per queue and status: the open ones, and those failed since `since`."""
    return list(
        Handoff.objects.filter(
            Q(status__in=("queued", "offered", "assigned"))
            | Q(status=Handoff.Status.FAILED, closed_at__gte=since)
        )
        .values("queue_id", "status")
        .annotate(n=Count("pk"), oldest=Min("queued_at"))
        .order_by()
    )


def supervisor_board(*, now: datetime) -> Board:
    """Every queue's state, every member agent's load, pending offers, recent failures.

    Five queries, whatever the size of the operation."""
    queues = {q.pk: BoardQueue(queue=q) for q in Queue.objects.order_by("priority", "key")}
    since = now - FAILED_WINDOW
    for row in _board_counts(since):
        board_queue = queues.get(row["queue_id"])
        if board_queue is None:
            continue
        status, n = row["status"], row["n"]
        if status == "queued":
            board_queue.waiting += n
        elif status == "offered":
            board_queue.waiting += n
            board_queue.offered += n
        elif status == "assigned":
            board_queue.assigned += n
        elif status == "failed":
            board_queue.failed += n
        if status in WAITING and row["oldest"] is not None:
            current = board_queue.longest_wait_since
            board_queue.longest_wait_since = min(current or row["oldest"], row["oldest"])

    agents: dict[int, BoardAgent] = {}
    for m in QueueMembership.objects.filter(user__is_active=True).select_related("user", "queue"):
        agent = agents.setdefault(m.user_id, BoardAgent(user=m.user))
        agent.active += m.active_count
        agent.capacity += m.capacity
        agent.queues.append(m.queue.name)
        if m.user.presence == User.Presence.AVAILABLE and m.queue_id in queues:
            queues[m.queue_id].present += 1
            queues[m.queue_id].free += max(0, m.capacity - m.active_count)
    by_presence: dict[str, list[BoardAgent]] = {p: [] for p in User.Presence.values}
    for agent in sorted(agents.values(), key=lambda a: a.user.username):
        by_presence[agent.user.presence].append(agent)

    offers = list(
        Offer.objects.filter(outcome=Offer.Outcome.PENDING)
        .select_related("agent", "handoff")
        .defer(*(f"handoff__{name}" for name in HEAVY))
        .order_by("expires_at")[:50]
    )
    failures = list(
        _light(Handoff.objects.filter(status=Handoff.Status.FAILED)).order_by(
            "-closed_at", "-created_at"
        )[:20]
    )
    return Board(queues=list(queues.values()), agents=by_presence, offers=offers, failures=failures)

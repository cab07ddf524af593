"""A realistic handoff history for demos and the analytics dashboard (docs/analytics.md).

Every handoff is routed by the real engine (`handoff.engine.routing.decide`) with the published
configuration, exactly as the API routes it: hours, rules, overflow and rejections are real.
What happens next is simulated as the delivery layer would record it (offer, accept, resolve,
cancel, webhook delivered or failed) with plausible waits, and the rows and their events are
written with bulk_create. That bypasses the task layer on purpose, for speed: a year of history
takes seconds, and no worker is woken for handoffs that ended long ago. Only finished
(terminal) handoffs are written, so agents' capacity counters and the live queues are untouched.
"""

import datetime as dt
import math
import random
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from handoff.config.snapshot import Snapshot, published_snapshot
from handoff.engine.routing import compile_snapshot, decide
from handoff.engine.vocabulary import DeliveryKind, Distribution, HandoffStatus
from handoff.models import Bot, Handoff, HandoffEvent, Queue, User
from handoff.services.intake import handoff_from_decision

DEMO_BOT = "retail-bot"
BATCH = 1000
# Relative traffic per hour of the day (local time): quiet nights, a lunch and an evening peak.
HOURLY = [1, 1, 1, 1, 1, 2, 3, 6, 9, 11, 12, 12, 13, 12, 11, 11, 10, 10, 11, 12, 10, 7, 4, 2]
REASONS = [
    ("requested_by_customer", 40),
    ("topic_transfer", 35),
    ("not_understood", 18),
    ("bot_error", 4),
    ("", 3),
]
LOCALES = [("en-GB", 70), ("en-US", 15), ("fr-FR", 12), ("de-DE", 3)]
TIERS = [("standard", 80), ("gold", 15), ("platinum", 5)]
NAMES = ["Kim Lee", "Sam Patel", "Alex Martin", "Jo Dupont", "Mika Sato", "Chris Novak"]
# Probabilities of the outcomes the routing does not decide.
ABANDON = 0.07  # the customer leaves before an agent accepts
CANCEL_AFTER_ACCEPT = 0.02
WEBHOOK_FAILS = 0.05
WEBHOOK_RETRY_DELAYS = [5, 30, 120, 600, 1800, 7200, 21600]


def weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def lognormal(rng: random.Random, median: float, spread: float = 0.8) -> float:
    """A skewed duration in seconds: most are near `median`, a long tail waits much longer."""
    return median * math.exp(rng.gauss(0, spread))


class Command(BaseCommand):
    help = (
        "Create N days of realistic handoffs, routed by the published configuration "
        "(bulk writes; the delivery outcome is simulated)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True, help="how many days back")
        parser.add_argument("--per-day", type=int, default=150, help="handoffs per day (about)")
        parser.add_argument("--seed", type=int, default=None, help="for a repeatable history")

    def handle(self, *args: Any, **options: Any) -> None:
        days, per_day = options["days"], options["per_day"]
        if days < 1 or per_day < 1:
            raise CommandError("--days and --per-day must be at least 1")
        snapshot = published_snapshot()
        if snapshot is None:
            raise CommandError(
                "No published configuration: run `manage.py load_demo` or publish one first."
            )
        bot = Bot.objects.filter(key=DEMO_BOT).first() or Bot.objects.order_by("key").first()
        if bot is None:
            raise CommandError("No bot: create one (or run `manage.py load_demo`) first.")
        history = History(snapshot, bot, random.Random(options["seed"]))
        if not history.channels:
            raise CommandError(
                f'The bot "{bot.key}" may not hand off on any enabled channel in the published '
                "configuration."
            )
        now = timezone.now()
        total = 0
        today = timezone.localdate(now)
        for back in range(days - 1, -1, -1):
            day = today - dt.timedelta(days=back)
            total += history.write_day(day, per_day, now=now)
        self.stdout.write(
            f"Created {total} handoffs over {days} days for bot {bot.key} "
            f"(configuration version {snapshot.number})."
        )


class History:
    def __init__(self, snapshot: Snapshot, bot: Bot, rng: random.Random) -> None:
        self.snapshot = snapshot
        self.plan = compile_snapshot(snapshot.document)
        self.bot = bot
        self.rng = rng
        allowed = snapshot.bots.get(bot.key, {}).get("channels", [])
        self.channels = [
            key
            for key in allowed
            if key in snapshot.channels and snapshot.channels[key].get("enabled", True)
        ]
        self.topics = [key for key in snapshot.topics if key not in ("fallback",)]
        self.queue_ids = dict(Queue.objects.values_list("key", "pk"))
        self.agents = self._agents()

    def _agents(self) -> dict[str, list[User]]:
        members: dict[str, list[str]] = {
            q["key"]: [m["username"] for m in q.get("members", [])]
            for q in self.snapshot.queues.values()
        }
        names = {u for us in members.values() for u in us}
        users = {u.username: u for u in User.objects.filter(username__in=names)}
        anyone = list(User.objects.filter(groups__name="agent").order_by("username")[:20])
        return {key: [users[u] for u in us if u in users] or anyone for key, us in members.items()}

    def request(self) -> dict[str, Any]:
        rng = self.rng
        topic = rng.choice([*self.topics, None]) if self.topics else None
        variables: dict[str, Any] = {"loyalty_tier": weighted(rng, TIERS)}
        if rng.random() < 0.6:
            variables["order_number"] = f"a-{rng.randint(10000, 99999)}"
        if topic == "refund":
            variables["refund_amount"] = round(lognormal(rng, 120, 1.0), 2)
        if rng.random() < 0.15:
            variables["delivery_issue"] = rng.choice(["damaged", "wrong item", "late"])
        name = rng.choice(NAMES)
        turns = rng.randint(2, 14)
        transcript = [
            {"from": "customer" if i % 2 == 0 else "bot", "text": f"message {i + 1}"}
            for i in range(turns)
        ]
        return {
            "conversation_id": f"history-{uuid.uuid4()}",
            "channel": rng.choice(self.channels),
            "topic": topic,
            "topics": [topic] if topic else [],
            "locale": weighted(rng, LOCALES),
            "reason": weighted(rng, REASONS),
            "customer": {
                "id": f"cust-{rng.randint(1, 5000)}",
                "name": name,
                "email": name.lower().replace(" ", ".") + "@example.com",
            },
            "variables": variables,
            "transcript": transcript,
        }

    def write_day(self, day: dt.date, per_day: int, *, now: dt.datetime) -> int:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
        count = max(1, round(per_day * self.rng.uniform(0.8, 1.2)))
        times = sorted(
            start
            + dt.timedelta(
                hours=weighted(self.rng, list(enumerate(HOURLY))), seconds=self.rng.uniform(0, 3600)
            )
            for _ in range(count)
        )
        rows: list[Handoff] = []
        events: list[HandoffEvent] = []
        for created in times:
            if created >= now:
                break
            made = self.handoff(created, now=now)
            if made is None:
                continue
            rows.append(made[0])
            events.extend(made[1])
        with transaction.atomic():
            for i in range(0, len(rows), BATCH):
                Handoff.objects.bulk_create(rows[i : i + BATCH])
            for i in range(0, len(events), BATCH * 5):
                HandoffEvent.objects.bulk_create(events[i : i + BATCH * 5])
        return len(rows)

    def handoff(
        self, created: dt.datetime, *, now: dt.datetime
    ) -> tuple[Handoff, list[HandoffEvent]] | None:
        request = self.request()
        decision = decide(self.plan, request, bot_key=self.bot.key, queue_states={}, now=created)
        if decision.errors:  # the API would have answered 422: nothing was stored
            return None
        h = handoff_from_decision(
            bot=self.bot,
            request=request,
            decision=decision,
            snapshot=self.snapshot,
            queue_id=self.queue_ids.get(decision.queue_key),
            now=created,
        )
        events = [self._event(h, "received", created, {"channel": h.channel})]
        routed = {
            "queue": decision.queue_key,
            "rule": decision.rule,
            "config_version": self.snapshot.number,
        }
        if h.status == HandoffStatus.REJECTED:
            events.append(self._event(h, "rejected", created, {**routed, "message": h.message}))
            return h, events
        events.append(self._event(h, "queued", created, routed))
        queue = self.snapshot.queues.get(decision.queue_key, {})
        if (queue.get("delivery") or {}).get("kind") == DeliveryKind.WEBHOOK:
            self._webhook(h, events)
        else:
            self._agents_outcome(h, queue, events)
        if h.closed_at is not None and h.closed_at > now:
            # Too recent to have finished: it would still be open, so it is not written.
            return None
        h.updated_at = h.closed_at or created
        return h, events

    def _event(
        self, h: Handoff, type: str, at: dt.datetime, detail: dict[str, Any]
    ) -> HandoffEvent:
        return HandoffEvent(handoff=h, type=type, at=at, detail=detail)

    def _webhook(self, h: Handoff, events: list[HandoffEvent]) -> None:
        assert h.queued_at is not None
        rng = self.rng
        h.webhook_id = f"msg_{uuid.uuid4().hex}"
        if rng.random() >= WEBHOOK_FAILS:
            at = h.queued_at + dt.timedelta(seconds=rng.uniform(0.2, 2.5))
            events.append(self._event(h, "delivery_attempt", at, {"attempt": 1, "status": 200}))
            events.append(self._event(h, "delivered", at, {"status": 200}))
            h.status, h.closed_at, h.delivery_attempts = HandoffStatus.DELIVERED, at, 1
            return
        at = h.queued_at
        for attempt, delay in enumerate([0, *WEBHOOK_RETRY_DELAYS], start=1):
            at += dt.timedelta(seconds=delay + rng.uniform(0, 1))
            events.append(
                self._event(h, "delivery_attempt", at, {"attempt": attempt, "status": 503})
            )
        h.status, h.closed_at = HandoffStatus.FAILED, at
        h.delivery_attempts = len(WEBHOOK_RETRY_DELAYS) + 1
        h.last_error = "HTTP 503 Service Unavailable"
        events.append(self._event(h, "failed", at, {"error": h.last_error}))

    def _agents_outcome(self, h: Handoff, queue: dict[str, Any], events: list) -> None:
        assert h.queued_at is not None
        rng = self.rng
        agents = self.agents.get(h.queue_key) or []
        agent = rng.choice(agents) if agents else None
        username = agent.username if agent else "agent"
        # Busier hours wait longer; priority queues (VIP, low numbers) are served sooner.
        load = HOURLY[timezone.localtime(h.created_at).hour] / max(HOURLY)
        median_wait = 20 + 150 * load * (0.5 if h.priority < 10 else 1.0)
        wait = lognormal(rng, median_wait)
        if rng.random() < ABANDON:
            at = h.queued_at + dt.timedelta(seconds=wait * rng.uniform(1.0, 3.0))
            h.status, h.closed_at = HandoffStatus.CANCELLED, at
            events.append(self._event(h, "cancelled", at, {"reason": "customer_left"}))
            return
        push = queue.get("distribution", Distribution.PUSH) == Distribution.PUSH
        if push:
            h.offered_at = h.queued_at + dt.timedelta(seconds=wait)
            events.append(self._event(h, "offered", h.offered_at, {"agent": username}))
            accepted = h.offered_at + dt.timedelta(seconds=rng.uniform(3, 45))
            via = "offer"
        else:
            accepted = h.queued_at + dt.timedelta(seconds=wait * 1.5)
            via = "pick"
        h.assigned_at, h.agent = accepted, agent
        events.append(self._event(h, "assigned", accepted, {"agent": username, "via": via}))
        if rng.random() < CANCEL_AFTER_ACCEPT:
            at = accepted + dt.timedelta(seconds=rng.uniform(10, 120))
            h.status, h.closed_at = HandoffStatus.CANCELLED, at
            events.append(self._event(h, "cancelled", at, {"reason": "customer_left"}))
            return
        at = accepted + dt.timedelta(seconds=lognormal(rng, 360, 0.7))
        h.status, h.closed_at = HandoffStatus.RESOLVED, at
        events.append(self._event(h, "resolved", at, {"agent": username}))

"""Push offers, capacity, assignment methods, pick, and the agent's transitions."""

import itertools
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from handoff.errors import Conflict
from handoff.models import AgentSkill, Handoff, Offer, QueueMembership, Skill, User
from handoff.services.assignment import (
    agent_set_presence,
    handoff_accept,
    handoff_cancel,
    handoff_decline,
    handoff_pick_next,
    handoff_resolve,
    handoff_transfer,
    queue_apply_max_wait,
    queue_fill,
    reoffer_pause,
)
from handoff.services.sweep import sweep_run
from tests.handoff.delivery_helpers import (
    event_types,
    make_agent,
    make_handoff,
    make_queue,
    membership,
)

pytestmark = pytest.mark.usefixtures("scratch_broker")


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run what services do after commit (refills), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_it_offers_to_an_available_agent_below_capacity(db: Any) -> None:
    queue = make_queue(offer_timeout_seconds=30)
    ben = make_agent("ben", queue, capacity=2)
    make_agent("otto", queue, capacity=2, presence="offline")
    handoff = make_handoff(queue)

    assert queue_fill(queue_id=queue.pk) == 1

    handoff.refresh_from_db()
    assert handoff.status == "offered"
    assert handoff.agent == ben
    assert handoff.offered_at is not None
    assert handoff.offer_expires_at == handoff.offered_at + timedelta(seconds=30)
    assert Offer.objects.get(handoff=handoff).outcome == "pending"
    assert membership(ben, queue).active_count == 1
    assert event_types(handoff) == ["received", "queued", "offered"]
    assert handoff.events.get(type="offered").detail["agent"] == "ben"


def test_it_keeps_work_waiting_when_everyone_is_full_or_absent(db: Any) -> None:
    queue = make_queue()
    make_agent("ben", queue, capacity=1)
    make_agent("away", queue, capacity=5, presence="away")
    first, second = make_handoff(queue), make_handoff(queue)

    assert queue_fill(queue_id=queue.pk) == 1

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("offered", "queued")


def test_it_offers_the_highest_priority_then_the_oldest_first(db: Any) -> None:
    queue = make_queue()
    make_agent("ben", queue, capacity=1)
    now = timezone.now()
    make_handoff(queue, priority=5, now=now - timedelta(minutes=9))
    urgent_late = make_handoff(queue, priority=1, now=now - timedelta(minutes=1))
    make_handoff(queue, priority=1, now=now)

    queue_fill(queue_id=queue.pk)

    assert Handoff.objects.get(status="offered") == urgent_late


def _offered_to(queue: Any) -> str:
    handoff = make_handoff(queue)
    queue_fill(queue_id=queue.pk)
    handoff.refresh_from_db()
    return handoff.agent.username if handoff.agent else ""


def test_it_assigns_round_robin_to_the_least_recently_assigned(db: Any) -> None:
    queue = make_queue(assignment="round_robin")
    now = timezone.now()
    make_agent("amy", queue, capacity=5, last_assigned_at=now - timedelta(minutes=1))
    make_agent("cat", queue, capacity=5)  # never assigned: first
    make_agent("bob", queue, capacity=5, last_assigned_at=now - timedelta(minutes=5))

    assert [_offered_to(queue) for _ in range(4)] == ["cat", "bob", "amy", "cat"]


def test_it_breaks_round_robin_ties_by_username(db: Any) -> None:
    queue = make_queue(assignment="round_robin")
    make_agent("zoe", queue, capacity=5)
    make_agent("adam", queue, capacity=5)

    assert [_offered_to(queue) for _ in range(3)] == ["adam", "zoe", "adam"]


def test_it_assigns_to_the_highest_remaining_capacity(db: Any) -> None:
    queue = make_queue(assignment="highest_capacity")
    make_agent("amy", queue, capacity=2)
    make_agent("bob", queue, capacity=4)
    QueueMembership.objects.filter(user__username="bob").update(active_count=1)  # 3 free

    # bob 3 free > amy 2; then 2 vs 2: amy was never assigned (bob just was); then bob.
    assert [_offered_to(queue) for _ in range(3)] == ["bob", "amy", "bob"]


def test_it_assigns_to_the_most_idle_agent(db: Any) -> None:
    queue = make_queue(assignment="most_idle")
    now = timezone.now()
    # amy was assigned long ago but only just came back; bob has been idle the longest.
    make_agent(
        "amy",
        queue,
        capacity=5,
        last_assigned_at=now - timedelta(hours=3),
        presence_changed_at=now - timedelta(minutes=1),
    )
    make_agent(
        "bob",
        queue,
        capacity=5,
        last_assigned_at=now - timedelta(hours=1),
        presence_changed_at=now - timedelta(hours=2),
    )

    assert [_offered_to(queue) for _ in range(3)] == ["bob", "amy", "bob"]


def test_it_moves_an_unanswered_offer_to_the_next_agent(db: Any, after_commit: Any) -> None:
    queue = make_queue(offer_timeout_seconds=20)
    make_agent("amy", queue, capacity=1)
    bob = make_agent("bob", queue, capacity=1)
    handoff = make_handoff(queue)
    queue_fill(queue_id=queue.pk)
    handoff.refresh_from_db()
    assert handoff.agent is not None
    assert handoff.agent.username == "amy"

    assert sweep_run(now=timezone.now() + timedelta(seconds=5))["offers_expired"] == 0
    with after_commit():
        assert sweep_run(now=timezone.now() + timedelta(seconds=21))["offers_expired"] == 1

    handoff.refresh_from_db()
    assert handoff.status == "offered"
    assert handoff.agent == bob
    assert list(handoff.offers.order_by("id").values_list("outcome", flat=True)) == [
        "expired",
        "pending",
    ]
    assert membership(User.objects.get(username="amy"), queue).active_count == 0
    assert event_types(handoff)[-3:] == ["offered", "offer_expired", "offered"]


def test_it_does_not_repeat_a_declined_offer_while_another_agent_is_present(
    db: Any, after_commit: Any
) -> None:
    queue = make_queue()
    amy = make_agent("amy", queue, capacity=1)
    bob = make_agent("bob", queue, capacity=1, last_assigned_at=timezone.now())
    bobs_work = make_handoff(queue)
    queue_fill(queue_id=queue.pk)  # amy (never assigned) gets it first
    handoff_accept(handoff_id=bobs_work.pk, agent=amy)
    handoff = make_handoff(queue)
    queue_fill(queue_id=queue.pk)
    handoff.refresh_from_db()
    assert handoff.agent == bob

    with after_commit():
        handoff_decline(handoff_id=handoff.pk, agent=bob)
    handoff.refresh_from_db()
    assert handoff.status == "queued"  # amy is full; bob declined: it waits for amy

    with after_commit():
        handoff_resolve(handoff_id=bobs_work.pk, agent=amy)
    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("offered", amy)


def test_it_offers_again_to_the_only_agent_who_declined_after_a_pause(
    db: Any, after_commit: Any
) -> None:
    queue = make_queue()
    amy = make_agent("amy", queue, capacity=1)
    handoff = make_handoff(queue)
    queue_fill(queue_id=queue.pk)

    with after_commit():
        handoff_decline(handoff_id=handoff.pk, agent=amy)

    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("queued", None)  # not straight back to amy
    declined = handoff.refused_at
    assert declined is not None
    assert sweep_run(now=declined + timedelta(seconds=9))["offered"] == 0
    assert sweep_run(now=declined + timedelta(seconds=10))["offered"] == 1
    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("offered", amy)


def test_it_assigns_on_accept_and_refills_on_resolve(db: Any, after_commit: Any) -> None:
    queue = make_queue()
    ben = make_agent("ben", queue, capacity=1)
    first, second = make_handoff(queue), make_handoff(queue)
    queue_fill(queue_id=queue.pk)

    handoff_accept(handoff_id=first.pk, agent=ben)
    first.refresh_from_db()
    assert first.status == "assigned"
    assert first.assigned_at is not None

    with after_commit():
        handoff_resolve(handoff_id=first.pk, agent=ben, wrap_up="Refunded")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.wrap_up) == ("resolved", "Refunded")
    assert first.closed_at is not None
    assert (second.status, second.agent) == ("offered", ben)
    assert membership(ben, queue).active_count == 1
    assert event_types(first)[-3:] == ["offered", "assigned", "resolved"]


def test_it_refuses_transitions_that_do_not_fit(db: Any) -> None:
    queue = make_queue(offer_timeout_seconds=1)
    ben = make_agent("ben", queue, capacity=1)
    other = make_agent("other", queue, capacity=1, presence="offline")
    handoff = make_handoff(queue)
    queue_fill(queue_id=queue.pk)

    with pytest.raises(Conflict):
        handoff_accept(handoff_id=handoff.pk, agent=other)
    with pytest.raises(Conflict):
        handoff_resolve(handoff_id=handoff.pk, agent=ben)  # offered, not assigned
    Offer.objects.filter(handoff=handoff).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired"):
        handoff_accept(handoff_id=handoff.pk, agent=ben)
    handoff.refresh_from_db()
    assert handoff.status == "queued"


def test_it_requires_every_skill_at_level_for_exact_matching(db: Any) -> None:
    queue = make_queue(skill_matching="exact")
    japanese = Skill.objects.create(key="language:ja", name="Japanese")
    novice = make_agent("novice", queue, capacity=3)
    expert = make_agent("expert", queue, capacity=3, last_assigned_at=timezone.now())
    AgentSkill.objects.create(user=novice, skill=japanese, proficiency=2)
    AgentSkill.objects.create(user=expert, skill=japanese, proficiency=4)
    needs = make_handoff(queue, required_skills={"language:ja": 3})
    anyone = make_handoff(queue)

    queue_fill(queue_id=queue.pk)

    needs.refresh_from_db()
    anyone.refresh_from_db()
    assert needs.agent == expert
    assert anyone.agent == novice


def test_it_prefers_the_best_match_with_closest_matching(db: Any) -> None:
    queue = make_queue(skill_matching="closest")
    japanese = Skill.objects.create(key="language:ja", name="Japanese")
    make_agent("none", queue, capacity=1)
    some = make_agent("some", queue, capacity=1, last_assigned_at=timezone.now())
    AgentSkill.objects.create(user=some, skill=japanese, proficiency=2)
    needs = make_handoff(queue, required_skills={"language:ja": 5})

    queue_fill(queue_id=queue.pk)

    needs.refresh_from_db()
    assert needs.agent == some


def test_it_cancels_frees_capacity_and_refills(db: Any, after_commit: Any) -> None:
    queue = make_queue()
    ben = make_agent("ben", queue, capacity=1)
    first, second = make_handoff(queue), make_handoff(queue)
    queue_fill(queue_id=queue.pk)

    with after_commit():
        cancelled = handoff_cancel(handoff=first)

    assert cancelled.status == "cancelled"
    assert Offer.objects.get(handoff=first).outcome == "withdrawn"
    second.refresh_from_db()
    assert (second.status, second.agent) == ("offered", ben)
    assert membership(ben, queue).active_count == 1
    assert first.events.get(type="cancelled").detail == {
        "reason": "customer_left",
        "from": "offered",
    }


def test_it_lets_an_agent_pick_the_next_handoff_within_capacity(db: Any) -> None:
    queue = make_queue(distribution="pick", assignment=None)
    ben = make_agent("ben", queue, capacity=1)
    outsider = make_agent("olga")
    first, _second = make_handoff(queue, priority=1), make_handoff(queue, priority=2)

    assert handoff_pick_next(agent=outsider, queue=queue) is None
    picked = handoff_pick_next(agent=ben, queue=queue)
    assert picked == first
    assert (picked.status, picked.agent) == ("assigned", ben)
    assert handoff_pick_next(agent=ben, queue=queue) is None  # at capacity
    assert membership(ben, queue).active_count == 1
    assert queue_fill(queue_id=queue.pk) == 0  # pick queues are never pushed


def test_it_pulls_work_when_an_agent_becomes_available(db: Any, after_commit: Any) -> None:
    queue = make_queue()
    ben = make_agent("ben", queue, capacity=1, presence="offline")
    handoff = make_handoff(queue)
    assert queue_fill(queue_id=queue.pk) == 0

    with after_commit():
        agent_set_presence(agent=ben, presence="available")

    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("offered", ben)

    with after_commit():
        agent_set_presence(agent=ben, presence="away")
    handoff.refresh_from_db()
    assert handoff.status == "queued"  # the unanswered offer went back
    assert membership(ben, queue).active_count == 0


def test_it_transfers_an_assigned_handoff_to_another_queue(db: Any, after_commit: Any) -> None:
    billing, general = make_queue("billing"), make_queue("general")
    ben = make_agent("ben", billing, capacity=1)
    eve = make_agent("eve", general, capacity=1)
    handoff = make_handoff(billing)
    queue_fill(queue_id=billing.pk)
    handoff_accept(handoff_id=handoff.pk, agent=ben)

    with pytest.raises(Conflict):
        handoff_transfer(handoff_id=handoff.pk, agent=eve, queue=general)
    handoff_transfer(handoff_id=handoff.pk, agent=ben, queue=general)

    handoff.refresh_from_db()
    assert (handoff.status, handoff.queue_key, handoff.agent) == ("queued", "general", None)
    assert membership(ben, billing).active_count == 0
    assert handoff.events.get(type="transferred").detail["to"] == "general"
    queue_fill(queue_id=general.pk)
    handoff.refresh_from_db()
    assert handoff.agent == eve


def test_it_applies_max_wait_overflow_to_waiting_handoffs(db: Any) -> None:
    general = make_queue("general")
    closing = make_queue(
        "closing",
        max_wait_seconds=60,
        when_full_action="reject",
        when_full_message="Sorry, everyone is busy.",
    )
    billing = make_queue(
        "billing", max_wait_seconds=60, when_full_action="transfer", when_full_queue=general
    )
    now = timezone.now()
    old = make_handoff(billing, now=now - timedelta(seconds=90))
    fresh = make_handoff(billing, now=now - timedelta(seconds=30))
    doomed = make_handoff(closing, now=now - timedelta(seconds=61))

    assert queue_apply_max_wait(queue_id=billing.pk, now=now) == 1
    assert queue_apply_max_wait(queue_id=closing.pk, now=now) == 1

    old.refresh_from_db()
    fresh.refresh_from_db()
    doomed.refresh_from_db()
    assert (old.status, old.queue_key, old.queued_at) == ("queued", "general", now)
    assert old.events.get(type="transferred").detail["reason"] == "max_wait"
    assert fresh.queue_key == "billing"
    assert (doomed.status, doomed.message) == ("rejected", "Sorry, everyone is busy.")


@pytest.mark.postgres
def test_it_never_exceeds_capacity_with_concurrent_workers(transactional_db: Any) -> None:
    queue = make_queue(offer_timeout_seconds=600)
    agents = [make_agent(f"agent{i}", queue, capacity=2) for i in range(5)]
    handoffs = [make_handoff(queue) for _ in range(200)]
    over: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def in_thread(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    def watch() -> None:
        # Checked in the database while the workers run: offered + assigned per agent.
        while not stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT agent_id, count(*) FROM handoff_handoff "
                    "WHERE status IN ('offered', 'assigned') GROUP BY agent_id HAVING count(*) > 2"
                )
                over.extend(str(row) for row in cursor.fetchall())
            stop.wait(0.005)

    def deliver(part: list[Handoff]) -> Any:
        from handoff.services.dispatch import handoff_deliver

        return lambda: [handoff_deliver(handoff_id=h.pk) for h in part]

    watcher = in_thread(watch)
    watcher.start()
    workers = [in_thread(deliver(handoffs[i::8])) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert Handoff.objects.filter(status="offered").count() == 10
    assert Handoff.objects.filter(status="queued").count() == 190
    assert all(m.active_count == 2 for m in QueueMembership.objects.all())

    # A freed slot is refilled at once, by the commit that freed it (not by a sweep).
    done = Handoff.objects.filter(status="offered").select_related("agent").first()
    assert done is not None and done.agent is not None
    handoff_accept(handoff_id=done.pk, agent=done.agent)
    handoff_resolve(handoff_id=done.pk, agent=done.agent)
    assert Handoff.objects.filter(status__in=["offered", "assigned"]).count() == 10
    assert Handoff.objects.filter(status="queued").count() == 189

    # Agents work everything off concurrently; every freed slot is refilled at once.
    def work(agent: User) -> Any:
        def run() -> None:
            idle_rounds = 0
            while idle_rounds < 20:
                mine = list(Handoff.objects.filter(agent=agent, status__in=["offered", "assigned"]))
                if not mine:
                    idle_rounds += 1
                    stop.wait(0.02)
                    continue
                idle_rounds = 0
                for handoff in mine:
                    if handoff.status == "offered":
                        handoff_accept(handoff_id=handoff.pk, agent=agent)
                    handoff_resolve(handoff_id=handoff.pk, agent=agent)

        return run

    workers = [in_thread(work(a)) for a in agents]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    watcher.join()
    assert not errors, errors
    assert over == []
    assert Handoff.objects.filter(status="resolved").count() == 200
    assert Handoff.objects.filter(status="queued").count() == 0
    assert all(m.active_count == 0 for m in QueueMembership.objects.all())


# -- refused work: back of the line, rotating re-offers with a growing pause -------------------


def test_a_declined_handoff_steps_back_behind_the_next_with_one_agent(
    db: Any, after_commit: Any
) -> None:
    queue = make_queue()
    amy = make_agent("amy", queue, capacity=1)
    now = timezone.now()
    first = make_handoff(queue, now=now - timedelta(seconds=2))
    second = make_handoff(queue, now=now - timedelta(seconds=1))
    queue_fill(queue_id=queue.pk)

    with after_commit():
        handoff_decline(handoff_id=first.pk, agent=amy)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.status, second.agent) == ("offered", amy)  # the next one, not the declined
    assert first.status == "queued"
    assert first.refused_at is not None and first.queued_at == now - timedelta(seconds=2)


def test_a_refused_handoff_goes_behind_what_waits_but_before_what_comes_later(
    db: Any, after_commit: Any
) -> None:
    queue = make_queue()
    amy = make_agent("amy", queue, capacity=1)
    bob = make_agent("bob", queue, capacity=1, presence="busy")
    now = timezone.now()
    refused = make_handoff(queue, now=now - timedelta(minutes=5))
    make_handoff(queue, now=now - timedelta(minutes=1))
    queue_fill(queue_id=queue.pk)
    with after_commit():
        handoff_decline(handoff_id=refused.pk, agent=amy)  # amy gets the one waiting
    later = make_handoff(queue, now=timezone.now() + timedelta(seconds=1))

    agent_set_presence(agent=bob, presence="available")  # bob has refused nothing
    queue_fill(queue_id=queue.pk)

    refused.refresh_from_db()
    later.refresh_from_db()
    assert (refused.status, refused.agent) == ("offered", bob)
    assert later.status == "queued"


def test_it_pauses_re_offers_longer_after_each_refusal() -> None:
    assert [reoffer_pause(n).total_seconds() for n in range(8)] == [
        0,
        10,
        20,
        40,
        80,
        160,
        300,
        300,
    ]


class Desk:
    """A push queue on a virtual clock whose agents let one handoff (`refused`) expire every
    time it is offered to them and accept and resolve everything else at once."""

    def __init__(self, agents: list[str], *, young_every: int) -> None:
        self.queue = make_queue(offer_timeout_seconds=20)
        self.agents = {name: make_agent(name, self.queue, capacity=1) for name in agents}
        self.clock = timezone.now()
        self.refused = make_handoff(self.queue, now=self.clock - timedelta(minutes=1))
        self.young_every = young_every
        self.young: dict[Any, Any] = {}  # handoff id -> when it arrived
        self.waits: list[float] = []  # seconds each young handoff waited for its offer
        self.offers_of_refused: list[tuple[str, Any]] = []

    def run(self, seconds: int, step: int = 5) -> None:
        for tick in range(0, seconds, step):
            self.clock += timedelta(seconds=step)
            if tick % self.young_every == 0:
                handoff = make_handoff(self.queue, now=self.clock)
                self.young[handoff.pk] = self.clock
            sweep_run(now=self.clock)  # expires offers, fills the queue (refills run here)
            for handoff in Handoff.objects.filter(queue=self.queue, status="offered"):
                agent = handoff.agent
                assert agent is not None
                if handoff.pk == self.refused.pk:
                    if not self.offers_of_refused or self.offers_of_refused[-1][1] != (
                        handoff.offered_at
                    ):
                        self.offers_of_refused.append((agent.username, handoff.offered_at))
                    continue  # it will expire: a refusal
                self.waits.append((self.clock - self.young[handoff.pk]).total_seconds())
                handoff_accept(handoff_id=handoff.pk, agent=agent)
                handoff_resolve(handoff_id=handoff.pk, agent=agent)

    @property
    def never_offered(self) -> int:
        return Handoff.objects.filter(pk__in=list(self.young), status="queued").count()


def test_refused_work_does_not_starve_younger_work_with_one_agent(db: Any) -> None:
    desk = Desk(["amy"], young_every=30)

    desk.run(seconds=900)

    # Younger work is served as it comes (one step of the clock at most), the refused handoff
    # in between, after a pause that grows with each refusal.
    assert desk.waits and max(desk.waits) <= 30, desk.waits
    assert desk.never_offered <= 1
    times = [at for _, at in desk.offers_of_refused]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(times) >= 4
    assert gaps == sorted(gaps), gaps  # a growing pause


def test_refused_work_rotates_among_three_agents_and_does_not_starve_younger_work(
    db: Any,
) -> None:
    desk = Desk(["amy", "bob", "cat"], young_every=10)

    desk.run(seconds=1200)

    who = [name for name, _ in desk.offers_of_refused]
    assert len(who) >= 6, who
    counts = {name: who.count(name) for name in ("amy", "bob", "cat")}
    assert max(counts.values()) - min(counts.values()) <= 1, who  # it rotates
    assert all(a != b for a, b in itertools.pairwise(who)), who  # never twice running
    assert desk.waits and max(desk.waits) <= 30, desk.waits
    assert desk.never_offered <= 1

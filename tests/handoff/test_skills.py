"""Skills-based assignment: exact, closest, relaxation over waiting time (docs/delivery.md)."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from handoff.engine.skills import effective_requirements, match_key, relax_step
from handoff.models import AgentSkill, Handoff, QueueMembership, Skill, User
from handoff.services.assignment import (
    handoff_accept,
    handoff_pick_next,
    handoff_resolve,
    queue_fill,
    queue_relax_skills,
)
from handoff.services.sweep import sweep_run
from tests.handoff.delivery_helpers import (
    make_agent,
    make_handoff,
    make_queue,
    membership,
)

pytestmark = pytest.mark.usefixtures("scratch_broker")


def give(agent: User, **levels: int) -> User:
    for key, level in levels.items():
        skill, _ = Skill.objects.get_or_create(key=key.replace("_", ":"), defaults={"name": key})
        AgentSkill.objects.create(user=agent, skill=skill, proficiency=level)
    return agent


def offered_to(handoff: Handoff) -> str | None:
    handoff.refresh_from_db()
    return handoff.agent.username if handoff.status == "offered" and handoff.agent else None


def relaxed(handoff: Handoff) -> list[dict]:
    return [e.detail for e in handoff.events.filter(type="skills_relaxed").order_by("detail__step")]


# -- pure ------------------------------------------------------------------------------------


def test_it_lowers_every_level_by_the_step_and_drops_what_falls_below_one() -> None:
    assert effective_requirements({"language:ja": 4, "product:billing": 2}, 2) == {"language:ja": 2}
    assert effective_requirements({"language:ja": 4}, 4) == {}


def test_it_counts_whole_relaxation_periods_and_stops_when_nothing_is_left() -> None:
    start = timezone.now()
    step = lambda seconds: relax_step(  # noqa: E731
        matching="closest",
        relax_after=60,
        required={"a": 2, "b": 1},
        queued_at=start,
        now=start + timedelta(seconds=seconds),
    )
    assert [step(0), step(59), step(60), step(119), step(120), step(9999)] == [0, 0, 1, 1, 2, 2]
    assert (
        relax_step(matching="exact", relax_after=60, required={"a": 2}, queued_at=start, now=start)
        == 0
    )


def test_it_prefers_most_requirements_met_then_the_largest_surplus() -> None:
    required = {"a": 3, "b": 2}
    ranked = sorted(
        [{"a": 5}, {"a": 3, "b": 2}, {"a": 5, "b": 3}, {"b": 5}],
        key=lambda held: match_key(required, held),
    )
    assert ranked == [{"a": 5, "b": 3}, {"a": 3, "b": 2}, {"a": 5}, {"b": 5}]


# -- exact -----------------------------------------------------------------------------------


def test_it_offers_exact_matches_only_and_keeps_the_rest_waiting(db: Any) -> None:
    queue = make_queue(skill_matching="exact")
    give(make_agent("amy", queue, capacity=5), language_ja=2)  # below the level
    give(make_agent("bob", queue, capacity=1), language_ja=4)
    make_agent("cat", queue, capacity=5)  # no skills
    handoffs = [make_handoff(queue, required_skills={"language:ja": 3}) for _ in range(3)]

    assert queue_fill(queue_id=queue.pk) == 1

    assert [offered_to(h) for h in handoffs] == ["bob", None, None]


def test_it_offers_every_exact_match_to_the_one_agent_who_qualifies(db: Any) -> None:
    queue = make_queue(skill_matching="exact")
    give(make_agent("amy", queue, capacity=5), language_ja=2)
    give(make_agent("bob", queue, capacity=2), language_ja=4, product_billing=1)
    handoffs = [make_handoff(queue, required_skills={"language:ja": 3}) for _ in range(3)]

    queue_fill(queue_id=queue.pk)

    assert [offered_to(h) for h in handoffs] == ["bob", "bob", None]
    assert membership(User.objects.get(username="amy"), queue).active_count == 0


def test_it_keeps_an_exact_handoff_waiting_when_nobody_qualifies_even_later(db: Any) -> None:
    queue = make_queue(skill_matching="exact", skill_relax_after_seconds=10)
    give(make_agent("amy", queue, capacity=5), language_ja=1)
    start = timezone.now()
    handoff = make_handoff(queue, required_skills={"language:ja": 3}, now=start)

    assert queue_fill(queue_id=queue.pk, now=start) == 0
    sweep_run(now=start + timedelta(hours=1))  # exact never relaxes

    assert offered_to(handoff) is None
    assert relaxed(handoff) == []


def test_it_lets_a_pick_agent_take_only_what_they_qualify_for(db: Any) -> None:
    queue = make_queue(skill_matching="exact", distribution="pick", assignment=None)
    amy = give(make_agent("amy", queue, capacity=5), language_ja=2)
    make_handoff(queue, required_skills={"language:ja": 3})
    easy = make_handoff(queue, required_skills={"language:ja": 2})

    assert handoff_pick_next(agent=amy, queue=queue) == easy


# -- closest and relaxation ----------------------------------------------------------------


def test_it_offers_the_best_match_first_when_closest(db: Any) -> None:
    queue = make_queue(skill_matching="closest")  # no relaxation period: never gates
    give(make_agent("amy", queue, capacity=1), language_ja=2)
    give(make_agent("bob", queue, capacity=1), language_ja=5)
    give(make_agent("cat", queue, capacity=1), language_ja=3)
    make_agent("dan", queue, capacity=1)
    handoffs = [make_handoff(queue, required_skills={"language:ja": 3}) for _ in range(4)]

    queue_fill(queue_id=queue.pk)

    # bob has the largest surplus, cat meets it exactly, amy is short 1, dan short 3.
    assert [offered_to(h) for h in handoffs] == ["bob", "cat", "amy", "dan"]


def test_it_relaxes_step_by_step_until_any_available_member_qualifies(db: Any) -> None:
    queue = make_queue(skill_matching="closest", skill_relax_after_seconds=60)
    amy = give(make_agent("amy", queue, capacity=1), language_ja=2, product_billing=1)
    start = timezone.now()
    handoff = make_handoff(
        queue, required_skills={"language:ja": 4, "product:billing": 2}, now=start
    )

    assert queue_fill(queue_id=queue.pk, now=start) == 0
    assert sweep_run(now=start + timedelta(seconds=59))["skills_relaxed"] == 0
    assert offered_to(handoff) is None

    # Step 1 {ja: 3, billing: 1}: amy (ja 2) still falls short.
    assert sweep_run(now=start + timedelta(seconds=60))["skills_relaxed"] == 1
    assert offered_to(handoff) is None
    # Step 2 {ja: 2}: amy qualifies and gets the offer.
    done = sweep_run(now=start + timedelta(seconds=125))
    assert (done["skills_relaxed"], done["offered"]) == (1, 1)
    assert offered_to(handoff) == "amy"
    assert relaxed(handoff) == [
        {"step": 1, "required": {"language:ja": 3, "product:billing": 1}},
        {"step": 2, "required": {"language:ja": 2}},
    ]
    at = list(handoff.events.filter(type="skills_relaxed").order_by("id").values_list("at"))
    assert [a for (a,) in at] == [start + timedelta(seconds=60), start + timedelta(seconds=120)]
    handoff_accept(handoff_id=handoff.pk, agent=amy)  # the offer is good at real time
    assert membership(amy, queue).active_count == 1


def test_it_ends_with_any_available_member_and_records_skipped_steps_once(db: Any) -> None:
    queue = make_queue(skill_matching="closest", skill_relax_after_seconds=30)
    make_agent("nobody-special", queue, capacity=1)
    start = timezone.now()
    handoff = make_handoff(queue, required_skills={"language:ja": 3}, now=start)

    # The sweep was down for a while: all three steps are recorded at once, each once.
    later = start + timedelta(seconds=100)
    sweep_run(now=later)
    sweep_run(now=later + timedelta(seconds=30))  # within the offer's 60 s
    assert queue_relax_skills(queue_id=queue.pk, now=later) == 0

    assert offered_to(handoff) == "nobody-special"
    assert [d["step"] for d in relaxed(handoff)] == [1, 2, 3]
    assert relaxed(handoff)[-1]["required"] == {}
    handoff.refresh_from_db()
    assert handoff.skill_step == 3


def test_it_prefers_the_best_match_among_those_who_qualify_after_relaxing(db: Any) -> None:
    queue = make_queue(skill_matching="closest", skill_relax_after_seconds=60)
    give(make_agent("amy", queue, capacity=1), language_ja=2)
    give(make_agent("bob", queue, capacity=1), language_ja=3)
    make_agent("cat", queue, capacity=1)
    start = timezone.now()
    handoff = make_handoff(queue, required_skills={"language:ja": 4}, now=start)

    sweep_run(now=start + timedelta(seconds=130))  # step 2: ja >= 2, amy and bob qualify

    assert offered_to(handoff) == "bob"


def test_it_ignores_skills_when_matching_is_none(db: Any) -> None:
    queue = make_queue(skill_matching="none")
    make_agent("amy", queue, capacity=1)
    handoff = make_handoff(queue, required_skills={"language:ja": 5})

    queue_fill(queue_id=queue.pk)

    assert offered_to(handoff) == "amy"


def test_it_moves_a_timed_out_offer_to_the_next_qualified_agent(db: Any) -> None:
    queue = make_queue(skill_matching="exact", offer_timeout_seconds=20)
    give(make_agent("amy", queue, capacity=1), language_ja=3)
    give(make_agent("bob", queue, capacity=1), language_ja=4)
    make_agent("cat", queue, capacity=1)  # free, but never qualifies
    start = timezone.now()
    handoff = make_handoff(queue, required_skills={"language:ja": 3}, now=start)

    queue_fill(queue_id=queue.pk, now=start)
    first = offered_to(handoff)
    sweep_run(now=start + timedelta(seconds=21))
    second = offered_to(handoff)

    assert {first, second} == {"amy", "bob"}
    assert membership(User.objects.get(username="cat"), queue).active_count == 0


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_it_keeps_skills_and_capacity_under_concurrent_workers(transactional_db: Any) -> None:
    queue = make_queue(
        skill_matching="closest",
        skill_relax_after_seconds=60,
        assignment="round_robin",
        offer_timeout_seconds=600,
    )
    ja = [give(make_agent(f"ja{i}", queue, capacity=2), language_ja=4) for i in range(3)]
    others = [make_agent(f"other{i}", queue, capacity=2) for i in range(3)]
    start = timezone.now()
    handoffs = [
        make_handoff(queue, required_skills={"language:ja": 3}, now=start) for _ in range(60)
    ]
    errors: list[BaseException] = []

    def in_threads(work: Any, n: int) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # Before any relaxation only the Japanese speakers are offered work, 2 each (capacity).
    in_threads(lambda: queue_fill(queue_id=queue.pk, now=start), 8)
    assert not errors, errors
    offered = Handoff.objects.filter(status="offered")
    assert offered.count() == 6
    assert set(offered.values_list("agent__username", flat=True)) == {a.username for a in ja}

    # Eight concurrent sweeps three steps later: each step recorded once per handoff, and the
    # other members now take work too, never above capacity.
    in_threads(lambda: sweep_run(now=start + timedelta(seconds=200)), 8)
    assert not errors, errors
    assert Handoff.objects.filter(status="offered").count() == 12
    assert all(m.active_count == 2 for m in QueueMembership.objects.all())
    assert set(
        Handoff.objects.filter(status="offered").values_list("agent__username", flat=True)
    ) == {a.username for a in ja + others}
    for handoff in Handoff.objects.filter(status__in=["queued", "offered"]):
        assert [d["step"] for d in relaxed(handoff)] == [1, 2, 3]

    # Round robin among the qualified: as one agent frees a slot, the refill goes to them
    # (everyone else is full) and capacity stays enforced.
    done = Handoff.objects.filter(status="offered", agent__username="other0").first()
    assert done is not None and done.agent is not None
    handoff_accept(handoff_id=done.pk, agent=done.agent)
    handoff_resolve(handoff_id=done.pk, agent=done.agent)
    queue_fill(queue_id=queue.pk, now=start + timedelta(seconds=200))
    assert membership(done.agent, queue).active_count == 2
    assert Handoff.objects.filter(status="queued").count() == len(handoffs) - 13

    # Every offer times out; concurrent sweeps expire them and offer again, each agent to
    # capacity, nobody twice the same handoff while others qualify, each step still once.
    first_offers = dict(Handoff.objects.filter(status="offered").values_list("pk", "agent_id"))
    in_threads(lambda: sweep_run(now=start + timedelta(seconds=900)), 8)
    assert not errors, errors
    assert all(m.active_count == 2 for m in QueueMembership.objects.all())
    second_offers = dict(Handoff.objects.filter(status="offered").values_list("pk", "agent_id"))
    assert len(second_offers) == 12
    assert not [pk for pk, agent in second_offers.items() if first_offers.get(pk) == agent]
    for handoff in Handoff.objects.filter(status__in=["queued", "offered"]):
        assert [d["step"] for d in relaxed(handoff)] == [1, 2, 3]


# -- required skills from the rule and the context -----------------------------------------


def _snapshot(require_skills: dict[str, int]) -> dict[str, Any]:
    return {
        "queues": [{"key": "general", "name": "General", "fallback": True}],
        "skills": [
            {"key": "language:ja", "name": "Japanese"},
            {"key": "product:billing", "name": "Billing"},
        ],
        "context_fields": [
            {"source": "lang", "target": "Language", "type": "text", "transform": "trim"}
        ],
        "rules": [
            {
                "name": "Everyone",
                "order": 1,
                "conditions": {"all": []},
                "queue": "general",
                "require_skills": require_skills,
            }
        ],
    }


def _route(snap: dict[str, Any], **variables: Any) -> Any:
    from handoff.engine.routing import decide

    body = {"conversation_id": "c", "channel": "webchat", "variables": variables}
    return decide(snap, body, bot_key="bot", queue_states={}, now=timezone.now())


def test_it_requires_the_skill_named_by_the_context() -> None:
    snap = _snapshot({"product:billing": 2, "language:{context.Language}": 3})

    decision = _route(snap, lang=" JA ")

    assert decision.required_skills == {"product:billing": 2, "language:ja": 3}
    texts = [e["text"] for e in decision.explanation if e["step"] == "skills"]
    assert texts == ["Requires language:ja at level 3 (from language:{context.Language})."]


def test_it_drops_a_rendered_skill_nobody_defined_and_says_why() -> None:
    snap = _snapshot({"language:{context.Language}": 3})

    unknown = _route(snap, lang="tlh")
    missing = _route(snap)

    assert unknown.required_skills == {} and missing.required_skills == {}
    assert [e["text"] for e in unknown.explanation if e["step"] == "skills"] == [
        "Skill requirement dropped: language:tlh (from language:{context.Language}) "
        "is not a known skill."
    ]
    assert [e["text"] for e in missing.explanation if e["step"] == "skills"] == [
        "Skill requirement dropped: language:{context.Language} has no value to fill in."
    ]


def test_it_validates_skill_key_templates_and_levels_in_rules(db: Any) -> None:
    from handoff.config.validation import validate_document

    base = {
        "format": "handoff-portal/config",
        "version": 1,
        "queues": [{"key": "general", "name": "General", "fallback": True}],
        "skills": [{"key": "language:ja", "name": "Japanese"}],
    }

    def errors(require_skills: dict[str, Any]) -> dict[str, str]:
        rule = {"name": "R", "order": 1, "queue": "general", "require_skills": require_skills}
        _, found = validate_document({**base, "rules": [rule]})
        return {e.path: e.message for e in found}

    assert errors({"language:{context.Language}": 3, "language:ja": 5}) == {}
    assert list(errors({"language:{context.Language": 3})) == [
        "rules[0].require_skills.language:{context.Language"
    ]
    assert list(errors({"{session.x}": 3})) == ["rules[0].require_skills.{session.x}"]
    assert list(errors({"language:ja": 0})) == ["rules[0].require_skills.language:ja"]
    assert list(errors({"language:{context.Language}": 6})) == [
        "rules[0].require_skills.language:{context.Language}"
    ]
    assert list(errors({"language:de": 2})) == ["rules[0].require_skills.language:de"]


def test_it_round_trips_a_skill_key_template(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True  # the demo's webhook queue is on 127.0.0.1
    from handoff.config.document import export_document, import_document
    from tests.handoff.config_helpers import demo_agents, demo_doc

    demo_agents()
    doc = demo_doc()
    doc["rules"][0]["require_skills"] = {"language:{context.Language}": 2}
    import_document(doc)
    exported = export_document()

    assert exported["rules"][0]["require_skills"] == {"language:{context.Language}": 2}
    import_document(exported)
    assert export_document() == exported

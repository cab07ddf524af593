"""Skills in the portal: the rule form, the supervisor board, the workspace, the simulator."""

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from handoff.models import AgentSkill, EscalationRule, QueueMembership, Skill, User
from tests.conftest import make_user
from tests.handoff.delivery_helpers import make_handoff, make_queue
from tests.portal.conftest import login
from tests.portal.test_maker_rules import rule_data


def give(agent: User, **levels: int) -> None:
    for key, level in levels.items():
        skill, _ = Skill.objects.get_or_create(key=key.replace("_", ":"), defaults={"name": key})
        AgentSkill.objects.create(user=agent, skill=skill, proficiency=level)


def test_it_saves_skills_from_the_context_on_a_rule(client: Any, maker: User, db: Any) -> None:
    make_queue("billing")
    Skill.objects.create(key="product:billing", name="Billing")
    login(client, maker)
    data = rule_data(
        [("topic", "eq", "billing")],
        context_skills="language:{context.Language}=3\n",
        **{"skill__product:billing": "2"},
    )

    response = client.post(reverse("rule_new"), data)

    assert response.status_code == 302, response.context["form"].errors
    rule = EscalationRule.objects.get(name="VIP billing")
    assert rule.require_skills == {"product:billing": 2, "language:{context.Language}": 3}
    page = client.get(reverse("rule_detail", args=[rule.pk])).content.decode()
    assert "language:{context.Language}=3" in page


def test_it_refuses_a_malformed_context_skill_line(client: Any, maker: User) -> None:
    make_queue("billing")
    login(client, maker)
    for line in ("language:ja=3", "language:{context.Language}", "language:{session.x}=2"):
        data = rule_data([("topic", "eq", "billing")], context_skills=line)
        response = client.post(reverse("rule_new"), data)
        assert response.status_code == 200, line
        assert "context_skills" in response.context["form"].errors, line
    assert not EscalationRule.objects.exists()


def test_it_shows_who_matches_a_handoff_waiting_for_skills(client: Any, admin_user: User) -> None:
    queue = make_queue("support", skill_matching="closest", skill_relax_after_seconds=60)
    ken = make_user("ken", "agent", presence="available", first_name="Ken")
    ada = make_user("ada", "agent", presence="available", first_name="Ada")
    for user in (ken, ada):
        QueueMembership.objects.create(queue=queue, user=user, capacity=2)
    give(ken, language_ja=4)
    give(ada, language_ja=1)
    waiting = make_handoff(
        queue,
        required_skills={"language:ja": 3},
        customer={"name": "Yui"},
        now=timezone.now() - timedelta(seconds=70),
    )
    client.force_login(admin_user)

    html = client.get("/supervisor/").content.decode()

    row = html[html.index(f'data-handoff="{waiting.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Yui" in row and "language:ja ≥ 3" in row
    assert '<td data-label="Relaxation step" class="num">1' in row
    assert "language:ja ≥ 2" in row  # the requirement now
    assert "Ken" in row and "Ada" not in row


def test_it_shows_the_agent_their_skills(client: Any, db: Any) -> None:
    ken = make_user("ken", "agent", presence="available")
    give(ken, language_ja=4)
    client.force_login(ken)

    html = client.get(reverse("agent_workspace")).content.decode()

    assert 'data-testid="my-skills"' in html and "(language:ja): 4" in html


def test_it_simulates_when_each_agent_would_match(db: Any) -> None:
    from handoff.config.snapshot import snapshot_of
    from handoff.selectors.simulation import agent_matches

    make_user("ken", "agent", presence="available")
    make_user("ada", "agent", presence="away")
    queue = {
        "key": "support",
        "skill_matching": "closest",
        "skill_relax_after_seconds": 60,
        "members": [{"username": "ken", "capacity": 1}, {"username": "ada", "capacity": 1}],
    }
    document = {
        "queues": [queue],
        "agents": [
            {"username": "ken", "skills": {"language:ja": 4}},
            {"username": "ada", "skills": {"language:ja": 1}},
        ],
    }
    config = snapshot_of(document)
    decision = type("D", (), {"queue_key": "support", "required_skills": {"language:ja": 3}})()

    matching, agents = agent_matches(decision, config)  # type: ignore[arg-type]

    assert matching == "closest"
    assert [(a["username"], a["eligible"], a["eligible_after_seconds"]) for a in agents] == [
        ("ken", True, None),
        ("ada", False, 120),
    ]

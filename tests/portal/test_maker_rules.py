from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from handoff.models import AuditEntry, ContextField, EscalationRule, Queue, Skill, User
from tests.portal.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(db: Any) -> Queue:
    return Queue.objects.create(key="billing", name="Billing")


@pytest.fixture
def rule(billing: Queue) -> EscalationRule:
    return EscalationRule.objects.create(
        name="VIP",
        order=1,
        queue=billing,
        conditions={"all": [{"field": "topic", "op": "eq", "value": "billing"}]},
    )


def rule_data(conditions: list[tuple[str, str, str]], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "VIP billing",
        "mode": "all",
        "queue": "billing",
        "priority": "1",
        "agent_message": "",
        "enabled": "on",
        "cond-TOTAL_FORMS": str(len(conditions)),
        "cond-INITIAL_FORMS": "0",
    }
    for i, (field, op, value) in enumerate(conditions):
        data.update({f"cond-{i}-field": field, f"cond-{i}-op": op, f"cond-{i}-value": value})
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_it_sends_anonymous_users_to_login(client: Any, rule: EscalationRule) -> None:
    for url in (reverse("rule_list"), reverse("rule_detail", args=[rule.pk]), reverse("rule_new")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_refuses_agents(client: Any, agent: User, rule: EscalationRule) -> None:
    login(client, agent)
    assert client.get(reverse("rule_list")).status_code == 403
    assert client.get(reverse("rule_detail", args=[rule.pk])).status_code == 403
    assert client.post(reverse("rule_toggle", args=[rule.pk])).status_code == 403


def test_it_lets_analysts_read_but_not_write(
    client: Any, analyst: User, rule: EscalationRule
) -> None:
    login(client, analyst)
    assert client.get(reverse("rule_list")).status_code == 200
    response = client.get(reverse("rule_detail", args=[rule.pk]))
    assert response.status_code == 200
    assert b"Save rule" not in response.content
    assert client.post(reverse("rule_detail", args=[rule.pk]), rule_data([])).status_code == 403
    assert client.post(reverse("rule_toggle", args=[rule.pk])).status_code == 403
    assert client.post(reverse("rule_move", args=[rule.pk])).status_code == 403
    assert client.post(reverse("rule_delete", args=[rule.pk])).status_code == 403
    assert client.get(reverse("rule_new")).status_code == 403
    assert EscalationRule.objects.get().enabled


def test_it_creates_a_rule_with_two_conditions(
    client: Any, maker: User, billing: Queue, rule: EscalationRule
) -> None:
    ContextField.objects.create(source="tier", target="Tier")
    ContextField.objects.create(source="name", target="CustomerName")
    Skill.objects.create(key="language:ja", name="Japanese")
    login(client, maker)
    assert client.get(reverse("rule_new")).status_code == 200
    data = rule_data(
        [("topic", "eq", "billing"), ("context.Tier", "in", "gold, platinum")],
        agent_message="VIP {context.CustomerName}",
        **{"skill__language:ja": "4"},
    )
    response = client.post(reverse("rule_new"), data)
    assert response.status_code == 302, response.context["form"].errors
    created = EscalationRule.objects.get(name="VIP billing")
    assert created.conditions == {
        "all": [
            {"field": "topic", "op": "eq", "value": "billing"},
            {"field": "context.Tier", "op": "in", "value": ["gold", "platinum"]},
        ]
    }
    assert (created.order, created.priority, created.queue, created.enabled) == (
        2,
        1,
        billing,
        True,
    )
    assert created.require_skills == {"language:ja": 4}
    assert created.agent_message == "VIP {context.CustomerName}"
    assert AuditEntry.objects.filter(
        action="create", object_type="rule", object_key="VIP billing"
    ).exists()


def test_it_adds_and_removes_condition_rows_in_place(
    client: Any, maker: User, billing: Queue
) -> None:
    login(client, maker)
    url = reverse("rule_new")
    data = rule_data([("topic", "eq", "billing")], _action="add_condition")
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<fieldset class="card" id="conditions">')
    assert html.count('class="condition-row"') == 2
    assert 'value="billing"' in html
    data = rule_data(
        [("topic", "eq", "billing"), ("channel", "eq", "sms")], _action="remove_condition-0"
    )
    html = client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert html.count('class="condition-row"') == 1
    assert 'value="sms"' in html and 'value="billing"' not in html
    assert not EscalationRule.objects.exists()
    # Without JavaScript the same buttons re-render the whole page.
    response = client.post(url, rule_data([], _action="add_condition"))
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_it_offers_operators_that_fit_the_field(client: Any, maker: User, billing: Queue) -> None:
    ContextField.objects.create(source="amount", target="Amount", type="number")
    login(client, maker)
    data = rule_data([("context.Amount", "", "")], _action="refresh")
    html = client.post(reverse("rule_new"), data, HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="gt"' in html and '<option value="contains"' not in html
    assert '<option value="context.Amount" selected' in html
    data = rule_data([("channel", "", "")], _action="refresh")
    html = client.post(reverse("rule_new"), data, HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="contains"' in html and '<option value="gt"' not in html


def test_it_shows_errors_at_the_field(
    client: Any, maker: User, billing: Queue, rule: EscalationRule
) -> None:
    Skill.objects.create(key="language:ja", name="Japanese")
    login(client, maker)
    data = rule_data(
        [
            ("transcript.turns", "gt", "many"),
            ("locale", "matches", "(a+)+$"),
            ("channel", "gt", "3"),
        ],
        name="VIP",
        queue="nowhere",
        agent_message="Hi {context.Missing}",
        **{"skill__language:ja": "9"},
    )
    response = client.post(reverse("rule_new"), data)
    assert response.status_code == 200
    form, formset = response.context["form"], response.context["formset"]
    assert {"name", "queue", "agent_message", "skill__language:ja"} <= set(form.errors)
    assert "value" in formset.forms[0].errors
    assert "op" in formset.forms[2].errors
    data = rule_data([("locale", "matches", "(a+)+$")])
    response = client.post(reverse("rule_new"), data)
    assert "matches needs a usable regular expression" in str(
        response.context["formset"].forms[0].errors["value"]
    )
    assert 'aria-invalid="true"' in response.content.decode()
    assert EscalationRule.objects.count() == 1


def test_it_edits_a_rule(client: Any, maker: User, rule: EscalationRule) -> None:
    login(client, maker)
    html = client.get(reverse("rule_detail", args=[rule.pk])).content.decode()
    assert 'value="billing"' in html
    data = rule_data([("channel", "in", "sms, webchat")], name="VIP", mode="any", priority="")
    response = client.post(reverse("rule_detail", args=[rule.pk]), data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.conditions == {
        "any": [{"field": "channel", "op": "in", "value": ["sms", "webchat"]}]
    }
    assert rule.priority is None and rule.order == 1


def test_it_enables_and_disables_in_place(client: Any, maker: User, rule: EscalationRule) -> None:
    login(client, maker)
    response = client.post(reverse("rule_toggle", args=[rule.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().strip().startswith('<tbody id="rule-rows">')
    assert "Disabled" in response.content.decode()
    rule.refresh_from_db()
    assert not rule.enabled
    client.post(reverse("rule_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.enabled
    assert list(AuditEntry.objects.filter(object_type="rule").values_list("action", flat=True)) == [
        "enable",
        "disable",
    ]


def test_it_reorders_rules(client: Any, maker: User, billing: Queue) -> None:
    names = ["a", "b", "c"]
    for i, name in enumerate(names):
        EscalationRule.objects.create(name=name, order=(i + 1) * 10, queue=billing)
    login(client, maker)
    c = EscalationRule.objects.get(name="c")
    response = client.post(
        reverse("rule_move", args=[c.pk]), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert list(EscalationRule.objects.values_list("name", "order")) == [
        ("a", 1),
        ("c", 2),
        ("b", 3),
    ]
    a = EscalationRule.objects.get(name="a")
    client.post(reverse("rule_move", args=[a.pk]), {"direction": "up"})  # already first
    client.post(reverse("rule_move", args=[a.pk]), {"direction": "down"})
    assert list(EscalationRule.objects.values_list("name", flat=True)) == ["c", "a", "b"]


def test_it_deletes_a_rule(client: Any, admin_user: User, rule: EscalationRule) -> None:
    login(client, admin_user)
    assert client.post(reverse("rule_delete", args=[rule.pk])).status_code == 302
    assert not EscalationRule.objects.exists()


def test_it_lists_500_rules_in_constant_queries(client: Any, analyst: User, billing: Queue) -> None:
    other = Queue.objects.create(key="other", name="Other")
    login(client, analyst)
    client.get(reverse("rule_list"))

    def make(start: int, count: int) -> None:
        EscalationRule.objects.bulk_create(
            [
                EscalationRule(
                    name=f"r{i}",
                    order=i,
                    queue=billing if i % 2 else other,
                    conditions={"all": [{"field": "topic", "op": "eq", "value": f"t{i}"}]},
                )
                for i in range(start, start + count)
            ]
        )

    make(1, 5)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("rule_list"))
    make(6, 495)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("rule_list"))
    assert response.content.count(b'<tr id="rule-') == 500
    assert len(many) == len(few)


def test_it_suggests_values_for_the_chosen_field(client: Any, maker: User, billing: Queue) -> None:
    from handoff.models import Topic, TopicNode

    topic = Topic.objects.create(key="refund", name="Refund")
    TopicNode.objects.create(
        topic=topic,
        position=0,
        node_id="ask",
        type="question",
        text="Plan?",
        variable="plan",
        value_type="choice",
        choices=["basic", "pro"],
    )
    login(client, maker)
    html = client.get(reverse("rule_new")).content.decode()
    assert '<datalist id="hints-topic"><option value="refund"></datalist>' in html
    assert '<option value="basic"><option value="pro">' in html
    data = rule_data([("variables.plan", "", "")], _action="refresh")
    html = client.post(reverse("rule_new"), data, HTTP_HX_REQUEST="true").content.decode()
    assert 'list="hints-variables.plan"' in html

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from handoff.models import (
    AuditEntry,
    ContextField,
    EscalationRule,
    Queue,
    Topic,
    TopicNode,
    User,
)
from tests.portal.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic(db: Any) -> Topic:
    return Topic.objects.create(key="refund", name="Refund", trigger_phrases=["refund"])


def node(topic: Topic, position: int, node_id: str, type: str, **values: Any) -> TopicNode:
    return TopicNode.objects.create(
        topic=topic, position=position, node_id=node_id, type=type, **values
    )


def add_node(client: Any, topic: Topic, **fields: str) -> Any:
    data = {f"add-{name}": value for name, value in fields.items()}
    return client.post(reverse("topic_node_new", args=[topic.key]), data, HTTP_HX_REQUEST="true")


def order(topic: Topic) -> list[str]:
    return list(topic.nodes.order_by("position").values_list("node_id", flat=True))


def test_it_sends_anonymous_users_to_login(client: Any, topic: Topic) -> None:
    for url in (reverse("topic_list"), reverse("topic_detail", args=[topic.key])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_refuses_agents(client: Any, agent: User, topic: Topic) -> None:
    login(client, agent)
    assert client.get(reverse("topic_list")).status_code == 403
    assert client.get(reverse("topic_detail", args=[topic.key])).status_code == 403
    assert client.get(reverse("topic_new")).status_code == 403


def test_it_lets_analysts_read_but_not_write(client: Any, analyst: User, topic: Topic) -> None:
    node(topic, 0, "handoff", "transfer")
    login(client, analyst)
    assert client.get(reverse("topic_list")).status_code == 200
    response = client.get(reverse("topic_detail", args=[topic.key]))
    assert response.status_code == 200
    assert b"Save node" not in response.content
    assert b"disabled" in response.content
    data = {"key": "refund", "name": "Hacked", "trigger_phrases_text": ""}
    assert client.post(reverse("topic_detail", args=[topic.key]), data).status_code == 403
    assert client.post(reverse("topic_node_new", args=[topic.key]), {}).status_code == 403
    assert client.post(reverse("topic_delete", args=[topic.key])).status_code == 403
    assert Topic.objects.get().name == "Refund"


def test_it_creates_a_topic_with_three_nodes(client: Any, maker: User) -> None:
    login(client, maker)
    assert client.get(reverse("topic_new")).status_code == 200
    response = client.post(
        reverse("topic_new"),
        {"key": "refund", "name": "Refund", "trigger_phrases_text": "refund\nmoney back\n"},
    )
    assert response.status_code == 302
    topic = Topic.objects.get(key="refund")
    assert topic.trigger_phrases == ["refund", "money back"]

    response = add_node(
        client,
        topic,
        node_id="ask-amount",
        type="question",
        prompt="How much?",
        variable="amount",
        value_type="number",
    )
    assert response.status_code == 200
    assert b"ask-amount" in response.content
    response = add_node(
        client,
        topic,
        node_id="handoff",
        type="transfer",
        agent_message="Refund {variables.amount}",
        reason="topic_transfer",
    )
    assert response.status_code == 200
    # A condition jumps to a node chosen from the topic's nodes.
    response = add_node(
        client,
        topic,
        node_id="big",
        type="condition",
        variable="amount",
        operator="gt",
        value="100",
        goto="handoff",
    )
    assert response.status_code == 200, response.content
    assert order(topic) == ["ask-amount", "handoff", "big"]
    big = topic.nodes.get(node_id="big")
    assert (big.variable, big.operator, big.value, big.goto) == ("amount", "gt", 100, "handoff")
    question = topic.nodes.get(node_id="ask-amount")
    assert (question.text, question.variable, question.value_type) == (
        "How much?",
        "amount",
        "number",
    )
    assert topic.nodes.get(node_id="handoff").text == "Refund {variables.amount}"
    assert AuditEntry.objects.filter(object_type="topic_node", action="create").count() == 3

    # Move the condition up, before the transfer, so that the topic ends with the transfer.
    big = topic.nodes.get(node_id="big")
    response = client.post(
        reverse("topic_node_move", args=[topic.key, big.pk]),
        {"direction": "up"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert order(topic) == ["ask-amount", "big", "handoff"]
    response = client.post(
        reverse("topic_node_move", args=[topic.key, big.pk]), {"direction": "up"}
    )
    assert response.status_code == 302
    assert order(topic) == ["big", "ask-amount", "handoff"]
    assert list(topic.nodes.order_by("position").values_list("position", flat=True)) == [0, 1, 2]


def test_it_shows_node_errors_at_the_field(client: Any, maker: User, topic: Topic) -> None:
    node(topic, 0, "handoff", "transfer")
    login(client, maker)
    response = add_node(client, topic, node_id="ask", type="question", prompt="", variable="1bad")
    assert response.status_code == 200
    form = response.context["add_form"]
    assert "prompt" in form.errors
    assert "variable" in form.errors
    assert "not a variable name" in str(form.errors["variable"])
    response = add_node(client, topic, node_id="handoff", type="end")
    assert "node_id" in response.context["add_form"].errors
    response = add_node(
        client,
        topic,
        node_id="c",
        type="condition",
        variable="x",
        operator="matches",
        value="(a+)+$",
        goto="handoff",
    )
    assert "value" in response.context["add_form"].errors
    response = add_node(
        client,
        topic,
        node_id="c",
        type="condition",
        variable="x",
        operator="gt",
        value="many",
        goto="handoff",
    )
    assert "value" in response.context["add_form"].errors
    response = add_node(
        client,
        topic,
        node_id="c",
        type="condition",
        variable="x",
        operator="eq",
        value="1",
        goto="nowhere",
    )
    assert "goto" in response.context["add_form"].errors
    response = add_node(
        client,
        topic,
        node_id="q",
        type="question",
        prompt="Which?",
        variable="v",
        value_type="choice",
    )
    assert "choices" in response.context["add_form"].errors
    assert topic.nodes.count() == 1


def test_it_edits_a_node_in_place(client: Any, maker: User, topic: Topic) -> None:
    msg = node(topic, 0, "hello", "message", text="Hi")
    login(client, maker)
    prefix = f"node-{msg.pk}"
    response = client.post(
        reverse("topic_node_edit", args=[topic.key, msg.pk]),
        {
            f"{prefix}-node_id": "hello",
            f"{prefix}-type": "message",
            f"{prefix}-text": "Hello there",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Hello there" in response.content
    msg.refresh_from_db()
    assert msg.text == "Hello there"
    response = client.post(
        reverse("topic_node_edit", args=[topic.key, msg.pk]),
        {f"{prefix}-node_id": "hello", f"{prefix}-type": "message", f"{prefix}-text": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    bound = dict((n.pk, f) for n, f in response.context["items"])[msg.pk]
    assert "text" in bound.errors


def test_it_refuses_to_delete_a_node_a_condition_goes_to(
    client: Any, maker: User, topic: Topic
) -> None:
    node(topic, 0, "check", "condition", variable="x", operator="exists", goto="handoff")
    target = node(topic, 1, "handoff", "transfer")
    login(client, maker)
    response = client.post(
        reverse("topic_node_delete", args=[topic.key, target.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "node “check” (go to)" in response.content.decode()
    assert topic.nodes.filter(pk=target.pk).exists()


def test_it_refuses_to_delete_a_question_whose_variable_is_mapped(
    client: Any, maker: User, topic: Topic
) -> None:
    question = node(
        topic, 0, "ask", "question", text="Order?", variable="order_number", value_type="text"
    )
    node(topic, 1, "handoff", "transfer")
    ContextField.objects.create(source="order_number", target="OrderNumber")
    login(client, maker)
    response = client.post(
        reverse("topic_node_delete", args=[topic.key, question.pk]), HTTP_HX_REQUEST="true"
    )
    assert "context field “OrderNumber”" in response.content.decode()
    assert topic.nodes.filter(pk=question.pk).exists()


def test_it_deletes_a_node_and_closes_the_gap(client: Any, maker: User, topic: Topic) -> None:
    first = node(topic, 0, "a", "message", text="a")
    node(topic, 1, "b", "message", text="b")
    node(topic, 2, "c", "end")
    login(client, maker)
    client.post(reverse("topic_node_delete", args=[topic.key, first.pk]))
    assert list(topic.nodes.order_by("position").values_list("node_id", "position")) == [
        ("b", 0),
        ("c", 1),
    ]


def test_it_refuses_to_delete_system_topics(client: Any, maker: User) -> None:
    escalate = Topic.objects.create(key="escalate", name="Escalate", is_system=True)
    login(client, maker)
    response = client.post(reverse("topic_delete", args=["escalate"]), follow=True)
    assert "system topic" in response.content.decode()
    assert Topic.objects.filter(pk=escalate.pk).exists()


def test_it_refuses_to_delete_or_rename_a_topic_a_rule_uses(
    client: Any, maker: User, topic: Topic
) -> None:
    queue = Queue.objects.create(key="billing", name="Billing")
    EscalationRule.objects.create(
        name="Refunds",
        order=1,
        queue=queue,
        conditions={"all": [{"field": "topic", "op": "eq", "value": "refund"}]},
    )
    login(client, maker)
    response = client.post(reverse("topic_delete", args=[topic.key]), follow=True)
    assert "rule “Refunds”" in response.content.decode()
    assert Topic.objects.filter(key="refund").exists()
    response = client.post(
        reverse("topic_detail", args=[topic.key]),
        {"key": "refunds", "name": "Refund", "trigger_phrases_text": ""},
    )
    assert response.status_code == 200
    assert "rule “Refunds”" in str(response.context["form"].errors["key"])
    assert Topic.objects.filter(key="refund").exists()


def test_it_deletes_an_unused_topic(client: Any, admin_user: User, topic: Topic) -> None:
    login(client, admin_user)
    response = client.post(reverse("topic_delete", args=[topic.key]))
    assert response.status_code == 302
    assert not Topic.objects.exists()
    assert AuditEntry.objects.filter(
        action="delete", object_type="topic", object_key="refund"
    ).exists()


def test_it_shows_topic_errors_at_the_field(client: Any, maker: User, topic: Topic) -> None:
    login(client, maker)
    response = client.post(
        reverse("topic_new"), {"key": "refund", "name": "", "trigger_phrases_text": "a\nA"}
    )
    errors = response.context["form"].errors
    assert set(errors) == {"key", "name", "trigger_phrases_text"}
    assert 'aria-invalid="true"' in response.content.decode()


def test_it_lists_500_topics_in_constant_queries(client: Any, analyst: User) -> None:
    login(client, analyst)
    client.get(reverse("topic_list"))  # session and roles
    Topic.objects.bulk_create([Topic(key=f"t{i}", name=f"T{i}") for i in range(5)])
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("topic_list")).status_code == 200
    Topic.objects.bulk_create([Topic(key=f"u{i}", name=f"U{i}") for i in range(495)])
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("topic_list"))
    assert response.content.count(b"<tr>") == 501
    assert len(many) == len(few)


def test_it_renders_a_topic_with_many_nodes_in_constant_queries(
    client: Any, maker: User, topic: Topic
) -> None:
    login(client, maker)
    node(topic, 0, "n0", "message", text="x")
    url = reverse("topic_detail", args=[topic.key])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    TopicNode.objects.bulk_create(
        [
            TopicNode(topic=topic, position=i, node_id=f"n{i}", type="message", text="x")
            for i in range(1, 60)
        ]
    )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_it_refuses_to_rename_a_variable_a_rule_tests(
    client: Any, maker: User, topic: Topic
) -> None:
    question = node(topic, 0, "ask", "question", text="Plan?", variable="plan", value_type="text")
    node(topic, 1, "handoff", "transfer")
    queue = Queue.objects.create(key="billing", name="Billing")
    EscalationRule.objects.create(
        name="Pro plans",
        order=1,
        queue=queue,
        conditions={"any": [{"field": "variables.plan", "op": "eq", "value": "pro"}]},
    )
    login(client, maker)
    prefix = f"node-{question.pk}"
    data = {
        f"{prefix}-node_id": "ask",
        f"{prefix}-type": "question",
        f"{prefix}-prompt": "Plan?",
        f"{prefix}-variable": "tier",
        f"{prefix}-value_type": "text",
    }
    url = reverse("topic_node_edit", args=[topic.key, question.pk])
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert "rule “Pro plans”" in response.content.decode()
    question.refresh_from_db()
    assert question.variable == "plan"
    # Another question setting the same variable makes the rename safe.
    node(topic, 2, "ask-again", "question", text="Plan?", variable="plan", value_type="text")
    client.post(url, data, HTTP_HX_REQUEST="true")
    question.refresh_from_db()
    assert question.variable == "tier"


def test_it_refuses_to_delete_a_field_a_transfer_message_uses(
    client: Any, maker: User, topic: Topic
) -> None:
    node(topic, 0, "handoff", "transfer", text="Order {context.OrderNumber}")
    field = ContextField.objects.create(source="order_number", target="OrderNumber")
    login(client, maker)
    response = client.post(reverse("context_field_delete", args=[field.pk]), follow=True)
    assert "topic “Refund” node “handoff” (agent message)" in response.content.decode()
    assert ContextField.objects.filter(pk=field.pk).exists()


def test_it_refuses_to_rename_a_node_a_condition_goes_to(
    client: Any, maker: User, topic: Topic
) -> None:
    node(topic, 0, "check", "condition", variable="x", operator="exists", goto="handoff")
    target = node(topic, 1, "handoff", "transfer")
    login(client, maker)
    prefix = f"node-{target.pk}"
    response = client.post(
        reverse("topic_node_edit", args=[topic.key, target.pk]),
        {f"{prefix}-node_id": "to-agent", f"{prefix}-type": "transfer"},
        HTTP_HX_REQUEST="true",
    )
    assert "node “check” (go to)" in response.content.decode()
    target.refresh_from_db()
    assert target.node_id == "handoff"


def test_it_marks_a_recreated_system_topic(client: Any, maker: User) -> None:
    login(client, maker)
    client.post(
        reverse("topic_new"),
        {"key": "fallback", "name": "Not understood", "trigger_phrases_text": ""},
    )
    assert Topic.objects.get(key="fallback").is_system

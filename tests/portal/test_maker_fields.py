from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from handoff.models import AuditEntry, ContextField, EscalationRule, Queue, Topic, TopicNode, User
from tests.portal.conftest import login

pytestmark = pytest.mark.django_db


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "source": "order_number",
        "target": "OrderNumber",
        "label": "Order",
        "type": "text",
        "default": "",
        "transform": "trim",
        "max_length": "40",
        "visible_to_agent": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def field(db: Any) -> ContextField:
    return ContextField.objects.create(
        source="customer.email", target="Email", transform="redact_email"
    )


def test_it_sends_anonymous_users_to_login(client: Any, field: ContextField) -> None:
    for url in (
        reverse("context_field_list"),
        reverse("context_field_detail", args=[field.pk]),
        reverse("context_field_preview"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_refuses_agents(client: Any, agent: User, field: ContextField) -> None:
    login(client, agent)
    for url in (
        reverse("context_field_list"),
        reverse("context_field_new"),
        reverse("context_field_detail", args=[field.pk]),
        reverse("context_field_preview"),
    ):
        assert client.get(url).status_code == 403


def test_it_lets_analysts_read_but_not_write(
    client: Any, analyst: User, field: ContextField
) -> None:
    login(client, analyst)
    assert client.get(reverse("context_field_list")).status_code == 200
    assert client.get(reverse("context_field_detail", args=[field.pk])).status_code == 200
    assert client.get(reverse("context_field_new")).status_code == 403
    response = client.post(reverse("context_field_detail", args=[field.pk]), form_data(target="X"))
    assert response.status_code == 403
    assert client.post(reverse("context_field_delete", args=[field.pk])).status_code == 403
    assert ContextField.objects.get().target == "Email"


def test_it_creates_a_context_field(client: Any, maker: User) -> None:
    login(client, maker)
    assert client.get(reverse("context_field_new")).status_code == 200
    response = client.post(reverse("context_field_new"), form_data(type="number", default="0"))
    assert response.status_code == 302
    created = ContextField.objects.get()
    assert (created.source, created.target, created.type, created.default) == (
        "order_number",
        "OrderNumber",
        "number",
        0,
    )
    assert created.transform == "trim" and created.max_length == 40
    assert AuditEntry.objects.filter(action="create", object_type="context_field").exists()


def test_it_offers_known_variables_and_system_fields_as_sources(client: Any, maker: User) -> None:
    topic = Topic.objects.create(key="refund", name="Refund")
    TopicNode.objects.create(
        topic=topic,
        position=0,
        node_id="ask",
        type="question",
        text="?",
        variable="order_number",
        value_type="text",
    )
    login(client, maker)
    html = client.get(reverse("context_field_new")).content.decode()
    for source in (
        "order_number",
        "va_LastTopic",
        "va_Topics",
        "va_ConversationId",
        "customer.email",
        "transcript.last_user_message",
        "transcript.turns",
    ):
        assert f'<option value="{source}"' in html, source
    assert 'list="known-sources"' in html


def test_it_shows_errors_at_the_field(client: Any, maker: User, field: ContextField) -> None:
    login(client, maker)
    response = client.post(
        reverse("context_field_new"),
        form_data(target="Email", type="number", default="lots", max_length="5000", source=""),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"target", "max_length", "source"} <= set(errors)
    response = client.post(reverse("context_field_new"), form_data(target="T" * 101))
    assert "target" in response.context["form"].errors
    response = client.post(reverse("context_field_new"), form_data(type="number", default="lots"))
    assert "cannot be converted to number" in str(response.context["form"].errors["default"])
    response = client.post(reverse("context_field_new"), form_data(default="x" * 41))
    assert "longer than max_length" in str(response.context["form"].errors["default"])
    assert ContextField.objects.count() == 1


def test_it_refuses_to_delete_a_field_a_rule_uses(
    client: Any, maker: User, field: ContextField
) -> None:
    queue = Queue.objects.create(key="billing", name="Billing")
    EscalationRule.objects.create(
        name="Staff",
        order=1,
        queue=queue,
        conditions={"all": [{"field": "context.Email", "op": "exists", "value": None}]},
    )
    EscalationRule.objects.create(
        name="Note", order=2, queue=queue, agent_message="Mail {context.Email}"
    )
    login(client, maker)
    response = client.post(reverse("context_field_delete", args=[field.pk]), follow=True)
    text = response.content.decode()
    assert "rule “Staff” (condition on context.Email)" in text
    assert "rule “Note” (agent message)" in text
    assert ContextField.objects.filter(pk=field.pk).exists()
    # Renaming the target is refused the same way, at the field.
    response = client.post(
        reverse("context_field_detail", args=[field.pk]),
        form_data(source="customer.email", target="Mail", transform="redact_email", max_length=""),
    )
    assert "rule “Staff”" in str(response.context["form"].errors["target"])
    assert ContextField.objects.get().target == "Email"


def test_it_edits_and_deletes_an_unused_field(
    client: Any, admin_user: User, field: ContextField
) -> None:
    login(client, admin_user)
    response = client.post(
        reverse("context_field_detail", args=[field.pk]),
        form_data(
            source="customer.email", target="CustomerEmail", transform="redact_email", max_length=""
        ),
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert field.target == "CustomerEmail" and field.max_length is None
    assert client.post(reverse("context_field_delete", args=[field.pk])).status_code == 302
    assert not ContextField.objects.exists()


def test_it_previews_a_sample_through_the_engine(client: Any, analyst: User) -> None:
    login(client, analyst)
    url = reverse("context_field_preview")

    def stored(**data: Any) -> str:
        response = client.get(url, data)
        assert response.status_code == 200
        html = response.content.decode()
        start = html.index('class="preview-value">') + len('class="preview-value">')
        return html[start : html.index("</code>", start)]

    assert (
        stored(**form_data(transform="mask_keep_last4"), sample=" 4111111111111111 ")
        == "************1111"
    )
    email = form_data(source="customer.email", transform="redact_email")
    assert stored(**email, sample="jane@example.com") == "j***@example.com"
    assert stored(**form_data(type="number", transform=""), sample="250.40") == "250.4"
    assert stored(**form_data(type="boolean", default="no", transform=""), sample="yes") == "True"
    response = client.get(
        url, {**form_data(type="number", required="on", transform=""), "sample": "lots"}
    )
    assert "would be refused (422)" in response.content.decode()
    assert "is not a number" in response.content.decode()
    response = client.get(
        url, {**form_data(type="boolean", default="no", transform=""), "sample": "maybe"}
    )
    assert "Warning:" in response.content.decode()
    assert "uses the default" in response.content.decode()
    # An empty request is a page too (the permission sweep GETs it bare).
    assert client.get(url).status_code == 200


def test_it_reorders_fields(client: Any, maker: User) -> None:
    a = ContextField.objects.create(source="a", target="A", position=0)
    b = ContextField.objects.create(source="b", target="B", position=1)
    login(client, maker)
    response = client.post(
        reverse("context_field_move", args=[b.pk]), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert list(ContextField.objects.values_list("target", flat=True)) == ["B", "A"]
    assert a.pk != b.pk


def test_it_lists_500_fields_in_constant_queries(client: Any, analyst: User) -> None:
    login(client, analyst)
    client.get(reverse("context_field_list"))
    ContextField.objects.bulk_create(
        [ContextField(source=f"s{i}", target=f"T{i}", position=i) for i in range(5)]
    )
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("context_field_list"))
    ContextField.objects.bulk_create(
        [ContextField(source=f"s{i}", target=f"U{i}", position=i) for i in range(495)]
    )
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("context_field_list"))
    assert response.content.count(b"<tr>") == 501
    assert len(many) == len(few)

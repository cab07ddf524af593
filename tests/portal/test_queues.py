from typing import Any

import pytest
from django.urls import reverse

from handoff.models import AuditEntry, EscalationRule, Queue, QueueMembership, User
from tests.conftest import make_user
from tests.portal.conftest import field_error


def queue_post(**overrides: Any) -> dict[str, Any]:
    data = {
        "key": "billing",
        "name": "Billing",
        "priority": "10",
        "distribution": "push",
        "assignment": "round_robin",
        "offer_timeout_seconds": "60",
        "max_waiting": "",
        "skill_matching": "none",
        "skill_relax_after_seconds": "",
        "always_open": "on",
        "timezone": "UTC",
        "closed_dates": "",
        "when_closed_action": "",
        "when_closed_message": "",
        "when_closed_queue": "",
        "when_full_action": "",
        "when_full_message": "",
        "when_full_queue": "",
        "max_wait_seconds": "",
        "delivery_kind": "agents",
        "webhook_url": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        data[f"hours_{day}"] = ""
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def with_members(data: dict[str, Any], *members: tuple[int | str, int | str]) -> dict[str, Any]:
    data["members-TOTAL_FORMS"] = str(len(members))
    for i, (user, capacity) in enumerate(members):
        data[f"members-{i}-user"] = str(user)
        data[f"members-{i}-capacity"] = str(capacity)
    return data


@pytest.fixture
def agents(db: Any) -> list[User]:
    return [make_user("alice", "agent"), make_user("bob", "agent")]


def test_it_creates_a_queue_with_members_and_hours(
    client: Any, admin_user: User, agents: list[User], fallback_queue: Queue
) -> None:
    client.force_login(admin_user)
    data = queue_post(
        always_open=None,
        timezone="Europe/Paris",
        hours_mon="09:00-12:00, 13:00-17:00",
        hours_tue="09:00-17:00",
        closed_dates="2026-12-25\n2026-12-24",
        when_closed_action="reject",
        when_closed_message="We are closed.",
        when_full_action="transfer",
        when_full_queue=str(fallback_queue.pk),
    )
    response = client.post(
        reverse("queue_new"), with_members(data, (agents[0].pk, 3), (agents[1].pk, 1))
    )
    assert response.status_code == 302, response.context["form"].errors
    queue = Queue.objects.get(key="billing")
    assert response["Location"] == reverse("queue_detail", args=["billing"])
    assert queue.hours == {
        "timezone": "Europe/Paris",
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]},
        "closed_dates": ["2026-12-24", "2026-12-25"],
    }
    assert queue.when_closed_action == "reject"
    assert queue.when_full_queue == fallback_queue
    members = {m.user.username: m.capacity for m in QueueMembership.objects.filter(queue=queue)}
    assert members == {"alice": 3, "bob": 1}
    assert AuditEntry.objects.filter(action="create", object_type="queue", object_key="billing")
    detail = client.get(response["Location"]).content.decode()
    assert "13:00–17:00" in detail and "alice" in detail


def test_it_edits_members_in_place_of_the_old_ones(
    client: Any, admin_user: User, agents: list[User], fallback_queue: Queue
) -> None:
    QueueMembership.objects.create(queue=fallback_queue, user=agents[0], capacity=2)
    client.force_login(admin_user)
    form = client.get(reverse("queue_edit", args=["general"])).context["formset"]
    assert form.initial == [{"user": agents[0].pk, "capacity": 2}]
    data = queue_post(key="general", name="General", is_fallback="on")
    response = client.post(
        reverse("queue_edit", args=["general"]), with_members(data, (agents[1].pk, 4), ("", ""))
    )
    assert response.status_code == 302
    assert list(fallback_queue.memberships.values_list("user__username", "capacity")) == [
        ("bob", 4)
    ]


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"key": "Bad Key"}, "id_key", "letters"),
        ({"assignment": ""}, "id_assignment", "assignment method"),
        ({"delivery_kind": "webhook"}, "id_webhook_url", "needs the URL"),
        (
            {"delivery_kind": "webhook", "webhook_url": "http://example.com/x"},
            "id_webhook_url",
            "https",
        ),
        ({"when_closed_action": "transfer"}, "id_when_closed_queue", "needs a queue"),
        ({"when_full_action": "reject"}, "id_when_full_message", "message"),
        ({"always_open": None, "hours_mon": "9-5"}, "id_hours_mon", "HH:MM"),
        ({"always_open": None, "hours_tue": "17:00-09:00"}, "id_hours_tue", "before"),
        (
            {"always_open": None, "hours_wed": "09:00-12:00, 11:00-13:00"},
            "id_hours_wed",
            "overlap",
        ),
        ({"always_open": None, "closed_dates": "2026-02-30"}, "id_closed_dates", "not a date"),
        ({"always_open": None, "timezone": "Mars/Olympus"}, "id_timezone", "valid choice"),
        ({"offer_timeout_seconds": "0"}, "id_offer_timeout_seconds", "greater than"),
        ({"max_wait_seconds": "0"}, "id_max_wait_seconds", "greater than"),
        ({"priority": "x"}, "id_priority", "whole number"),
    ],
)
def test_it_shows_queue_errors_at_the_field(
    client: Any, admin_user: User, overrides: dict, field: str, message: str
) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("queue_new"), queue_post(**overrides))
    assert response.status_code == 200
    assert message in field_error(response, field), response.content.decode()[:0]
    assert not Queue.objects.exists()


def test_it_shows_member_errors_at_the_row(
    client: Any, admin_user: User, agents: list[User]
) -> None:
    client.force_login(admin_user)
    data = with_members(queue_post(), (agents[0].pk, 1), (agents[0].pk, 2), (agents[1].pk, -1))
    response = client.post(reverse("queue_new"), data)
    assert response.status_code == 200
    assert "already a member" in field_error(response, "id_members-1-user")
    assert "greater than or equal to 0" in field_error(response, "id_members-2-capacity")
    assert not Queue.objects.exists()


def test_it_offers_only_agents_as_members(
    client: Any, admin_user: User, agents: list[User], maker: User
) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("queue_new"), with_members(queue_post(), (maker.pk, 1)))
    assert "valid choice" in field_error(response, "id_members-0-user")


def test_it_refuses_an_overflow_loop(client: Any, admin_user: User, fallback_queue: Queue) -> None:
    other = Queue.objects.create(
        key="sales", name="Sales", when_full_action="transfer", when_full_queue=fallback_queue
    )
    client.force_login(admin_user)
    data = queue_post(
        key="general",
        name="General",
        is_fallback="on",
        when_closed_action="transfer",
        when_closed_queue=str(other.pk),
    )
    response = client.post(reverse("queue_edit", args=["general"]), data)
    assert "General → Sales → General" in field_error(response, "id_when_closed_queue")


def test_it_keeps_one_fallback_queue(client: Any, admin_user: User, fallback_queue: Queue) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("queue_edit", args=["general"]), queue_post(key="general", name="General")
    )
    assert "make another queue the fallback" in field_error(response, "id_is_fallback")
    response = client.post(reverse("queue_new"), queue_post(is_fallback="on"))
    assert response.status_code == 302
    assert list(Queue.objects.filter(is_fallback=True).values_list("key", flat=True)) == ["billing"]


def test_it_shows_the_webhook_secret_once(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    data = queue_post(delivery_kind="webhook", webhook_url="https://crm.example.com/handoffs")
    response = client.post(reverse("queue_new"), data)
    assert response.status_code == 302
    secret = Queue.objects.get(key="billing").webhook_secret
    assert secret.startswith("whsec_")
    assert secret in client.get(response["Location"]).content.decode()
    assert secret not in client.get(response["Location"]).content.decode()
    assert secret not in client.get(reverse("queue_edit", args=["billing"])).content.decode()
    # Saving again keeps the secret: the receiver does not have to change.
    client.post(reverse("queue_edit", args=["billing"]), data)
    assert Queue.objects.get(key="billing").webhook_secret == secret
    # A new secret on demand, again shown once.
    client.post(reverse("queue_rotate_secret", args=["billing"]))
    rotated = Queue.objects.get(key="billing").webhook_secret
    assert rotated != secret
    assert rotated in client.get(reverse("queue_detail", args=["billing"])).content.decode()


def test_it_drops_the_secret_when_leaving_webhook_delivery(client: Any, admin_user: User) -> None:
    Queue.objects.create(
        key="billing",
        name="Billing",
        delivery_kind="webhook",
        webhook_url="https://crm.example.com/h",
        webhook_secret="whsec_" + "A" * 44,
    )
    client.force_login(admin_user)
    response = client.post(reverse("queue_edit", args=["billing"]), queue_post())
    assert response.status_code == 302
    queue = Queue.objects.get(key="billing")
    assert (queue.delivery_kind, queue.webhook_url, queue.webhook_secret) == ("agents", "", "")


def test_it_refuses_to_delete_a_queue_in_use(
    client: Any, admin_user: User, fallback_queue: Queue
) -> None:
    billing = Queue.objects.create(key="billing", name="Billing")
    EscalationRule.objects.create(name="Billing rule", order=1, queue=billing)
    Queue.objects.create(
        key="sales", name="Sales", when_closed_action="transfer", when_closed_queue=billing
    )
    client.force_login(admin_user)
    response = client.post(reverse("queue_delete", args=["billing"]), follow=True)
    html = response.content.decode()
    assert "Billing rule" in html and "Sales" in html
    assert Queue.objects.filter(key="billing").exists()
    response = client.post(reverse("queue_delete", args=["general"]), follow=True)
    assert "fallback" in response.content.decode()
    assert Queue.objects.filter(key="general").exists()


def test_it_deletes_an_unused_queue(client: Any, admin_user: User, fallback_queue: Queue) -> None:
    Queue.objects.create(key="billing", name="Billing")
    client.force_login(admin_user)
    assert client.post(reverse("queue_delete", args=["billing"])).status_code == 302
    assert not Queue.objects.filter(key="billing").exists()
    assert AuditEntry.objects.filter(action="delete", object_type="queue", object_key="billing")


def test_it_refuses_to_rename_a_queue_a_rule_uses(
    client: Any, admin_user: User, fallback_queue: Queue
) -> None:
    EscalationRule.objects.create(name="Everything", order=1, queue=fallback_queue)
    client.force_login(admin_user)
    response = client.post(
        reverse("queue_edit", args=["general"]),
        queue_post(key="general-2", name="General", is_fallback="on"),
    )
    assert "Everything" in field_error(response, "id_key")
    assert Queue.objects.filter(key="general").exists()


def test_it_saves_queues_that_publish(
    client: Any, admin_user: User, agents: list[User], fallback_queue: Queue
) -> None:
    from handoff.config.document import config_publish, export_document

    client.force_login(admin_user)
    data = queue_post(
        always_open=None,
        timezone="Asia/Tokyo",
        hours_mon="09:00-18:00",
        closed_dates="2027-01-01",
        when_closed_action="transfer",
        when_closed_queue=str(fallback_queue.pk),
        when_full_action="reject",
        when_full_message="Busy, sorry.",
        max_wait_seconds="300",
        delivery_kind="webhook",
        webhook_url="https://crm.example.com/handoffs",
    )
    assert (
        client.post(reverse("queue_new"), with_members(data, (agents[0].pk, 2))).status_code == 302
    )
    version = config_publish(user=admin_user, note="from the portal")
    billing = next(q for q in version.document["queues"] if q["key"] == "billing")
    assert billing["overflow"]["when_closed"] == {
        "action": "transfer",
        "message": None,
        "queue": "general",
    }
    assert billing["delivery"] == {"kind": "webhook", "url": "https://crm.example.com/handoffs"}
    assert billing["members"] == [{"username": "alice", "capacity": 2}]
    assert "secret" not in str(export_document())

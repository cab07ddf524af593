from typing import Any

from django.urls import reverse

from handoff.models import AuditEntry, Bot, Channel, EscalationRule, Queue, User
from tests.portal.conftest import field_error


def test_it_creates_a_channel(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("channel_new"), {"key": "sms", "name": "SMS", "kind": "sms", "enabled": "on"}
    )
    assert response.status_code == 302
    channel = Channel.objects.get(key="sms")
    assert channel.enabled
    assert AuditEntry.objects.filter(action="create", object_type="channel", object_key="sms")


def test_it_shows_errors_at_the_field(client: Any, admin_user: User, channel: Channel) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("channel_new"), {"key": "web chat", "name": "", "kind": "fax"})
    assert response.status_code == 200
    assert field_error(response, "id_key")
    assert "required" in field_error(response, "id_name")
    assert "fax" in field_error(response, "id_kind")
    response = client.post(
        reverse("channel_new"), {"key": "webchat", "name": "Again", "kind": "webchat"}
    )
    assert "already exists" in field_error(response, "id_key")
    assert Channel.objects.count() == 1


def test_it_edits_a_channel(client: Any, admin_user: User, channel: Channel) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("channel_edit", args=["webchat"]),
        {"key": "webchat", "name": "Website chat", "kind": "webchat"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Website chat"
    assert not channel.enabled


def test_it_refuses_to_rename_a_channel_a_rule_uses(
    client: Any, admin_user: User, channel: Channel, fallback_queue: Queue
) -> None:
    EscalationRule.objects.create(
        name="Web VIP",
        order=1,
        queue=fallback_queue,
        conditions={"all": [{"field": "channel", "op": "in", "value": ["webchat", "sms"]}]},
    )
    client.force_login(admin_user)
    response = client.post(
        reverse("channel_edit", args=["webchat"]),
        {"key": "web", "name": "Web chat", "kind": "webchat", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "Web VIP" in field_error(response, "id_key")
    assert Channel.objects.filter(key="webchat").exists()


def test_it_refuses_to_delete_a_channel_in_use(
    client: Any, admin_user: User, bot: Bot, channel: Channel
) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("channel_delete", args=["webchat"]), follow=True)
    assert "Support bot" in response.content.decode()
    assert Channel.objects.filter(key="webchat").exists()
    bot.channels.clear()
    client.post(reverse("channel_delete", args=["webchat"]))
    assert not Channel.objects.filter(key="webchat").exists()


def test_it_toggles_a_channel_in_place(client: Any, admin_user: User, channel: Channel) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("channel_toggle", args=["webchat"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="channel-{channel.pk}"')
    assert "<html" not in html
    channel.refresh_from_db()
    assert not channel.enabled


def test_it_lets_a_maker_read_but_not_write(client: Any, maker: User, channel: Channel) -> None:
    client.force_login(maker)
    assert client.get(reverse("channel_list")).status_code == 200
    assert client.post(reverse("channel_toggle", args=["webchat"])).status_code == 403
    assert client.post(reverse("channel_delete", args=["webchat"])).status_code == 403
    assert Channel.objects.get().enabled

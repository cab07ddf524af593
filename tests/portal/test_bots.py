from typing import Any

from django.urls import reverse

from handoff.crypto import hash_api_key
from handoff.models import ApiKey, AuditEntry, Bot, Channel, Handoff, User
from tests.portal.conftest import field_error


def test_it_creates_a_bot_with_channels(client: Any, admin_user: User, channel: Channel) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("bot_new"),
        {"key": "faq-bot", "name": "FAQ bot", "channels": [channel.pk], "status_callback_url": ""},
    )
    assert response["Location"] == reverse("bot_detail", args=["faq-bot"])
    bot = Bot.objects.get(key="faq-bot")
    assert list(bot.channels.all()) == [channel]
    assert bot.status_callback_url is None


def test_it_shows_bot_errors_at_the_field(client: Any, admin_user: User, bot: Bot) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("bot_new"),
        {"key": "support-bot", "name": "", "channels": ["999"], "status_callback_url": "ftp://x"},
    )
    assert response.status_code == 200
    assert "already exists" in field_error(response, "id_key")
    assert "required" in field_error(response, "id_name")
    assert "valid choice" in field_error(response, "id_channels")
    assert field_error(response, "id_status_callback_url")


def test_it_creates_a_key_shown_once_and_stored_hashed(
    client: Any, admin_user: User, bot: Bot
) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("api_key_new", args=["support-bot"]), {"name": "production"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the keys fragment only
    assert 'id="api-keys"' in html
    api_key = ApiKey.objects.get(bot=bot)
    plain = html.split('id="new-api-key">', 1)[1].split("<", 1)[0]
    assert plain.startswith("hp_") and plain.startswith(api_key.prefix)
    assert api_key.hashed == hash_api_key(plain)
    assert plain not in str(ApiKey.objects.values().get())
    assert api_key.created_by == admin_user
    assert 'data-copy="#new-api-key"' in html
    # Never again: not on the bot page, not in the audit log.
    assert plain not in client.get(reverse("bot_detail", args=["support-bot"])).content.decode()
    assert plain not in str(list(AuditEntry.objects.values()))


def test_it_shows_a_key_once_without_htmx(client: Any, admin_user: User, bot: Bot) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("api_key_new", args=["support-bot"]), {"name": ""})
    assert response["Location"] == reverse("bot_detail", args=["support-bot"])
    first = client.get(response["Location"]).content.decode()
    assert 'id="new-api-key">hp_' in first
    second = client.get(response["Location"]).content.decode()
    assert "new-api-key" not in second


def test_it_uses_the_new_key_against_the_api(client: Any, admin_user: User, bot: Bot) -> None:
    client.force_login(admin_user)
    html = client.post(
        reverse("api_key_new", args=["support-bot"]), {}, HTTP_HX_REQUEST="true"
    ).content.decode()
    plain = html.split('id="new-api-key">', 1)[1].split("<", 1)[0]
    client.logout()
    bad = client.get("/api/v1/handoffs/00000000-0000-0000-0000-000000000000")
    good = client.get(
        "/api/v1/handoffs/00000000-0000-0000-0000-000000000000",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert bad.status_code == 401
    assert good.status_code == 404  # authenticated; the handoff just does not exist


def test_it_revokes_a_key(client: Any, admin_user: User, api_key: ApiKey) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("api_key_revoke", args=["support-bot", api_key.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "revoked" in response.content.decode()
    assert AuditEntry.objects.filter(action="revoke", object_type="api_key")


def test_it_shows_when_a_key_was_last_used(client: Any, analyst: User, api_key: ApiKey) -> None:
    from django.utils import timezone

    api_key.last_used_at = timezone.now()
    api_key.save()
    client.force_login(analyst)
    html = client.get(reverse("bot_detail", args=["support-bot"])).content.decode()
    assert "never" not in html
    assert api_key.prefix in html
    assert reverse("api_key_new", args=["support-bot"]) not in html  # analysts read only


def test_it_refuses_a_revoke_for_another_bots_key(
    client: Any, admin_user: User, api_key: ApiKey
) -> None:
    Bot.objects.create(key="other", name="Other")
    client.force_login(admin_user)
    response = client.post(reverse("api_key_revoke", args=["other", api_key.pk]))
    assert response.status_code == 404


def test_it_refuses_to_delete_a_bot_with_handoffs(client: Any, admin_user: User, bot: Bot) -> None:
    Handoff.objects.create(bot=bot, conversation_id="c1", channel="webchat", status="resolved")
    client.force_login(admin_user)
    response = client.post(reverse("bot_delete", args=["support-bot"]), follow=True)
    assert "1 handoff" in response.content.decode()
    assert Bot.objects.filter(key="support-bot").exists()

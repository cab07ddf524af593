from typing import Any

from django.urls import reverse
from django.utils import timezone

from handoff.models import AuditEntry, Bot, Handoff, Queue, User


def failed(bot: Bot, n: int = 1) -> Handoff:
    return Handoff.objects.create(
        bot=bot,
        conversation_id=f"c-{n}",
        channel="webchat",
        status="failed",
        delivery_attempts=7,
        last_error="HTTP 503 from receiver",
    )


def test_it_lists_failed_deliveries(client: Any, analyst: User, bot: Bot) -> None:
    failed(bot)
    Handoff.objects.create(bot=bot, conversation_id="ok", channel="webchat", status="delivered")
    client.force_login(analyst)
    html = client.get(reverse("failure_list")).content.decode()
    assert "HTTP 503 from receiver" in html
    assert "c-1" in html and ">ok<" not in html
    assert reverse("failure_retry", args=[Handoff.objects.get(status="failed").pk]) not in html


def test_it_retries_a_failed_delivery(
    client: Any, admin_user: User, bot: Bot, django_capture_on_commit_callbacks: Any
) -> None:
    handoff = failed(bot)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("failure_retry", args=[handoff.pk]))
    assert response["Location"] == reverse("failure_list")
    handoff.refresh_from_db()
    assert (handoff.status, handoff.delivery_attempts) == ("queued", 0)
    assert callbacks  # the delivery task is published after commit
    assert handoff.events.filter(type="retry_requested").exists()


def test_it_refuses_to_retry_what_did_not_fail(client: Any, admin_user: User, bot: Bot) -> None:
    handoff = Handoff.objects.create(
        bot=bot, conversation_id="c", channel="webchat", status="delivered"
    )
    client.force_login(admin_user)
    response = client.post(reverse("failure_retry", args=[handoff.pk]), follow=True)
    assert "Only a failed handoff" in response.content.decode()
    handoff.refresh_from_db()
    assert handoff.status == "delivered"


def test_it_lets_only_admins_retry(client: Any, analyst: User, bot: Bot) -> None:
    handoff = failed(bot)
    client.force_login(analyst)
    assert client.post(reverse("failure_retry", args=[handoff.pk])).status_code == 403


def disabled_queue() -> Queue:
    return Queue.objects.create(
        key="crm",
        name="CRM",
        delivery_kind="webhook",
        webhook_url="https://crm.example.com/hook",
        published_webhook_url="https://crm.example.com/hook",
        webhook_disabled_at=timezone.now(),
        webhook_disabled_error="HTTP 410: endpoint removed",
    )


def test_it_shows_webhooks_a_receiver_disabled(client: Any, analyst: User) -> None:
    queue = disabled_queue()
    client.force_login(analyst)
    html = client.get(reverse("failure_list")).content.decode()
    assert "Disabled webhooks" in html
    assert "https://crm.example.com/hook" in html and "HTTP 410: endpoint removed" in html
    assert reverse("queue_enable_webhook", args=[queue.key]) not in html  # admins only


def test_it_lets_an_admin_enable_a_webhook_again(client: Any, admin_user: User) -> None:
    queue = disabled_queue()
    client.force_login(admin_user)
    assert (
        reverse("queue_enable_webhook", args=[queue.key])
        in client.get(reverse("failure_list")).content.decode()
    )

    response = client.post(reverse("queue_enable_webhook", args=[queue.key]), follow=True)

    assert "enabled again" in response.content.decode()
    assert "Disabled webhooks" not in response.content.decode()
    queue.refresh_from_db()
    assert (queue.webhook_disabled_at, queue.webhook_disabled_error) == (None, "")
    entry = AuditEntry.objects.get(action="enable_webhook")
    assert (entry.user, entry.object_key) == (admin_user, "crm")


def test_it_says_so_when_the_webhook_is_not_disabled(client: Any, admin_user: User) -> None:
    queue = disabled_queue()
    Queue.objects.filter(pk=queue.pk).update(webhook_disabled_at=None)
    client.force_login(admin_user)
    response = client.post(reverse("queue_enable_webhook", args=[queue.key]), follow=True)
    assert "not disabled" in response.content.decode()


def test_it_lets_only_admins_enable_a_webhook(
    client: Any, analyst: User, maker: User, outsider: User
) -> None:
    queue = disabled_queue()
    for person in (analyst, maker, outsider):
        client.force_login(person)
        assert client.post(reverse("queue_enable_webhook", args=[queue.key])).status_code == 403
    assert Queue.objects.get(pk=queue.pk).webhook_disabled_at is not None


def test_it_shows_disabled_webhooks_in_japanese(client: Any, admin_user: User) -> None:
    disabled_queue()
    admin_user.language = "ja"
    admin_user.save(update_fields=["language"])
    client.force_login(admin_user)
    html = client.get(reverse("failure_list")).content.decode()
    for japanese in (
        "無効になった Webhook",
        "410 Gone を返しました",
        "無効化日時",
        "再び有効にする",
    ):
        assert japanese in html
    assert "Disabled webhooks" not in html and "Enable again" not in html

from typing import Any

from django.urls import reverse

from handoff.models import Bot, Handoff, User


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

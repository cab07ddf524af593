"""An admin configures in the browser: a queue with operating hours and a member, a bot with a
key shown once and copied, then the bot uses that key against the API. Saves screenshots of the
admin pages under docs/screenshots/."""

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Group

from handoff.config.document import config_publish
from handoff.crypto import hash_api_key
from handoff.models import ApiKey, Channel, Queue, User
from portal.roles import ROLES
from tests.browser.conftest import SCREENSHOTS as SHOTS
from tests.browser.conftest import log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_it_configures_a_queue_and_a_bot_key_the_api_accepts(
    live_server: Any, new_page: Any
) -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    admin = make_user("alice-admin", "admin")
    make_user("ben-agent", "agent")
    Channel.objects.create(key="webchat", name="Web chat", kind="webchat")
    Queue.objects.create(key="general", name="General", is_fallback=True)

    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "alice-admin", "pw-alice-admin")
    assert page.url.endswith("/config/")
    shot(page, "admin-overview")

    # A queue with hours and a member, in one form.
    page.goto(f"{live_server.url}/config/queues/new/")
    page.fill("[name=key]", "billing")
    page.fill("[name=name]", "Billing")
    page.fill("[name=priority]", "10")
    page.uncheck("[name=always_open]")
    page.select_option("[name=timezone]", "Europe/Paris")
    page.fill("[name=hours_mon]", "09:00-12:00, 13:00-17:00")
    page.fill("[name=hours_tue]", "09:00-17:00")
    page.fill("[name=closed_dates]", "2026-12-25")
    page.select_option("[name=members-0-user]", label="ben-agent")
    page.fill("[name=members-0-capacity]", "3")
    page.click("text=Add member")
    assert page.locator("#members-rows tr").count() == 2
    page.select_option("[name=when_closed_action]", "reject")
    page.fill("[name=when_closed_message]", "We are closed.")
    page.fill("[name=hours_wed]", "17:00-09:00")
    shot(page, "admin-queue-form")
    page.click("text=Save queue")
    # Refused at the field, nothing saved; fixed, saved.
    page.locator("#id_hours_wed_error").wait_for()
    assert not Queue.objects.filter(key="billing").exists()
    page.fill("[name=hours_wed]", "")
    page.click("text=Save queue")
    page.wait_for_url("**/config/queues/billing/")
    queue = Queue.objects.get(key="billing")
    assert queue.hours is not None
    assert queue.hours["weekly"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert list(queue.memberships.values_list("user__username", "capacity")) == [("ben-agent", 3)]
    shot(page, "admin-queue")

    # A bot on the web chat, and its key: shown once, copied with the button.
    page.goto(f"{live_server.url}/config/bots/new/")
    page.fill("[name=key]", "support-bot")
    page.fill("[name=name]", "Support bot")
    page.check("text=Web chat")
    page.click("text=Save")
    page.wait_for_url("**/config/bots/support-bot/")
    page.fill("[name=name]", "production")
    page.click("text=Create API key")
    key = page.locator("#new-api-key").inner_text().strip()
    assert ApiKey.objects.get().hashed == hash_api_key(key)
    shot(page, "admin-bot-key")
    page.reload()
    assert page.locator("#new-api-key").count() == 0

    # The bot hands a conversation off with that key.
    config_publish(user=User.objects.get(pk=admin.pk), note="browser test")
    response = httpx.post(
        f"{live_server.url}/api/v1/handoffs",
        json={"conversation_id": "c-1", "channel": "webchat"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["queue"]["key"] == "general"

    page.goto(f"{live_server.url}/config/queues/")
    shot(page, "admin-queues")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "admin-queues-phone")

"""Two agents work live handoffs in real Chromium: offers arrive without a reload, one agent
accepts and resolves, the other declines and the handoff moves on, capacity is never exceeded.

No Celery worker runs here: the Celery app is switched to eager mode, so the delivery task the
API publishes after commit runs at once in the server's thread, through the real services
(dispatch.handoff_deliver -> assignment.queue_fill), as a worker would run it. The server is
uvicorn (the `asgi_server` fixture): the pages keep an event stream open, which needs ASGI.
"""

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Group

from handoff.config.snapshot import forget_published_snapshots
from handoff.models import Bot, Channel, Handoff, Queue, QueueMembership, User
from portal.roles import ROLES
from tests.api.conftest import DOCUMENT, make_key, publish
from tests.browser.conftest import SCREENSHOTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


CARD = "4111111111111111"


@pytest.fixture
def eager_celery() -> Iterator[None]:
    from portal.celery import app

    # Load the tasks as a worker does, so that publishing runs them here instead of sending
    # them by name (handoff/delivery/publish.py).
    app.autodiscover_tasks(force=True)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def operation(eager_celery: None) -> dict[str, Any]:
    """The published retail-like configuration, its rows, two agents and a bot key."""
    # A transactional test's flush removes the role groups the migration made; bring them back.
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    # Versions are cached by primary key, and SQLite reuses keys after a flush.
    forget_published_snapshots()
    document = copy.deepcopy(DOCUMENT)
    queues = {
        q["key"]: Queue.objects.create(
            key=q["key"], name=q["name"], priority=q["priority"], is_fallback=q["fallback"]
        )
        for q in document["queues"]
    }
    for c in document["channels"]:
        Channel.objects.create(key=c["key"], name=c["name"], kind=c["kind"], enabled=c["enabled"])
    for b in document["bots"]:
        Bot.objects.create(key=b["key"], name=b["name"])
    publish(document)
    ann = make_user("ann-agent", "agent", first_name="Ann")
    bob = make_user("bob-agent", "agent", first_name="Bob")
    QueueMembership.objects.create(queue=queues["billing"], user=ann, capacity=2)
    QueueMembership.objects.create(queue=queues["billing"], user=bob, capacity=1)
    make_user("alice-admin", "admin")
    return {
        "billing": queues["billing"],
        "ann": ann,
        "bob": bob,
        "key": make_key(Bot.objects.get(key="support-bot")),
    }


def post_handoff(base_url: str, key: str, n: int, name: str) -> dict[str, Any]:
    body = {
        "conversation_id": f"conv-{n}",
        "channel": "webchat",
        "topic": "billing",
        "locale": "en-GB",
        "reason": "requested_by_customer",
        "customer": {"id": f"c-{n}", "name": name},
        "variables": {"order_number": f" 123{n} ", "card": CARD},
        "transcript": [
            {"from": "customer", "text": "I was charged twice", "at": "2026-11-25T09:00:01Z"},
            {"from": "bot", "text": "What is your order number?", "at": "2026-11-25T09:00:02Z"},
            {"from": "customer", "text": f"123{n}", "at": "2026-11-25T09:00:09Z"},
            {"from": "bot", "text": "And the card you paid with?", "at": "2026-11-25T09:00:10Z"},
            {"from": "customer", "text": CARD, "at": "2026-11-25T09:00:20Z"},
            {
                "from": "customer",
                "text": "I want to talk to a person",
                "at": "2026-11-25T09:00:31Z",
            },
        ],
        "agent_message": "Customer says they were charged twice.",
    }
    response = httpx.post(
        f"{base_url}/api/v1/handoffs",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def within_capacity() -> None:
    for m in QueueMembership.objects.all():
        assert 0 <= m.active_count <= m.capacity, (m.user.username, m.active_count, m.capacity)


def go_available(page: Any, base_url: str, username: str) -> None:
    log_in(page, base_url, username, f"pw-{username}")
    page.goto(f"{base_url}/agent/")
    page.click("#presence-available")
    page.locator("#presence-available.current").wait_for()
    # A marker that a reload would wipe: every later change must arrive without one.
    page.evaluate("window.noReload = true")


def capacity_is(page: Any, text: str) -> None:
    """Wait for the header's capacity ("2 of 3") to read `text` (it updates with the inbox)."""
    page.locator(f'[data-testid="capacity"]:text-is("{text}")').wait_for()


def offers(page: Any) -> Any:
    return page.locator("#inbox .work.offer")


def test_it_offers_live_and_moves_declined_work_on(
    asgi_server: Any, new_page: Any, operation: dict[str, Any]
) -> None:
    base = asgi_server.url
    ann, bob = new_page(), new_page()
    go_available(ann, base, "ann-agent")
    go_available(bob, base, "bob-agent")
    capacity_is(ann, "0 of 2")
    assert User.objects.get(username="bob-agent").presence == "available"

    first = post_handoff(base, operation["key"], 1, "Carla One")
    second = post_handoff(base, operation["key"], 2, "Dan Two")
    third = post_handoff(base, operation["key"], 3, "Eve Three")
    assert first["queue"]["key"] == "billing" and first["rule"] == "Billing"
    within_capacity()

    # Round robin: Ann, Bob, then Ann again (Bob is full); nobody above capacity.
    offers(ann).nth(1).wait_for()
    offers(bob).first.wait_for()
    assert offers(ann).count() == 2 and offers(bob).count() == 1
    capacity_is(ann, "2 of 2")
    capacity_is(bob, "1 of 1")
    assert ann.evaluate("window.noReload") and bob.evaluate("window.noReload")
    assert "Carla One" in ann.inner_text("#inbox") and "Eve Three" in ann.inner_text("#inbox")
    assert "Dan Two" in bob.inner_text("#inbox")
    countdown = int(ann.locator("#inbox [data-seconds-left]").first.inner_text())
    assert 0 < countdown <= 60
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ann.screenshot(path=str(SCREENSHOTS / "agent-inbox.png"), full_page=True)

    # Ann accepts Carla and lands on the handoff page with everything the bot learned.
    ann.click(f"#accept-{first['id']}")
    ann.wait_for_url(f"**/agent/handoffs/{first['id']}/")
    assert ann.get_by_test_id("status").inner_text() == "Assigned"
    context = ann.get_by_test_id("context").inner_text()
    assert "Card" in context and "************1111" in context and "masked" in context
    assert "Order" in context and "1231" in context
    asked = ann.get_by_test_id("already-asked").inner_text()
    assert "Order" in asked and "1231" in asked
    transcript = ann.get_by_test_id("transcript")
    assert transcript.locator(".turn-customer").count() == 4
    assert transcript.locator(".turn-bot").count() == 2
    assert transcript.locator("time").first.inner_text() == "09:00:01"
    assert CARD not in ann.content()  # masked in the context, the variables and the transcript
    assert "Customer says they were charged twice." in ann.inner_text("main")
    assert "rule “Billing”" in ann.inner_text("main")
    ann.screenshot(path=str(SCREENSHOTS / "agent-handoff.png"), full_page=True)

    # Bob declines Dan: Ann is full, so Dan waits (not back to Bob, who refused it).
    bob.click(f"#decline-{second['id']}")
    bob.get_by_text("Declined: the handoff goes to another agent.").wait_for()
    assert offers(bob).count() == 0
    capacity_is(bob, "0 of 1")
    dan = Handoff.objects.get(pk=second["id"])
    assert (dan.status, dan.agent) == ("queued", None)
    within_capacity()

    # Ann resolves Carla: the freed unit goes at once to Dan, offered to Ann without a reload.
    ann.fill("textarea[name=wrap_up]", "Refunded the double charge.")
    ann.click("text=Resolve")
    ann.wait_for_url(f"{base}/agent/")
    ann.evaluate("window.noReload = true")
    carla = Handoff.objects.get(pk=first["id"])
    assert (carla.status, carla.wrap_up) == ("resolved", "Refunded the double charge.")
    ann.locator(f'#inbox [data-handoff="{second["id"]}"]').wait_for()
    assert offers(ann).count() == 2  # Eve (still offered) and Dan
    capacity_is(ann, "2 of 2")
    dan.refresh_from_db()
    assert (dan.status, dan.agent_id) == ("offered", operation["ann"].pk)
    assert Handoff.objects.get(pk=third["id"]).agent_id == operation["ann"].pk
    within_capacity()

    admin = new_page()
    log_in(admin, base, "alice-admin", "pw-alice-admin")
    admin.goto(f"{base}/supervisor/")
    row = admin.locator('[data-queue="billing"]')
    row.wait_for()
    assert row.locator('td[data-label="Waiting"]').inner_text() == "2"
    assert "Ann" in admin.inner_text('[data-presence="available"]')
    assert "Dan Two" in admin.inner_text("#board") and "Eve Three" in admin.inner_text("#board")
    admin.screenshot(path=str(SCREENSHOTS / "supervisor.png"), full_page=True)

"""A maker chats with a draft topic in "Test your bot", reaches a person, and the agent sees the
answers the bot collected on the handoff page."""

import copy
from typing import Any

import pytest
from django.contrib.auth.models import Group

from handoff.config.document import import_document
from handoff.models import Handoff
from handoff.services.assignment import agent_set_presence
from handoff.services.dispatch import handoff_deliver
from portal.roles import ROLES
from tests.browser.conftest import log_in
from tests.conftest import make_user
from tests.handoff.conversation_helpers import DOCUMENT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def draft_with_agent(username: str) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    for queue in doc["queues"]:
        if queue["key"] == "returns":
            queue["members"] = [{"username": username, "capacity": 2}]
    return doc


def test_it_takes_a_maker_from_a_draft_topic_to_an_agent(live_server, new_page):
    # A transactional test's flush removes the role groups the migration made; bring them back.
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    make_user("mia-maker", "maker")
    ben = make_user("ben-agent", "agent", first_name="Ben")
    import_document(draft_with_agent("ben-agent"))  # a draft only: nothing is published

    maker = new_page()
    log_in(maker, live_server.url, "mia-maker", "pw-mia-maker")
    maker.goto(f"{live_server.url}/authoring/test-bot/?config=draft")
    maker.select_option("#tb-channel", "webchat")
    maker.click("#tb-start")
    chat = maker.locator("#tb-chat")
    chat.get_by_text("How can I help you today?").wait_for()

    for text, reply in (
        ("I want a refnud please", "What is the order number?"),
        ("A-9", "How much should be refunded?"),
        ("lots", "Please answer with a number."),
    ):
        maker.fill("#tb-text", text)
        maker.click("#tb-send")
        chat.locator(".line.bot", has_text=reply).last.wait_for()

    maker.fill("#tb-text", "700")
    maker.click("#tb-send")
    maker.locator("#tb-handoff").wait_for()
    assert "Returns" in maker.locator("#tb-handoff [data-queue]").inner_text()
    assert maker.locator('#tb-variables [data-variable="order_number"]').inner_text() == "A-9"
    assert maker.locator('#tb-variables [data-variable="refund_amount"]').inner_text() == "700"
    link = maker.locator("#tb-handoff-link").get_attribute("href")

    handoff = Handoff.objects.get()
    assert link == f"/agent/handoffs/{handoff.pk}/"
    assert handoff.config_version is None  # routed with the draft
    assert handoff.variables == {"order_number": "A-9", "refund_amount": 700}

    # What the delivery worker does: offer the handoff to the available member of the queue
    # (becoming available may already fill the queue; delivering again is then a no-op).
    agent_set_presence(agent=ben, presence="available")
    handoff_deliver(handoff_id=handoff.pk)
    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("offered", ben)

    agent = new_page()
    log_in(agent, live_server.url, "ben-agent", "pw-ben-agent")
    agent.goto(f"{live_server.url}{link}")
    asked = agent.get_by_test_id("already-asked")
    asked.wait_for()
    text = asked.inner_text()
    assert "What is the order number?" in text
    assert "A-9" in text
    assert "700" in text

"""The live streams served by a real ASGI server (uvicorn): who gets which events, resuming
with Last-Event-ID, and the outsiders who get nothing."""

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from handoff.models import Bot, Conversation, LiveEvent
from handoff.services.assignment import (
    agent_set_presence,
    handoff_accept,
    handoff_cancel,
    queue_fill,
)
from handoff.services.live import live_purge
from portal.live import get_hub
from portal.roles import ROLES
from tests.handoff.delivery_helpers import make_agent, make_handoff, make_queue
from tests.live_helpers import session_cookie, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_LIVE = "/agent/live/"
BOARD_LIVE = "/supervisor/live/"


@pytest.fixture
def people() -> dict[str, Any]:
    # A transactional test's flush removes the role groups the migration made.
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    queue = make_queue(offer_timeout_seconds=60)
    other_queue = make_queue("sales")
    ann = make_agent("ann", queue, capacity=2)
    bob = make_agent("bob", other_queue, capacity=2)
    admin = make_agent("alice")
    ann.groups.add(Group.objects.get(name="agent"))
    bob.groups.add(Group.objects.get(name="agent"))
    admin.groups.add(Group.objects.get(name="admin"))
    return {"queue": queue, "other_queue": other_queue, "ann": ann, "bob": bob, "admin": admin}


def change(stream: Any, kind: str, name: str) -> dict[str, Any]:
    """The data of the next `kind` event whose change is `name`. (An event committed just
    before the stream opened may still come first: the stream only promises not to miss any.)"""
    while True:
        data = json.loads(stream.next(kind)["data"])
        if data["change"] == name:
            return data


def caught_up() -> None:
    """Wait until the listener has read every event written so far."""
    latest = LiveEvent.objects.latest("id").pk
    assert wait_until(lambda: get_hub().settled >= latest)


def test_it_sends_an_agent_the_offer_made_to_them(people: Any, open_stream: Any) -> None:
    stream = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]))
    hello = stream.next("hello")
    handoff = make_handoff(people["queue"])

    queue_fill(queue_id=people["queue"].pk)

    offer = stream.next("offer")
    assert json.loads(offer["data"]) == {
        "handoff": str(handoff.pk),
        "status": "offered",
        "change": "made",
    }
    assert int(offer["id"]) > int(hello["id"])


def test_it_tells_the_agent_when_the_offer_ends_and_the_customer_leaves(
    people: Any, open_stream: Any
) -> None:
    handoff = make_handoff(people["queue"])
    queue_fill(queue_id=people["queue"].pk)
    stream = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]))
    stream.next("hello")

    handoff_accept(handoff_id=handoff.pk, agent=people["ann"])
    assert change(stream, "offer", "accepted")["handoff"] == str(handoff.pk)
    handoff_cancel(handoff=handoff)
    assert change(stream, "handoff", "cancelled")["status"] == "cancelled"

    second = make_handoff(people["queue"])
    queue_fill(queue_id=people["queue"].pk)
    assert change(stream, "offer", "made")["handoff"] == str(second.pk)
    agent_set_presence(agent=people["ann"], presence="away")
    assert change(stream, "offer", "withdrawn")["handoff"] == str(second.pk)


def test_it_never_delivers_another_agents_events(people: Any, open_stream: Any) -> None:
    bob = open_stream(AGENT_LIVE, cookies=session_cookie(people["bob"]))
    bob.next("hello")
    make_handoff(people["queue"])
    queue_fill(queue_id=people["queue"].pk)  # offered to Ann, in Ann's queue
    sales = make_handoff(people["other_queue"])
    queue_fill(queue_id=people["other_queue"].pk)  # offered to Bob

    offer = bob.next("offer")
    assert str(sales.pk) in offer["data"]
    # Bob's queue's news came; nothing about Ann or her queue, before or after his offer.
    told = [e for e in bob.seen if e.get("event") in ("offer", "queue", "handoff")]
    assert told and all(str(sales.pk) in e["data"] for e in told)
    assert not [e for e in bob.drain() if e.get("event") not in ("queue", None)]


def test_it_sends_the_board_every_queue_and_presence(people: Any, open_stream: Any) -> None:
    board = open_stream(BOARD_LIVE, cookies=session_cookie(people["admin"]))
    board.next("hello")

    make_handoff(people["other_queue"])
    queue_fill(queue_id=people["other_queue"].pk)
    assert board.next("queue")
    agent_set_presence(agent=people["ann"], presence="busy")
    assert json.loads(board.next("presence")["data"])["presence"] == "busy"
    assert not [e for e in board.seen if e.get("event") in ("offer", "handoff")]


def test_it_replays_what_a_resuming_browser_missed(people: Any, open_stream: Any) -> None:
    first = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]))
    after = int(first.next("hello")["id"])
    first.close()

    missed = [make_handoff(people["queue"]) for _ in range(2)]
    queue_fill(queue_id=people["queue"].pk)  # both offered while nobody listened
    caught_up()

    again = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]), last_event_id=after)
    told = [again.next()["event"] for _ in range(5)]
    assert told == ["queue", "offer", "queue", "offer", "hello"]  # what was missed, then now
    offers = [json.loads(e["data"])["handoff"] for e in again.seen if e["event"] == "offer"]
    assert offers == [str(h.pk) for h in missed]
    assert int(again.seen[-1]["id"]) == LiveEvent.objects.latest("id").pk


def test_it_asks_for_a_full_refresh_when_the_missed_events_are_purged(
    people: Any, open_stream: Any
) -> None:
    first = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]))
    after = int(first.next("hello")["id"])
    first.close()
    make_handoff(people["queue"])
    queue_fill(queue_id=people["queue"].pk)
    live_purge(now=timezone.now() + timedelta(hours=2))
    make_handoff(people["queue"])
    queue_fill(queue_id=people["queue"].pk)
    caught_up()

    again = open_stream(AGENT_LIVE, cookies=session_cookie(people["ann"]), last_event_id=after)
    refresh = again.next()
    assert refresh["event"] == "refresh" and int(refresh["id"]) == get_hub().settled


def test_it_refuses_outsiders_as_the_pages_do(people: Any, asgi_server: Any) -> None:
    def get(path: str, user: Any = None) -> httpx.Response:
        cookies = session_cookie(user) if user else {}
        return httpx.get(asgi_server.url + path, cookies=cookies, follow_redirects=False)

    assert get(AGENT_LIVE).status_code == 302  # to the login page
    assert get(BOARD_LIVE).status_code == 302
    assert get(BOARD_LIVE, people["ann"]).status_code == 403
    nobody = make_agent("olga")
    assert get(AGENT_LIVE, nobody).status_code == 403


def test_it_streams_a_web_chat_only_to_the_visitor_who_owns_it(
    people: Any, open_stream: Any, asgi_server: Any
) -> None:
    bot = Bot.objects.create(key="retail-bot", name="Retail bot")
    conversation = Conversation.objects.create(bot=bot, channel="webchat", source="webchat")
    handoff = make_handoff(people["queue"], bot=bot, conversation_id=str(conversation.pk))
    visitor = SessionStore()
    visitor["webchat-conversation"] = str(conversation.pk)
    visitor.create()
    stranger = SessionStore()
    stranger["webchat-conversation"] = "someone-else"
    stranger.create()
    path = f"/webchat/live/{conversation.pk}/"

    def get(session: Any) -> int:
        cookies = {"sessionid": session.session_key} if session else {}
        return httpx.get(asgi_server.url + path, cookies=cookies).status_code

    assert get(stranger) == 404
    assert get(None) == 404

    chat = open_stream(path, cookies={"sessionid": visitor.session_key})
    chat.next("hello")
    queue_fill(queue_id=people["queue"].pk)
    handoff_accept(handoff_id=handoff.pk, agent=people["ann"])
    assert json.loads(chat.next("joined")["data"]) == {"status": "assigned"}
    handoff_cancel(handoff=handoff)
    assert json.loads(chat.next("closed")["data"]) == {"status": "cancelled"}

"""The agent workspace: permissions, the live inbox, the handoff page and the agent's actions."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff.models import ConfigVersion, ContextField, Handoff, Offer, Queue, QueueMembership, User
from handoff.services.assignment import queue_fill
from tests.conftest import make_user
from tests.handoff.delivery_helpers import (
    celery_broker,
    event_types,
    make_handoff,
    make_queue,
    scratch_broker_url,
)

HTMX = {"HX-Request": "true"}
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}

DOCUMENT: dict[str, Any] = {
    "channels": [{"key": "webchat", "name": "Web chat", "kind": "webchat", "enabled": True}],
    "topics": [
        {
            "key": "refund",
            "name": "Refund",
            "trigger_phrases": [],
            "nodes": [
                {
                    "id": "ask-order",
                    "type": "question",
                    "prompt": "Order number?",
                    "variable": "order_number",
                    "value_type": "text",
                },
                {
                    "id": "ask-reason",
                    "type": "question",
                    "prompt": "Why do you want a refund?",
                    "variable": "refund_reason",
                    "value_type": "text",
                },
            ],
        }
    ],
    "context_fields": [
        {"source": "order_number", "target": "OrderNumber", "label": "Order",
         "transform": "trim", "visible_to_agent": True},
        {"source": "card", "target": "Card", "label": "Card number",
         "transform": "mask_keep_last4", "visible_to_agent": True},
        {"source": "risk_score", "target": "RiskScore", "label": "Risk score",
         "transform": None, "visible_to_agent": False},
        {"source": "customer.email", "target": "Email", "label": "Email",
         "transform": None, "visible_to_agent": False},
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def scratch_broker(tmp_path_factory: Any) -> Iterator[None]:
    # The services publish offer expiries after commit: never into a developer's broker.
    with celery_broker(scratch_broker_url(tmp_path_factory.mktemp("broker"))):
        yield


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run what the services do after commit (refills), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def billing(db: Any) -> Queue:
    return make_queue("billing", offer_timeout_seconds=60)


@pytest.fixture
def ben(billing: Queue) -> User:
    agent = make_user("ben-agent", "agent", presence="available", first_name="Ben")
    QueueMembership.objects.create(queue=billing, user=agent, capacity=3)
    return agent


@pytest.fixture
def otto(billing: Queue) -> User:
    agent = make_user("otto-agent", "agent", presence="available", first_name="Otto")
    QueueMembership.objects.create(queue=billing, user=agent, capacity=1)
    return agent


def offer_to(handoff: Handoff, agent: User, *, seconds: int = 60) -> Handoff:
    """Put a queued handoff in `agent`'s hands the way queue_fill does (one capacity unit)."""
    now = timezone.now()
    QueueMembership.objects.filter(queue=handoff.queue, user=agent).update(
        active_count=QueueMembership.objects.get(queue=handoff.queue, user=agent).active_count + 1
    )
    Offer.objects.create(
        handoff=handoff, agent=agent, offered_at=now, expires_at=now + timedelta(seconds=seconds)
    )
    handoff.status = "offered"
    handoff.agent = agent
    handoff.offered_at = now
    handoff.offer_expires_at = now + timedelta(seconds=seconds)
    handoff.save()
    return handoff


def assign_to(handoff: Handoff, agent: User) -> Handoff:
    offer_to(handoff, agent)
    Offer.objects.filter(handoff=handoff).update(outcome="accepted")
    handoff.status = "assigned"
    handoff.assigned_at = timezone.now()
    handoff.offer_expires_at = None
    handoff.save()
    return handoff


def held(agent: User, queue: Queue) -> int:
    return QueueMembership.objects.get(user=agent, queue=queue).active_count


def inbox(client: Any, user: User) -> str:
    client.force_login(user)
    response = client.get(reverse("agent_workspace"), headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


# -- permissions ----------------------------------------------------------------------------


def test_it_sends_anonymous_users_to_login(client: Any, billing: Queue, ben: User) -> None:
    handoff = assign_to(make_handoff(billing), ben)
    for url in (
        reverse("agent_workspace"),
        reverse("agent_handoff", kwargs={"pk": handoff.pk}),
        reverse("agent_handoff_accept", kwargs={"pk": handoff.pk}),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_refuses_the_workspace_to_roles_other_than_agent_and_admin(
    client: Any, maker: User, analyst: User, outsider: User, billing: Queue, ben: User
) -> None:
    handoff = assign_to(make_handoff(billing), ben)
    for user in (maker, analyst, outsider):
        client.force_login(user)
        assert client.get(reverse("agent_workspace")).status_code == 403
        assert client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk})).status_code == 403
        response = client.post(reverse("agent_presence"), {"presence": "available"})
        assert response.status_code == 403


def test_it_lists_only_the_agents_own_handoffs(
    client: Any, billing: Queue, ben: User, otto: User
) -> None:
    mine_offered = offer_to(make_handoff(billing, customer={"name": "Mine Offered"}), ben)
    mine_assigned = assign_to(make_handoff(billing, customer={"name": "Mine Assigned"}), ben)
    offer_to(make_handoff(billing, customer={"name": "Ottos Offer"}), otto)

    html = inbox(client, ben)

    assert str(mine_offered.pk) in html and "Mine Offered" in html
    assert str(mine_assigned.pk) in html and "Mine Assigned" in html
    assert "Ottos Offer" not in html


def test_it_shows_the_waiting_lists_of_the_agents_pick_queues_only(client: Any, ben: User) -> None:
    desk = make_queue("desk", distribution="pick", assignment=None)
    other = make_queue("other-desk", distribution="pick", assignment=None)
    QueueMembership.objects.create(queue=desk, user=ben, capacity=2)
    make_handoff(desk, customer={"name": "Waiting Here"})
    make_handoff(other, customer={"name": "Waiting Elsewhere"})

    html = inbox(client, ben)

    assert "Waiting Here" in html
    assert "Waiting Elsewhere" not in html
    assert "Take next" in html


def test_it_answers_404_for_another_agents_handoff(
    client: Any, billing: Queue, ben: User, otto: User
) -> None:
    ottos = assign_to(make_handoff(billing), otto)
    client.force_login(ben)

    assert client.get(reverse("agent_handoff", kwargs={"pk": ottos.pk})).status_code == 404
    for action in ("accept", "decline", "resolve", "transfer"):
        url = reverse(f"agent_handoff_{action}", kwargs={"pk": ottos.pk})
        assert client.post(url, {"queue": "billing"}).status_code == 404, action
    ottos.refresh_from_db()
    assert ottos.status == "assigned" and ottos.agent == otto
    assert held(otto, billing) == 1


def test_it_lets_an_admin_read_any_handoff_but_act_only_on_their_own(
    client: Any, admin_user: User, billing: Queue, ben: User
) -> None:
    handoff = assign_to(make_handoff(billing, customer={"name": "Carla"}), ben)
    client.force_login(admin_user)

    page = client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk}))
    assert page.status_code == 200
    assert "Carla" in page.content.decode()
    assert reverse("agent_handoff_resolve", kwargs={"pk": handoff.pk}) not in page.content.decode()

    url = reverse("agent_handoff_resolve", kwargs={"pk": handoff.pk})
    assert client.post(url, {"wrap_up": "x"}).status_code == 404
    assert client.get(reverse("agent_workspace")).status_code == 200


# -- the inbox --------------------------------------------------------------------------------


def test_it_answers_a_poll_with_the_inbox_alone_and_a_boosted_visit_with_the_page(
    client: Any, billing: Queue, ben: User
) -> None:
    client.force_login(ben)
    poll = client.get(reverse("agent_workspace"), headers=HTMX).content.decode()
    page = client.get(reverse("agent_workspace"), headers=BOOSTED).content.decode()

    assert poll.lstrip().startswith('<div id="inbox"')
    assert "<html" not in poll
    assert 'id="capacity"' in poll and 'hx-swap-oob="true"' in poll  # the header's capacity
    assert "<html" in page and 'id="inbox"' in page
    # Live: the page opens the agent's stream and the inbox reloads on its events, never on a
    # timer (live.js polls only while the stream is lost).
    assert f'sse-connect="{reverse("agent_live")}?last_event_id=' in page
    assert 'hx-trigger="sse:offer, sse:handoff' in page and 'hx-trigger="every' not in page


def test_it_shows_capacity_as_held_of_total_across_queues(
    client: Any, billing: Queue, ben: User
) -> None:
    second = make_queue("second")
    QueueMembership.objects.create(queue=second, user=ben, capacity=2)
    assign_to(make_handoff(billing), ben)
    assign_to(make_handoff(second), ben)

    client.force_login(ben)
    html = client.get(reverse("agent_workspace")).content.decode()

    assert '<strong data-testid="capacity">2 of 5</strong>' in html


def test_it_shows_an_offer_with_its_countdown(client: Any, billing: Queue, ben: User) -> None:
    offer_to(make_handoff(billing), ben, seconds=45)

    html = inbox(client, ben)

    assert 'data-seconds-left="45"' in html or 'data-seconds-left="44"' in html
    assert "Accept" in html and "Decline" in html


def test_it_polls_the_inbox_with_a_constant_number_of_queries(
    client: Any, billing: Queue, ben: User
) -> None:
    desk = make_queue("desk", distribution="pick", assignment=None)
    QueueMembership.objects.create(queue=desk, user=ben, capacity=5)
    client.force_login(ben)
    offer_to(make_handoff(billing), ben)
    make_handoff(desk)
    url = reverse("agent_workspace")
    client.get(url, headers=HTMX)  # warm the session

    with CaptureQueriesContext(connection) as few:
        client.get(url, headers=HTMX)
    offer_to(make_handoff(billing), ben)
    assign_to(make_handoff(billing), ben)
    for _ in range(15):
        make_handoff(desk)
    for n in range(3):
        extra = make_queue(f"extra-{n}")
        QueueMembership.objects.create(queue=extra, user=ben, capacity=1)
        make_handoff(extra)
    with CaptureQueriesContext(connection) as many:
        html = client.get(url, headers=HTMX).content.decode()

    assert html.count('class="work offer"') == 2
    assert html.count('class="work assigned"') == 1
    # session, user, roles, the four reads of selectors_agent.agent_desk, and whatever the
    # layout's context processors read (the same on every page)
    assert len(many) == len(few) <= 9, [q["sql"] for q in many.captured_queries]


# -- actions ---------------------------------------------------------------------------------


def test_it_accepts_an_offer_and_opens_the_handoff(client: Any, billing: Queue, ben: User) -> None:
    handoff = offer_to(make_handoff(billing), ben)
    client.force_login(ben)

    response = client.post(reverse("agent_handoff_accept", kwargs={"pk": handoff.pk}))

    assert response.status_code == 302
    assert response["Location"] == reverse("agent_handoff", kwargs={"pk": handoff.pk})
    handoff.refresh_from_db()
    assert handoff.status == "assigned"
    assert held(ben, billing) == 1  # the offer's unit of capacity is now the assignment's
    assert event_types(handoff)[-1] == "assigned"


def test_it_declines_and_the_handoff_moves_on_to_another_agent(
    client: Any, after_commit: Any, billing: Queue, ben: User, otto: User
) -> None:
    handoff = offer_to(make_handoff(billing), ben)
    client.force_login(ben)

    with after_commit():
        response = client.post(
            reverse("agent_handoff_decline", kwargs={"pk": handoff.pk}), headers=HTMX
        )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="inbox"')
    assert "Declined" in html and str(handoff.pk) not in html
    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == ("offered", otto)
    assert held(ben, billing) == 0 and held(otto, billing) == 1
    assert "offer_declined" in event_types(handoff)


def test_it_resolves_with_a_wrap_up_note_and_frees_capacity_for_waiting_work(
    client: Any, after_commit: Any, billing: Queue, otto: User
) -> None:
    handoff = assign_to(make_handoff(billing), otto)
    waiting = make_handoff(billing)
    client.force_login(otto)

    with after_commit():
        response = client.post(
            reverse("agent_handoff_resolve", kwargs={"pk": handoff.pk}),
            {"wrap_up": "Refund issued."},
        )

    assert response.status_code == 302
    assert response["Location"] == reverse("agent_workspace")
    handoff.refresh_from_db()
    assert (handoff.status, handoff.wrap_up) == ("resolved", "Refund issued.")
    waiting.refresh_from_db()
    assert (waiting.status, waiting.agent) == ("offered", otto)  # refilled at once
    assert held(otto, billing) == 1


def test_it_transfers_to_another_queue_and_frees_capacity(
    client: Any, after_commit: Any, billing: Queue, ben: User
) -> None:
    vip = make_queue("vip", priority=1)
    handoff = assign_to(make_handoff(billing), ben)
    client.force_login(ben)

    with after_commit():
        response = client.post(
            reverse("agent_handoff_transfer", kwargs={"pk": handoff.pk}), {"queue": "vip"}
        )

    assert response.status_code == 302
    handoff.refresh_from_db()
    assert (handoff.status, handoff.queue, handoff.agent) == ("queued", vip, None)
    assert held(ben, billing) == 0
    transferred = handoff.events.get(type="transferred")
    assert transferred.detail["from"] == "billing" and transferred.detail["to"] == "vip"


def test_it_refuses_a_transfer_to_the_same_or_an_unknown_queue(
    client: Any, billing: Queue, ben: User
) -> None:
    handoff = assign_to(make_handoff(billing), ben)
    client.force_login(ben)
    url = reverse("agent_handoff_transfer", kwargs={"pk": handoff.pk})

    for queue in ("billing", "nope", ""):
        response = client.post(url, {"queue": queue})
        assert response.status_code == 200, queue  # the page again, with the error
        assert "errorlist" in response.content.decode()
    handoff.refresh_from_db()
    assert handoff.status == "assigned" and held(ben, billing) == 1


def test_it_tells_the_agent_when_the_offer_has_expired(
    client: Any, billing: Queue, ben: User
) -> None:
    handoff = offer_to(make_handoff(billing), ben, seconds=-1)
    client.force_login(ben)

    response = client.post(reverse("agent_handoff_accept", kwargs={"pk": handoff.pk}), headers=HTMX)

    assert "The offer has expired." in response.content.decode()
    handoff.refresh_from_db()
    assert handoff.status == "queued" and held(ben, billing) == 0


def test_it_releases_capacity_when_the_customer_cancels(
    client: Any, billing: Queue, ben: User
) -> None:
    from handoff.services.assignment import handoff_cancel

    handoff = assign_to(make_handoff(billing), ben)
    handoff_cancel(handoff=handoff)

    html = inbox(client, ben)

    assert str(handoff.pk) not in html
    assert '<strong data-testid="capacity">0 of 3</strong>' in html


def test_it_sets_presence_and_going_available_pulls_waiting_work(
    client: Any, after_commit: Any, billing: Queue, ben: User
) -> None:
    User.objects.filter(pk=ben.pk).update(presence="offline")
    waiting = make_handoff(billing)
    assert queue_fill(queue_id=billing.pk) == 0
    client.force_login(ben)

    with after_commit():
        response = client.post(reverse("agent_presence"), {"presence": "available"}, headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "inbox-changed"
    assert 'id="presence-available" class="presence-available current"' in (
        response.content.decode()
    )
    ben.refresh_from_db()
    assert ben.presence == "available"
    waiting.refresh_from_db()
    assert (waiting.status, waiting.agent) == ("offered", ben)


def test_it_withdraws_unanswered_offers_when_the_agent_goes_away(
    client: Any, billing: Queue, ben: User
) -> None:
    handoff = offer_to(make_handoff(billing), ben)
    client.force_login(ben)

    response = client.post(reverse("agent_presence"), {"presence": "away", "next": "//evil.test/"})

    assert response.status_code == 302 and response["Location"] == reverse("agent_workspace")
    handoff.refresh_from_db()
    assert handoff.status == "queued" and held(ben, billing) == 0


def test_it_takes_the_next_handoff_from_a_pick_queue(client: Any, ben: User) -> None:
    desk = make_queue("desk", distribution="pick", assignment=None)
    QueueMembership.objects.create(queue=desk, user=ben, capacity=1)
    first = make_handoff(desk, now=timezone.now() - timedelta(minutes=5))
    make_handoff(desk)
    client.force_login(ben)

    response = client.post(reverse("agent_take_next"), {"queue": "desk"})

    assert response.status_code == 302
    assert response["Location"] == reverse("agent_handoff", kwargs={"pk": first.pk})
    first.refresh_from_db()
    assert (first.status, first.agent) == ("assigned", ben)
    assert held(ben, desk) == 1

    again = client.post(reverse("agent_take_next"), {"queue": "desk"}, follow=True)
    assert "You are at capacity in Desk." in again.content.decode()
    assert held(ben, desk) == 1


def test_it_refuses_take_next_from_a_queue_the_agent_is_not_in(client: Any, ben: User) -> None:
    other = make_queue("other-desk", distribution="pick", assignment=None)
    make_handoff(other)
    client.force_login(ben)

    assert client.post(reverse("agent_take_next"), {"queue": "other-desk"}).status_code == 404


# -- the handoff page ------------------------------------------------------------------------


def test_it_shows_the_whole_story_with_only_what_agents_may_see(
    client: Any, billing: Queue, ben: User
) -> None:
    version = ConfigVersion.objects.create(number=1, document=DOCUMENT)
    handoff = make_handoff(
        billing,
        config_version=version,
        topic="refund",
        reason="requested_by_customer",
        rule="Refunds",
        customer={"name": "Carla Customer", "email": "carla@example.com", "phone": "+3312345"},
        variables={"order_number": "1234", "refund_reason": "Broken", "risk_score": 97},
        context={"OrderNumber": "1234", "Card": "************4242", "RiskScore": 97,
                 "Email": "carla@example.com"},
        transcript=[
            {"from": "customer", "text": "My parcel arrived broken", "at": "2026-11-25T10:00:05Z"},
            {"from": "bot", "text": "Order number?", "at": "2026-11-25T10:00:06Z"},
            {"from": "customer", "text": "1234"},
        ],
        agent_message="Refund for order 1234",
    )  # fmt: skip
    assign_to(handoff, ben)
    client.force_login(ben)

    html = client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk})).content.decode()

    # What the bot already asked, labelled by the context field or by its question.
    assert '<dt title="order_number">Order</dt>' in html
    assert '<dt title="refund_reason">Why do you want a refund?</dt>' in html
    assert "asked: “Order number?”" in html
    assert "<strong>Broken</strong>" in html
    # Context: labels, masked values, hidden fields (and their sources) left out.
    assert '<dt title="Card">Card number</dt>' in html and "************4242" in html
    assert "masked" in html
    assert "RiskScore" not in html and "Risk score" not in html and "risk_score" not in html
    assert "carla@example.com" not in html  # customer.email feeds a hidden field
    assert "+3312345" in html
    # The facts and the transcript, customer and bot turns told apart, with times.
    for fact in ("Web chat", "Refund", "The customer asked for a person", "rule “Refunds”"):
        assert fact in html, fact
    assert "Refund for order 1234" in html
    assert html.count('class="turn turn-customer"') == 2
    assert html.count('class="turn turn-bot"') == 1
    assert '<time datetime="2026-11-25T10:00:05+00:00"' in html
    assert "Resolve" in html and "Transfer" in html


def test_it_uses_the_version_the_handoff_was_routed_with(
    client: Any, billing: Queue, ben: User
) -> None:
    routed_with = ConfigVersion.objects.create(number=1, document=DOCUMENT)
    later = {**DOCUMENT, "context_fields": [
        {**f, "visible_to_agent": True, "label": f"New {f['label']}"}
        for f in DOCUMENT["context_fields"]
    ]}  # fmt: skip
    ConfigVersion.objects.create(number=2, document=later)
    handoff = assign_to(
        make_handoff(billing, config_version=routed_with, context={"RiskScore": 97}), ben
    )
    client.force_login(ben)

    html = client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk})).content.decode()

    assert "Risk score" not in html and "RiskScore" not in html


def test_it_reads_a_handoff_routed_with_the_draft_against_the_draft(
    client: Any, billing: Queue, ben: User
) -> None:
    # "Test your bot" routes with the draft configuration: such handoffs record no version.
    ContextField.objects.create(source="order_number", target="OrderNumber", label="Order")
    ContextField.objects.create(source="risk", target="Risk", label="Risk", visible_to_agent=False)
    handoff = make_handoff(
        billing,
        config_version=None,
        variables={"order_number": "A-9", "risk": "risk-value-7"},
        context={"OrderNumber": "A-9", "Risk": "risk-value-7"},
    )
    assign_to(handoff, ben)
    client.force_login(ben)

    html = client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk})).content.decode()

    assert '<dt title="OrderNumber">Order</dt>' in html
    assert "Risk" not in html and "risk-value-7" not in html


def test_it_reloads_the_handoff_status_on_events_so_a_cancelled_handoff_shows(
    client: Any, billing: Queue, ben: User
) -> None:
    from handoff.services.assignment import handoff_cancel

    handoff = assign_to(make_handoff(billing), ben)
    client.force_login(ben)
    url = reverse("agent_handoff", kwargs={"pk": handoff.pk})
    assert 'hx-trigger="sse:handoff' in client.get(url, headers=HTMX).content.decode()

    handoff_cancel(handoff=handoff)
    status = client.get(url, headers=HTMX).content.decode().strip()

    assert status.startswith('<span class="status status-cancelled"')
    assert "Cancelled" in status and "hx-get" not in status  # a closed handoff stops listening


def test_it_shows_offer_actions_on_an_offered_handoff(
    client: Any, billing: Queue, ben: User
) -> None:
    handoff = offer_to(make_handoff(billing), ben)
    client.force_login(ben)

    html = client.get(reverse("agent_handoff", kwargs={"pk": handoff.pk})).content.decode()

    assert reverse("agent_handoff_accept", kwargs={"pk": handoff.pk}) in html
    assert reverse("agent_handoff_resolve", kwargs={"pk": handoff.pk}) not in html

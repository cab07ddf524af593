"""The supervisor board: admins only, every queue's state and every agent's load, live."""

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff.models import QueueMembership, User
from tests.conftest import make_user
from tests.handoff.delivery_helpers import make_handoff, make_queue
from tests.portal.test_agent_workspace import HTMX, assign_to, offer_to

URL = "/supervisor/"


def test_it_is_for_admins_only(
    client: Any, admin_user: User, agent: User, maker: User, analyst: User, outsider: User
) -> None:
    assert reverse("supervisor_board") == URL
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for user in (agent, maker, analyst, outsider):
        client.force_login(user)
        assert client.get(URL).status_code == 403, user.username
    client.force_login(admin_user)
    assert client.get(URL).status_code == 200


def test_it_shows_queues_agents_offers_and_failures(client: Any, admin_user: User) -> None:
    billing = make_queue("billing")
    make_queue("hooks", delivery_kind="webhook", webhook_url="https://example.com/h")
    ben = make_user("ben", "agent", presence="available", first_name="Ben")
    ada = make_user("ada", "agent", presence="away", first_name="Ada")
    QueueMembership.objects.create(queue=billing, user=ben, capacity=3)
    QueueMembership.objects.create(queue=billing, user=ada, capacity=2)
    now = timezone.now()
    make_handoff(billing, now=now - timedelta(minutes=4, seconds=10))
    make_handoff(billing, now=now - timedelta(minutes=1))
    offer_to(make_handoff(billing, customer={"name": "Offered Olive"}), ben)
    assign_to(make_handoff(billing), ben)
    hooks = make_queue("hooks2", delivery_kind="webhook", webhook_url="https://example.com/x")
    make_handoff(
        hooks,
        status="failed",
        closed_at=now,
        last_error="HTTP 410 from receiver",
        customer={"name": "Failed Fred"},
    )
    client.force_login(admin_user)

    html = client.get(URL).content.decode()

    billing_row = html[
        html.index('data-queue="billing"') : html.index("</tr>", html.index('data-queue="billing"'))
    ]
    assert '<td data-label="Waiting" class="num hot">3</td>' in billing_row  # queued + offered
    assert "4 min 1" in billing_row  # longest wait, from the oldest waiting handoff
    assert '<td data-label="Assigned" class="num">1</td>' in billing_row
    assert '<td data-label="Free capacity" class="num">1</td>' in billing_row  # ben 3 - 2
    available = html[html.index('data-presence="available"') : html.index('data-presence="busy"')]
    away = html[html.index('data-presence="away"') : html.index('data-presence="offline"')]
    assert "Ben" in available and "2 of 3" in available
    assert "Ada" in away and "0 of 2" in away
    assert "Offered Olive" in html
    assert "Failed Fred" in html and "HTTP 410 from receiver" in html


def test_it_polls_its_board_with_a_constant_number_of_queries(
    client: Any, admin_user: User
) -> None:
    client.force_login(admin_user)
    queue = make_queue("billing")
    agent = make_user("a0", "agent", presence="available")
    QueueMembership.objects.create(queue=queue, user=agent, capacity=5)
    offer_to(make_handoff(queue), agent)
    client.get(URL, headers=HTMX)

    with CaptureQueriesContext(connection) as few:
        poll = client.get(URL, headers=HTMX).content.decode()
    for n in range(1, 5):
        more = make_queue(f"q{n}")
        member = make_user(f"a{n}", "agent", presence="available")
        QueueMembership.objects.create(queue=more, user=member, capacity=2)
        offer_to(make_handoff(more), member)
        make_handoff(more)
    with CaptureQueriesContext(connection) as many:
        client.get(URL, headers=HTMX)

    assert poll.lstrip().startswith('<div id="board"') and "<html" not in poll
    # session, user, roles, the five reads of selectors_agent.supervisor_board, and whatever
    # the layout's context processors read (the same on every page)
    assert len(many) == len(few) <= 10, [q["sql"] for q in many.captured_queries]

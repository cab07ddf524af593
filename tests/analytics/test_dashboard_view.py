import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.models import Bot, Channel, Handoff, Queue
from handoff.selectors import analytics
from tests.analytics.conftest import DAY, at, make_handoff
from tests.analytics.dataset import build

URL = "/analytics/"
RANGE = {"from": DAY.isoformat(), "to": (DAY + dt.timedelta(days=1)).isoformat()}


@pytest.fixture
def data(bot: Any, agent: Any) -> dict:
    return build(bot, agent)


def test_it_sends_anonymous_users_to_the_login_page(client: Any) -> None:
    for url in (URL, URL + "export.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("person", ["agent", "maker", "outsider"])
def test_it_refuses_other_roles(client: Any, request: Any, person: str) -> None:
    client.force_login(request.getfixturevalue(person))
    assert client.get(URL).status_code == 403
    assert client.get(URL + "export.csv").status_code == 403


@pytest.mark.parametrize("person", ["analyst", "admin_user"])
def test_it_shows_the_dashboard_to_analysts_and_admins(
    client: Any, request: Any, person: str
) -> None:
    client.force_login(request.getfixturevalue(person))
    response = client.get(URL)
    assert response.status_code == 200
    assert b"<svg" in response.content
    assert client.get(URL + "export.csv").status_code == 200


def test_it_renders_every_figure_with_its_table(client: Any, analyst: Any, data: dict) -> None:
    client.force_login(analyst)
    response = client.get(URL, RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    # Charts are inline SVG with a title; no script or stylesheet from elsewhere.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 7
    assert "Handoffs per day by outcome" in html
    assert "cdn" not in html.lower()
    board = response.context["board"]
    assert board.totals.total == 10
    # The per-day table holds the numbers of the stacked bars.
    assert 'id="table-over-time"' in html
    assert ">2026-11-18</td>" in html
    # The waits table: general's wait to accept p50 is 60 s, p90 84 s; resolution p50 10 min.
    assert "60 s" in html and "84 s" in html and "10 min" in html
    # Rates as percentages, and the failed delivery listed.
    assert "10.0 %" in html
    assert "HTTP 500 from the receiver" in html


def test_it_defaults_to_the_last_14_days(
    client: Any, analyst: Any, bot: Any, now_fixed: Any
) -> None:
    make_handoff(bot, created=at(-7, 1), status="queued")  # first day of the range
    make_handoff(bot, created=at(-8, 23), status="queued")  # the day before
    client.force_login(analyst)
    board = client.get(URL).context["board"]
    assert board.filters.start == DAY - dt.timedelta(days=7)
    assert board.filters.end == DAY + dt.timedelta(days=6)
    assert len(board.days) == 14
    assert board.totals.total == 1


def test_it_filters_from_the_query_string(client: Any, analyst: Any, data: dict) -> None:
    Channel.objects.create(key="sms", name="SMS", kind="sms")
    Queue.objects.create(key="billing", name="Billing")
    client.force_login(analyst)
    board = client.get(URL, {**RANGE, "channel": "sms", "queue": "billing"}).context["board"]
    assert board.totals.total == 2
    assert board.filters.channel == "sms" and board.filters.queue == "billing"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-13-01"}, "start", "Enter a valid date."),
        ({"to": "yesterday"}, "end", "Enter a valid date."),
        ({"from": "2026-11-20", "to": "2026-11-19"}, "end", "must not be before"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "end", "at most 366 days"),
        ({"channel": "no-such-channel"}, "channel", "Select a valid choice"),
    ],
)
def test_it_shows_field_errors_for_bad_filters(
    client: Any, analyst: Any, params: dict, field: str, message: str
) -> None:
    client.force_login(analyst)
    response = client.get(URL, params)
    assert response.status_code == 200
    form = response.context["form"]
    assert message in " ".join(form.errors[field])
    assert "board" not in response.context
    assert message in response.content.decode()


def bulk(bot: Bot, n: int) -> None:
    statuses = ["queued", "resolved", "rejected", "cancelled", "delivered", "failed"]
    rows = []
    for i in range(n):
        created = at(i % 2, 10, i % 60)
        status = statuses[i % len(statuses)]
        rows.append(
            Handoff(
                bot=bot,
                conversation_id=f"bulk-{i}",
                channel=["webchat", "sms"][i % 2],
                topic=f"topic-{i % 7}",
                rule=f"rule-{i % 5}",
                reason=f"reason-{i % 3}",
                queue_key=f"queue-{i % 4}",
                status=status,
                created_at=created,
                queued_at=created,
                offered_at=created + dt.timedelta(seconds=i % 30),
                assigned_at=created + dt.timedelta(seconds=i % 90)
                if status in ("resolved",)
                else None,
                closed_at=created + dt.timedelta(seconds=600),
            )
        )
    Handoff.objects.bulk_create(rows)


def count_queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, RANGE)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_it_runs_the_same_number_of_queries_for_10_or_500_handoffs(
    client: Any, analyst: Any, bot: Any
) -> None:
    client.force_login(analyst)
    bulk(bot, 10)
    few = count_queries(client)
    assert client.get(URL, RANGE).context["board"].totals.total == 10
    bulk_more = Bot.objects.create(key="more-bot", name="More")
    bulk(bulk_more, 490)
    assert client.get(URL, RANGE).context["board"].totals.total == 500
    assert count_queries(client) == few
    # Session, user, roles, the four filter choices, and the dashboard's own queries.
    assert few <= 8 + analytics.DASHBOARD_QUERIES

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handoff.selectors import analytics
from handoff.selectors.analytics import ALL_QUEUES, Filters
from tests.analytics.conftest import DAY, at, make_handoff
from tests.analytics.dataset import build


@pytest.fixture
def data(bot: Any, agent: Any) -> dict:
    return build(bot, agent)


def board(**filters: Any) -> analytics.Dashboard:
    params = {"start": DAY, "end": DAY + dt.timedelta(days=1), "tz": dt.UTC, **filters}
    return analytics.dashboard(Filters(**params))


def test_it_counts_every_outcome_and_the_rates(data: dict) -> None:
    totals = board().totals
    assert (totals.total, totals.waiting, totals.assigned, totals.resolved) == (10, 1, 1, 3)
    assert (totals.delivered, totals.rejected, totals.cancelled, totals.failed) == (1, 1, 2, 1)
    # h9 was cancelled after an agent accepted it: only h5 was abandoned.
    assert totals.abandoned == 1
    assert totals.rejection_rate == pytest.approx(0.1)
    assert totals.abandonment_rate == pytest.approx(0.1)


def test_it_has_no_rates_without_handoffs(db: Any) -> None:
    totals = board().totals
    assert totals.total == 0
    assert totals.rejection_rate is None and totals.abandonment_rate is None


def test_it_counts_outcomes_per_day_including_empty_days(data: dict) -> None:
    days = board(end=DAY + dt.timedelta(days=2)).days
    assert [d.day for d in days] == [DAY + dt.timedelta(days=n) for n in range(3)]
    assert days[0].counts == {
        "waiting": 0,
        "assigned": 1,
        "resolved": 3,
        "delivered": 0,
        "rejected": 1,
        "cancelled": 1,
        "failed": 0,
    }
    assert days[1].counts == {
        "waiting": 1,
        "assigned": 0,
        "resolved": 0,
        "delivered": 1,
        "rejected": 0,
        "cancelled": 1,
        "failed": 1,
    }
    assert days[2].total == 0


def test_it_groups_days_in_the_analysts_time_zone(bot: Any) -> None:
    # 20:00 UTC on DAY is 05:00 the next morning in Tokyo.
    make_handoff(bot, created=at(0, 20), status="queued")
    tokyo = board(tz=ZoneInfo("Asia/Tokyo"))
    assert [d.total for d in tokyo.days] == [0, 1]
    assert [d.total for d in board().days] == [1, 0]


def test_it_breaks_escalations_down_by_topic_rule_reason_and_channel(data: dict) -> None:
    b = board()
    assert [(x.key, x.count) for x in b.by_topic] == [("refund", 5), ("billing", 4), (None, 1)]
    assert [(x.key, x.count) for x in b.by_rule] == [("Refunds", 5), ("Billing", 4), (None, 1)]
    assert [(x.key, x.count) for x in b.by_reason] == [
        ("requested_by_customer", 9),
        ("not_understood", 1),
    ]
    assert [(x.key, x.count) for x in b.by_channel] == [("webchat", 7), ("sms", 3)]
    assert b.by_channel[0].share == pytest.approx(0.7)


def waits_of(b: analytics.Dashboard) -> dict[str, dict]:
    return {w.queue: w.values for w in b.waits}


def test_it_computes_wait_percentiles_per_queue_like_percentile_cont(data: dict) -> None:
    waits = waits_of(board())
    general = waits["general"]
    # Linear interpolation at rank (n-1)p: 10,20,30,40 -> p50 25, p90 30 + 0.7 * 10.
    assert general["wait_to_offer"] == {"n": 4, "p50": pytest.approx(25), "p90": pytest.approx(37)}
    assert general["wait_to_accept"] == {
        "n": 4,
        "p50": pytest.approx(60),
        "p90": pytest.approx(84),
    }
    # Resolution counts resolved handoffs only (h4 is still assigned).
    assert general["resolution"] == {"n": 3, "p50": pytest.approx(600), "p90": pytest.approx(840)}
    billing = waits["billing"]
    assert billing["wait_to_offer"] == {"n": 1, "p50": pytest.approx(10), "p90": pytest.approx(10)}
    assert billing["wait_to_accept"]["p50"] == pytest.approx(20)
    assert billing["resolution"] == {"n": 0, "p50": None, "p90": None}


def test_it_computes_the_percentiles_over_all_queues(data: dict) -> None:
    overall = waits_of(board())[ALL_QUEUES]
    # 10,10,20,30,40: rank 2 -> 20; rank 3.6 -> 30 + 0.6 * 10.
    assert overall["wait_to_offer"]["p50"] == pytest.approx(20)
    assert overall["wait_to_offer"]["p90"] == pytest.approx(36)
    assert overall["wait_to_accept"]["p50"] == pytest.approx(50)
    assert overall["wait_to_accept"]["p90"] == pytest.approx(82)
    assert overall["resolution"]["n"] == 3
    # The overall row comes last.
    assert board().waits[-1].queue == ALL_QUEUES


def test_it_lists_failed_deliveries(data: dict) -> None:
    failed = board().failed
    assert [f["id"] for f in failed] == [data["h8"].pk]
    assert failed[0]["last_error"] == "HTTP 500 from the receiver"


def test_it_filters_by_channel_queue_topic_bot_and_status(
    data: dict, other_bot: Any, agent: Any
) -> None:
    make_handoff(other_bot, created=at(0, 11), status="queued", channel="sms")
    assert board().totals.total == 11
    assert board(channel="sms").totals.total == 4
    assert board(queue="billing").totals.total == 4
    assert board(topic="refund").totals.total == 5
    assert board(bot="sales-bot").totals.total == 1
    assert board(bot="support-bot").totals.total == 10
    assert board(status="failed").totals.total == 1
    only_billing = waits_of(board(queue="billing"))
    assert set(only_billing) == {"billing", ALL_QUEUES}
    assert board(channel="sms", queue="billing").totals.total == 2


def test_it_keeps_to_the_date_range_with_both_ends_included(bot: Any) -> None:
    make_handoff(bot, created=at(-1, 23, 59, 59), status="queued")
    make_handoff(bot, created=at(0, 0), status="queued")
    make_handoff(bot, created=at(1, 23, 59, 59), status="queued")
    make_handoff(bot, created=at(2, 0), status="queued")
    assert board().totals.total == 2
    assert board(start=DAY, end=DAY).totals.total == 1


@pytest.mark.postgres
def test_it_matches_postgresql_percentile_cont(data: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        wait = "EXTRACT(EPOCH FROM assigned_at - queued_at)"
        cursor.execute(
            f"SELECT queue_key, percentile_cont(0.5) WITHIN GROUP (ORDER BY {wait}), "
            f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {wait}) "
            "FROM handoff_handoff WHERE assigned_at IS NOT NULL GROUP BY queue_key"
        )
        expected = {q: (float(p50), float(p90)) for q, p50, p90 in cursor.fetchall()}
    waits = waits_of(board())
    for queue, (p50, p90) in expected.items():
        assert waits[queue]["wait_to_accept"]["p50"] == pytest.approx(p50)
        assert waits[queue]["wait_to_accept"]["p90"] == pytest.approx(p90)


def test_it_cuts_days_at_local_midnight_across_a_dst_change(bot: Any) -> None:
    # Europe/Paris leaves summer time on 2026-10-25: that day has 25 hours.
    utc = dt.UTC
    for when in (
        dt.datetime(2026, 10, 24, 21, 30, tzinfo=utc),  # 23:30 CEST on the 24th
        dt.datetime(2026, 10, 24, 22, 30, tzinfo=utc),  # 00:30 CEST on the 25th
        dt.datetime(2026, 10, 25, 22, 30, tzinfo=utc),  # 23:30 CET on the 25th
        dt.datetime(2026, 10, 25, 23, 30, tzinfo=utc),  # 00:30 CET on the 26th
    ):
        make_handoff(bot, created=when, status="queued")
    paris = analytics.dashboard(
        Filters(start=dt.date(2026, 10, 24), end=dt.date(2026, 10, 26), tz=ZoneInfo("Europe/Paris"))
    )
    assert [d.total for d in paris.days] == [1, 2, 1]
    assert paris.totals.total == 4


def test_it_rounds_durations_to_the_second_before_taking_percentiles(bot: Any, agent: Any) -> None:
    t = at(0, 10)
    for accept in (10.4, 10.6):  # rounded: 10 and 11 -> p50 10.5, p90 10.9
        make_handoff(
            bot,
            created=t,
            status="resolved",
            assigned_at=t + dt.timedelta(seconds=accept),
            closed_at=t + dt.timedelta(seconds=100),
            agent=agent,
        )
    accept = waits_of(board())["general"]["wait_to_accept"]
    assert accept == {"n": 2, "p50": pytest.approx(10.5), "p90": pytest.approx(10.9)}


def test_it_computes_the_whole_dashboard_in_a_fixed_number_of_queries(data: dict) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        board()
    assert len(ctx.captured_queries) == analytics.DASHBOARD_QUERIES == 8

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.http import StreamingHttpResponse

from handoff.selectors.analytics import EXPORT_COLUMNS
from portal.views import analytics as views
from tests.analytics.conftest import DAY, at, make_handoff
from tests.analytics.dataset import build

URL = "/analytics/export.csv"
RANGE = {"from": DAY.isoformat(), "to": (DAY + dt.timedelta(days=1)).isoformat()}


@pytest.fixture
def data(bot: Any, agent: Any) -> dict:
    return build(bot, agent)


def read(response: Any) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(text)))


def test_it_streams_the_filtered_handoffs_as_csv(client: Any, analyst: Any, data: dict) -> None:
    client.force_login(analyst)
    response = client.get(URL, RANGE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="handoffs-2026-11-18-2026-11-19.csv"'
    )
    rows = read(response)
    assert len(rows) == 10
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    by_id = {r["id"]: r for r in rows}
    h1 = by_id[str(data["h1"].pk)]
    assert h1 == {
        "id": str(data["h1"].pk),
        "created_at": "2026-11-18T10:00:00+00:00",
        "bot": "support-bot",
        "channel": "webchat",
        "topic": "refund",
        "queue": "general",
        "rule": "Refunds",
        "reason": "requested_by_customer",
        "status": "resolved",
        "priority": "100",
        "queued_at": "2026-11-18T10:00:00+00:00",
        "offered_at": "2026-11-18T10:00:10+00:00",
        "assigned_at": "2026-11-18T10:00:30+00:00",
        "closed_at": "2026-11-18T10:05:30+00:00",
        "wait_to_accept_seconds": "30.000",
    }
    rejected = by_id[str(data["h6"].pk)]
    assert (rejected["topic"], rejected["rule"], rejected["queued_at"]) == ("", "", "")
    assert rejected["wait_to_accept_seconds"] == ""
    # Oldest first.
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)


def test_it_applies_the_dashboard_filters_to_the_export(
    client: Any, analyst: Any, data: dict
) -> None:
    client.force_login(analyst)
    rows = read(client.get(URL, {**RANGE, "status": "failed"}))
    assert [r["id"] for r in rows] == [str(data["h8"].pk)]
    assert read(client.get(URL, {"from": "2026-11-20", "to": "2026-11-21"})) == []


def test_it_keeps_microseconds_like_isoformat(client: Any, analyst: Any, bot: Any) -> None:
    created = at(0, 10).replace(microsecond=123456)
    make_handoff(bot, created=created, status="queued")
    client.force_login(analyst)
    (row,) = read(client.get(URL, RANGE))
    assert row["created_at"] == created.isoformat() == "2026-11-18T10:00:00.123456+00:00"


def test_it_refuses_bad_filters_with_400(client: Any, analyst: Any) -> None:
    client.force_login(analyst)
    response = client.get(URL, {"from": "not-a-date"})
    assert response.status_code == 400
    assert b"valid date" in response.content


def test_it_writes_rows_in_batches_without_holding_them(monkeypatch: Any) -> None:
    # The generator yields after every EXPORT_BATCH rows: a large export never sits in memory.
    monkeypatch.setattr(views, "EXPORT_BATCH", 2)
    row = ("id", "t", "bot", "c", None, "q", None, "r", "queued", 1, None, None, None, None, None)
    chunks = list(views.csv_lines(iter([row] * 5)))
    assert len(chunks) == 3  # header + 2 rows, 2 rows, the last row
    assert chunks[0].startswith("id,created_at,")
    assert sum(c.count("\n") for c in chunks) == 6


def test_it_reads_rows_from_a_server_side_iterator(analyst: Any, bot: Any) -> None:
    from handoff.selectors import analytics

    make_handoff(bot, created=at(0, 10), status="queued")
    rows = analytics.export_rows(analytics.Filters(start=DAY, end=DAY, tz=dt.UTC), chunk_size=2000)
    assert not isinstance(rows, list)  # an iterator, fetched in chunks of 2,000
    assert len(list(rows)) == 1

"""CSV files open in spreadsheets: text must never run as a formula (docs/security.md)."""

import csv
import datetime as dt
import io
from typing import Any

from django.http import StreamingHttpResponse

from handoff.models import Bot
from portal.csv_cells import safe_cell
from portal.views.analytics import csv_lines
from tests.analytics.conftest import DAY, at, make_handoff

URL = "/analytics/export.csv"
RANGE = {"from": DAY.isoformat(), "to": (DAY + dt.timedelta(days=1)).isoformat()}


def read(response: Any) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(text)))


def test_it_neutralises_cells_a_spreadsheet_would_run_as_formulas(
    client: Any, analyst: Any
) -> None:
    bot = Bot.objects.create(key="support-bot", name="Support bot")
    # Topics, reasons and rule names come from bots and makers: anything may be in them.
    cells = {
        "topic": '=HYPERLINK("https://evil.example","x")',
        "reason": "+cmd|' /C calc'!A0",
        "rule": "-2+3",
        "channel": "@SUM(A1)",
    }
    make_handoff(bot, created=at(0, 10), status="queued", priority=-5, **cells)
    make_handoff(bot, created=at(0, 11), status="queued", topic="\tTAB", rule="\rCR")
    client.force_login(analyst)
    first, second = read(client.get(URL, RANGE))
    assert {k: first[k] for k in cells} == {k: "'" + v for k, v in cells.items()}
    assert (second["topic"], second["rule"]) == ("'\tTAB", "'\rCR")
    # A number stays a number, negative or not: only text is neutralised.
    assert first["priority"] == "-5"
    assert first["bot"] == "support-bot"


def test_it_writes_numbers_as_numbers_and_text_that_looks_like_one_as_text() -> None:
    row = ("id", "t", "bot", "c", "-1", "q", "", "r", "queued", -3, None, None, None, None, -0.5)
    (chunk,) = csv_lines(iter([row]))
    line = chunk.splitlines()[1].split(",")
    assert (line[4], line[6], line[9], line[14]) == ("'-1", "", "-3", "-0.500")


def test_it_leaves_other_cells_alone() -> None:
    for value in ("refund", "a=b", "", " =x", "'quoted", 0, -1.5, None, "１＝"):
        assert safe_cell(value) == value

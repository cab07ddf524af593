"""Selectors for the analysts' dashboard: every figure is aggregated in the database.

`dashboard()` runs a fixed number of queries whatever the number of handoffs or days (the
tests assert it). Percentiles use one window-function query that works the same on SQLite
and PostgreSQL and gives PostgreSQL's `percentile_cont` over durations rounded to the second
(see `percentile_sql` and docs/analytics.md).
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Expression,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from handoff.models import Handoff

# The outcome of a handoff as the dashboard groups it. "waiting" is everything not yet with
# an agent or an external system (received, queued, offered).
OUTCOMES = ("waiting", "assigned", "resolved", "delivered", "rejected", "cancelled", "failed")
OUTCOME_OF_STATUS = {
    "received": "waiting",
    "queued": "waiting",
    "offered": "waiting",
    "assigned": "assigned",
    "resolved": "resolved",
    "delivered": "delivered",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "failed": "failed",
}
PERCENTILES = (50, 90)
# The wait metrics: (name, end timestamp, start timestamp, extra condition).
METRICS: tuple[tuple[str, str, str, Q], ...] = (
    ("wait_to_offer", "offered_at", "queued_at", Q()),
    ("wait_to_accept", "assigned_at", "queued_at", Q()),
    ("resolution", "closed_at", "assigned_at", Q(status="resolved")),
)
ALL_QUEUES = "*"  # the group key of the row over every queue (not a valid slug)
FAILED_LIST_LIMIT = 10
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "bot",
    "channel",
    "topic",
    "queue",
    "rule",
    "reason",
    "status",
    "priority",
    "queued_at",
    "offered_at",
    "assigned_at",
    "closed_at",
    "wait_to_accept_seconds",
)


@dataclass(frozen=True)
class Filters:
    """What the analyst asked for; `start` and `end` are whole days, both included."""

    start: dt.date
    end: dt.date
    channel: str = ""
    queue: str = ""
    topic: str = ""
    bot: str = ""
    status: str = ""
    tz: dt.tzinfo = field(default_factory=timezone.get_current_timezone)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=self.tz)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)


def default_range(today: dt.date, days: int = 14) -> tuple[dt.date, dt.date]:
    return today - dt.timedelta(days=days - 1), today


class Seconds(Func):
    """`end - start` in seconds as a float, NULL when either is NULL."""

    arity = 2
    template = "(EXTRACT(EPOCH FROM (%(expressions)s)))"
    arg_joiner = " - "

    def __init__(self, end: str, start: str, *, to_ms: bool = True) -> None:
        super().__init__(F(end), F(start), output_field=FloatField())
        self.to_ms = to_ms

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite stores datetimes as ISO text; julianday() parses it to fractional days, good
        # to about 0.1 ms at today's dates: rounding to the millisecond gives exact figures.
        days = "(julianday(%(expressions)s))"
        return self.as_sql(
            compiler,
            connection,
            template=f"ROUND({days} * 86400.0, 3)" if self.to_ms else f"({days} * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class SqliteLocalDay(Func):
    """The local date ('YYYY-MM-DD') of a UTC timestamp on SQLite, without a Python function.

    Django's TruncDate calls back into Python for every row on SQLite. Here the range's days
    are cut into runs with one UTC offset (a time zone changes offset a few times a year), and
    each run is `date(ts, '+offset seconds')`; a day that is not 24 hours long (the DST switch)
    is named outright.
    """

    output_field = CharField()

    def __init__(self, field_name: str, *, days: list[dt.date], tz: dt.tzinfo) -> None:
        super().__init__(F(field_name))
        self.runs: list[tuple[dt.datetime, str, str]] = []  # (end, "offset" | "date", value)
        for day in days:
            start = dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)
            end = dt.datetime.combine(
                day + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            ).astimezone(dt.UTC)
            if end - start != dt.timedelta(days=1):
                self.runs.append((end, "date", day.isoformat()))
                continue
            local = start.astimezone(tz).utcoffset() or dt.timedelta(0)
            offset = f"{int(local.total_seconds()):+d} seconds"
            if self.runs and self.runs[-1][1:] == ("offset", offset):
                self.runs[-1] = (end, "offset", offset)
            else:
                self.runs.append((end, "offset", offset))

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:  # type: ignore[override]
        column, column_params = compiler.compile(self.source_expressions[0])
        parts, params = [], []
        for end, kind, value in self.runs:
            then = f"date({column}, %s)" if kind == "offset" else "%s"
            parts.append(f"WHEN {column} < %s THEN {then}")
            params += [*column_params, connection.ops.adapt_datetimefield_value(end)]
            params += [*column_params, value] if kind == "offset" else [value]
        return f"(CASE {' '.join(parts)} ELSE NULL END)", params


PG_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US'


class IsoUtc(Func):
    """A timestamp as ISO-8601 text in UTC, made by the database (the export's hot path).

    SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: the same text as
    Python's isoformat() once the space is a 'T' and the offset is added.
    """

    output_field = CharField()
    template = "(REPLACE(%(expressions)s, ' ', 'T') || '+00:00')"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            # Like isoformat(), no fraction when it is zero.
            template=(
                f"(REPLACE(to_char(%(expressions)s AT TIME ZONE 'UTC', '{PG_ISO}'), '.000000', '')"
                " || '+00:00')"
            ),
            **extra,
        )


class UuidText(Func):
    """A UUID primary key as its usual dashed text, made by the database (the export)."""

    output_field = CharField()
    template = "CAST(%(expressions)s AS TEXT)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django keeps UUIDs on SQLite as 32 lower-case hex digits.
        sql, params = compiler.compile(self.source_expressions[0])
        pieces = [f"substr({sql}, {a}, {n})" for a, n in ((1, 8), (9, 4), (13, 4), (17, 4))]
        return " || '-' || ".join([*pieces, f"substr({sql}, 21)"]), list(params) * 5


def handoffs(filters: Filters) -> QuerySet[Handoff]:
    """The handoffs the filters select: created in the date range, in the analyst's zone."""
    qs = Handoff.objects.filter(created_at__gte=filters.since, created_at__lt=filters.until)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.queue:
        qs = qs.filter(queue_key=filters.queue)
    if filters.topic:
        qs = qs.filter(topic=filters.topic)
    if filters.bot:
        qs = qs.filter(bot__key=filters.bot)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by()


# -- the figures -----------------------------------------------------------------------------


@dataclass
class Totals:
    total: int = 0
    waiting: int = 0
    assigned: int = 0
    resolved: int = 0
    delivered: int = 0
    rejected: int = 0
    cancelled: int = 0
    failed: int = 0
    abandoned: int = 0  # cancelled before an agent accepted it

    @property
    def rejection_rate(self) -> float | None:
        return self.rejected / self.total if self.total else None

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned / self.total if self.total else None

    @property
    def rejection_percent(self) -> float | None:
        rate = self.rejection_rate
        return None if rate is None else rate * 100

    @property
    def abandonment_percent(self) -> float | None:
        rate = self.abandonment_rate
        return None if rate is None else rate * 100


def totals(qs: QuerySet[Handoff]) -> Totals:
    """One query: every outcome count, and abandonment (cancelled before assignment).

    COUNT(created_at) rather than COUNT(id): created_at is in the reporting index, id is not,
    and counting id would make SQLite read every row.
    """
    counts: dict[str, Any] = {"total": Count("*")}
    for outcome in OUTCOMES:
        statuses = [s for s, o in OUTCOME_OF_STATUS.items() if o == outcome]
        counts[outcome] = Count("created_at", filter=Q(status__in=statuses))
    counts["abandoned"] = Count(
        "created_at", filter=Q(status="cancelled", assigned_at__isnull=True)
    )
    row = qs.aggregate(**counts)
    return Totals(**{name: value or 0 for name, value in row.items()})


@dataclass
class DayRow:
    day: dt.date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def by_day(qs: QuerySet[Handoff], filters: Filters) -> list[DayRow]:
    """One query: handoffs created per day and status; days without any show as zeros."""
    local_day: Expression
    if connection.vendor == "sqlite":
        local_day = SqliteLocalDay("created_at", days=filters.days, tz=filters.tz)
    else:
        local_day = TruncDate("created_at", tzinfo=filters.tz)
    rows = qs.annotate(day=local_day).values("day", "status").annotate(n=Count("*")).order_by()
    days = {day: DayRow(day=day, counts=dict.fromkeys(OUTCOMES, 0)) for day in filters.days}
    for row in rows:
        day = row["day"]
        if isinstance(day, str):  # SqliteLocalDay gives 'YYYY-MM-DD' text
            day = dt.date.fromisoformat(day)
        if day in days:
            days[day].counts[OUTCOME_OF_STATUS.get(row["status"], "waiting")] += row["n"]
    return list(days.values())


@dataclass
class Slice:
    key: str | None
    count: int
    share: float

    @property
    def percent(self) -> float:
        return self.share * 100


def breakdown(qs: QuerySet[Handoff], field_name: str, *, limit: int = 20) -> list[Slice]:
    """One query: handoffs per value of `field_name`, largest first, at most `limit` rows."""
    rows = list(
        qs.values(field_name).annotate(n=Count("*")).order_by("-n", field_name)[: limit + 1]
    )
    total = sum(r["n"] for r in rows)
    if len(rows) > limit:
        # Beyond the limit: one more query would be needed for an exact "others" figure, so the
        # share is computed over the listed rows only and the table says so.
        rows = rows[:limit]
        total = sum(r["n"] for r in rows)
    return [
        Slice(key=r[field_name], count=r["n"], share=r["n"] / total if total else 0.0) for r in rows
    ]


@dataclass
class WaitRow:
    """Seconds; None where there is no sample. `queue` is ALL_QUEUES for the overall row."""

    queue: str
    values: dict[str, dict[str, float | None]]  # metric -> {"n", "p50", "p90"}


# Templates filled only with this module's constants and the ORM's own SQL (values are
# parameters): the metric rows, then their histogram, ranks and percentiles.
METRIC_SQL = "SELECT '{name}' AS m, s.queue_key AS g, ROUND(s.metric_v) AS v FROM ({sql}) s"
PERCENTILE_SQL = """
WITH hist AS (
  SELECT u.m, u.g, u.v, COUNT(*) AS c FROM ({union}) u GROUP BY u.m, u.g, u.v
  HAVING u.v IS NOT NULL
), h AS (
  SELECT m, g, v, c FROM hist
  UNION ALL SELECT m, '{all_queues}', v, SUM(c) FROM hist GROUP BY m, v
), w AS (
  SELECT h.m, h.g, h.v, h.c,
    SUM(h.c) OVER (PARTITION BY h.m, h.g ORDER BY h.v ROWS UNBOUNDED PRECEDING) AS cum,
    CAST(SUM(h.c) OVER (PARTITION BY h.m, h.g) AS BIGINT) AS n,
    LEAD(h.v) OVER (PARTITION BY h.m, h.g ORDER BY h.v) AS next_v
  FROM h
)
SELECT w.m, w.g, MAX(w.n) AS n, {cases} FROM w GROUP BY w.m, w.g
"""


def percentile_sql(qs: QuerySet[Handoff]) -> tuple[str, list[Any]]:
    """The SQL of the percentile query: per metric and queue, and over all queues, p50/p90.

    Each duration is rounded to the second and counted (a histogram, GROUP BY), so the window
    functions then run over a few thousand buckets instead of every handoff; this is what keeps
    the dashboard under a second at 100,000 handoffs on SQLite. Over the buckets a running
    SUM() gives each value's ranks, and the percentile interpolates linearly between the values
    at ranks floor((n-1)p) and the next one, exactly as PostgreSQL's percentile_cont does over
    the rounded durations. Integer division keeps floor() portable (SQLite has no FLOOR without
    its math extension, and PostgreSQL's CAST rounds).
    """
    parts: list[str] = []
    params: list[Any] = []
    for name, end, start, extra in METRICS:
        # Rounded to the second below, so the millisecond rounding is not needed.
        value: Expression = Seconds(end, start, to_ms=False)
        if extra:
            # A condition inside the value, not the WHERE clause: an indexed WHERE term
            # (status = ...) would lure SQLite away from the covering reporting index. The
            # NULLs it leaves are dropped with HAVING, once per bucket rather than per row.
            value = Case(When(extra, then=value), default=Value(None), output_field=FloatField())
        rows = qs.filter(**{f"{end}__isnull": False, f"{start}__isnull": False})
        rows = rows.annotate(metric_v=value)
        sql, sql_params = rows.values_list("queue_key", "metric_v").query.sql_with_params()
        # The metric names are constants of this module, not input; values are parameters.
        parts.append(METRIC_SQL.format(name=name, sql=sql))
        params.extend(sql_params)
    union = " UNION ALL ".join(parts)
    cases = []
    for p in PERCENTILES:
        lo = f"(((w.n - 1) * {p}) / 100)"
        frac = f"(((w.n - 1) * {p} - {lo} * 100) / 100.0)"
        # The bucket holding rank lo; rank lo + 1 is in the same bucket or the next one.
        upper = f"(CASE WHEN {lo} + 1 < w.cum THEN w.v ELSE COALESCE(w.next_v, w.v) END)"
        cases.append(
            f"SUM(CASE WHEN w.cum - w.c <= {lo} AND {lo} < w.cum "
            f"THEN w.v + ({upper} - w.v) * {frac} END) AS p{p}"
        )
    sql = PERCENTILE_SQL.format(union=union, all_queues=ALL_QUEUES, cases=", ".join(cases))
    return sql, params


def waits(qs: QuerySet[Handoff]) -> list[WaitRow]:
    """One query: p50/p90 of the wait to offer, the wait to accept and the resolution time."""
    sql, params = percentile_sql(qs)
    found: dict[str, dict[str, dict[str, float | None]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for metric, group, n, *values in cursor.fetchall():
            cell: dict[str, float | None] = {"n": n}
            for p, value in zip(PERCENTILES, values, strict=True):
                cell[f"p{p}"] = float(value) if value is not None else None
            found.setdefault(group, {})[metric] = cell
    empty = {"n": 0, **{f"p{p}": None for p in PERCENTILES}}
    rows = []
    for queue in sorted(found, key=lambda g: (g == ALL_QUEUES, g)):
        values = {name: found[queue].get(name, dict(empty)) for name, *_ in METRICS}
        rows.append(WaitRow(queue=queue, values=values))
    return rows


def failed_recent(qs: QuerySet[Handoff], limit: int = FAILED_LIST_LIMIT) -> list[dict[str, Any]]:
    rows = (
        qs.filter(status="failed")
        .order_by("-created_at")
        .values("id", "created_at", "queue_key", "channel", "last_error", "delivery_attempts")
    )
    return [dict(row) for row in rows[:limit]]


@dataclass
class Dashboard:
    filters: Filters
    totals: Totals
    days: list[DayRow]
    by_topic: list[Slice]
    by_rule: list[Slice]
    by_reason: list[Slice]
    by_channel: list[Slice]
    waits: list[WaitRow]
    failed: list[dict[str, Any]]


# The number of queries dashboard() runs, whatever the data (tests/analytics assert it).
DASHBOARD_QUERIES = 8


def dashboard(filters: Filters) -> Dashboard:
    qs = handoffs(filters)
    return Dashboard(
        filters=filters,
        totals=totals(qs),
        days=by_day(qs, filters),
        by_topic=breakdown(qs, "topic"),
        by_rule=breakdown(qs, "rule"),
        by_reason=breakdown(qs, "reason"),
        by_channel=breakdown(qs, "channel"),
        waits=waits(qs),
        failed=failed_recent(qs),
    )


# -- export ----------------------------------------------------------------------------------


def export_rows(filters: Filters, *, chunk_size: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The export's rows in EXPORT_COLUMNS order, streamed from a server-side cursor.

    The database turns ids and timestamps into text, so no Python object is built per cell.
    Text cells are as stored: the CSV writer (portal/csv_cells.py) quotes those a spreadsheet
    would run as formulas.
    """
    wait: Expression = Seconds("assigned_at", "queued_at")
    qs = (
        handoffs(filters)
        .annotate(
            wait_to_accept=wait,
            id_text=UuidText("id"),
            created_iso=IsoUtc("created_at"),
            queued_iso=IsoUtc("queued_at"),
            offered_iso=IsoUtc("offered_at"),
            assigned_iso=IsoUtc("assigned_at"),
            closed_iso=IsoUtc("closed_at"),
        )
        .order_by("created_at", "id")
        .values_list(
            "id_text",
            "created_iso",
            "bot__key",
            "channel",
            "topic",
            "queue_key",
            "rule",
            "reason",
            "status",
            "priority",
            "queued_iso",
            "offered_iso",
            "assigned_iso",
            "closed_iso",
            "wait_to_accept",
        )
    )
    return qs.iterator(chunk_size=chunk_size)

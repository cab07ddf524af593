"""The analysts' dashboard and its CSV export. Figures come from handoff/selectors/analytics.py."""

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from handoff.models import Bot, Channel, Handoff, Queue, Topic
from handoff.selectors import analytics
from portal import charts
from portal.csv_cells import safe_row
from portal.roles import ADMIN, ANALYST, has_role, role_required

MAX_DAYS = 366
FAILURES_URL_NAME = "failure_list"
EXPORT_BATCH = 500  # rows per chunk written to the response


class FilterForm(forms.Form):
    # "from" is a Python keyword: the fields are start/end, their inputs are named from/to.
    start = forms.DateField(label=gettext_lazy("From"), required=False)
    end = forms.DateField(label=gettext_lazy("To"), required=False)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False)
    queue = forms.ChoiceField(label=gettext_lazy("Queue"), required=False)
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), required=False)
    bot = forms.ChoiceField(label=gettext_lazy("Bot"), required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any")), *Handoff.Status.choices],
    )

    def __init__(self, data: Any, *, today: dt.date) -> None:
        super().__init__(data)
        self.today = today
        self.fields["start"].widget = forms.DateInput(attrs={"type": "date"})
        self.fields["end"].widget = forms.DateInput(attrs={"type": "date"})
        # One small query each: the filters offer what is configured now.
        for name, model in (("channel", Channel), ("queue", Queue), ("topic", Topic), ("bot", Bot)):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [
                ("", _("Any")),
                *model.objects.order_by("key").values_list("key", "name"),
            ]

    def add_prefix(self, field_name: str) -> str:
        # The inputs are named from/to in the HTML so that the URL reads naturally.
        return {"start": "from", "end": "to"}.get(field_name, field_name)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default_start, default_end = analytics.default_range(self.today)
        start = data.get("start") or default_start
        end = data.get("end") or default_end
        if "start" not in self.errors and "end" not in self.errors:
            if start > end:
                self.add_error("end", _("The end date must not be before the start date."))
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error(
                    "end", _("Choose at most %(days)d days at a time.") % {"days": MAX_DAYS}
                )
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> analytics.Filters:
        data = self.cleaned_data
        return analytics.Filters(
            start=data["start"],
            end=data["end"],
            channel=data.get("channel") or "",
            queue=data.get("queue") or "",
            topic=data.get("topic") or "",
            bot=data.get("bot") or "",
            status=data.get("status") or "",
            tz=timezone.get_current_timezone(),
        )


def _bind(request: HttpRequest) -> FilterForm:
    return FilterForm(request.GET, today=timezone.localdate())


OUTCOME_LABELS = {
    "waiting": gettext_lazy("Waiting"),
    "assigned": gettext_lazy("Assigned"),
    "resolved": gettext_lazy("Resolved"),
    "delivered": gettext_lazy("Delivered"),
    "rejected": gettext_lazy("Rejected"),
    "cancelled": gettext_lazy("Cancelled"),
    "failed": gettext_lazy("Failed"),
}
METRIC_LABELS = {
    "wait_to_offer": gettext_lazy("Wait to offer"),
    "wait_to_accept": gettext_lazy("Wait to accept"),
    "resolution": gettext_lazy("Resolution time"),
}


def _short(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return _("%(n)s s") % {"n": _short(seconds) if seconds < 10 else round(seconds)}
    if seconds < 7200:
        return _("%(n)s min") % {"n": _short(seconds / 60)}
    return _("%(n)s h") % {"n": _short(seconds / 3600)}


def _charts(board: analytics.Dashboard) -> dict[str, Any]:
    labels = [day.day.strftime("%m-%d") for day in board.days]
    outcome_series = [
        charts.Series(str(OUTCOME_LABELS[o]), [d.counts[o] for d in board.days], colour)
        for o, colour in zip(analytics.OUTCOMES, charts.PALETTE, strict=False)
    ]
    rejection = [(d.counts["rejected"] / d.total * 100) if d.total else None for d in board.days]
    queues = [w for w in board.waits if w.queue != analytics.ALL_QUEUES]
    wait_series = []
    for i, (metric, p) in enumerate(
        [("wait_to_accept", "p50"), ("wait_to_accept", "p90"), ("wait_to_offer", "p50")]
    ):
        wait_series.append(
            charts.Series(
                f"{METRIC_LABELS[metric]} {p}",
                [w.values[metric][p] for w in queues],
                charts.PALETTE[i],
            )
        )

    def breakdown(slices: list[analytics.Slice], title: str, colour: str) -> Any:
        items = [(s.key if s.key not in (None, "") else _("(none)"), s.count) for s in slices]
        return charts.horizontal_bars(items, title=title, colour=colour)

    return {
        "over_time": charts.stacked_bars(
            labels,
            outcome_series,
            title=_("Handoffs per day by outcome"),
            desc=_("Stacked bars; the table below has the numbers."),
        ),
        "rejection": charts.line_chart(
            labels,
            [charts.Series(_("Rejected (%)"), rejection, charts.PALETTE[4])],
            title=_("Rejection rate per day"),
            fmt=lambda v: f"{v:.0f} %",
            top=100,
        ),
        "waits": charts.grouped_bars(
            [w.queue for w in queues],
            wait_series,
            title=_("Waiting time per queue"),
            fmt=duration,
            steps=charts.TIME_STEPS,
        ),
        "by_topic": breakdown(board.by_topic, _("By topic"), charts.PALETTE[0]),
        "by_rule": breakdown(board.by_rule, _("By rule"), charts.PALETTE[1]),
        "by_reason": breakdown(board.by_reason, _("By reason"), charts.PALETTE[2]),
        "by_channel": breakdown(board.by_channel, _("By channel"), charts.PALETTE[3]),
    }


def _overall(board: analytics.Dashboard) -> dict[str, str] | None:
    row = next((w for w in board.waits if w.queue == analytics.ALL_QUEUES), None)
    if row is None:
        return None
    return {
        "accept_p50": duration(row.values["wait_to_accept"]["p50"]),
        "accept_p90": duration(row.values["wait_to_accept"]["p90"]),
        "resolution_p50": duration(row.values["resolution"]["p50"]),
        "resolution_p90": duration(row.values["resolution"]["p90"]),
    }


def _failures_url(user: Any) -> str:
    """The failures list (docs/portal-admin.md), when it exists and this user may open it."""
    try:
        url = reverse(FAILURES_URL_NAME)
    except NoReverseMatch:
        return ""
    allowed = getattr(resolve(url).func, "allowed_roles", ())
    return url if has_role(user, *allowed) else ""


@role_required(ADMIN, ANALYST)
@require_GET
def analytics_index(request: HttpRequest) -> HttpResponse:
    form = _bind(request)
    context: dict[str, Any] = {"form": form, "outcomes": OUTCOME_LABELS}
    if form.is_valid():
        board = analytics.dashboard(form.filters())
        query = {k: v for k, v in request.GET.items() if v}
        failed_query = urlencode({**query, "status": "failed"})
        context.update(
            board=board,
            charts=_charts(board),
            breakdowns=[
                (_("Topic"), board.by_topic),
                (_("Rule"), board.by_rule),
                (_("Reason"), board.by_reason),
                (_("Channel"), board.by_channel),
            ],
            wait_rows=[
                {
                    "queue": w.queue,
                    "all": w.queue == analytics.ALL_QUEUES,
                    "cells": [
                        (
                            w.values[m]["n"],
                            duration(w.values[m]["p50"]),
                            duration(w.values[m]["p90"]),
                        )
                        for m in METRIC_LABELS
                    ],
                }
                for w in board.waits
            ],
            metrics=METRIC_LABELS,
            overall=_overall(board),
            failures_url=_failures_url(request.user),
            export_query=urlencode(query),
            failed_query=failed_query,
        )
    return render(request, "analytics/index.html", context)


def csv_lines(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """CSV text in chunks of EXPORT_BATCH rows: few, large writes stream fastest.

    The rows come formatted from the database (handoff/selectors/analytics.py
    `export_rows`); the csv module writes None as an empty cell, so only the wait needs
    formatting here, after the text cells are made safe for spreadsheets (the wait is a
    number, even when negative).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(analytics.EXPORT_COLUMNS)
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        cells = safe_row(row)
        wait = cells[-1]
        batch.append(cells if wait is None else (*cells[:-1], f"{wait:.3f}"))
        if len(batch) == EXPORT_BATCH:
            writer.writerows(batch)
            batch.clear()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(batch)
    yield buffer.getvalue()


@role_required(ADMIN, ANALYST)
@require_GET
@never_cache
def analytics_export(request: HttpRequest) -> HttpResponseBase:
    form = _bind(request)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(map(str, e))}" for name, e in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    response = StreamingHttpResponse(
        csv_lines(analytics.export_rows(filters)), content_type="text/csv; charset=utf-8"
    )
    name = f"handoffs-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

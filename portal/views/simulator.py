"""The simulator: a handoff request run against the draft or the published configuration,
through the same validation and engine as the API, storing nothing.

Makers and admins use it to test before publishing; analysts may run it too, since it changes
nothing and reads only configuration they may already read (docs/publishing.md).
"""

import json
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from handoff.config.document import latest_version
from handoff.models import Bot, Channel, Topic
from handoff.selectors.simulation import DRAFT, PUBLISHED, simulation_config
from portal.roles import CONFIG_READERS, role_required
from portal.simulation import parse_body, simulate, simulate_compare
from portal.views._common import AuthedRequest

VARIABLE_TYPES = ("text", "number", "boolean", "null")
SPEAKERS = ("customer", "bot", "system")
REASONS = ("requested_by_customer", "topic_transfer", "not_understood", "bot_error")
CUSTOMER_KEYS = ("id", "name", "email", "phone")
RUNS = (DRAFT, PUBLISHED, "compare")


def _choices() -> dict[str, list[str]]:
    """Keys to suggest, from the draft tables and the published version."""
    published = latest_version()
    doc = published.document if published else {}

    def keys(rows: Any, section: str) -> list[str]:
        found = set(rows.values_list("key", flat=True))
        found |= {item.get("key") for item in doc.get(section, []) if isinstance(item, dict)}
        return sorted(k for k in found if isinstance(k, str))

    return {
        "channels": keys(Channel.objects, "channels"),
        "topics": keys(Topic.objects, "topics"),
        "bots": keys(Bot.objects, "bots"),
    }


def _variable(kind: str, raw: str) -> Any:
    """A typed bot variable from a form row; ValueError names what is wrong."""
    if kind == "null":
        return None
    if kind == "number":
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            value = float(text)  # raises ValueError for non-numbers
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text) from None
            return value
    if kind == "boolean":
        word = raw.strip().lower()
        if word in ("true", "yes", "1"):
            return True
        if word in ("false", "no", "0"):
            return False
        raise ValueError(raw)
    return raw


def compose_body(post: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The API request body from the compose form, and the rows it could not read."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "conversation_id": post.get("conversation_id", "").strip() or "simulator",
        "channel": post.get("channel", "").strip(),
    }
    for name in ("topic", "locale", "reason", "agent_message"):
        value = post.get(name, "").strip()
        if value:
            body[name] = value
    customer = {k: post.get(f"customer_{k}", "").strip() for k in CUSTOMER_KEYS}
    customer = {k: v for k, v in customer.items() if v}
    if customer:
        body["customer"] = customer
    variables: dict[str, Any] = {}
    rows = zip(
        post.getlist("var_name"), post.getlist("var_type"), post.getlist("var_value"), strict=False
    )
    for name, kind, raw in rows:
        name = name.strip()
        if not name:
            continue
        try:
            variables[name] = _variable(kind, raw)
        except ValueError:
            errors[f"var:{name}"] = _("“%(value)s” is not a %(type)s.") % {
                "value": raw,
                "type": kind,
            }
    if variables:
        body["variables"] = variables
    transcript = []
    for line in post.get("transcript", "").splitlines():
        if not line.strip():
            continue
        speaker, sep, text = line.partition(":")
        if sep and speaker.strip().lower() in SPEAKERS:
            transcript.append({"from": speaker.strip().lower(), "text": text.strip()})
        else:
            transcript.append({"from": "customer", "text": line.strip()})
    if transcript:
        body["transcript"] = transcript
    return body, errors


def _rows(post: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    names, kinds, values = (post.getlist(n) for n in ("var_name", "var_type", "var_value"))
    return [
        {"name": n, "type": t, "value": v, "error": errors.get(f"var:{n.strip()}", "")}
        for n, t, v in zip(names, kinds, values, strict=False)
        if n.strip() or v.strip()
    ]


def _when(raw: str) -> tuple[datetime | None, str | None]:
    if not raw:
        return None, None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None, _("Enter a date and time such as 2026-12-24 18:30.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed, None


@role_required(*CONFIG_READERS)
@require_http_methods(["GET", "POST"])
def simulator(request: AuthedRequest) -> HttpResponse:
    post = request.POST
    choices = _choices()
    context: dict[str, Any] = {
        "choices": choices,
        "reasons": REASONS,
        "variable_types": VARIABLE_TYPES,
        "values": post if request.method == "POST" else {},
        "mode": post.get("mode", "compose"),
        "bot": post.get("bot") or (choices["bots"][0] if choices["bots"] else ""),
        "form_errors": {},
    }
    # Start from a channel the bot may use, so that the first run routes rather than 403s.
    context["default_channel"] = Channel.objects.filter(
        bots__key=context["bot"], enabled=True
    ).order_by("key").values_list("key", flat=True).first() or (
        choices["channels"][0] if choices["channels"] else ""
    )
    if request.method == "POST":
        context.update(_run(post, context["mode"], context["bot"]))
    context["rows"] = _rows(post, context["form_errors"]) or [
        {"name": "", "type": "text", "value": "", "error": ""}
    ]
    template = "portal/simulator/index.html"
    if request.htmx and request.method == "POST":
        template += "#workspace"
    return render(request, template, context)


def _run(post: Any, mode: str, bot_key: str) -> dict[str, Any]:
    run = post.get("run") if post.get("run") in RUNS else DRAFT
    out: dict[str, Any] = {"run": run, "form_errors": {}}
    now, when_error = _when(post.get("at", "").strip())
    if when_error:
        out["form_errors"]["at"] = when_error
    if mode == "json":
        body, parse_error = parse_body(post.get("body", ""))
    else:
        body, row_errors = compose_body(post)
        parse_error = None
        out["form_errors"].update(row_errors)
    if out["form_errors"]:
        return out
    out["body_json"] = (
        json.dumps(body, indent=2, ensure_ascii=False) if parse_error is None else None
    )
    if parse_error is not None:
        out["parse_error"] = {"error": parse_error}
        return out
    if run == "compare":
        out["comparison"] = simulate_compare(body, bot_key=bot_key, now=now)
        return out
    config = simulation_config(target=run)
    out["result"] = simulate(body, config=config, target=run, bot_key=bot_key, now=now)
    return out


@role_required(*CONFIG_READERS)
@require_GET
def simulator_variable_row(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "portal/simulator/_variable_row.html",
        {"row": {"name": "", "type": "text", "value": ""}, "variable_types": VARIABLE_TYPES},
    )

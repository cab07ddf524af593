"""The hand-built data set every figure is checked against (answers worked out in the tests)."""

import datetime as dt
from typing import Any

from handoff.models import Bot, Handoff, User
from tests.analytics.conftest import at, make_handoff


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def build(bot: Bot, agent: User) -> dict[str, Handoff]:
    """Ten handoffs over two days in two queues, with waits that make round percentiles."""
    refund: dict[str, Any] = {
        "topic": "refund",
        "rule": "Refunds",
        "reason": "requested_by_customer",
        "agent": agent,
    }
    billing: dict[str, Any] = {
        "topic": "billing",
        "rule": "Billing",
        "reason": "requested_by_customer",
        "queue_key": "billing",
        "queue_name": "Billing",
    }
    h: dict[str, Handoff] = {}
    t = at(0, 10)
    # general: waits to offer 10/20/30/40 s, to accept 30/50/70/90 s, resolution 300/600/900 s.
    for name, offer, accept, resolve in (
        ("h1", 10, 30, 300),
        ("h2", 20, 50, 600),
        ("h3", 30, 70, 900),
    ):
        h[name] = make_handoff(
            bot,
            created=t,
            status="resolved",
            offered_at=t + s(offer),
            assigned_at=t + s(accept),
            closed_at=t + s(accept + resolve),
            **refund,
        )
    h["h4"] = make_handoff(
        bot, created=t, status="assigned", offered_at=t + s(40), assigned_at=t + s(90), **refund
    )
    # Abandoned: the customer left before anyone accepted.
    h["h5"] = make_handoff(
        bot, created=t, status="cancelled", closed_at=t + s(120), **{**refund, "agent": None}
    )
    h["h6"] = make_handoff(
        bot,
        created=t,
        status="rejected",
        channel="sms",
        reason="not_understood",
        closed_at=t,
        message="We are closed.",
    )
    t = at(1, 9)
    h["h7"] = make_handoff(
        bot, created=t, status="delivered", channel="sms", closed_at=t + s(5), **billing
    )
    h["h8"] = make_handoff(
        bot,
        created=t,
        status="failed",
        channel="sms",
        closed_at=t + s(60),
        last_error="HTTP 500 from the receiver",
        delivery_attempts=7,
        **billing,
    )
    # Cancelled after an agent accepted: cancelled, but not abandoned.
    h["h9"] = make_handoff(
        bot,
        created=t,
        status="cancelled",
        offered_at=t + s(10),
        assigned_at=t + s(20),
        closed_at=t + s(60),
        agent=agent,
        **billing,
    )
    h["h10"] = make_handoff(bot, created=t, status="queued", **billing)
    return h

"""Routing engine time per decision with 10, 100 and 1,000 rules (not a test).

Run: `SECRET_KEY=x .venv/bin/python bench/routing.py`. The worst case is measured: no rule
matches, so every rule is evaluated and explained before the fallback queue takes the handoff.
Target: 1,000 rules under 1 ms per decision, cost growing no faster than linearly.
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "bench")

from handoff.engine.routing import QueueState, decide

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def snapshot(rule_count: int) -> dict:
    queues = [
        {
            "key": "general",
            "name": "General",
            "priority": 100,
            "fallback": True,
            "hours": None,
            "max_waiting": None,
            "overflow": None,
        },
        {
            "key": "billing",
            "name": "Billing",
            "priority": 10,
            "fallback": False,
            "hours": {
                "timezone": "Europe/Paris",
                "weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                "closed_dates": ["2026-12-25"],
            },
            "max_waiting": 50,
            "overflow": {
                "when_closed": {"action": "reject", "message": "Closed.", "queue": None},
                "when_full": {"action": "transfer", "queue": "general", "message": None},
                "max_wait_seconds": 600,
            },
        },
    ]
    fields = [
        {"source": "order", "target": "Order", "type": "text", "transform": "trim"},
        {"source": "amount", "target": "Amount", "type": "number"},
        {"source": "vip", "target": "Vip", "type": "boolean"},
        {"source": "card", "target": "Card", "type": "text", "transform": "mask_keep_last4"},
        {
            "source": "customer.email",
            "target": "Email",
            "type": "text",
            "transform": "redact_email",
        },
    ]
    ops = [
        ("topic", "eq", "topic-{i}"),
        ("context.Amount", "gt", None),
        ("variables.plan", "in", ["plan-{i}", "other-{i}"]),
        ("customer.email", "starts_with", "x{i}"),
        ("locale", "matches", r"^zz-{i}$"),
    ]
    rules = []
    for i in range(rule_count):
        field, op, template = ops[i % len(ops)]
        value: object
        if template is None:
            value = 10_000 + i
        elif isinstance(template, list):
            value = [v.format(i=i) for v in template]
        else:
            value = template.format(i=i)
        rules.append(
            {
                "name": f"Rule {i}",
                "order": i,
                "enabled": i % 50 != 7,
                "conditions": {
                    "all": [
                        {"field": field, "op": op, "value": value},
                        {"field": "channel", "op": "eq", "value": "webchat"},
                    ]
                },
                "queue": "billing",
                "priority": None,
                "require_skills": {},
                "agent_message": "Order {context.Order}",
            }
        )
    return {"queues": queues, "context_fields": fields, "rules": rules}


REQUEST = {
    "conversation_id": "conv-1",
    "channel": "webchat",
    "topic": "billing",
    "topics": ["greeting", "billing"],
    "locale": "en-US",
    "reason": "requested_by_customer",
    "customer": {"id": "c1", "name": "Alice", "email": "alice@example.com"},
    "variables": {
        "order": " A-1234 ",
        "amount": "250.40",
        "vip": "yes",
        "card": "4111111111111111",
        "plan": "gold",
    },
    "transcript": [
        {"from": "customer", "text": "My card 4111111111111111 was charged twice"},
        {"from": "bot", "text": "Let me get someone."},
    ],
    "agent_message": "Customer is upset.",
}
STATES = {"billing": QueueState(waiting=3, longest_wait_seconds=42.0)}


def per_decision_us(snap: dict, seconds: float = 1.0) -> tuple[float, float]:
    decide(snap, REQUEST, bot_key="bot", queue_states=STATES, now=NOW)  # compile and warm up
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(20):
            decide(snap, REQUEST, bot_key="bot", queue_states=STATES, now=NOW)
        samples.append((time.perf_counter() - start) / 20 * 1e6)
    return statistics.median(samples), min(samples)


def measure(counts: tuple[int, ...] = (10, 100, 1000)) -> dict[int, tuple[float, float]]:
    """Median and best microseconds per decision for each rule count (bench/intake.py may
    import this to print the routing figures in the same run)."""
    return {count: per_decision_us(snapshot(count)) for count in counts}


def main() -> None:
    print(f"{'rules':>6} {'median µs/decision':>20} {'best µs':>10} {'µs per rule':>12}")
    results = {}
    for count, (median, best) in measure().items():
        results[count] = median
        print(f"{count:>6} {median:>20.1f} {best:>10.1f} {median / count:>12.3f}")
    growth = (results[1000] - results[100]) / (results[100] - results[10])
    print(f"cost from 100 to 1,000 rules grew {growth:.1f}x the cost from 10 to 100 (linear: 10x)")
    verdict = "PASS" if results[1000] < 1000 else "MISS"
    print(f"1,000 rules: {results[1000] / 1000:.3f} ms per decision (target < 1 ms): {verdict}")


if __name__ == "__main__":
    main()

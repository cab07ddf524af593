"""A small configuration with topics of every node type, for the conversation runtime tests."""

import copy
from typing import Any

from handoff.config.snapshot import forget_published_snapshots
from handoff.config.validation import validate_document
from handoff.crypto import new_api_key
from handoff.models import ApiKey, Bot, Channel, ConfigVersion, Queue


def queue(key: str, name: str, *, fallback: bool = False, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": name, "fallback": fallback, **extra}


DOCUMENT: dict[str, Any] = {
    "format": "handoff-portal/config",
    "version": 1,
    "channels": [
        {"key": "webchat", "name": "Web chat", "kind": "webchat"},
        {"key": "sms", "name": "SMS", "kind": "sms"},
        {"key": "email", "name": "Email", "kind": "email", "enabled": False},
    ],
    "queues": [
        queue("general", "General", fallback=True),
        queue("returns", "Returns"),
        queue("payments", "Payments"),
    ],
    "bots": [{"key": "support-bot", "name": "Support bot", "channels": ["webchat"]}],
    "topics": [
        {
            "key": "refund",
            "name": "Refund",
            "trigger_phrases": ["refund", "money back"],
            "nodes": [
                {
                    "id": "ask-order",
                    "type": "question",
                    "prompt": "What is the order number?",
                    "variable": "order_number",
                },
                {
                    "id": "ask-amount",
                    "type": "question",
                    "prompt": "How much should be refunded?",
                    "variable": "refund_amount",
                    "value_type": "number",
                },
                {
                    "id": "check",
                    "type": "condition",
                    "variable": "refund_amount",
                    "op": "gte",
                    "value": 500,
                    "goto": "big",
                },
                {
                    "id": "small",
                    "type": "message",
                    "text": "Refund of {variables.refund_amount} ok.",
                },
                {"id": "done", "type": "end"},
                {
                    "id": "big",
                    "type": "transfer",
                    "agent_message": (
                        "Refund {variables.refund_amount} for {variables.order_number}"
                    ),
                    "reason": "topic_transfer",
                },
            ],
        },
        {
            "key": "payment-problem",
            "name": "Payment problem",
            "trigger_phrases": ["payment failed", "card declined"],
            "nodes": [
                {
                    "id": "method",
                    "type": "question",
                    "prompt": "How did you pay?",
                    "variable": "payment_method",
                    "value_type": "choice",
                    "choices": ["card", "paypal", "gift card"],
                },
                {
                    "id": "again",
                    "type": "question",
                    "prompt": "Did you try again?",
                    "variable": "retried",
                    "value_type": "boolean",
                },
                {
                    "id": "mail",
                    "type": "question",
                    "prompt": "Your email?",
                    "variable": "email",
                    "value_type": "email",
                },
                {
                    "id": "phone",
                    "type": "question",
                    "prompt": "Your phone?",
                    "variable": "phone",
                    "value_type": "phone",
                },
                {"id": "handoff", "type": "transfer", "agent_message": "", "reason": ""},
            ],
        },
        {
            "key": "store-hours",
            "name": "Opening hours",
            "trigger_phrases": ["opening hours"],
            "nodes": [
                {"id": "hours", "type": "message", "text": "We open at 9."},
                {"id": "done", "type": "end"},
            ],
        },
    ],
    "context_fields": [
        {"source": "order_number", "target": "OrderNumber", "transform": "upper"},
        {"source": "refund_amount", "target": "RefundAmount", "type": "number"},
    ],
    "rules": [
        {
            "name": "Refunds",
            "order": 1,
            "conditions": {"all": [{"field": "topic", "op": "eq", "value": "refund"}]},
            "queue": "returns",
            "agent_message": "Order {context.OrderNumber}",
        },
        {
            "name": "Payments",
            "order": 2,
            "conditions": {"all": [{"field": "topic", "op": "eq", "value": "payment-problem"}]},
            "queue": "payments",
        },
    ],
}


def document() -> dict[str, Any]:
    """The canonical (validated) document: system topics added, defaults filled in."""
    doc, errors = validate_document(copy.deepcopy(DOCUMENT))
    assert not errors, errors
    return doc


def publish(doc: dict[str, Any] | None = None) -> ConfigVersion:
    """Store the rows the document names and publish it as the next version."""
    doc = doc or document()
    for q in doc["queues"]:
        Queue.objects.get_or_create(
            key=q["key"], defaults={"name": q["name"], "is_fallback": q["fallback"]}
        )
    for c in doc["channels"]:
        Channel.objects.get_or_create(
            key=c["key"], defaults={"name": c["name"], "kind": c["kind"], "enabled": c["enabled"]}
        )
    for b in doc["bots"]:
        bot, _ = Bot.objects.get_or_create(key=b["key"], defaults={"name": b["name"]})
        bot.channels.set(Channel.objects.filter(key__in=b["channels"]))
    last = ConfigVersion.objects.order_by("-number").first()
    # Snapshots are cached by row id, and ids come back after a test's rollback.
    forget_published_snapshots()
    return ConfigVersion.objects.create(number=(last.number + 1) if last else 1, document=doc)


def bot_key(bot: Bot) -> str:
    key, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=bot, prefix=prefix, hashed=hashed, name="test")
    return key

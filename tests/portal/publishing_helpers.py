"""A small configuration shared by the versions, simulator, transfer and audit tests."""

import copy
from typing import Any

from handoff.config.document import import_document


def queue(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key.title(),
        "priority": 50,
        "distribution": "pick",
        "assignment": None,
        "fallback": False,
        **extra,
    }


DOCUMENT: dict[str, Any] = {
    "format": "handoff-portal/config",
    "version": 1,
    "channels": [
        {"key": "webchat", "name": "Web chat", "kind": "webchat"},
        {"key": "sms", "name": "SMS", "kind": "sms", "enabled": False},
        {"key": "teams", "name": "Teams", "kind": "teams"},
    ],
    "queues": [
        queue("general", fallback=True),
        queue("billing", priority=10),
        queue(
            "closed",
            hours={"timezone": "UTC", "weekly": {}, "closed_dates": []},
            overflow={"when_closed": {"action": "reject", "message": "We are closed."}},
        ),
    ],
    "bots": [{"key": "support-bot", "name": "Support bot", "channels": ["webchat", "sms"]}],
    "topics": [
        {
            "key": "billing",
            "name": "Billing",
            "trigger_phrases": ["invoice"],
            "nodes": [{"id": "handoff", "type": "transfer", "agent_message": ""}],
        },
    ],
    "context_fields": [
        {
            "source": "account_id",
            "target": "AccountId",
            "type": "text",
            "required": True,
            "label": "Account",
        },
        {"source": "tier", "target": "Tier", "type": "text", "label": "Tier"},
        {
            "source": "card",
            "target": "CardNumber",
            "type": "text",
            "transform": "mask_keep_last4",
            "label": "Card",
        },
        {
            "source": "secret_note",
            "target": "SecretNote",
            "type": "text",
            "visible_to_agent": False,
        },
    ],
    "rules": [
        {
            "name": "VIP billing",
            "order": 1,
            "conditions": {
                "all": [
                    {"field": "topic", "op": "eq", "value": "billing"},
                    {"field": "context.Tier", "op": "in", "value": ["gold"]},
                ]
            },
            "queue": "billing",
            "priority": 1,
            "agent_message": "VIP {context.AccountId}",
        },
        {
            "name": "After hours",
            "order": 2,
            "conditions": {"all": [{"field": "variables.after_hours", "op": "eq", "value": True}]},
            "queue": "closed",
        },
    ],
}


def document() -> dict[str, Any]:
    return copy.deepcopy(DOCUMENT)


def load(*, publish: bool = True, doc: dict[str, Any] | None = None) -> None:
    import_document(doc or document(), publish=publish, note="fixture")


def body(**extra: Any) -> dict[str, Any]:
    """A valid API request body for DOCUMENT that matches "VIP billing"."""
    return {
        "conversation_id": "c-1",
        "channel": "webchat",
        "topic": "billing",
        "variables": {"account_id": "A-42", "tier": "gold", "card": "4111111111111111"},
        **extra,
    }

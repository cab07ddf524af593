import copy
import json
from typing import Any

import pytest
from django.test import Client

from handoff.crypto import new_api_key
from handoff.models import ApiKey, Bot, Channel, ConfigVersion, Queue

DOCUMENT: dict[str, Any] = {
    "format": "handoff-portal/config",
    "version": 1,
    "channels": [
        {"key": "webchat", "name": "Web chat", "kind": "webchat", "enabled": True},
        {"key": "teams", "name": "Teams", "kind": "teams", "enabled": True},
        {"key": "sms", "name": "SMS", "kind": "sms", "enabled": False},
        {"key": "whatsapp", "name": "WhatsApp", "kind": "whatsapp", "enabled": True},
    ],
    "queues": [
        {
            "key": "billing",
            "name": "Billing",
            "priority": 10,
            "distribution": "push",
            "assignment": "round_robin",
            "max_waiting": None,
            "offer_timeout_seconds": 60,
            "fallback": False,
            "hours": None,
            "overflow": None,
            "delivery": {"kind": "agents"},
            "skill_matching": "none",
            "skill_relax_after_seconds": None,
            "members": [],
        },
        {
            "key": "closed",
            "name": "Closed desk",
            "priority": 20,
            "distribution": "push",
            "assignment": "round_robin",
            "max_waiting": None,
            "offer_timeout_seconds": 60,
            "fallback": False,
            "hours": {"timezone": "UTC", "weekly": {}, "closed_dates": []},
            "overflow": {
                "when_closed": {"action": "reject", "message": "We are closed.", "queue": None},
                "when_full": None,
                "max_wait_seconds": None,
            },
            "delivery": {"kind": "agents"},
            "skill_matching": "none",
            "skill_relax_after_seconds": None,
            "members": [],
        },
        {
            "key": "general",
            "name": "General",
            "priority": 100,
            "distribution": "push",
            "assignment": "round_robin",
            "max_waiting": None,
            "offer_timeout_seconds": 60,
            "fallback": True,
            "hours": None,
            "overflow": None,
            "delivery": {"kind": "agents"},
            "skill_matching": "none",
            "skill_relax_after_seconds": None,
            "members": [],
        },
    ],
    "skills": [],
    "agents": [],
    "bots": [
        {
            "key": "support-bot",
            "name": "Support bot",
            "channels": ["webchat", "sms", "whatsapp"],
            "status_callback_url": None,
        },
        {
            "key": "other-bot",
            "name": "Other bot",
            "channels": ["webchat"],
            "status_callback_url": None,
        },
    ],
    "topics": [
        {"key": "billing", "name": "Billing question", "trigger_phrases": ["invoice"], "nodes": []},
        {"key": "after-hours", "name": "After hours", "trigger_phrases": [], "nodes": []},
        {"key": "escalate", "name": "Escalate", "trigger_phrases": [], "nodes": []},
        {"key": "fallback", "name": "Fallback", "trigger_phrases": [], "nodes": []},
    ],
    "context_fields": [
        {
            "source": "order_number",
            "target": "OrderNumber",
            "type": "text",
            "required": False,
            "default": None,
            "transform": "trim",
            "max_length": 40,
            "visible_to_agent": True,
            "label": "Order",
        },
        {
            "source": "card",
            "target": "Card",
            "type": "text",
            "required": False,
            "default": None,
            "transform": "mask_keep_last4",
            "max_length": None,
            "visible_to_agent": True,
            "label": "Card",
        },
    ],
    "rules": [
        {
            "name": "Billing",
            "order": 1,
            "enabled": True,
            "conditions": {"all": [{"field": "topic", "op": "eq", "value": "billing"}]},
            "queue": "billing",
            "priority": None,
            "require_skills": {},
            "agent_message": "Order {context.OrderNumber}",
        },
        {
            "name": "After hours",
            "order": 2,
            "enabled": True,
            "conditions": {"all": [{"field": "topic", "op": "eq", "value": "after-hours"}]},
            "queue": "closed",
            "priority": None,
            "require_skills": {},
            "agent_message": "",
        },
    ],
}


def publish(document: dict[str, Any], number: int | None = None) -> ConfigVersion:
    last = ConfigVersion.objects.order_by("-number").first()
    return ConfigVersion.objects.create(
        number=number or ((last.number + 1) if last else 1), document=document
    )


@pytest.fixture
def document() -> dict[str, Any]:
    return copy.deepcopy(DOCUMENT)


@pytest.fixture
def published(db: Any, document: dict[str, Any]) -> ConfigVersion:
    for q in document["queues"]:
        Queue.objects.create(
            key=q["key"], name=q["name"], priority=q["priority"], is_fallback=q["fallback"]
        )
    for c in document["channels"]:
        Channel.objects.create(key=c["key"], name=c["name"], kind=c["kind"], enabled=c["enabled"])
    for b in document["bots"]:
        Bot.objects.create(key=b["key"], name=b["name"])
    return publish(document)


class BotClient:
    """A bot calling the API with its key, as a real HTTP client would."""

    def __init__(self, bot: Bot, key: str):
        self.bot = bot
        self.key = key
        self.client = Client()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body or {})
        return self.client.post(
            path, data=data, content_type="application/json", headers=self.headers(headers)
        )

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers())


def make_key(bot: Bot) -> str:
    key, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=bot, prefix=prefix, hashed=hashed, name="test")
    return key


@pytest.fixture
def bot_client(published: ConfigVersion) -> BotClient:
    bot = Bot.objects.get(key="support-bot")
    return BotClient(bot, make_key(bot))


@pytest.fixture
def other_bot_client(published: ConfigVersion) -> BotClient:
    bot = Bot.objects.get(key="other-bot")
    return BotClient(bot, make_key(bot))

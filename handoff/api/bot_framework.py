"""Translate a Bot Framework `handoff.initiate` activity into a handoff body (docs/api.md)."""

import json
from typing import Any

from handoff.config.snapshot import Snapshot

# Bot Framework channel ids that name a channel kind of ours.
CHANNEL_KINDS = {
    "msteams": "teams",
    "directline": "webchat",
    "webchat": "webchat",
    "emulator": "webchat",
    "sms": "sms",
    "twilio-sms": "sms",
    "facebook": "facebook",
    "whatsapp": "whatsapp",
    "email": "email",
    "telephony": "voice",
}
SYSTEM_KEYS = {
    "va_LastTopic",
    "va_Topics",
    "va_LastPhrases",
    "va_LastPhrase",
    "va_Phrases",
    "va_ConversationId",
    "va_AgentMessage",
    "va_BotId",
    "va_Language",
    "va_Scope",
    "reason",
}
ROLES = {"user": "customer", "bot": "bot", "skill": "bot"}


def _channel_key(channel_id: str, snapshot: Snapshot | None) -> str:
    if snapshot is None or channel_id in snapshot.channels:
        return channel_id
    kind = CHANNEL_KINDS.get(channel_id.lower(), channel_id.lower())
    for key in sorted(snapshot.channels):
        if snapshot.channels[key].get("kind") == kind:
            return key
    return channel_id


def _topic_key(name: Any, snapshot: Snapshot | None) -> str | None:
    if not isinstance(name, str) or not name or snapshot is None:
        return None
    if name in snapshot.topics:
        return name
    topic = snapshot.topics_by_name.get(name.casefold())
    return topic["key"] if topic else None


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, ensure_ascii=False)[:4000]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, str) and value:
        return [value]
    return []


def _transcript(raw_attachments: Any) -> list[dict[str, Any]] | None:
    if not isinstance(raw_attachments, list):
        return None
    for attachment in raw_attachments:
        if not isinstance(attachment, dict) or attachment.get("name") != "Transcript":
            continue
        content = attachment.get("content")
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except ValueError:
                return None
        activities = content.get("activities") if isinstance(content, dict) else None
        if not isinstance(activities, list):
            return None
        turns = []
        for activity in activities:
            if not isinstance(activity, dict) or activity.get("type", "message") != "message":
                continue
            text = activity.get("text")
            if not isinstance(text, str):
                continue
            sender = activity.get("from")
            if not isinstance(sender, dict):
                sender = {}
            turn: dict[str, Any] = {
                "from": ROLES.get(str(sender.get("role", "bot")).lower(), "system"),
                "text": text[:4000],
            }
            if isinstance(activity.get("timestamp"), str):
                turn["at"] = activity["timestamp"]
            turns.append(turn)
        return turns[-1000:]
    return None


def _account(raw: Any) -> dict[str, str]:
    """A Bot Framework ChannelAccount's id and name, unless it is the bot's."""
    if not isinstance(raw, dict) or str(raw.get("role") or "user").lower() in ("bot", "skill"):
        return {}
    return {
        part: str(raw[part])[:200]
        for part in ("id", "name")
        if isinstance(raw.get(part), (str, int))
        and not isinstance(raw[part], bool)
        and raw[part] != ""
    }


def _customer(raw: dict[str, Any]) -> dict[str, str]:
    # Copilot Studio names the customer in relatesTo.user (the conversation the handoff is
    # about); a bot that sends the event on the customer's behalf, in from.
    relates_to = raw.get("relatesTo")
    user = relates_to.get("user") if isinstance(relates_to, dict) else None
    return _account(user) or _account(raw.get("from"))


def translate(
    activity: dict[str, Any], raw: dict[str, Any], snapshot: Snapshot | None
) -> tuple[dict[str, Any], str | None]:
    """(the handoff body, the topic name when it matches no topic of ours)."""
    value = activity.get("value") or {}
    last_topic = value.get("va_LastTopic")
    topic = _topic_key(last_topic, snapshot)
    body: dict[str, Any] = {
        "conversation_id": activity["conversation"]["id"],
        "channel": _channel_key(activity["channelId"], snapshot),
        "topic": topic,
        "topics": [_topic_key(t, snapshot) or t for t in _as_list(value.get("va_Topics"))],
        "reason": str(value.get("reason") or "bot_framework")[:200],
        "variables": {
            str(k)[:100]: _scalar(v) for k, v in value.items() if k not in SYSTEM_KEYS and k
        },
    }
    customer = _customer(raw)
    if customer:
        body["customer"] = customer
    if isinstance(value.get("va_Language"), str) and value["va_Language"]:
        body["locale"] = value["va_Language"]
    if isinstance(value.get("va_AgentMessage"), str) and value["va_AgentMessage"]:
        body["agent_message"] = value["va_AgentMessage"][:1000]
    transcript = _transcript(raw.get("attachments"))
    if transcript is None:
        phrases = _as_list(value.get("va_Phrases")) or _as_list(
            value.get("va_LastPhrases") or value.get("va_LastPhrase")
        )
        transcript = [{"from": "customer", "text": p[:4000]} for p in phrases]
    body["transcript"] = transcript
    topic_name = last_topic if topic is None and isinstance(last_topic, str) else None
    return body, topic_name

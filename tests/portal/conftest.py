from typing import Any

import pytest

from handoff.crypto import new_api_key
from handoff.models import ApiKey, Bot, Channel, Queue, User


@pytest.fixture
def channel(db: Any) -> Channel:
    return Channel.objects.create(key="webchat", name="Web chat", kind="webchat")


@pytest.fixture
def fallback_queue(db: Any) -> Queue:
    return Queue.objects.create(key="general", name="General", is_fallback=True)


@pytest.fixture
def bot(channel: Channel) -> Bot:
    bot = Bot.objects.create(key="support-bot", name="Support bot")
    bot.channels.add(channel)
    return bot


@pytest.fixture
def api_key(bot: Bot) -> ApiKey:
    _plain, prefix, hashed = new_api_key()
    return ApiKey.objects.create(bot=bot, prefix=prefix, hashed=hashed, name="old")


def login(client: Any, user: User) -> Any:
    client.force_login(user)
    return client


def field_error(response: Any, field_id: str) -> str:
    """The error list rendered beside the field with this HTML id ('' when there is none)."""
    import re

    html = response.content.decode()
    match = re.search(rf'<ul class="errorlist"[^>]*id="{field_id}_error">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from handoff.config.document import audit
from handoff.crypto import new_api_key
from handoff.models import ApiKey, Bot


def bot_key_create(*, bot: Bot, name: str = "", user: Any = None) -> str:
    """Store a new API key for `bot` (its hash only) and return the key, shown once."""
    key, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=bot, name=name, prefix=prefix, hashed=hashed, created_by=user)
    audit(
        user=user,
        action="create",
        object_type="api_key",
        object_key=prefix,
        detail={"bot": bot.key},
    )
    return key


class Command(BaseCommand):
    help = "Create an API key for a bot and print it once, alone on the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("bot_key", help="the bot's key")
        parser.add_argument("--name", default="", help="a label for the key, such as its owner")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(key=options["bot_key"]).first()
        if bot is None:
            raise CommandError(f'unknown bot "{options["bot_key"]}"')
        key = bot_key_create(bot=bot, name=options["name"])
        self.stdout.write(f"API key for bot {bot.key} (shown once; only its hash is stored):")
        self.stdout.write(key)

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from handoff.models import Bot
from handoff.services.portal_config import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a bot and print it once, alone on the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("bot_key", help="the bot's key")
        parser.add_argument("--name", default="", help="a label for the key, such as its owner")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(key=options["bot_key"]).first()
        if bot is None:
            raise CommandError(f'unknown bot "{options["bot_key"]}"')
        _api_key, key = api_key_create(user=None, bot=bot, name=options["name"])
        self.stdout.write(f"API key for bot {bot.key} (shown once; only its hash is stored):")
        self.stdout.write(key)

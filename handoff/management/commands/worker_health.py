from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Exit 0 when at least one Celery worker answers a ping (for monitors and systemd "
        "watchdogs); the same as `celery -A portal inspect ping`. Needs a broker with remote "
        "control (Redis or RabbitMQ; not the embedded SQLite broker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=2.0)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            replies = current_app.control.ping(timeout=options["timeout"]) or []
        except Exception as exc:
            raise CommandError(f"broker unreachable: {exc}") from exc
        if not replies:
            raise CommandError("no worker answered")
        for reply in replies:
            for name in reply:
                self.stdout.write(f"{name}: ok")

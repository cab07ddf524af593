from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from handoff.services.retention import handoffs_purge_expired


class Command(BaseCommand):
    help = (
        "Purge transcripts, context and messages of handoffs closed longer ago than "
        "HANDOFF_RETENTION_DAYS (the periodic task does this every hour)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Override HANDOFF_RETENTION_DAYS for this run (0 purges nothing).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.HANDOFF_RETENTION_DAYS if options["days"] is None else options["days"]
        if days <= 0:
            self.stdout.write("Retention is off (0 days): nothing purged.")
            return
        count = handoffs_purge_expired(days=days)
        self.stdout.write(f"Purged {count} handoffs closed more than {days} days ago.")

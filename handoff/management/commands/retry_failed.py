from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from handoff.errors import Conflict
from handoff.models import Handoff
from handoff.services.webhooks import failed_deliveries, handoff_retry_delivery


class Command(BaseCommand):
    help = (
        "List handoffs whose delivery failed (--list, the default without ids) or retry them: "
        "give their ids, or --all."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("ids", nargs="*", help="ids of failed handoffs to retry")
        parser.add_argument("--list", action="store_true", help="list failed deliveries")
        parser.add_argument("--all", action="store_true", help="retry every failed delivery")

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[str] = options["ids"]
        if options["all"]:
            ids = [str(pk) for pk in failed_deliveries().values_list("pk", flat=True)]
        elif not ids or options["list"]:
            self._list()
            return
        retried = 0
        for handoff_id in ids:
            try:
                with transaction.atomic():
                    handoff_retry_delivery(handoff_id=handoff_id, user=None)
            except (Handoff.DoesNotExist, ValidationError):
                raise CommandError(f"unknown handoff {handoff_id}") from None
            except Conflict as exc:
                raise CommandError(f"{handoff_id}: {exc}") from None
            retried += 1
            self.stdout.write(f"retrying {handoff_id}")
        self.stdout.write(f"{retried} handoff(s) queued for delivery again")

    def _list(self) -> None:
        rows = failed_deliveries()
        if not rows:
            self.stdout.write("no failed deliveries")
            return
        for h in rows:
            closed = h.closed_at.isoformat(timespec="seconds") if h.closed_at else "-"
            self.stdout.write(
                f"{h.pk}  {h.queue_key}  attempts={h.delivery_attempts}  failed_at={closed}  "
                f"{h.last_error[:120]}"
            )

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from handoff.config.document import ConfigDocumentError, import_document


class Command(BaseCommand):
    help = "Replace the draft configuration with a config document (all or nothing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help='the JSON document, or "-" for standard input')
        parser.add_argument("--publish", action="store_true", help="publish it as a new version")
        parser.add_argument(
            "--create-users",
            action="store_true",
            help="create members and agents that do not exist yet (inactive)",
        )
        parser.add_argument("--note", default="", help="a note for the audit log and version")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as e:
            raise CommandError(f"cannot read {name}: {e.strerror}") from e
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise CommandError(f"(document): invalid JSON at line {e.lineno}: {e.msg}") from e
        try:
            result = import_document(
                doc,
                create_users=options["create_users"],
                publish=options["publish"],
                note=options["note"] or f"import_config {name}",
            )
        except ConfigDocumentError as e:
            for error in e.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(e.errors)} error(s) in {name}; nothing was changed") from e
        self.stdout.write(
            f"Imported {name}: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.deleted)} deleted."
        )
        if result.created_users:
            self.stdout.write("Created inactive users: " + ", ".join(result.created_users))
        if result.version is not None:
            self.stdout.write(f"Published version {result.version.number}.")

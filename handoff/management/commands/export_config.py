from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from handoff.config.document import export_document, render_document


class Command(BaseCommand):
    help = "Write the draft configuration as a config document (without secrets or API keys)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        text = render_document(export_document())
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")

import json
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from handoff.config.document import (
    ConfigDocumentError,
    config_publish,
    export_document,
    import_document,
    latest_version,
)
from handoff.config.validation import validate_document
from handoff.models import Bot, User
from handoff.services.portal_config import api_key_create

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "retail.json"
DEMO_BOT = "retail-bot"
PORTAL_URL = "http://127.0.0.1:8000/"
# username -> role (group); the password is "<username>-demo".
DEMO_USERS = {
    "admin": "admin",
    "maker": "maker",
    "analyst": "analyst",
    "agent1": "agent",
    "agent2": "agent",
}
NOTE = "Demo configuration (load_demo)"


def demo_document() -> dict:
    return json.loads(DEMO_FILE.read_text(encoding="utf-8"))


class Command(BaseCommand):
    help = "Load the retail demo: users, configuration (published) and a fresh bot key."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="replace the draft with the demo even when it was changed since",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                self.ensure_users()
                self.load_config(reset=options["reset"])
                bot = Bot.objects.filter(key=DEMO_BOT).first()
                key = api_key_create(user=None, bot=bot, name="load_demo")[1] if bot else None
        except ConfigDocumentError as e:
            for error in e.errors:
                self.stderr.write(str(error))
            raise CommandError(
                "the demo configuration was not loaded (its webhook queue posts to "
                "http://127.0.0.1:8009: run with HANDOFF_WEBHOOK_ALLOW_PRIVATE=1)"
            ) from e

        self.stdout.write("")
        self.stdout.write(f"Portal: {PORTAL_URL}")
        self.stdout.write("Demo web chat: http://127.0.0.1:8000/webchat/")
        self.stdout.write("")
        self.stdout.write(f"  {'login':<10} {'password':<16} role")
        for username, role in DEMO_USERS.items():
            self.stdout.write(f"  {username:<10} {username + '-demo':<16} {role}")
        self.stdout.write("")
        if key is None:
            self.stdout.write(f'No bot "{DEMO_BOT}" in the configuration: no key created.')
            return
        self.stdout.write(f"API key for bot {DEMO_BOT} (Authorization: Bearer <key>):")
        self.stdout.write(key)

    def ensure_users(self) -> None:
        for username, role in DEMO_USERS.items():
            user = User.objects.filter(username=username).first() or User(username=username)
            user.is_active = True
            # Known passwords are the point of a demo; resetting them keeps them known.
            user.set_password(f"{username}-demo")
            user.save()
            user.groups.add(Group.objects.get(name=role))

    def load_config(self, *, reset: bool) -> None:
        doc = demo_document()
        demo, errors = validate_document(doc)
        if errors:
            raise ConfigDocumentError(errors)
        draft = export_document()
        # Never overwrite someone's work: import only into an empty or unchanged-demo draft.
        untouched = draft == demo or (latest_version() is None and not draft["queues"])
        if reset or untouched:
            if draft != demo:
                import_document(doc, note=NOTE)
                self.stdout.write("Loaded the demo configuration.")
        else:
            self.stdout.write(
                "The draft configuration differs from the demo: kept it "
                "(load_demo --reset replaces it)."
            )
            return
        latest = latest_version()
        if latest is None or latest.document != export_document():
            version = config_publish(note=NOTE)
            self.stdout.write(f"Published configuration version {version.number}.")

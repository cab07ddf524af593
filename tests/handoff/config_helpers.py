"""Shared by the config document, command and demo tests."""

import copy
import json
from typing import Any

from django.apps import apps

from handoff.config.document import export_document
from handoff.management.commands.load_demo import demo_document
from handoff.models import Queue
from tests.conftest import make_user


def demo_doc() -> dict:
    return copy.deepcopy(demo_document())


def demo_agents() -> None:
    for name in ("agent1", "agent2"):
        make_user(name, "agent")


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("handoff").get_models()
    return {m.__name__: m._default_manager.count() for m in models}


def snapshot() -> tuple[str, dict[str, int], list[tuple[str, str]]]:
    """What "the database is exactly as it was" means in these tests."""
    secrets = sorted(Queue.objects.values_list("key", "webhook_secret"))
    return json.dumps(export_document(), sort_keys=True), row_counts(), secrets


def render(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.name == "handoff":
        # Imported here: handoff.roles imports models, which cannot load before the app registry.
        from handoff.roles import ensure_roles

        ensure_roles()


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, dispatch_uid="portal-ensure-roles")

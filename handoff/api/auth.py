"""Bots authenticate with `Authorization: Bearer <key>`; keys are stored only as SHA-256."""

import hmac
from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from handoff.crypto import hash_api_key, key_prefix
from handoff.models import ApiKey, Bot
from handoff.selectors.api_keys import KeyRow, active_key

# Writing last_used_at on every request would make every handoff pay an extra write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class BotKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Bot, KeyRow] | None:
        """(the bot, its key row); the row also holds the latest published version's stamp,
        read in the same query (handoff/selectors/api_keys.py)."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise exceptions.AuthenticationFailed("Use the header Authorization: Bearer <key>.")
        key = parts[1]
        # Read on every request, so that a revoked key stops working at once.
        row = active_key(key_prefix(key))
        # Compare the hash even when no row matched, so timing does not tell which prefixes exist.
        expected = row.api_key.hashed if row else "0" * 64
        if not hmac.compare_digest(expected, hash_api_key(key)) or row is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        last_used_at = row.api_key.last_used_at
        if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=row.api_key.pk).update(last_used_at=now)
        return row.bot, row

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class IsBot(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.user, Bot):
            raise exceptions.NotAuthenticated("Send your bot key: Authorization: Bearer <key>.")
        return True


class BotKeyScheme(OpenApiAuthenticationExtension):
    """Documents the bearer key in the OpenAPI schema."""

    target_class = "handoff.api.auth.BotKeyAuthentication"
    name = "botKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A bot's API key (hp_…), created in the portal or with "
            "`manage.py create_bot_key`.",
        }

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

# Writing last_used_at on every request would make every handoff pay an extra write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class BotKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Bot, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise exceptions.AuthenticationFailed("Use the header Authorization: Bearer <key>.")
        key = parts[1]
        api_key = (
            ApiKey.objects.select_related("bot")
            .filter(prefix=key_prefix(key), revoked_at__isnull=True)
            .first()
        )
        # Compare the hash even when no row matched, so timing does not tell which prefixes exist.
        expected = api_key.hashed if api_key else "0" * 64
        if not hmac.compare_digest(expected, hash_api_key(key)) or api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key.bot, api_key

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

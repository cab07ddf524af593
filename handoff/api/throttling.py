from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from handoff.models import ApiKey


class PerKeyThrottle(SimpleRateThrottle):
    """HANDOFF_API_RATE per API key (docs/api.md); DRF adds Retry-After on 429."""

    scope = "handoff"

    def get_rate(self) -> str:
        return settings.HANDOFF_API_RATE

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            return f"throttle:key:{request.auth.pk}"
        return None

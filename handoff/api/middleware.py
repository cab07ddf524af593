from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from handoff.api.errors import json_error


class ApiBodyLimitMiddleware:
    """413 for API bodies over the limit, before anything reads them (docs/api.md: 1 MiB)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if limit and length > limit:
                return json_error(413, "too_large", f"The body is over {limit} bytes.")
        return self.get_response(request)

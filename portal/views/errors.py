"""The project's 500 handler (portal/urls.py): what escaped every view and middleware.

The database being unreachable is a 503, logged in one line: JSON in the API's error format
under /api/, a plain page elsewhere (templates/503.html, in the browser's language). Anything
else is Django's 500, in JSON under /api/.
"""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from handoff.api.unavailable import (
    RETRY_AFTER_SECONDS,
    database_down,
    log_database_down,
    logged,
    unavailable_json,
)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]  # Django calls the handler while handling the exception
    api = request.path.startswith("/api/")
    if exc is not None and database_down(exc):
        log_database_down(request, exc)
        if api:
            return unavailable_json()
        # No request context: its processors would read the user and the navigation.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return logged(response)
    if api:
        body = {"error": {"code": "server_error", "message": "Server error.", "fields": {}}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)

"""When the database is unreachable: a 503 in the API's error format with Retry-After, one
log line per failure (a traceback for each would bury the log while it lasts).

Used by the API's exception handler (handoff/api/errors.py) and by the project's 500 handler
below (portal/urls.py `handler500`), which also sees what fails before a view runs: the
database being unreachable is a 503 logged in one line, JSON in the API's error format under
/api/, a plain page elsewhere (templates/503.html, in the browser's language). Anything else is
Django's 500, in JSON under /api/.
"""

import logging
import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

log = logging.getLogger("handoff.unavailable")

RETRY_AFTER_SECONDS = 5
MESSAGE = "The service is unavailable for a moment (its database cannot be reached)."


def database_down(exc: BaseException | None) -> bool:
    """The database refused or lost the connection, or could not do the work now (Django's
    OperationalError: also a statement timeout or a server shutting down)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def log_database_down(request: HttpRequest, exc: BaseException) -> None:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    log.error("database unavailable, answered 503: %s %s: %s", request.method, request.path, reason)


def logged(response: HttpResponse) -> HttpResponse:
    """Django logs every 5xx again unless told it was logged."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def unavailable_body() -> dict[str, Any]:
    return {"error": {"code": "unavailable", "message": MESSAGE, "fields": {}}}


def unavailable_json() -> HttpResponse:
    response = JsonResponse(unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return logged(response)


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

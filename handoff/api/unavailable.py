"""When the database is unreachable: a 503 in the API's error format with Retry-After, one
log line per failure (a traceback for each would bury the log while it lasts).

Used by the API's exception handler (handoff/api/errors.py) and by the project's 500 handler
(portal/views/errors.py), which also sees what fails before a view runs.
"""

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

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

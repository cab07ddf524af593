"""GET /health/: is this web process able to work? For load balancers and monitors.

No login, no secrets: only "ok" or "error" per dependency, 200 when all are ok, else 503.
The worker has its own check (`manage.py worker_health`, docs/deploy.md).
"""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.celery import app

log = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:
        # One line: a load balancer asks every few seconds, a traceback each would flood.
        log.error("health: database unreachable: %s", " ".join(str(exc).split()))
        return False


def broker_ok() -> bool:
    try:
        # A short connect: the same broker the API publishes delivery tasks to.
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception as exc:
        log.error("health: broker unreachable: %s", " ".join(str(exc).split()))
        return False


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_ok(), "broker": broker_ok()}
    body = {name: "ok" if ok else "error" for name, ok in checks.items()}
    response = JsonResponse(body, status=200 if all(checks.values()) else 503)
    # Each failing check logged its line; Django need not add one for the 503.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response

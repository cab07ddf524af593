import os
from typing import Any

from celery import Celery, signals
from django.db import close_old_connections
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# `sqla+...` broker URLs (the embedded default) use kombu's SQLAlchemy transport as amended
# in portal/broker.py; set before any connection, which would cache kombu's own.
TRANSPORT_ALIASES["sqla"] = "portal.broker:Transport"

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The handoff id on every task log line (handoff/logging.py).
from handoff.logging import connect_celery_signals  # noqa: E402

connect_celery_signals()


# Celery's Django fixup closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set (portal/settings.py sets it): opening a PostgreSQL connection for
# each task cost more than the rest of a webhook delivery. Instead a worker treats its
# connection as Django does between two requests: closed when it is broken, left in a
# transaction, or older than CONN_MAX_AGE (and checked before reuse: CONN_HEALTH_CHECKS).
@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(task: Any = None, **kwargs: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # ran inside the caller's process and transaction (tests)
    close_old_connections()

import os

from celery import Celery
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

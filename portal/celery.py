import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The handoff id on every task log line (handoff/logging.py).
from handoff.logging import connect_celery_signals  # noqa: E402

connect_celery_signals()

"""Structured logs: the handoff id in hand on every line, and an optional JSON format.

The id lives in a context variable, set by LogContextMiddleware (portal/middleware.py) for API
requests about one handoff, by the Celery signals below for tasks that take a `handoff_id`, and
by `log_context()` wherever code works on one handoff. HandoffContextFilter copies it onto every
record ("-" when there is none), so the plain format can always print `%(handoff_id)s`.
"""

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

handoff_id_var: ContextVar[str] = ContextVar("handoff_id", default="-")


@contextlib.contextmanager
def log_context(*, handoff_id: object) -> Iterator[None]:
    token = handoff_id_var.set(str(handoff_id))
    try:
        yield
    finally:
        handoff_id_var.reset(token)


class HandoffContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "handoff_id"):
            record.handoff_id = handoff_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, handoff_id (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "handoff_id": getattr(record, "handoff_id", handoff_id_var.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _task_handoff_id(args: Any, kwargs: Any) -> str | None:
    if kwargs and kwargs.get("handoff_id"):
        return str(kwargs["handoff_id"])
    return None


def connect_celery_signals() -> None:
    """Called from portal/celery.py: tasks log their handoff id; worker handlers get the filter."""
    from celery import signals

    def prerun(task_id: Any = None, task: Any = None, args: Any = None, **extra: Any) -> None:
        kwargs = extra.get("kwargs") or {}
        found = _task_handoff_id(args, kwargs)
        if found is None and args and task is not None and task.name in HANDOFF_ID_TASKS:
            found = str(args[0])
        handoff_id_var.set(found or "-")

    def postrun(**extra: Any) -> None:
        handoff_id_var.set("-")

    def setup_handlers(logger: logging.Logger | None = None, **extra: Any) -> None:
        # Celery replaces the root handlers with its own: give those the id and the format.
        from django.conf import settings

        for handler in (logger or logging.getLogger()).handlers:
            handler.addFilter(HandoffContextFilter())
            if getattr(settings, "LOG_FORMAT", "plain") == "json":
                handler.setFormatter(JsonFormatter())

    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
    signals.after_setup_logger.connect(setup_handlers, weak=False)
    signals.after_setup_task_logger.connect(setup_handlers, weak=False)


# Tasks whose first positional argument is a handoff id.
HANDOFF_ID_TASKS = {"handoff.tasks.deliver", "handoff.tasks.send_status_callback"}

import json
import logging
from typing import Any

from django.test import override_settings

from handoff.logging import HandoffContextFilter, JsonFormatter, handoff_id_var, log_context


def test_it_reports_database_and_broker(client: Any, db: Any) -> None:
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_it_names_what_failed(client: Any, db: Any) -> None:
    # A real unreachable broker: nothing listens on this port. celery_broker() switches the
    # app's broker the way Celery allows (environment included) and drops, rather than closes,
    # its connection pools, so later tests still publish.
    from tests.handoff.delivery_helpers import celery_broker, closed_port

    with celery_broker(f"redis://127.0.0.1:{closed_port()}/0"):
        response = client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error"}


def test_it_needs_no_login_and_refuses_post(client: Any, db: Any) -> None:
    assert client.post("/health/").status_code == 405


def test_it_logs_the_handoff_id_as_json() -> None:
    record = logging.LogRecord("handoff", logging.INFO, __file__, 1, "delivered %s", ("x",), None)
    before = handoff_id_var.get()
    with log_context(handoff_id="2f1c"):
        HandoffContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["handoff_id"] == "2f1c"
    assert line["message"] == "delivered x"
    assert handoff_id_var.get() == before


def test_it_sets_the_handoff_id_for_api_requests(client: Any, db: Any, caplog: Any) -> None:
    seen: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(handoff_id_var.get())

    spy = Spy()
    logging.getLogger("django.request").addHandler(spy)
    try:
        with override_settings(DEBUG=False):
            client.get("/api/v1/handoffs/2f1c6a3e-0000-4000-8000-000000000000")
    finally:
        logging.getLogger("django.request").removeHandler(spy)
    # 401 is logged as a warning by django.request, inside the request's context.
    assert "2f1c6a3e-0000-4000-8000-000000000000" in seen


def test_it_sets_the_handoff_id_for_tasks() -> None:
    from celery import signals

    from handoff import tasks

    signals.task_prerun.send(
        sender=tasks.deliver, task_id="t1", task=tasks.deliver, args=("2f1c-task",), kwargs={}
    )
    assert handoff_id_var.get() == "2f1c-task"
    signals.task_postrun.send(sender=tasks.deliver, task_id="t1", task=tasks.deliver)
    assert handoff_id_var.get() == "-"
    signals.task_prerun.send(
        sender=tasks.send_status_callback,
        task_id="t2",
        task=tasks.send_status_callback,
        args=(),
        kwargs={"handoff_id": "2f1c-kw", "state": "failed"},
    )
    assert handoff_id_var.get() == "2f1c-kw"
    signals.task_postrun.send(sender=tasks.send_status_callback, task_id="t2")


def test_it_fails_the_worker_check_when_no_worker_answers(db: Any) -> None:
    import pytest
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("worker_health", "--timeout", "0.3")

"""The sweep (handoff/services/sweep.py): what was never published or waited too long."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from handoff.models import Handoff
from handoff.services.sweep import sweep_run
from tests.handoff.delivery_helpers import (
    make_agent,
    make_handoff,
    make_queue,
)

pytestmark = pytest.mark.usefixtures("scratch_broker")


def test_it_sweeps_up_what_was_never_published(db: Any) -> None:
    past = timezone.now() - timedelta(minutes=1)
    hooks = make_queue("external", delivery_kind="webhook", webhook_url="https://x.example/h")
    push = make_queue("billing")
    unpublished = make_handoff(hooks, now=past)
    waiting = make_handoff(push, now=past)
    make_agent("ben", push, capacity=1)

    done = sweep_run()

    assert done["republished"] == 1
    assert done["offered"] == 1
    unpublished.refresh_from_db()
    waiting.refresh_from_db()
    assert unpublished.dispatched_at is not None
    assert waiting.status == "offered"
    assert sweep_run()["republished"] == 0  # not again while the publish is fresh


def test_it_sweeps_waiting_work_past_max_wait(db: Any) -> None:
    queue = make_queue("busy", max_wait_seconds=30, when_full_action="reject")
    handoff = make_handoff(queue)

    assert sweep_run()["overflowed"] == 0
    assert sweep_run(now=timezone.now() + timedelta(seconds=31))["overflowed"] == 1
    assert Handoff.objects.get(pk=handoff.pk).status == "rejected"

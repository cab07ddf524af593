"""A real Celery worker process makes the offer; the agent's stream, served by uvicorn in this
process, receives it: the event crosses processes through the table (and the Redis wake-up
when the broker is Redis, as in CI; the embedded default polls)."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group

from handoff.delivery.publish import publish_delivery
from handoff.models import Handoff, Offer
from portal.live import get_hub
from portal.roles import ROLES
from tests.handoff.delivery_helpers import make_agent, make_handoff, make_queue
from tests.handoff.test_worker import broker_url, worker  # noqa: F401 - a fixture
from tests.live_helpers import session_cookie

pytestmark = pytest.mark.worker


def test_it_brings_an_offer_made_by_a_worker_to_the_agents_stream(
    transactional_db: Any,
    broker_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    open_stream: Any,
) -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    queue = make_queue("billing", offer_timeout_seconds=120)
    ann = make_agent("ann", queue, capacity=1)
    ann.groups.add(Group.objects.get(name="agent"))
    handoff = make_handoff(queue)
    stream = open_stream("/agent/live/", cookies=session_cookie(ann))
    stream.next("hello")

    with worker(broker_url, tmp_path / "worker.log") as w:
        assert publish_delivery(handoff.pk)
        while True:
            event = stream.next("offer", timeout=30)
            data = json.loads(event["data"])
            if data["change"] == "made":
                break
        assert data["handoff"] == str(handoff.pk), w.log.read_text()[-2000:]

    assert Handoff.objects.get(pk=handoff.pk).status == "offered"
    assert Offer.objects.get(handoff=handoff).agent == ann
    # Redis wakes this process when the broker is Redis; otherwise it read the table itself.
    assert get_hub().woken_by_redis == broker_url.startswith("redis://")

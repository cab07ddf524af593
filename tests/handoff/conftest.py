from collections.abc import Iterator
from typing import Any

import pytest

from tests.handoff.delivery_helpers import celery_broker, scratch_broker_url


@pytest.fixture
def scratch_broker(tmp_path_factory: Any) -> Iterator[None]:
    """Tasks the test publishes go to a broker file of its own (the modules that use it say
    `pytestmark = pytest.mark.usefixtures("scratch_broker")`)."""
    with celery_broker(scratch_broker_url(tmp_path_factory.mktemp("broker"))):
        yield

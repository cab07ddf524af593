import os
from typing import Any

from tests.api.conftest import BotClient
from tests.security.fuzzing import fuzz_api, load_schema

# Small in the test suite (a few seconds); bench/fuzz_api.py runs it with thousands.
EXAMPLES = int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "8"))


def test_it_survives_fuzzing_from_its_own_schema(bot_client: BotClient) -> None:
    counts = fuzz_api(key=bot_client.key, max_examples=EXAMPLES)
    print(counts)
    assert len(counts) >= 7, counts
    assert all(n > 0 for n in counts.values()), counts


def test_it_serves_a_valid_schema(db: Any) -> None:
    schema = load_schema()
    assert len(list(schema.get_all_operations())) >= 7

import os
from typing import Any

from tests.api.conftest import BotClient
from tests.security.fuzzing import fuzz_api, load_schema

# Small in the test suite (a few seconds); bench/fuzz_api.py runs it with thousands.
EXAMPLES = int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "8"))


def test_it_survives_fuzzing_from_its_own_schema(bot_client: BotClient) -> None:
    handoff = bot_client.post(
        "/api/v1/handoffs", {"conversation_id": "fuzz-known", "channel": "webchat"}
    )
    assert handoff.status_code == 202, handoff.content
    conversation = bot_client.post("/api/v1/conversations", {"channel": "webchat"})
    known = {
        "channel": "webchat",
        "handoff_id": handoff.json()["id"],
        "conversation_id": conversation.json().get("id", "")
        if conversation.status_code < 300
        else "",
    }
    answered = fuzz_api(key=bot_client.key, max_examples=EXAMPLES, known=known)
    print({label: dict(codes) for label, codes in answered.items()})
    assert len(answered) >= 7, answered
    assert all(codes for codes in answered.values()), answered
    # Not only refusals: valid requests get through (a handoff and a conversation start).
    assert answered["POST /api/v1/handoffs"].keys() & {200, 202}, answered
    assert answered["GET /api/v1/handoffs/{handoff_id}"][200], answered


def test_it_serves_a_valid_schema(db: Any) -> None:
    schema = load_schema()
    assert len(list(schema.get_all_operations())) >= 7

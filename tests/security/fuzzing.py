"""Fuzz the bot API from its own OpenAPI schema (schemathesis), in process against the WSGI
app: no 5xx, and every answer conforms to the schema (status code, content type, body).
Used by tests/security/test_fuzz_api.py (small) and bench/fuzz_api.py (large)."""

from collections import Counter
from typing import Any

import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (  # type: ignore[attr-defined]
    not_a_server_error,
)
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from portal.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # What the schema says is invalid is refused: its limits and enums are the server's.
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    ignored_auth,
]


def load_schema() -> Any:
    # schemathesis calls the app as host "localhost".
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        return schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", application)


def fuzz_api(
    *, key: str, max_examples: int, known: dict[str, str], seed: int | None = None
) -> dict[str, Counter]:
    """Run every operation with `max_examples` generated requests; raises on the first
    failure (schemathesis names the request to replay). `known` holds a real channel, and
    handoff and conversation ids of this bot. Returns the status codes answered, per
    operation."""
    answered: dict[str, Counter] = {}
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = load_schema()
        # Throttling would answer 429 to a long run: documented, but not what is fuzzed here.
        with override_settings(ALLOWED_HOSTS=["localhost"], HANDOFF_API_RATE="1000000/min"):
            for result in schema.get_all_operations():
                operation = result.ok()
                label = f"{operation.method.upper()} {operation.path}"
                answered[label] = Counter()
                _fuzz_operation(operation, key, max_examples, seed, answered[label], known)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answered


def _realistic(case: Any, known: dict[str, str]) -> Any:
    if isinstance(case.body, dict):
        if "channel" in case.body:
            case.body["channel"] = known["channel"]
        if "channelId" in case.body:
            case.body["channelId"] = known["channel"]
        if case.body.get("topic") is not None:
            case.body["topic"] = None
        if "topics" in case.body:
            case.body["topics"] = []
        if isinstance(case.body.get("variables"), dict):
            case.body["variables"] = {}
    for name in ("handoff_id", "conversation_id"):
        if case.path_parameters and name in case.path_parameters and known.get(name):
            case.path_parameters[name] = known[name]
    return case


def _fuzz_operation(
    operation: Any,
    key: str,
    max_examples: int,
    seed: int | None,
    answered: Counter,
    known: dict[str, str],
) -> None:
    # Valid requests and invalid ones (wrong types, missing fields): both must answer with a
    # documented status and body, never a 5xx.
    # Generated values alone almost never name a real channel or handoff: a third of the
    # valid cases get real ones, so requests also get past validation into the core.
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    realistic = positive.map(lambda case: _realistic(case, known))

    @given(case=st.one_of(realistic, positive, operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        cache.clear()
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
        answered[response.status_code] += 1

    run()

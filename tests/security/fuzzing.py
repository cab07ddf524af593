"""Fuzz the bot API from its own OpenAPI schema (schemathesis), in process against the WSGI
app: no 5xx, and every answer conforms to the schema (status code, content type, body).
Used by tests/security/test_fuzz_api.py (small) and bench/fuzz_api.py (large)."""

from typing import Any

import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (  # type: ignore[attr-defined]
    not_a_server_error,
)
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def load_schema() -> Any:
    # schemathesis calls the app as host "localhost".
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        return schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", application)


def fuzz_api(*, key: str, max_examples: int, seed: int | None = None) -> dict[str, int]:
    """Run every operation with `max_examples` generated requests; raises on the first
    failure (schemathesis names the request to replay). Returns requests per operation."""
    counts: dict[str, int] = {}
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = load_schema()
        _fuzz(schema, key=key, max_examples=max_examples, seed=seed, counts=counts)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return counts


def _fuzz(schema: Any, *, key: str, max_examples: int, seed: int | None, counts: dict) -> None:
    # Throttling would answer 429 to a long run: documented, but not what is fuzzed here.
    with override_settings(ALLOWED_HOSTS=["localhost"], HANDOFF_API_RATE="1000000/min"):
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            counts[label] = 0
            _fuzz_operation(operation, label, key, max_examples, seed, counts)


def _fuzz_operation(
    operation: Any, label: str, key: str, max_examples: int, seed: int | None, counts: dict
) -> None:
    if True:
        if True:
            # Valid requests and invalid ones (wrong types, missing fields): both must answer
            # with a documented status and body, never a 5xx.
            @given(
                case=operation.as_strategy(GenerationMode.POSITIVE)
                | operation.as_strategy(GenerationMode.NEGATIVE)
            )
            @settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=seed is None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                cache.clear()
                counts[label] += 1
                case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

            run()

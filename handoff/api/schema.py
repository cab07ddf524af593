"""What drf-spectacular cannot read from the serializers, added to the OpenAPI schema so that
it says what the server does (SPECTACULAR_SETTINGS POSTPROCESSING_HOOKS): every operation may
answer 429 and 503 with Retry-After, a variable's limits, the transcript's length.
tests/api/test_handoff_body.py and the fuzzing run (tests/security/) hold it to the server."""

from typing import Any

from handoff.engine.body import MAX_TEXT, MAX_TRANSCRIPT, MAX_VARIABLE_NAME, MAX_VARIABLES
from handoff.engine.vocabulary import HandoffStatus

# The name of the enum of every status (ENUM_NAME_OVERRIDES matches a list of values).
HANDOFF_STATUSES = [status.value for status in HandoffStatus]

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def retry_after(*, required: bool) -> dict[str, Any]:
    return {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds to wait before trying again.",
            "required": required,
        }
    }


ALWAYS = {
    "429": "Throttled (HANDOFF_API_RATE per key); see Retry-After.",
    "503": "Nothing published yet (not_configured), or the database cannot be reached for now "
    "(unavailable, with Retry-After).",
}

VARIABLES = {
    "type": "object",
    "description": "Bot variables: name to string, number, boolean or null.",
    "maxProperties": MAX_VARIABLES,
    "additionalProperties": {
        "nullable": True,
        "anyOf": [
            {"type": "string", "maxLength": MAX_TEXT},
            {"type": "number"},
            {"type": "boolean"},
        ],
    },
    # OpenAPI 3.0 has no propertyNames; the limit is said in words.
    "x-name-length": {"minLength": 1, "maxLength": MAX_VARIABLE_NAME},
}


def document_limits(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ALWAYS.items():
                responses.setdefault(status, {"content": ERROR, "description": description})
            responses["429"]["headers"] = retry_after(required=True)
            # Not when nothing is published: that lasts until someone publishes.
            responses["503"]["headers"] = retry_after(required=False)
    schemas = result.get("components", {}).get("schemas", {})
    body = schemas.get("HandoffCreateInputRequest")
    if body is not None:
        body["properties"]["variables"] = VARIABLES
        body["properties"]["transcript"]["maxItems"] = MAX_TRANSCRIPT
    return result

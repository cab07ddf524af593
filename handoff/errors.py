"""The core's errors: what went wrong, in the domain's words, never as HTTP.

Services, the simulator and the conversation runtime raise a `DomainError`; each face decides
what it means to its own reader. The API (handoff/api/errors.py) turns the kind into a status
code and the JSON error body; the portal shows the message; a management command prints it.
"""

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    INVALID = "invalid"  # the input is wrong: fields says which part and why
    REFUSED = "refused"  # valid, but the configuration does not allow it
    NOT_FOUND = "not_found"  # nothing of that id for this caller
    CONFLICT = "conflict"  # not allowed in the current state (someone else changed it)
    UNPROCESSABLE = "unprocessable"  # well formed, but cannot be acted on (missing context)
    UNAVAILABLE = "unavailable"  # a dependency or the configuration is missing for now


class DomainError(Exception):
    """kind (what sort of failure), code (stable, machine-readable), message, fields."""

    kind: Kind = Kind.INVALID

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        kind: Kind | None = None,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.code = code or str(self.kind)
        self.message = message
        self.fields = fields or {}

    def as_dict(self) -> dict[str, Any]:
        """{"code", "message", "fields"}: the error object the API answers."""
        return {"code": self.code, "message": self.message, "fields": self.fields}


class Invalid(DomainError):
    kind = Kind.INVALID


class Refused(DomainError):
    kind = Kind.REFUSED


class NotFound(DomainError):
    kind = Kind.NOT_FOUND


class Conflict(DomainError):
    kind = Kind.CONFLICT


class Unprocessable(DomainError):
    kind = Kind.UNPROCESSABLE


class Unavailable(DomainError):
    kind = Kind.UNAVAILABLE


# The status an HTTP client is answered for each kind: the domain's advice to its faces. The
# API's exception handler answers with it; the simulator says what the API would answer.
HTTP_STATUS: dict[Kind, int] = {
    Kind.INVALID: 400,
    Kind.REFUSED: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.UNPROCESSABLE: 422,
    Kind.UNAVAILABLE: 503,
}

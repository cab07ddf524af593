"""Every API error is JSON: {"error": {"code", "message", "fields"}} (docs/api.md, "Errors").

The core raises domain errors (handoff/errors.py); this is where they become a status code and
that body, next to DRF's own errors and the API's few of its own (ApiError).
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from handoff.api.unavailable import (
    RETRY_AFTER_SECONDS,
    database_down,
    log_database_down,
    logged,
    unavailable_body,
)
from handoff.errors import HTTP_STATUS, DomainError

CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    503: "unavailable",
}


class ApiError(exceptions.APIException):
    """An error the API answers on its own account (an Idempotency-Key it refuses, say), with
    our code, message and per-field messages; the core raises DomainError instead."""

    def __init__(
        self, status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
    ):
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields or {}
        super().__init__(detail=message, code=code)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail as {"customer.email": "Enter a valid email address."}."""
    out: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a list item's errors, keyed by index
                out.update(flatten_fields(value, f"{prefix}[{key}]"))
                continue
            name = str(key) if key != "non_field_errors" else "body"
            out.update(flatten_fields(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(detail, list):
        if detail and all(not isinstance(d, (dict, list)) for d in detail):
            out[prefix or "body"] = " ".join(str(d) for d in detail)
        else:
            for index, value in enumerate(detail):
                if value:
                    out.update(flatten_fields(value, f"{prefix}[{index}]"))
    else:
        out[prefix or "body"] = str(detail)
    return out


def error_response(exc: DomainError) -> Response:
    """The answer to a domain error: the status its kind calls for, and the error body."""
    return Response(error_body(exc.code, exc.message, exc.fields), status=HTTP_STATUS[exc.kind])


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if database_down(exc):
        log_database_down(context["request"], exc)
        unavailable = Response(
            unavailable_body(), status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
        logged(unavailable)
        return unavailable
    if isinstance(exc, DomainError):
        set_rollback()  # as DRF does for the errors it handles
        return error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, exc.message, exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        names = ", ".join(fields)
        body = error_body("invalid", f"Invalid request: {names}.", fields)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body(
            "invalid_json",
            f"The body is not valid JSON: {exc.detail}",
            {"body": f"Not valid JSON: {exc.detail}"},
        )
    elif isinstance(exc, exceptions.Throttled):
        body = error_body(
            "throttled", f"Too many requests; retry in {getattr(exc, 'wait', None) or 1:.0f} s."
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = CODES.get(response.status_code, "error")
        body = error_body(code, str(detail))
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response.data = body
    return response


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    """For errors raised before DRF runs (middleware)."""
    return JsonResponse(error_body(code, message), status=status_code)


def page_not_found(request: Any, exception: Exception | None = None) -> Any:
    """The project's 404 (portal/urls.py handler404): JSON under /api/, Django's page elsewhere,
    so that an API client asking for a URL that matches no route still gets the error format."""
    if request.path.startswith("/api/"):
        return json_error(404, CODES[404], "Not found.")
    return defaults.page_not_found(request, exception or Http404())

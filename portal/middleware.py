"""The portal's own middleware: the handoff id in the logs, and the user's language."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from handoff.logging import handoff_id_var


class LogContextMiddleware:
    """Sets the handoff id for requests whose URL names one (/api/v1/handoffs/<id>...)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Set afresh for each request and not reset at its end: Django logs the response
        # ("Unauthorized: ...") after the middleware chain has returned.
        handoff_id_var.set("-")
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        found = kwargs.get("handoff_id") or kwargs.get("pk")
        if found and "handoff" in (getattr(request.resolver_match, "url_name", "") or ""):
            handoff_id_var.set(str(found))


class UserLanguageMiddleware:
    """The user's own language beats the browser's.

    LocaleMiddleware has already activated the Accept-Language choice; this runs after
    AuthenticationMiddleware (request.user is only known then) and overrides it when the user
    has picked a language on the "My settings" page. A blank setting follows the browser.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        # Only an authenticated user's setting counts; a stale code (a language since dropped
        # from LANGUAGES) falls back to the browser's choice rather than failing.
        if user is not None and user.is_authenticated and language in self.supported:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)

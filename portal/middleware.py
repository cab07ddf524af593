"""The user's own language beats the browser's.

LocaleMiddleware has already activated the Accept-Language choice; this runs after
AuthenticationMiddleware (request.user is only known then) and overrides it when the user has
picked a language on the "My settings" page. A blank setting means "follow the browser".
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class UserLanguageMiddleware:
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

"""Security middleware: the Content-Security-Policy header, and the login throttle."""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

# No inline scripts, styles or event handlers anywhere: templates use static files only
# (tests/security/test_csp.py holds every portal page to that).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


# Login throttling: failures counted per (username, client address) in the cache, so a
# guesser can neither hammer one account from one place nor lock a user out everywhere.
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60


def _login_key(*, username: str, address: str) -> str:
    return f"login-failures:{username.strip().lower()}:{address}"


def client_address(request: HttpRequest) -> str:
    # X-Forwarded-For is whatever the client sent, plus one address per proxy on the way:
    # only the entries our own proxies appended (TRUSTED_PROXY_HOPS, counted from the right)
    # can be believed; otherwise a guesser would pick a fresh counter for every attempt.
    hops = settings.TRUSTED_PROXY_HOPS
    if hops:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def login_is_blocked(*, username: str, address: str) -> bool:
    failures = cache.get(_login_key(username=username, address=address), 0)
    return failures >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, address: str) -> int:
    key = _login_key(username=username, address=address)
    # add() starts the window on the first failure; incr() keeps its expiry.
    if cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def login_failures_clear(*, username: str, address: str) -> None:
    cache.delete(_login_key(username=username, address=address))

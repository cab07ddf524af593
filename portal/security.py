"""Security: the Content-Security-Policy header, the client's address behind our proxies, and
the counters in the cache behind the login throttle and the web chat's rate limits."""

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


# -- counters in the cache -----------------------------------------------------------------------
# Per process unless CACHE_URL points every web process at one Redis (README.md).


def counter_increment(key: str, *, window_seconds: int) -> int:
    """One more event under `key`: the events counted since the window began (at the first)."""
    # add() starts the window on the first event; incr() keeps its expiry.
    if cache.add(key, 1, timeout=window_seconds):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=window_seconds)
        return 1


def counter_value(key: str) -> int:
    return cache.get(key, 0)


def counter_clear(key: str) -> None:
    cache.delete(key)


# -- login throttling -----------------------------------------------------------------------------
# Failures counted per (username, client address), so a guesser can neither hammer one account
# from one place nor lock a user out everywhere.
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60


def _login_key(*, username: str, address: str) -> str:
    return f"login-failures:{username.strip().lower()}:{address}"


def login_is_blocked(*, username: str, address: str) -> bool:
    failures = counter_value(_login_key(username=username, address=address))
    return failures >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, address: str) -> int:
    key = _login_key(username=username, address=address)
    return counter_increment(key, window_seconds=LOGIN_FAILURE_WINDOW_SECONDS)


def login_failures_clear(*, username: str, address: str) -> None:
    counter_clear(_login_key(username=username, address=address))

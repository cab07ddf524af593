import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from handoff.selectors.api_keys import KeyRow

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@lru_cache(maxsize=4)
def parse_rate(rate: str) -> tuple[int, int]:
    """ "1200/min" as (1200, 60): requests per window, window in seconds."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def count_request(key: str, timeout: int) -> int:
    """The window's count after this request: one round trip on Redis (INCR and EXPIRE in one
    pipeline; Django's incr() asks EXISTS first), incr() or add() elsewhere."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        name = cache.make_and_validate_key(key)
        with cache._cache.get_client(name, write=True).pipeline() as pipeline:
            pipeline.incr(name)
            pipeline.expire(name, timeout)
            count, _ = pipeline.execute()
        return int(count)
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request, unless another process just began it
        return 1 if cache.add(key, 1, timeout=timeout) else cache.incr(key)


class PerKeyThrottle(BaseThrottle):
    """HANDOFF_API_RATE per API key (docs/api.md); DRF adds Retry-After on 429.

    A counter per key and window (the minute, say), incremented in the cache: one cache call
    per request, where DRF's SimpleRateThrottle reads and writes back the list of every
    request's time in the window (at 1,200/min, a list of 1,200 floats pickled each time).
    A window allows up to its limit whatever the previous one did, so a burst across a
    window's edge may see up to twice the rate for a moment.
    """

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, KeyRow):
            return True
        limit, period = parse_rate(settings.HANDOFF_API_RATE)
        now = time.time()
        window = int(now // period)
        count = count_request(f"throttle:key:{request.auth.api_key.pk}:{window}", period + 1)
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds

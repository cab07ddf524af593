"""Settings for benchmarks: the portal's, plus the floor view's URL."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

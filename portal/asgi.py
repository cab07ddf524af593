"""The ASGI application: every page, the API, and the live streams (server-sent events, which
a WSGI server cannot hold open). Served by uvicorn (`make run`) or by gunicorn with uvicorn's
worker in production (docs/deploy.md)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Under ASGI each request runs its database work in a thread of its own: a connection kept
# after the request would stay with a thread that is gone. Close them (PgBouncer pools).
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
application = get_asgi_application()

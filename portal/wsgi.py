import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class ChunkedBodies:
    """Reads a `Transfer-Encoding: chunked` request body for Django (docs/api.md).

    .NET's PostAsJsonAsync sends one by default. gunicorn decodes the chunks and says so with
    `wsgi.input_terminated`, but there is no Content-Length, and Django reads that many bytes:
    none. Here the body is read to its end (at most one byte past the upload limit, so that the
    413 still applies) and its length set. A server that does not terminate the input gets 411.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            if not environ.get("wsgi.input_terminated"):
                start_response("411 Length Required", [("Content-Type", "application/json")])
                return [
                    b'{"error": {"code": "length_required", "message": "Send a Content-Length '
                    b'header (this server cannot read chunked bodies).", "fields": {}}}'
                ]
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 1024 * 1024
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


application = ChunkedBodies(get_wsgi_application())

"""JSON in and out of the API: orjson, with a limit on nesting (docs/api.md, "Limits").

orjson reads and writes several times faster than the standard library. It refuses what
PostgreSQL would refuse later (an unpaired surrogate, a number out of range); the standard
library reads those, so a body orjson refused is read again by it, and the body validator
(handoff/engine/body.py) names the field that holds them.
"""

import json
from typing import Any

import orjson
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

# Deeper than any bot sends (a Bot Framework activity is under ten levels), shallow enough
# that nothing downstream (hashing, error messages) recurses anywhere near Python's limit.
MAX_DEPTH = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# A too deep part is named by its first levels ("variables.a"), not by a path 64 levels long.
NAMED_LEVELS = 3


def _too_deep(data: Any) -> str | None:
    """Where the first array or object nested deeper than MAX_DEPTH is, if any."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return path or "body"
        items = value.items() if type(value) is dict else enumerate(value)
        for key, child in items:
            if type(child) is dict or type(child) is list:
                at = path
                if depth < NAMED_LEVELS:
                    at = (
                        f"{path}[{key}]"
                        if isinstance(key, int)
                        else f"{path}.{key}"
                        if path
                        else key
                    )
                stack.append((child, depth + 1, at))
    return None


def parse_json(raw: bytes) -> Any:
    """The body's data; ParseError when it is not JSON, ValidationError naming the part nested
    deeper than MAX_DEPTH."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:  # any depth past Python's limit is past ours
            raise ValidationError(
                {"body": f"JSON may be nested at most {MAX_DEPTH} levels deep."}
            ) from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(str(exc)) from None
    if type(data) is dict or type(data) is list:
        path = _too_deep(data)
        if path is not None:
            raise ValidationError({path: f"JSON may be nested at most {MAX_DEPTH} levels deep."})
    return data


class JsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return parse_json(stream.read() if stream is not None else b"")


def render_json(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        # What orjson does not write (a lazy translation, a Decimal, an unpaired surrogate
        # echoed in an error message), the standard library does, escaping as ASCII.
        return json.dumps(data, cls=JSONEncoder, ensure_ascii=True).encode()


class JsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else render_json(data)

"""A chunked request body (what .NET's PostAsJsonAsync sends by default) is read, on a real
gunicorn: Django alone reads Content-Length, and there is none."""

import http.client
import json
from pathlib import Path

import pytest

from handoff.models import Bot, Handoff
from tests.api.conftest import make_key
from tests.api.server_helpers import gunicorn


def chunked_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # An iterable body and no Content-Length: http.client sends it chunked.
    chunks = iter([body[i : i + 100] for i in range(0, len(body), 100)])
    conn.request(
        "POST",
        path,
        body=chunks,
        headers={"Content-Type": "application/json", **headers},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "application/json"
    data = json.loads(response.read())
    conn.close()
    return response.status, data


@pytest.mark.django_db(transaction=True)
def test_it_reads_a_chunked_body(published, tmp_path: Path) -> None:
    bot = Bot.objects.get(key="support-bot")
    key = make_key(bot)
    body = {
        "conversation_id": "chunked-1",
        "channel": "webchat",
        "customer": {"name": "Kim"},
        "transcript": [{"from": "customer", "text": "x" * 500}],
    }
    with gunicorn(tmp_path / "gunicorn.log") as port:
        status, data = chunked_post(
            port,
            "/api/v1/handoffs",
            json.dumps(body).encode(),
            {"Authorization": f"Bearer {key}"},
        )
        assert status == 202, data
        assert Handoff.objects.get(pk=data["id"]).customer == {"name": "Kim"}
        too_large = json.dumps({**body, "agent_message": "x" * (1024 * 1024)}).encode()
        status, data = chunked_post(
            port, "/api/v1/handoffs", too_large, {"Authorization": f"Bearer {key}"}
        )
        assert status == 413, data
        assert data["error"]["code"] == "too_large"


def test_it_asks_for_a_length_when_the_server_cannot_end_a_chunked_body() -> None:
    from io import BytesIO

    from portal.wsgi import ChunkedBodies

    started: list[str] = []

    def app(environ, start_response):  # never reached
        raise AssertionError

    environ = {
        "REQUEST_METHOD": "POST",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": BytesIO(b"{}"),
    }
    body = ChunkedBodies(app)(environ, lambda status, headers: started.append(status))
    assert started == ["411 Length Required"]
    assert json.loads(b"".join(body))["error"]["code"] == "length_required"

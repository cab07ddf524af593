"""While PostgreSQL cannot be reached, every answer keeps its contract: the API a 503 in its
error format with Retry-After, the portal a plain 503 page in the browser's language, and the
log one line per failure. A real gunicorn, its database on a port where nobody listens."""

import http.client
import json
from pathlib import Path

import pytest

from tests.api.server_helpers import gunicorn
from tests.handoff.delivery_helpers import closed_port


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_it_answers_503_in_the_contract_while_the_database_is_down(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    down = f"postgres://postgres@127.0.0.1:{closed_port()}/handoff"
    body = json.dumps({"conversation_id": "c-1", "channel": "webchat"}).encode()
    with gunicorn(log, DATABASE_URL=down, LOG_LEVEL="INFO") as port:
        api = {"Authorization": "Bearer hp_" + "x" * 43, "Content-Type": "application/json"}
        for path in ("/api/v1/handoffs", "/api/v1/handoffs/bot-framework"):
            response, data = request(port, "POST", path, api, body)
            assert response.status == 503, data
            assert response.getheader("Content-Type") == "application/json"
            assert response.getheader("Retry-After") == "5"
            assert json.loads(data)["error"]["code"] == "unavailable"

        # A portal page that needs the database (a session to look up) before any view runs.
        for language, text in (("en", "Temporarily unavailable"), ("ja", "一時的に利用できません")):
            headers = {
                "Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345",
                "Accept-Language": language,
            }
            response, data = request(port, "GET", "/", headers)
            assert response.status == 503, data[:500]
            assert response.getheader("Content-Type").startswith("text/html")
            assert response.getheader("Retry-After") == "5"
            assert text in data.decode()
        failures = 4
        response, data = request(port, "GET", "/health/", {})
        assert response.status == 503 and json.loads(data)["database"] == "error"
    written = log.read_text()
    assert "Traceback" not in written, written[-3000:]
    lines = [line for line in written.splitlines() if "database unavailable" in line]
    assert len(lines) == failures, written[-3000:]
    # Django's own line for each 503 is not added.
    assert "Service Unavailable" not in written, written[-3000:]
    assert "health: database unreachable" in written


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_replaces_a_kept_connection_that_died(published) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from handoff.models import Bot
    from tests.api.conftest import BotClient, make_key

    bot = Bot.objects.get(key="support-bot")
    client = BotClient(bot, make_key(bot))
    url = "/api/v1/handoffs"
    assert client.post(url, {"conversation_id": "a", "channel": "webchat"}).status_code == 202
    # PostgreSQL restarted, say: the connection this process keeps is gone.
    import psycopg

    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with CaptureQueriesContext(connection) as queries:
        r = client.post(url, {"conversation_id": "b", "channel": "webchat"})
    assert r.status_code == 202, r.content
    assert connection.connection.info.backend_pid != pid
    # The key's read failed on the dead connection and was read again on a new one.
    assert [q["sql"][:8] for q in queries.captured_queries].count("SELECT k") == 2

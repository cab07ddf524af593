"""The embedded broker's transport (portal/broker.py) on real SQLite files, in real processes;
tests/handoff/test_worker.py starts a real worker with its beat on one."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

import portal.celery  # noqa: F401  (sqla+ URLs use portal/broker.py)
from portal.broker import Channel

# Waits for the go file, then publishes one message: the tables and the queue's row are made
# by whichever process comes first.
PUBLISHER = """
import os, sys, time
import portal.celery
from kombu import Connection
url, go = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
with Connection(url) as conn:
    conn.SimpleQueue("handoff").put({"pid": os.getpid()})
print("published", flush=True)
"""


def test_it_lets_processes_start_on_a_new_broker_file_at_once(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, url, str(go)],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    for p in processes:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [p.communicate(timeout=60)[0] for p in processes]

    assert all(out.strip() == "published" for out in outputs), outputs
    with Connection(url) as conn:
        assert conn.SimpleQueue("handoff").qsize() == 6


def test_it_polls_at_the_interval_it_is_given(tmp_path: Path) -> None:
    # kombu's own transport hands polling_interval to create_engine(), which refuses it.
    url = f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    with Connection(url, transport_options={"polling_interval": 0.05}) as conn:
        queue = conn.SimpleQueue("handoff")
        queue.put({"n": 1})

        assert queue.get(timeout=1).payload == {"n": 1}
        transport: Any = conn.transport
        assert transport.polling_interval == 0.05


def test_it_forgets_the_messages_it_delivered(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    with Connection(url) as conn:
        queue = conn.SimpleQueue("handoff")
        for n in range(3):
            queue.put({"n": n})
        for _ in range(3):
            queue.get(timeout=1).ack()
        with pytest.raises(Empty):
            queue.get(timeout=0.1)

    with closing(sqlite3.connect(tmp_path / "broker.sqlite3")) as db:
        assert db.execute("SELECT COUNT(*) FROM kombu_message").fetchone() == (0,)


def test_a_forked_process_opens_connections_of_its_own(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    with Connection(url) as conn:
        conn.SimpleQueue("handoff").put({"n": 1})  # the engine's pool keeps the connection
    engine, _ = Channel._engines[f"sqlite:///{tmp_path}/broker.sqlite3"]
    assert engine.pool.checkedin() == 1

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its pool would hand out, and leave
        os.write(write, str(engine.pool.checkedin()).encode())
        os._exit(0)
    os.waitpid(pid, 0)

    assert os.read(read, 10) == b"0"
    assert engine.pool.checkedin() == 1

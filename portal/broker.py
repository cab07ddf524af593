"""The embedded broker: kombu's SQLAlchemy transport, fit for a worker and its beat on one file.

portal/celery.py makes this the transport of `sqla+...` broker URLs. It differs from kombu's in
what kombu gets wrong for us:

- kombu hands every transport option to SQLAlchemy's create_engine(), which refuses
  `polling_interval`, so the worker could only poll kombu's default of once a second;
- every process creates the tables and its queue's row on first use, and on a new file two
  processes (a worker and its beat publishing what is due) do it at the same moment: kombu
  lets "table already exists" and "UNIQUE constraint failed" through, and the worker died;
- it keeps every message it ever delivered, so the file and each poll grow without end;
- its engines are cached per process, so a process forked later (a worker's replacement pool
  process, publishing a retry) would take its parent's open SQLite connection.
"""

import os
from typing import Any

from kombu.transport import sqlalchemy
from sqlalchemy import create_engine, event, false
from sqlalchemy.exc import IntegrityError, OperationalError

# Transport options that are not create_engine()'s: kombu's list, and polling_interval.
NOT_FOR_ENGINE = {
    "queue_tablename",
    "message_tablename",
    "callback",
    "errback",
    "max_retries",
    "interval_start",
    "interval_step",
    "interval_max",
    "retry_errors",
    "polling_interval",
}


def sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # As for the portal's own SQLite database (portal/settings.py): with WAL a publishing web
    # process reads while the worker takes a message, and commits need no fsync (NORMAL).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Channel(sqlalchemy.Channel):
    def _engine_from_config(self) -> Any:
        conninfo: Any = self.connection.client
        options = conninfo.transport_options
        engine = create_engine(
            conninfo.hostname, **{k: v for k, v in options.items() if k not in NOT_FOR_ENGINE}
        )
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", sqlite_pragmas)
        return engine

    def _open(self) -> Any:
        try:
            return super()._open()
        except OperationalError as exc:
            if "already exists" not in str(exc):
                raise
            # Another process created the tables between kombu's check and its CREATE TABLE;
            # the second look finds them.
            return super()._open()

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)  # type: ignore[misc]
        except IntegrityError:
            # Another process inserted the queue's row first: it is there now.
            self.session.rollback()
            return super()._get_or_create(queue)  # type: ignore[misc]

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        payload = super()._get(queue)  # Empty when there is none
        # kombu keeps each message it hands out, marked invisible, and never reads it again,
        # while every poll's query scans past them all (100 ms at 200,000): drop them.
        # (`= false`, not `IS false`: the index on `visible` finds them.)
        consumed = self.session.query(self.message_cls).filter(self.message_cls.visible == false())
        consumed.delete(synchronize_session=False)
        self.session.commit()
        return payload


class Transport(sqlalchemy.Transport):
    Channel = Channel


def forget_connections_after_fork() -> None:
    # SQLAlchemy's recipe for a forked process: new connections of its own, while the parent's
    # are left open for the parent (an SQLite connection must never cross a fork).
    for engine, _ in Channel._engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=forget_connections_after_fork)

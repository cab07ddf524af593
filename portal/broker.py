"""The embedded broker: kombu's SQLAlchemy transport, fit for a worker and its beat on one file.

portal/celery.py makes this the transport of `sqla+...` broker URLs. It differs from kombu's in
what kombu gets wrong for us:

- every process creates the tables and its queue's row on first use, and on a new file two
  processes (a worker and its beat publishing what is due) do it at the same moment: kombu
  lets "table already exists" and "UNIQUE constraint failed" through, and the worker died.
"""

from typing import Any

from kombu.transport import sqlalchemy
from sqlalchemy.exc import IntegrityError, OperationalError


class Channel(sqlalchemy.Channel):
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


class Transport(sqlalchemy.Transport):
    Channel = Channel

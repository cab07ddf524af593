"""Database helpers the services and the publishing module share."""

from django.db import connection


def commit_without_waiting_for_the_disk() -> None:
    """Let the current transaction's COMMIT return before its WAL record is flushed to disk
    (PostgreSQL's asynchronous commit). Call it inside `transaction.atomic()`.

    The commit is visible to every other transaction at once, exactly like a synchronous one,
    so leases, claims and row locks work the same. Only a crash of the database server itself
    can lose the last fraction of a second of such commits (`wal_writer_delay`, 200 ms by
    default, three times at worst). Use it only for writes whose loss the sweep repairs and a
    receiver cannot tell apart from a retry: a delivery's lease and outcome (one more attempt
    with the same webhook-id), a publish's `dispatched_at` (one more publish). On a busy server
    waiting for the disk cost more than everything else of a delivery (docs/performance.md).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")

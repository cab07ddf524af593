"""The bot's key, read on every API request: one query, no ORM compilation."""

from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connection

from handoff.config.snapshot import PublishedStamp
from handoff.models import ApiKey, Bot, ConfigVersion
from handoff.selectors.sql import aware_datetime, hot_cursor


@dataclass(frozen=True)
class KeyRow:
    api_key: ApiKey  # id, bot_id, hashed, last_used_at loaded; the rest on access
    bot: Bot  # id, key, name loaded: not the encrypted callback secret
    published: PublishedStamp | None  # the latest published version, read in the same query


def _sql() -> str:
    key, bot, version = ApiKey._meta.db_table, Bot._meta.db_table, ConfigVersion._meta.db_table
    # The latest version rides along as a derived table joined on nothing: the key lookup and
    # the "which version is published?" check cost one round trip instead of two.
    columns = "k.id, k.bot_id, k.hashed, k.last_used_at, b.key, b.name, v.id, v.created_at"
    latest = f"(SELECT id, created_at FROM {version} ORDER BY number DESC LIMIT 1)"  # noqa: S608
    return (
        f"SELECT {columns} FROM {key} k INNER JOIN {bot} b ON b.id = k.bot_id "  # noqa: S608
        f"LEFT JOIN {latest} v ON 1 = 1 WHERE k.prefix = %s AND k.revoked_at IS NULL"
    )


_SQL = _sql()


def _fetch(prefix: str) -> tuple | None:
    with hot_cursor() as cursor:
        cursor.execute(_SQL, [prefix])
        return cursor.fetchone()


def active_key(prefix: str) -> KeyRow | None:
    """The unrevoked key with this prefix, its bot and the latest published version.

    The first query of an API request, so it stands in for Django's connection health check
    (CONN_HEALTH_CHECKS: a `SELECT 1` round trip before it): a kept connection that died
    (PostgreSQL restarted) fails this read, which is then tried once on a new connection.
    """
    fresh = connection.connection is None
    if not connection.in_atomic_block:
        connection.health_check_done = True  # type: ignore[attr-defined]
    try:
        row = _fetch(prefix)
    except (OperationalError, InterfaceError):
        if fresh or connection.in_atomic_block:
            raise  # a new connection that fails: the database is down (a 503)
        connection.close()
        row = _fetch(prefix)
    if row is None:
        return None
    key_id, bot_id, hashed, last_used_at, bot_key, bot_name, version_id, version_at = row
    alias = connection.alias
    api_key = ApiKey.from_db(
        alias,
        ["id", "bot_id", "prefix", "hashed", "last_used_at"],
        [key_id, bot_id, prefix, hashed, aware_datetime(last_used_at)],
    )
    bot = Bot.from_db(alias, ["id", "key", "name"], [bot_id, bot_key, bot_name])
    api_key.bot = bot
    published = None
    if version_id is not None:
        created_at = aware_datetime(version_at)
        assert created_at is not None
        published = (version_id, created_at)
    return KeyRow(api_key=api_key, bot=bot, published=published)

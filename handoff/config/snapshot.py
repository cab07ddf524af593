"""A configuration to route with: the latest published version, or the draft, as a Snapshot.

The API, the conversation runtime, the simulator and generate_history all read one from here.
Published versions are immutable, so each is parsed once per process and kept.
"""

from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Any

from handoff.config.document import export_document
from handoff.config.validation import ConfigError, validate_document
from handoff.models import ConfigVersion


@dataclass(frozen=True)
class Snapshot:
    version_id: int | None  # None for the draft: it is no version, its handoffs record none
    number: int | None
    document: dict[str, Any]
    channels: dict[str, dict[str, Any]]
    bots: dict[str, dict[str, Any]]
    topics: dict[str, dict[str, Any]]
    topics_by_name: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]]


def _by_key(document: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    # A draft that would not publish may hold anything; what is not an item is left out.
    return {i["key"]: i for i in document.get(section) or () if isinstance(i, dict)}


def snapshot_of(
    document: dict[str, Any], *, version_id: int | None = None, number: int | None = None
) -> Snapshot:
    """The Snapshot of a configuration document (a published version's, or the draft's)."""
    topics = _by_key(document, "topics")
    return Snapshot(
        version_id=version_id,
        number=number,
        document=document,
        channels=_by_key(document, "channels"),
        bots=_by_key(document, "bots"),
        topics=topics,
        topics_by_name={
            t["name"].casefold(): t for t in topics.values() if isinstance(t.get("name"), str)
        },
        queues=_by_key(document, "queues"),
    )


# A published version as (pk, created_at): what names it in the cache below. Keyed by both
# because a test database that was flushed may reuse a pk for another version.
PublishedStamp = tuple[int, datetime]
_published: dict[PublishedStamp, Snapshot] = {}
_published_lock = Lock()


def latest_published_stamp() -> PublishedStamp | None:
    return ConfigVersion.objects.order_by("-number").values_list("pk", "created_at").first()


class _LookUp:
    """The stamp is not known yet: read it."""


LOOK_UP = _LookUp()


def published_snapshot(stamp: PublishedStamp | _LookUp | None = LOOK_UP) -> Snapshot | None:
    """The latest published configuration (None before the first publish).

    `stamp` is the latest version's stamp when the caller already read it (the API reads it
    with the bot's key, handoff/selectors/api_keys.py), None when there is none; by default
    it is looked up here.
    """
    latest = latest_published_stamp() if isinstance(stamp, _LookUp) else stamp
    if latest is None:
        return None
    snapshot = _published.get(latest)
    if snapshot is None:
        version = ConfigVersion.objects.get(pk=latest[0])
        snapshot = snapshot_of(version.document, version_id=version.pk, number=version.number)
        with _published_lock:
            if len(_published) > 16:
                _published.clear()
            _published[latest] = snapshot
    return snapshot


def forget_published_snapshots() -> None:
    """Empty this process's cache (tests: a rolled-back database reuses version ids)."""
    with _published_lock:
        _published.clear()


def draft_snapshot() -> tuple[Snapshot, list[ConfigError]]:
    """The draft tables as a Snapshot, and what would keep them from publishing."""
    exported = export_document()
    normalised, problems = validate_document(exported)
    # A draft with problems cannot be normalised reliably; the export is canonical enough for
    # the engine, which tolerates what validation would refuse.
    return snapshot_of(exported if problems else normalised), problems

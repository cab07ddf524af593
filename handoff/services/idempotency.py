"""Idempotency-Key handling: a unique constraint decides, never check-then-insert."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff.models import Bot, IdempotencyKey

KEY_TTL = timedelta(hours=24)
# A first request that has not finished after this long died with its process: take it over.
PROCESSING_TIMEOUT = timedelta(seconds=60)


def request_hash(data: Any) -> str:
    """The same JSON, whatever its spacing or key order, hashes the same."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate hashes too (the body validator then refuses it).
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Claim:
    outcome: str  # "new", "replay", "processing", "mismatch"
    row_id: int | None = None
    status: int | None = None
    body: Any = None


def idempotency_claim(*, bot: Bot, key: str, body_hash: str) -> Claim:
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    bot=bot, key=key, request_hash=body_hash, created_at=now
                )
            return Claim("new", row_id=row.pk)
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(bot=bot, key=key).first()
        if existing is None:
            continue  # expired and deleted between our insert and read: try again
        if existing.created_at < now - KEY_TTL:
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != body_hash:
            return Claim("mismatch")
        if existing.response_status is not None:
            return Claim("replay", status=existing.response_status, body=existing.response_body)
        if existing.created_at < now - PROCESSING_TIMEOUT:
            taken = IdempotencyKey.objects.filter(
                pk=existing.pk, created_at=existing.created_at, response_status__isnull=True
            ).update(created_at=now)
            if taken:
                return Claim("new", row_id=existing.pk)
        return Claim("processing")
    return Claim("processing")


def idempotency_finish(*, row_id: int, status: int, body: Any) -> None:
    IdempotencyKey.objects.filter(pk=row_id).update(response_status=status, response_body=body)


def idempotency_release(*, row_id: int) -> None:
    """The first request failed unexpectedly: let a retry run it again."""
    IdempotencyKey.objects.filter(pk=row_id, response_status__isnull=True).delete()


def idempotency_keys_expire(*, now: datetime | None = None) -> int:
    """Delete the keys older than KEY_TTL (the hourly task); returns how many."""
    cutoff = (now or timezone.now()) - KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

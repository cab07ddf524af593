"""Secrets at rest: webhook secrets are stored encrypted (Fernet), API keys only as hashes."""

import base64
import hashlib
import secrets
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

API_KEY_PREFIX = "hp_"
# Every Fernet token starts with its version byte 0x80, base64-encoded: "gAAAAA".
FERNET_TOKEN_START = "gAAAAA"


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("handoff-portal-secrets:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def fernet() -> Fernet:
    return _fernet(settings.HANDOFF_ENCRYPTION_KEY or settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(value: str) -> str:
    if not value:
        return ""
    try:
        return fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        # A secret encrypted under another key cannot be used; treat it as unset.
        return ""


class EncryptedTextField(models.TextField):
    """A text field whose value is encrypted in the database and plain in Python."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        return decrypt(value) if value else ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else ""

    # dumpdata writes the encrypted form, so that no dump holds the plain secret; loaddata
    # (to_python) decrypts it again, which works with the same encryption key only.
    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return encrypt(str(value)) if value else ""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if isinstance(value, str) and value.startswith(FERNET_TOKEN_START):
            return decrypt(value) or value
        return value


def new_api_key() -> tuple[str, str, str]:
    """A new bot key: (the key shown once, its visible prefix, its SHA-256)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_prefix(key), hash_api_key(key)


def key_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 8]


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)

"""The keys that live outside the database: the audit MAC key, the data master key, the index key.

Each comes from its setting (`VERIFYBOT_AUDIT_KEY`, `VERIFYBOT_DATA_KEY`, `VERIFYBOT_INDEX_KEY`)
or, when that is not set, from the key file beside the SQLite database (`verifybot.db.key`),
created with mode 0600 on first use. A PostgreSQL database has no "beside": all three settings
are required there. Whoever holds the database but not the keys can neither read the
candidates' data nor forge the audit trail.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import StoreError

KEY_NAMES = ("audit", "data", "index")
KEY_BYTES = 32
MIN_SECRET_LENGTH = 32
PRIVATE_FILE = 0o600


def is_database_url(location: str) -> bool:
    """A PostgreSQL URL rather than a SQLite file name."""
    return location.startswith(("postgresql://", "postgres://"))


def key_file_of(db_path: str) -> Path | None:
    """`<db>.key`, or None for an in-memory database (whose keys live as long as it does)."""
    return None if db_path == ":memory:" else Path(f"{db_path}.key")


def derive(name: str, secret: str) -> bytes:
    """A 32-byte key of purpose `name` from a configured secret."""
    return hashlib.sha256(f"verifybot-{name}-key\0{secret}".encode()).digest()


@dataclass(frozen=True)
class Keys:
    """32-byte keys by purpose, and where each came from (`setting` or the key file's path)."""

    audit: bytes = field(repr=False)
    data: bytes = field(repr=False)
    index: bytes = field(repr=False)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> Keys:
        audit, data, index = (secrets.token_bytes(KEY_BYTES) for _ in KEY_NAMES)
        return cls(audit, data, index)


def load_keys(db_path: str, configured: dict[str, str | None], create: bool = True) -> Keys:
    """The keys for the database at `db_path`: configured secrets first, else the key file.

    The key file is created (0600) only when a key is missing and `create`; a key file that
    cannot be read or is malformed is a StoreError naming it.
    """
    for name, secret in configured.items():
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            raise StoreError(
                f"VERIFYBOT_{name.upper()}_KEY: at least {MIN_SECRET_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
    if is_database_url(db_path):
        unset = [f"VERIFYBOT_{name.upper()}_KEY" for name in KEY_NAMES if not configured.get(name)]
        if unset:
            raise StoreError(
                f"{', '.join(unset)}: required with VERIFYBOT_DATABASE_URL (PostgreSQL keeps no "
                "key file; give every replica the same three keys)"
            )
    chosen = {name: derive(name, secret) for name, secret in configured.items() if secret}
    sources = {name: "setting" for name in chosen}
    missing = [name for name in KEY_NAMES if name not in chosen]
    path = key_file_of(db_path)
    if missing and path is None:
        chosen.update({name: secrets.token_bytes(KEY_BYTES) for name in missing})
    elif missing and path is not None:
        stored = _read_key_file(path) if path.exists() else None
        if stored is None:
            if not create:
                raise StoreError(f"{path}: the key file is missing; restore it from your backup")
            stored = {name: secrets.token_bytes(KEY_BYTES) for name in KEY_NAMES}
            _write_key_file(path, stored)
        chosen.update({name: stored[name] for name in missing})
        sources.update({name: str(path) for name in missing})
    return Keys(chosen["audit"], chosen["data"], chosen["index"], sources=sources)


def _read_key_file(path: Path) -> dict[str, bytes]:
    try:
        with contextlib.suppress(PermissionError):
            os.chmod(path, PRIVATE_FILE)
        stored = json.loads(path.read_text(encoding="ascii"))
        keys = {name: base64.b64decode(stored[name], validate=True) for name in KEY_NAMES}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StoreError(f"{path}: not a usable verifybot key file ({error})") from None
    if any(len(key) != KEY_BYTES for key in keys.values()):
        raise StoreError(f"{path}: not a usable verifybot key file (wrong key length)")
    return keys


def _write_key_file(path: Path, keys: dict[str, bytes]) -> None:
    text = json.dumps({name: base64.b64encode(keys[name]).decode() for name in KEY_NAMES})
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except OSError as error:
        raise StoreError(f"{path}: cannot create the key file ({error.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text + "\n")

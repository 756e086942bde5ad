"""The secret key of the keyed hashes (blind indexes) that stand for values never stored in clear.

The key is `VERIFYBOT_INDEX_KEY` when it is set; otherwise a random key kept in a file beside
the database (`<db>.index-key`, mode 0600), created on first use. An in-memory database gets
a key for the life of the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import SecretStr

from bot.errors import StoreError

KEY_BYTES = 32
KEY_FILE_SUFFIX = ".index-key"


def key_file_for(db_path: str) -> Path:
    return Path(f"{db_path}{KEY_FILE_SUFFIX}")


class IndexKey:
    """HMAC-SHA256 with the installation's index key, read or created on first use."""

    def __init__(self, db_path: str, configured: SecretStr | None = None) -> None:
        self.db_path = db_path
        self.configured = configured
        self._key: bytes | None = None

    def digest(self, value: str) -> str:
        """The hex HMAC-SHA256 of `value` under the index key."""
        return hmac.new(self._secret(), value.encode("utf-8"), hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        if self._key is None:
            self._key = self._load()
        return self._key

    def _load(self) -> bytes:
        if self.configured is not None and self.configured.get_secret_value():
            return self.configured.get_secret_value().encode("utf-8")
        if self.db_path == ":memory:":
            return secrets.token_bytes(KEY_BYTES)
        return _key_from_file(key_file_for(self.db_path))


def _key_from_file(path: Path) -> bytes:
    """The key in `path`, writing a new random one (mode 0600) when there is none.

    A new key is written to a private temporary file and linked into place, so two processes
    starting at once end up with the same key and nobody reads a half-written file.
    """
    hint = "set VERIFYBOT_INDEX_KEY or make the file readable by verifybot only"
    if not path.exists():
        try:
            _create_key_file(path)
        except OSError as error:
            reason = error.strerror or str(error)
            raise StoreError(f"{path}: cannot create the index key ({reason}); {hint}") from None
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: cannot read the index key ({error}); {hint}") from None
    if len(key) < 16:
        raise StoreError(f"{path}: the index key is too short; {hint}")
    return key


def _create_key_file(path: Path) -> None:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
        os.chmod(name, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(name, path)
    finally:
        os.unlink(name)

"""Errors the service raises; each carries a message fit to show the person who caused it."""

from __future__ import annotations

SEPARATE_WORK_NEEDS_POSTGRESQL = (
    "needs PostgreSQL: set VERIFYBOT_DATABASE_URL; on SQLite one `verifybot serve` runs the "
    "work after its acks itself"
)


class VerifybotError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = message
        """The message without the field it is about, to show beside that field's input."""


class InvalidInput(VerifybotError):
    """A value someone typed or clicked that cannot be used; nothing was written."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class NoteRequired(InvalidInput):
    """The chosen option needs a note (evidence) before it can be recorded."""

    def __init__(self, note_label: str) -> None:
        super().__init__(f"this answer needs a note: {note_label}", field="note")
        self.note_label = note_label


class NotFound(VerifybotError):
    pass


class PermissionDenied(VerifybotError):
    pass


class StoreError(VerifybotError):
    """The database cannot be used (a missing file, a directory, not a database, a server
    that does not answer, missing keys); nothing was written."""


class StoreBusy(StoreError):
    """Another writer held the database's write lock longer than this caller would wait."""


class ConfigError(Exception):
    """A setting that stops the server from starting; the message says which and why."""

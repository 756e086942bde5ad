"""The security team's watchlist of known facilitator addresses, emails, phones and payout accounts.

Values are normalised exactly as candidate values are (bot.address, bot.identity), so an entry
matches every spelling the address match accepts; a payout account is kept only as a keyed hash
and its last 4 characters. Adding and removing entries is audited.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.address import AddressError, address_keys
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.identity import email_key, payout_key, payout_last4
from bot.models import Actor
from bot.roles import Roles
from bot.store import Row, Store
from bot.validation import clean_email, clean_lines, clean_phone, clean_text

MAX_SOURCE_LENGTH = 200
MAX_IMPORT_BYTES = 1024 * 1024
CSV_COLUMNS = ("kind", "value", "source")


class WatchKind(StrEnum):
    ADDRESS = "address"
    EMAIL = "email"
    PHONE = "phone"
    PAYOUT_ACCOUNT = "payout_account"


@dataclass(frozen=True)
class WatchEntry:
    """An entry as stored: `shown` is the value as it may be displayed (a payout account only
    by its last 4 characters), `match_key` what candidates' values are compared with."""

    kind: WatchKind
    shown: str
    match_key: str
    zip: str | None
    source: str | None


class Watchlist:
    """Adds, imports, lists and removes watchlist entries, for security users and the terminal."""

    def __init__(self, store: Store, roles: Roles | None = None) -> None:
        self.store = store
        self.roles = roles or Roles()

    def entry(self, kind: str, value: str, source: str | None = None) -> WatchEntry:
        """A normalised entry; InvalidInput saying what is wrong with the kind, value or source."""
        try:
            watch_kind = WatchKind(kind.strip().lower())
        except ValueError:
            kinds = ", ".join(k.value for k in WatchKind)
            raise InvalidInput(f"{kind!r} is not a kind (kinds: {kinds})", "kind") from None
        if not value or not value.strip():
            raise InvalidInput("is required", "value")
        cleaned_source = clean_text(source) if source else None
        if cleaned_source and len(cleaned_source) > MAX_SOURCE_LENGTH:
            raise InvalidInput(f"may be at most {MAX_SOURCE_LENGTH} characters", "source")
        try:
            shown, match_key, zip_code = self._normalised(watch_kind, value)
        except (ValueError, AddressError) as error:
            raise InvalidInput(str(error), "value") from None
        return WatchEntry(watch_kind, shown, match_key, zip_code, cleaned_source or None)

    def _normalised(self, kind: WatchKind, value: str) -> tuple[str, str, str | None]:
        if kind is WatchKind.ADDRESS:
            text = clean_lines(value)
            keys = address_keys(text)
            return text, keys.place, keys.zip
        if kind is WatchKind.EMAIL:
            email = clean_email(value)
            return email, email_key(email), None
        if kind is WatchKind.PHONE:
            e164 = clean_phone(value)
            return e164, e164, None
        key = payout_key(value)
        return f"****{payout_last4(key)}", self.store.payout_index(key), None

    def add(self, actor: Actor, kind: str, value: str, source: str | None = None) -> Row:
        """Add one entry; the stored row."""
        self._check(actor, "watchlist.add")
        entry = self.entry(kind, value, source)
        with self.store.transaction():
            watch_id = self._insert(actor, entry)
        return self._stored(watch_id)

    def import_csv(self, actor: Actor, path: Path) -> list[Row]:
        """Every row of a `kind,value,source` file, or none: InvalidInput naming the bad line."""
        self._check(actor, "watchlist.import")
        entries = self.read_csv(path)
        with self.store.transaction():
            ids = [self._insert(actor, entry, str(path.name)) for entry in entries]
        return [self._stored(watch_id) for watch_id in ids]

    def read_csv(self, path: Path) -> list[WatchEntry]:
        """The entries of a CSV file, all checked; InvalidInput naming the file and line."""
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise InvalidInput(f"{path}: cannot read the file ({error.strerror})") from None
        if len(raw) > MAX_IMPORT_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_IMPORT_BYTES // 1024} KiB; split it")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"{path}: not UTF-8 text (byte {error.object[error.start]:#x}); save it as UTF-8"
            ) from None
        reader = csv.reader(io.StringIO(text, newline=""))
        entries: list[WatchEntry] = []
        try:
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if reader.line_num == 1 and [c.strip().lower() for c in row] == list(CSV_COLUMNS):
                    continue
                entries.append(self._csv_entry(path, reader.line_num, row))
        except csv.Error as error:
            raise InvalidInput(f"{path}: line {reader.line_num}: not valid CSV ({error})") from None
        if not entries:
            raise InvalidInput(f"{path}: no entries (columns: {','.join(CSV_COLUMNS)})")
        return entries

    def _csv_entry(self, path: Path, line: int, row: list[str]) -> WatchEntry:
        if len(row) not in (2, 3):
            raise InvalidInput(
                f"{path}: line {line}: {len(row)} columns; give {','.join(CSV_COLUMNS)} "
                "(source may be left out)"
            )
        kind, value, source = (*row, "")[:3]
        try:
            return self.entry(kind, value, source)
        except InvalidInput as error:
            raise InvalidInput(f"{path}: line {line}: {error.message}") from None

    def list(self, actor: Actor, include_removed: bool = False) -> list[Row]:
        self._check(actor, "watchlist.list")
        return self.store.watches(include_removed)

    def remove(self, actor: Actor, watch_id: int | str) -> Row:
        """Retire an entry (kept for the record); NotFound when there is no such current entry."""
        self._check(actor, "watchlist.remove")
        text = str(watch_id).strip()
        if not text.isdecimal() or len(text) > 18:
            raise InvalidInput("not a watchlist entry id (a number, see `watchlist list`)", "id")
        with self.store.transaction():
            row = self.store.watch(int(text))
            if row is None or row["removed_at"] is not None:
                raise NotFound(f"no current watchlist entry {text}")
            self.store.remove_watch(row["id"], actor.user_id, actor.platform.value)
            self.store.audit(
                actor.user_id,
                actor.platform,
                "watchlist.removed",
                None,
                {"id": row["id"], "kind": row["kind"]},
            )
        return self._stored(row["id"])

    def _stored(self, watch_id: int) -> Row:
        row = self.store.watch(watch_id)
        if row is None:
            raise NotFound(f"no watchlist entry {watch_id}")
        return row

    def _insert(self, actor: Actor, entry: WatchEntry, imported_from: str | None = None) -> int:
        watch_id = self.store.add_watch(
            {
                "kind": entry.kind.value,
                "shown": entry.shown,
                "match_key": entry.match_key,
                "zip": entry.zip,
                "source": entry.source,
                "added_by": actor.user_id,
                "added_platform": actor.platform.value,
            }
        )
        detail = {"id": watch_id, "kind": entry.kind.value}
        if entry.source:
            detail["source"] = entry.source
        if imported_from:
            detail["imported_from"] = imported_from
        self.store.audit(actor.user_id, actor.platform, "watchlist.added", None, detail)
        return watch_id

    def _check(self, actor: Actor, action: str) -> None:
        """PermissionDenied (audited) unless the actor is a security user or the terminal."""
        if self.roles.is_security(actor):
            return
        with self.store.transaction():
            self.store.audit(
                actor.user_id,
                actor.platform,
                "refused",
                None,
                {"action": action, "why": "not a security user"},
            )
        raise PermissionDenied("You are not allowed to do that (not a security user).")

"""Playbook versions kept in the database, so a verification is read with the playbook it began."""

from __future__ import annotations

from pydantic import ValidationError

from bot.models import Actor
from bot.playbook import (
    Playbook,
    PlaybookError,
    PlaybookRegistry,
    canonical_content,
    canonical_id,
    content_hash,
)
from bot.store import Row, Store

STORED_EVENT = "playbook.version_stored"
SYSTEM_ACTOR = "verifybot"
SYSTEM_PLATFORM = "system"


def version_conflict(store: Store, playbook: Playbook, source: str) -> str | None:
    """The error for a playbook whose version is recorded with other content; None if it is not."""
    row = store.playbook_version(playbook.id, playbook.version)
    if row is None or row["content_hash"] == content_hash(canonical_content(playbook)):
        return None
    return conflict_message(playbook, source, row)


def conflict_message(playbook: Playbook, source: str, row: Row) -> str:
    return (
        f"{source}: playbook {playbook.id} version {playbook.version} differs from the version "
        f"{row['version']} recorded in the database on {row['stored_at'][:10]}; bump `version:`"
    )


class PlaybookVersions:
    """The recorded playbook versions, backed by the installed playbooks where they are the same."""

    def __init__(self, store: Store, installed: PlaybookRegistry) -> None:
        self.store = store
        self.installed = installed
        self._installed: dict[tuple[str, int], tuple[Playbook, str, str]] = {}
        for playbook in installed:
            content = canonical_content(playbook)
            key = (canonical_id(playbook.id), playbook.version)
            self._installed[key] = (playbook, content, content_hash(content))
        self._hashes: dict[tuple[str, int], str] = {}
        self._parsed: dict[tuple[str, int, str], Playbook] = {}

    def check_installed(self) -> None:
        """PlaybookError, one line per file, for installed playbooks that differ from the record."""
        problems = []
        for playbook in self.installed:
            problem = version_conflict(self.store, playbook, self.installed.source(playbook.id))
            if problem:
                problems.append(problem)
        if problems:
            raise PlaybookError("\n".join(problems))

    def record(self, playbook: Playbook, actor: Actor) -> bool:
        """Keep the content of the version a verification starts with; True when stored now.

        Call it inside the transaction that creates the verification. PlaybookError when the
        version was recorded with other content (another process loaded an edited file).
        """
        _, content, digest = self._content(playbook)
        row = self.store.playbook_version(playbook.id, playbook.version)
        if row is not None:
            if row["content_hash"] != digest:
                raise PlaybookError(
                    conflict_message(playbook, self.installed.source(playbook.id), row)
                )
            return False
        return self._store(playbook, content, digest, actor.user_id, actor.platform)

    def record_unrecorded(self) -> int:
        """Record the installed content of versions older verifications use but nobody recorded.

        Verifications started before versions were kept name only an id and a version; the
        installed file of that version is the best record of what they used. Returns how many.
        """
        stored = 0
        for row in self.store.unrecorded_playbook_versions():
            installed = self._installed.get(
                (canonical_id(row["playbook_id"]), row["playbook_version"])
            )
            if installed is None:
                continue
            playbook, content, digest = installed
            with self.store.transaction():
                stored += self._store(playbook, content, digest, SYSTEM_ACTOR, SYSTEM_PLATFORM)
        return stored

    def get(self, playbook_id: str, version: int) -> Playbook:
        """The playbook as recorded for (id, version); PlaybookError when it is nowhere."""
        digest = self._hashes.get((playbook_id, version))
        if digest is None:
            row = self.store.playbook_version(playbook_id, version)
            if row is None:
                return self._unrecorded(playbook_id, version)
            digest = row["content_hash"]
            self._hashes[(playbook_id, version)] = digest
            if (playbook_id, version, digest) not in self._parsed:
                self._parsed[(playbook_id, version, digest)] = self._parse(row)
        return self._parsed[(playbook_id, version, digest)]

    def _unrecorded(self, playbook_id: str, version: int) -> Playbook:
        installed = self._installed.get((canonical_id(playbook_id), version))
        if installed is None:
            raise PlaybookError(
                f"the playbook {playbook_id!r} version {version} is neither recorded "
                "nor installed any more"
            )
        return installed[0]

    def _parse(self, row: Row) -> Playbook:
        """The recorded content; the installed object itself when it is the same content."""
        installed = self._installed.get((canonical_id(row["playbook_id"]), row["version"]))
        if installed is not None and installed[2] == row["content_hash"]:
            return installed[0]
        try:
            return Playbook.model_validate_json(row["content"])
        except ValidationError as error:
            raise PlaybookError(
                f"the recorded playbook {row['playbook_id']} version {row['version']} "
                f"cannot be read ({error.error_count()} problems)"
            ) from None

    def _content(self, playbook: Playbook) -> tuple[Playbook, str, str]:
        installed = self._installed.get((canonical_id(playbook.id), playbook.version))
        if installed is not None and installed[0] is playbook:
            return installed
        content = canonical_content(playbook)
        return playbook, content, content_hash(content)

    def _store(
        self,
        playbook: Playbook,
        content: str,
        digest: str,
        actor: str,
        platform: str,
    ) -> bool:
        source = self.installed.source(playbook.id)
        if not self.store.insert_playbook_version(
            playbook.id, playbook.version, digest, content, source
        ):
            return False
        self.store.audit(
            actor,
            platform,
            STORED_EVENT,
            None,
            {"id": playbook.id, "version": playbook.version, "hash": digest},
        )
        return True

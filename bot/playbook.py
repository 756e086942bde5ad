"""Playbooks: the pydantic schema, the YAML loader and the registry of loaded playbooks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from bot.models import Identifier, Option, Prompt, Text
from bot.yamlfile import YamlFileError, load_yaml, read_yaml


class Check(StrEnum):
    """Steps the engine answers itself from the candidate's details."""

    ADDRESS_MATCH = "address_match"
    IDENTITY_SIGNALS = "identity_signals"


CHECK_OUTCOMES: dict[Check, tuple[str, ...]] = {
    Check.ADDRESS_MATCH: ("match", "mismatch", "shared"),
    Check.IDENTITY_SIGNALS: ("none", "weak", "linked", "watchlisted"),
}
# Options a check's step may have on top of its required ones (added in later versions; a
# step without one gets the check's fallback result instead).
CHECK_OPTIONAL_OUTCOMES: dict[Check, tuple[str, ...]] = {
    Check.ADDRESS_MATCH: ("same_building",),
}


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier
    title: Text
    question: Text
    help: Text
    source: Text
    options: list[Option]
    check: Check | None = None

    @field_validator("options")
    @classmethod
    def _unique_values(cls, options: list[Option]) -> list[Option]:
        _refuse_repeats([option.value for option in options], "option value")
        return options

    @model_validator(mode="after")
    def _options_fit(self) -> Self:
        values = [option.value for option in self.options]
        if self.check is not None:
            expected = CHECK_OUTCOMES[self.check]
            optional = CHECK_OPTIONAL_OUTCOMES.get(self.check, ())
            extra = set(values) - set(expected)
            if not set(expected) <= set(values) or not extra <= set(optional):
                also = f" (and may have {', '.join(optional)})" if optional else ""
                raise ValueError(
                    f"a {self.check.value} check has exactly the options "
                    f"{', '.join(expected)}{also}"
                )
        elif len(values) < 2:
            raise ValueError("a step needs at least two options")
        return self

    @property
    def computed(self) -> bool:
        return self.check is not None

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier
    version: PositiveInt
    title: Text
    description: Text
    steps: list[Step]

    @field_validator("steps")
    @classmethod
    def _steps_fit(cls, steps: list[Step]) -> list[Step]:
        if not steps:
            raise ValueError("a playbook needs at least one step")
        _refuse_repeats([step.id for step in steps], "step id")
        return steps

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    def prompt(self, step: Step, verification_id: str, candidate_name: str) -> Prompt:
        return Prompt(
            verification_id=verification_id,
            candidate_name=candidate_name,
            playbook_title=self.title,
            step_id=step.id,
            step_title=step.title,
            question=step.question,
            help=step.help,
            source=step.source,
            index=self.index(step.id) + 1,
            total=len(self.steps),
            options=list(step.options),
        )


def canonical_content(playbook: Playbook) -> str:
    """The validated playbook as JSON with sorted keys: YAML comments and layout do not count."""
    return json.dumps(
        playbook.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _refuse_repeats(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"the {what} {value!r} appears more than once")
        seen.add(value)


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the file and the field."""


def _location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for item in loc:
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += ("." if text else "") + str(item)
    return text


def _message(error: ErrorDetails) -> str:
    if error["type"] == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        choices = expected.replace("'", "").replace(" or ", ", ")
        return f"must be one of {choices}"
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    if error["type"] == "missing":
        return "is required"
    return error["msg"].removeprefix("Value error, ")


def describe_validation_error(source: str, error: ValidationError) -> str:
    """`source: field.path: message` lines, one per problem."""
    lines = []
    for item in error.errors():
        location = _location(tuple(item["loc"]))
        prefix = f"{source}: {location}: " if location else f"{source}: "
        lines.append(prefix + _message(item))
    return "\n".join(lines)


def parse_playbook(text: str, source: str) -> Playbook:
    try:
        data = load_yaml(text, source)
    except YamlFileError as error:
        raise PlaybookError(str(error)) from None
    return _validated(data, source)


def _validated(data: object, source: str) -> Playbook:
    if not isinstance(data, dict):
        raise PlaybookError(f"{source}: a playbook is a mapping with id, version, title, steps")
    try:
        return Playbook.model_validate(data)
    except ValidationError as error:
        raise PlaybookError(describe_validation_error(source, error)) from None


def load_playbook(path: Path) -> Playbook:
    try:
        data = read_yaml(path)
    except YamlFileError as error:
        raise PlaybookError(str(error)) from None
    return _validated(data, str(path))


def default_playbook_dir(configured: str | None = None) -> Path:
    """`configured` (VERIFYBOT_PLAYBOOKS), else the checkout's playbooks/, else the wheel's."""
    if configured:
        return Path(configured)
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "playbooks", package / "default_playbooks"):
        if candidate.is_dir():
            return candidate
    raise PlaybookError("no playbooks directory found; set VERIFYBOT_PLAYBOOKS")


def playbook_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def installed_playbook_files(directory: Path) -> list[Path]:
    """The playbook files of a playbooks directory; PlaybookError naming it when there are none."""
    hint = "set VERIFYBOT_PLAYBOOKS to a directory of playbook .yml files"
    if not directory.is_dir():
        raise PlaybookError(f"{directory}: no such playbooks directory; {hint}")
    files = playbook_files(directory)
    if not files:
        raise PlaybookError(f"{directory}: no playbook files (*.yml, *.yaml) in it; {hint}")
    return files


def refuse_repeated_ids(loaded: Iterable[tuple[Path, Playbook]]) -> None:
    """PlaybookError naming both files when two playbooks have one id."""
    first: dict[str, Path] = {}
    for path, playbook in loaded:
        key = canonical_id(playbook.id)
        if key in first:
            raise PlaybookError(
                f"{first[key]} and {path} both have the playbook id {playbook.id!r}; "
                "give one of them another id (or remove the copy)"
            )
        first[key] = path


def canonical_id(playbook_id: str) -> str:
    return playbook_id.strip().lower().replace("_", "-")


class PlaybookRegistry:
    """Loaded playbooks by id; the first one listed is the default."""

    def __init__(
        self,
        playbooks: Iterable[Playbook],
        default: str | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self._sources = {canonical_id(key): value for key, value in (sources or {}).items()}
        self._by_id: dict[str, Playbook] = {}
        for playbook in playbooks:
            key = canonical_id(playbook.id)
            if key in self._by_id:
                raise PlaybookError(f"two playbooks have the id {playbook.id!r}")
            self._by_id[key] = playbook
        if not self._by_id:
            raise PlaybookError("no playbooks loaded")
        self.default_id = canonical_id(default) if default else self._default_id()

    def _default_id(self) -> str:
        return "pre-offer" if "pre-offer" in self._by_id else next(iter(self._by_id))

    @classmethod
    def from_directory(cls, directory: Path | None = None) -> PlaybookRegistry:
        directory = directory or default_playbook_dir()
        loaded = [(path, load_playbook(path)) for path in installed_playbook_files(directory)]
        refuse_repeated_ids(loaded)
        return cls(
            (playbook for _, playbook in loaded),
            sources={playbook.id: str(path) for path, playbook in loaded},
        )

    def source(self, playbook_id: str) -> str:
        """The file a playbook was loaded from (`playbook ID` when it was not from a file)."""
        return self._sources.get(canonical_id(playbook_id), f"playbook {playbook_id}")

    def get(self, playbook_id: str | None = None) -> Playbook:
        key = canonical_id(playbook_id) if playbook_id else self.default_id
        try:
            return self._by_id[key]
        except KeyError:
            known = ", ".join(sorted(self._by_id))
            raise PlaybookError(f"unknown playbook {playbook_id!r} (known: {known})") from None

    def __iter__(self) -> Iterator[Playbook]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

"""Case files: one verification described in YAML, checked in full before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.candidates import InvalidCandidate, validate_candidate
from bot.errors import InvalidInput
from bot.models import Actor, CandidateIn, Platform, VerificationView
from bot.playbook import Playbook, PlaybookRegistry, describe_validation_error
from bot.service import VerificationService
from bot.validation import clean_note
from bot.yamlfile import YamlFileError, read_yaml

MAX_CASE_BYTES = 256 * 1024
StepKey = Annotated[str, StringConstraints(max_length=64)]


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook: str | None = None
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "cli"
    candidate: dict[str, Any]
    answers: dict[StepKey, Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=dict
    )
    notes: dict[StepKey, str] = Field(default_factory=dict)


class CaseError(ValueError):
    """A case file that cannot be run; the message names the file and the field."""


class CheckedCase(BaseModel):
    """A case whose every value was checked against its playbook."""

    playbook: Playbook
    requested_by: str
    candidate: CandidateIn
    answers: list[tuple[str, str, str | None]]


def read_case(path: Path) -> CaseFile:
    try:
        data = read_yaml(path, max_bytes=MAX_CASE_BYTES)
    except YamlFileError as error:
        raise CaseError(str(error)) from None
    if not isinstance(data, dict):
        raise CaseError(f"{path}: a case is a mapping with candidate and answers")
    try:
        return CaseFile.model_validate(data)
    except ValidationError as error:
        raise CaseError(describe_validation_error(str(path), error)) from None


def check_case(case: CaseFile, playbooks: PlaybookRegistry, source: str) -> CheckedCase:
    """Validate the case against its playbook; CaseError names the first bad field."""
    try:
        playbook = playbooks.get(case.playbook)
    except ValueError as error:
        raise CaseError(f"{source}: playbook: {error}") from None
    try:
        candidate = validate_candidate(case.candidate)
    except InvalidCandidate as error:
        field, message = next(iter(error.problems.items()))
        raise CaseError(f"{source}: candidate.{field}: {message}") from None
    for step_id in case.notes:
        if step_id not in case.answers:
            raise CaseError(f"{source}: notes.{step_id}: a note for a step with no answer")
    answers: list[tuple[str, str, str | None]] = []
    for step_id, value in case.answers.items():
        where = f"{source}: answers.{step_id}"
        step = playbook.step(step_id)
        if step is None:
            known = ", ".join(s.id for s in playbook.steps if not s.computed)
            raise CaseError(f"{where}: no such step in {playbook.id} (steps: {known})")
        if step.computed:
            raise CaseError(f"{where}: this step is computed by verifybot; leave it out")
        option = step.option(value)
        if option is None:
            choices = ", ".join(o.value for o in step.options)
            raise CaseError(f"{where}: {value!r} is not an option (options: {choices})")
        try:
            note = clean_note(case.notes.get(step_id))
        except ValueError as error:
            raise CaseError(f"{source}: notes.{step_id}: {error}") from None
        if option.note_required and not note:
            raise CaseError(
                f"{source}: notes.{step_id}: the answer {value!r} needs a note "
                f"({option.note_label or 'evidence'})"
            )
        answers.append((step_id, value, note))
    order = {step.id: index for index, step in enumerate(playbook.steps)}
    answers.sort(key=lambda answer: order[answer[0]])
    return CheckedCase(
        playbook=playbook, requested_by=case.requested_by, candidate=candidate, answers=answers
    )


async def run_case(
    service: VerificationService, case: CheckedCase, platform: Platform = Platform.CLI
) -> VerificationView:
    """Record the case as a verification like any other; return its view."""
    actor = Actor(user_id=case.requested_by, platform=platform)
    started = await service.start(actor, case.candidate, case.playbook.id)
    verification_id = started.verification.id
    for step_id, value, note in case.answers:
        try:
            await service.answer(actor, verification_id, step_id, value, note)
        except InvalidInput as error:  # checked above; a playbook changed underneath us
            raise CaseError(f"answers.{step_id}: {error.message}") from None
    return await service.view(actor, verification_id)


def result_json(view: VerificationView) -> dict[str, Any]:
    """The `check --json` object."""
    return {
        "verification_id": view.id,
        "playbook": view.playbook,
        "outcome": view.outcome.value,
        "findings": [
            {
                "step": finding.step,
                "answer": finding.answer,
                "result": finding.result.value,
                "reason": finding.reason,
                **({"security_detail": finding.security_detail} if finding.security_detail else {}),
            }
            for finding in view.findings
        ],
        "escalated": view.escalation_id is not None,
    }

"""The terminal front end: `verifybot demo`, from a keyboard or a script."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from typing import Protocol

from bot import presenter
from bot.candidate_form import CANDIDATE_FIELDS, field_problem
from bot.errors import InvalidInput, NoteRequired
from bot.models import Actor, AnswerOutcome, Finding, Platform, Prompt, VerificationView
from bot.notices import DecisionNotice, FindingNotice, Notice, TextNotice
from bot.runtime import Core
from bot.validation import clean_note

Say = Callable[[str], None]
WIDTH = 78
EXIT_INTERRUPTED = 130
POSTED = "posted to the {where}"
QUEUED = "queued for the {where} (delivered by `verifybot serve`)"
NOT_SENT = "for the {where}: recorded, not sent (no Slack or Teams security channel is configured)"


class Answers(Protocol):
    """Where the demo's answers come from: a keyboard or a script."""

    def ask(self, key: str, question: str) -> str | None:
        """The answer to `question`; None when there is none (end of input)."""
        ...


class Keyboard:
    def ask(self, key: str, question: str) -> str | None:
        try:
            return input(f"{question}: ")
        except EOFError:
            return None


class Script:
    """Answers from a case file, echoed as if typed."""

    def __init__(self, values: Mapping[str, str | None], say: Say) -> None:
        self.values = values
        self.say = say

    def ask(self, key: str, question: str) -> str | None:
        if key not in self.values:
            return None
        value = self.values[key] or ""
        self.say(f"{question}: {value}")
        return value


def script_values(
    candidate: Mapping[str, object], answers: list[tuple[str, str, str | None]]
) -> dict[str, str | None]:
    """The keys a Script answers, from a checked case."""
    values: dict[str, str | None] = {
        f"candidate.{field.name}": (str(candidate[field.name]) if candidate.get(field.name) else "")
        for field in CANDIDATE_FIELDS
    }
    for step_id, value, note in answers:
        values[f"answer.{step_id}"] = value
        if note:
            values[f"note.{step_id}"] = note
    return values


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(
        " ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent
    )


class ConsoleNotifier:
    """Shows each escalation as it would be posted to the security channel.

    `heading` says what happens to it, `{where}` standing for the channel (and thread).
    """

    target = "console"

    def __init__(self, say: Say, heading: str = POSTED) -> None:
        self.say = say
        self.heading = heading
        self.posted = 0

    async def deliver(self, notice: Notice, thread_ref: str | None) -> str | None:
        self.posted += 1
        if isinstance(notice, DecisionNotice):
            self.say(f"\n  >> to {notice.recipient}: {presenter.decision_text(notice)}\n")
            return None
        if isinstance(notice, TextNotice):
            self.say(f"\n  >> to the security channel: {notice.title}")
            for line in notice.lines:
                self.say(_wrap(line, "    "))
            return None
        if not isinstance(notice, FindingNotice):
            self.say(f"\n  >> {notice.kind} notice: {getattr(notice, 'verification_id', '')}")
            return None
        self._finding(notice, thread_ref)
        return thread_ref or f"console-{notice.escalation_id}"

    def _finding(self, notice: FindingNotice, thread_ref: str | None) -> None:
        where = "security channel" + (", in the thread" if thread_ref else "")
        rule = "  " + "=" * (WIDTH - 2)
        self.say(f"\n{rule}\n  ESCALATION {self.heading.format(where=where)}")
        escalation = notice.escalation
        if thread_ref is None:
            self.say(f"  {presenter.escalation_title(escalation)}")
            for label, value in presenter.escalation_facts(escalation):
                self.say(_wrap(f"{label}: {value}", "    "))
            lines = presenter.findings_lines(escalation)
        else:
            self.say(f"  {presenter.update_title(notice)}")
            lines = presenter.notice_lines(notice)
        for line in lines:
            self.say(_wrap(line, "    "))
        if thread_ref is None or notice.needs_decision:
            labels = [presenter.DECISION_LABELS[d] for d in escalation.decisions]
            self.say("    " + " ".join(f"[{label}]" for label in labels))
        self.say(rule + "\n")


class Demo:
    """A whole verification conversation in the terminal."""

    def __init__(self, core: Core, answers: Answers, say: Say, user: str = "demo") -> None:
        self.core = core
        self.answers = answers
        self.say = say
        self.actor = Actor(user_id=user, platform=Platform.CONSOLE, display_name=user)

    async def run(self, playbook_id: str | None = None) -> int:
        """0 when the playbook was completed, 1 when input ended early, 130 on Ctrl-C."""
        self.verification_id: str | None = None
        try:
            return await self._converse(playbook_id)
        except KeyboardInterrupt:
            await self._interrupted()
            return EXIT_INTERRUPTED

    async def _converse(self, playbook_id: str | None) -> int:
        playbook = self.core.service.playbooks.get(playbook_id)
        self.say(f"verifybot demo: {playbook.title} (database: {self.core.store.shown_path})")
        self.say(_wrap(playbook.description, "") + "\n")
        details = self._ask_candidate()
        if details is None:
            self.say("\nNo verification started.")
            return 1
        outcome = await self.core.service.start(self.actor, details, playbook.id)
        self.verification_id = outcome.verification.id
        self.say(
            f"\nVerification {outcome.verification.id} started for "
            f"{outcome.verification.candidate.name}."
        )
        await self._show(outcome)
        while outcome.next_prompt is not None:
            answered = await self._ask_step(outcome.next_prompt)
            if answered is None:
                self.say(f"\nInput ended with {outcome.verification.progress}.")
                await self._summary(outcome.verification.id)
                return 1
            outcome = answered
            await self._show(outcome)
        await self._summary(outcome.verification.id)
        return 0

    async def _interrupted(self) -> None:
        if self.verification_id is None:
            self.say("\nInterrupted: no verification was started; nothing was recorded.")
            return
        view = await self.core.service.view(self.actor, self.verification_id)
        self.say(
            f"\nInterrupted: verification {view.id} of {view.candidate.name} is kept with "
            f"{view.progress} (outcome: {presenter.outcome_label(view.outcome)}); "
            f"`verifybot status {view.id}` shows it."
        )

    def _ask_candidate(self) -> dict[str, str] | None:
        details: dict[str, str] = {}
        for field in CANDIDATE_FIELDS:
            question = field.label + (" (optional, Enter to skip)" if field.optional else "")
            while True:
                value = self.answers.ask(f"candidate.{field.name}", question)
                if value is None:
                    return None
                value = value.strip()
                if not value and field.optional:
                    break
                problem = field_problem(field, value)
                if problem is None:
                    details[field.name] = value
                    break
                self.say(f"  {field.name}: {problem}. Please try again.")
                if isinstance(self.answers, Script):
                    return None
        return details

    async def _ask_step(self, prompt: Prompt) -> AnswerOutcome | None:
        self.say(f"\n{prompt.progress}: {prompt.step_title}")
        self.say(_wrap(prompt.question, "  "))
        self.say(_wrap(prompt.help, "  ") + "\n" + _wrap(f"Source: {prompt.source}", "  "))
        for number, offered in enumerate(prompt.options, start=1):
            self.say(f"    {number}) {offered.label}")
        while True:
            typed = self.answers.ask(
                f"answer.{prompt.step_id}", f"  Answer [1-{len(prompt.options)}]"
            )
            if typed is None:
                return None
            option = prompt.option_by_input(typed)
            if option is None:
                self.say("  Type the number of an option.")
                continue
            note = None
            if option.note_required:
                note = self._ask_note(prompt.step_id, option.note_label or "Note")
                if note is None:
                    return None
            try:
                return await self.core.service.answer(
                    self.actor, prompt.verification_id, prompt.step_id, option.value, note
                )
            except NoteRequired as error:
                self.say(f"  A note is required: {error.note_label}.")
            except InvalidInput as error:
                self.say(f"  {error.message}")

    def _ask_note(self, step_id: str, label: str) -> str | None:
        """The note a required-note option needs, asked until one is given."""
        while True:
            typed = self.answers.ask(f"note.{step_id}", f"  {label}")
            if typed is None:
                return None
            try:
                note = clean_note(typed)
            except ValueError as error:
                self.say(f"  {error}.")
                continue
            if note:
                return note
            self.say(f"  A note is required: {label}.")
            if isinstance(self.answers, Script):
                return None

    async def _show(self, outcome: AnswerOutcome) -> None:
        if outcome.recorded is not None:
            self.say(f"  {self._recorded(outcome.recorded)}")
        for finding in outcome.computed:
            self.say(f"\n{self._computed_header(outcome.verification, finding)}")
            self.say(_wrap(f"Result: {presenter.finding_line(finding)}", "  "))
        await self.core.worker.run_once()

    @staticmethod
    def _recorded(finding: Finding) -> str:
        return f"Recorded: {finding.answer_label} ({finding.result.value})"

    def _computed_header(self, view: VerificationView, finding: Finding) -> str:
        index = self.core.service.playbook_for(view.id).index(finding.step) + 1
        return f"Step {index} of {view.total}: {finding.step_title} (checked by verifybot)"

    async def _summary(self, verification_id: str) -> None:
        view = await self.core.service.view(self.actor, verification_id)
        self.say("\nSummary")
        for line in presenter.summary_lines(view):
            self.say(_wrap(line, "  "))

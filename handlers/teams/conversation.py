"""The step-by-step conversation: a message and its session in, replies out (no botbuilder here).

Replies are Markdown in Teams: text from the service (names, notes, reasons, error messages
that quote what someone typed) goes through handlers.teams.markdown; cards escape their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot import presenter
from bot.candidate_form import CANDIDATE_FIELDS, FIELDS_BY_NAME, field_problem
from bot.candidates import InvalidCandidate
from bot.commands import Command, CommandName, parse_command, run_command
from bot.errors import InvalidInput, NoteRequired, PermissionDenied, VerifybotError
from bot.ids import parse_verification_id
from bot.models import Actor, AnswerOutcome, Prompt, VerificationView
from bot.notices import OverdueNotice
from bot.records import owner_of
from bot.service import VerificationService
from bot.store import Store
from bot.validation import clean_text
from handlers.teams import cards
from handlers.teams.candidate import next_field, question_of, typed_value
from handlers.teams.chase_cards import overdue_card
from handlers.teams.markdown import escape, safe_escalation, safe_finding, safe_prompt, safe_view
from handlers.teams.references import origin_key, user_name

MAX_TEXT = 4000
MAX_STARTED = 20
CANCEL_WORDS = frozenset({"cancel", "stop"})

ESCALATED = "This answer was sent to the security team for review."
STARTED_IN_CHANNEL = (
    "Started {id} ({playbook}). The steps are in your personal chat with verifybot; if you "
    "have none yet, open one and they arrive there."
)
NOT_YOURS = "That card is not for a verification you started in this chat; nothing was recorded."
NOT_UNDERSTOOD = "That button's data was not understood; nothing was recorded."
FORM_USED = "That form was already used. Type `start NAME` to verify another candidate."
SECURITY_ONLY = "You are not allowed to do that (not a security user)."
CHANNEL_ONLY = (
    "Say this in the channel where escalations should go, mentioning me: "
    "`@verifybot security channel here`."
)
CHANNEL_REGISTERED = "This channel will now receive verifybot escalations."
STOPPED = "Stopped: no verification was started."


class PendingNote(BaseModel):
    verification_id: str
    step_id: str
    option: str
    label: str
    change: bool = False


class Session(BaseModel):
    """What one user is in the middle of in one conversation; kept in SQLite between turns."""

    model_config = ConfigDict(extra="ignore")

    verification_id: str | None = None
    step_id: str | None = None
    card_id: str | None = None
    candidate: dict[str, str | None] | None = None
    field: str | None = None
    pending_note: PendingNote | None = None
    started: list[str] = []
    playbook: str | None = None

    def ask(self, prompt: Prompt) -> None:
        self.verification_id = prompt.verification_id
        self.step_id = prompt.step_id
        self.card_id = None

    def finish(self) -> None:
        self.verification_id = self.step_id = self.card_id = None
        self.pending_note = None

    def stop_collecting(self) -> None:
        self.candidate = None
        self.field = None
        self.playbook = None

    def remember(self, verification_id: str) -> None:
        self.started = [*self.started, verification_id][-MAX_STARTED:]


@dataclass(frozen=True)
class Reply:
    """A message to post (`card`, else `text`) or, with `replaces`, a card to update.

    `text` stands in for the card when an update fails; `prompt_step` marks the card of
    the step now asked, whose activity id the session keeps for the update after the answer.
    """

    text: str | None = None
    card: cards.Card | None = None
    replaces: str | None = None
    prompt_step: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One message from a chat user, already stripped of the @mention of the bot."""

    actor: Actor
    text: str = ""
    value: Any = None
    activity_id: str | None = None
    reply_to_id: str | None = None
    conversation_id: str = ""
    personal: bool = True
    channel_reference: dict[str, Any] | None = None


class AnswerSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["answer"]
    verification: str = Field(max_length=32)
    step: str = Field(max_length=64)
    option: str = Field(max_length=64)
    note: str | None = Field(None, max_length=2 * cards.MAX_NOTE)
    change: bool = False


class ChangeSubmit(BaseModel):
    """ "Change answer" on an answered step's card."""

    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["change"]
    verification: str = Field(max_length=32)
    step: str = Field(max_length=64)


class DecideSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["decide"]
    escalation: int
    decision: str = Field(max_length=32)
    reason: str | None = Field(None, max_length=2 * cards.MAX_REASON)


class CandidateSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["candidate"]
    name: str | None = Field(None, max_length=1000)
    email: str | None = Field(None, max_length=1000)
    phone: str | None = Field(None, max_length=1000)
    role: str | None = Field(None, max_length=1000)
    home_address: str | None = Field(None, max_length=1000)
    shipping_address: str | None = Field(None, max_length=1000)
    payout_account: str | None = Field(None, max_length=1000)
    referred_by: str | None = Field(None, max_length=1000)
    playbook: str | None = Field(None, max_length=64)

    def details(self) -> dict[str, str]:
        """The filled-in fields; blank ones are left out."""
        values = {field.name: getattr(self, field.name) for field in CANDIDATE_FIELDS}
        return {name: value for name, value in values.items() if value and value.strip()}


class ShipSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["ship"]
    verification: str = Field(max_length=32)
    shipping_address: str | None = Field(None, max_length=2 * cards.MAX_ADDRESS)


class OverdueSubmit(BaseModel):
    """Acknowledge on an overdue post (handlers/teams/chase_cards.py)."""

    model_config = ConfigDict(extra="ignore")

    verifybot: Literal["overdue"]
    verification: str = Field(max_length=32)


Submit = AnswerSubmit | DecideSubmit | CandidateSubmit | OverdueSubmit | ChangeSubmit | ShipSubmit
SUBMIT: TypeAdapter[Submit] = TypeAdapter(Annotated[Submit, Field(discriminator="verifybot")])


def parse_submit(value: object) -> Submit | None:
    """A card button's data, validated; None when it is not one of ours."""
    try:
        return SUBMIT.validate_python(value)
    except ValidationError:
        return None


def _lines(lines: list[str]) -> str:
    return "\n".join(lines)


def _error(error: VerifybotError) -> Reply:
    """The service's message; it may quote what someone typed."""
    return Reply(text=escape(error.message))


def _summary(view: VerificationView) -> Reply:
    return Reply(
        card=cards.summary_card(view), text=_lines(presenter.summary_lines(safe_view(view)))
    )


class Conversation:
    """Turns each message into service calls and replies; the session is changed in place."""

    def __init__(self, service: VerificationService, store: Store) -> None:
        self.service = service
        self.store = store

    async def handle(self, session: Session, incoming: Incoming) -> list[Reply]:
        """A card submit, else the detail or note being asked, else a typed answer or command."""
        if incoming.value is not None:
            return await self._submit(session, incoming)
        text = clean_text(incoming.text or "")[:MAX_TEXT]
        if session.field is not None:
            return await self._collect(session, incoming, text)
        if session.pending_note is not None:
            return await self._note(session, incoming, text)
        typed = await self._typed_answer(session, incoming, text)
        if typed is not None:
            return typed
        return await self._command(session, incoming, parse_command(text))

    # commands

    async def _command(self, session: Session, incoming: Incoming, command: Command) -> list[Reply]:
        if command.name is CommandName.SECURITY_CHANNEL:
            return [Reply(text=self._register_security_channel(incoming))]
        try:
            result = await run_command(self.service, incoming.actor, command)
        except VerifybotError as error:
            return [_error(error)]
        match result.name:
            case CommandName.START:
                return self._begin(session, result.playbook, result.argument)
            case CommandName.STATUS if result.view is not None:
                return [_summary(result.view)]
            case CommandName.LIST:
                return [Reply(text=presenter.list_text(result.views, safe_view))]
            case CommandName.CANCEL if result.view is not None:
                if session.verification_id == result.view.id:
                    session.finish()
                title = presenter.verification_title(safe_view(result.view))
                return [Reply(text=f"Cancelled {title}.")]
            case _:
                return [Reply(text=presenter.usage())]

    def _register_security_channel(self, incoming: Incoming) -> str:
        """In a channel, by a security user; anyone else is refused (and audited)."""
        channel = None if incoming.personal else incoming.channel_reference
        if channel is None and self.service.roles.is_security(incoming.actor):
            return CHANNEL_ONLY
        try:
            self.service.register_security_channel(incoming.actor, channel or {})
        except PermissionDenied:
            return SECURITY_ONLY
        return CHANNEL_REGISTERED

    # the candidate's details, before the verification starts

    def _playbook_choices(self) -> list[tuple[str, str]]:
        default = self.service.playbooks.default_id
        ordered = sorted(self.service.playbooks, key=lambda p: (p.id != default, p.id))
        return [(playbook.id, playbook.title) for playbook in ordered]

    def _begin(self, session: Session, playbook: str | None, name: str) -> list[Reply]:
        """`start [PLAYBOOK] [NAME]`: the form (with a playbook choice), and the first question."""
        session.stop_collecting()
        session.pending_note = None
        choices = self._playbook_choices()
        collected: dict[str, str | None] = {}
        replies: list[Reply] = []
        if name:
            problem = field_problem(FIELDS_BY_NAME["name"], name)
            if problem:
                replies.append(Reply(text=f"{FIELDS_BY_NAME['name'].label} {escape(problem)}."))
            else:
                collected["name"] = name
        field = next_field(collected)
        assert field is not None, "a new form has its first question"
        session.candidate, session.field = collected, field.name
        session.playbook = playbook
        form = cards.candidate_form(collected, {}, choices, playbook)
        return [
            *replies,
            Reply(card=form, text="Candidate details form"),
            Reply(text=f"Fill in the form, or answer here one at a time. {question_of(field)}"),
        ]

    async def _collect(self, session: Session, incoming: Incoming, text: str) -> list[Reply]:
        field = FIELDS_BY_NAME.get(session.field or "")
        collected = dict(session.candidate or {})
        if field is None:
            session.stop_collecting()
            return [Reply(text=presenter.usage())]
        if text.casefold() in CANCEL_WORDS:
            session.stop_collecting()
            return [Reply(text=STOPPED)]
        value = typed_value(field, text, collected)
        problem = field_problem(field, value)
        if problem:
            return [Reply(text=f"{field.label} {escape(problem)}. {question_of(field)}")]
        collected[field.name] = value
        session.candidate = collected
        following = next_field(collected)
        if following is not None:
            session.field = following.name
            return [Reply(text=question_of(following))]
        try:
            return await self._start(session, incoming, collected)
        except InvalidCandidate as error:
            name, problem = next(iter(error.problems.items()))
            if name not in FIELDS_BY_NAME:
                session.stop_collecting()
                return [_error(error)]
            collected.pop(name, None)
            session.candidate, session.field = collected, name
            field = FIELDS_BY_NAME[name]
            return [Reply(text=f"{field.label} {escape(problem)}. {question_of(field)}")]

    async def _form(
        self, session: Session, incoming: Incoming, form: CandidateSubmit
    ) -> list[Reply]:
        if session.candidate is None:
            return [Reply(text=FORM_USED)]
        details: dict[str, str | None] = dict(form.details())
        if form.playbook:
            session.playbook = form.playbook
        try:
            return await self._start(session, incoming, details)
        except InvalidCandidate as error:
            choices = self._playbook_choices()
            return [
                Reply(
                    card=cards.candidate_form(details, error.problems, choices, session.playbook),
                    text=escape(error.message),
                    replaces=incoming.reply_to_id,
                )
            ]

    async def _start(
        self, session: Session, incoming: Incoming, details: dict[str, str | None]
    ) -> list[Reply]:
        """Start the verification; InvalidCandidate goes to the caller, other errors end it."""
        candidate = {name: value for name, value in details.items() if value is not None}
        try:
            outcome = await self.service.start(
                incoming.actor, candidate, session.playbook, dedupe_key=_dedupe_key(incoming)
            )
        except InvalidCandidate:
            raise
        except VerifybotError as error:
            session.stop_collecting()
            return [_error(error)]
        session.stop_collecting()
        view = outcome.verification
        if not incoming.personal:
            return self._started_in_channel(incoming, view)
        session.remember(view.id)
        shown = safe_view(view)
        started = f"Started {presenter.verification_title(shown)}: {shown.playbook_title}."
        return [Reply(text=started), *self._after(session, outcome)]

    def _started_in_channel(self, incoming: Incoming, view: VerificationView) -> list[Reply]:
        """The steps go to the owner's personal chat; the channel is told that in one line and
        kept as the place to reach them if that chat never opens."""
        if incoming.channel_reference is not None:
            with self.store.transaction():
                self.store.save_conversation_ref(
                    origin_key(view.id),
                    incoming.actor.platform.value,
                    incoming.channel_reference,
                    incoming.actor.user_id,
                )
        self.service.send_step(view.id)
        return [Reply(text=STARTED_IN_CHANNEL.format(id=view.id, playbook=view.playbook_title))]

    # answers

    async def _typed_answer(
        self, session: Session, incoming: Incoming, text: str
    ) -> list[Reply] | None:
        """The answer a typed number or label gives to the current step, else None."""
        if not session.verification_id or not text:
            return None
        prompt = await self._current_prompt(session, incoming.actor)
        option = prompt.option_by_input(text) if prompt else None
        if prompt is None or option is None:
            return None
        if session.step_id != prompt.step_id:
            return [
                Reply(text="That step was answered already; this is the current one."),
                self._ask(session, prompt),
            ]
        return await self._answer(
            session,
            incoming,
            prompt.verification_id,
            prompt.step_id,
            option.value,
            None,
            session.card_id,
        )

    async def _note(self, session: Session, incoming: Incoming, text: str) -> list[Reply]:
        pending = session.pending_note
        assert pending is not None
        if text.casefold() in CANCEL_WORDS:
            session.pending_note = None
            prompt = await self._current_prompt(session, incoming.actor)
            if prompt is None:
                return [Reply(text="OK.")]
            return [Reply(text="OK, choose another answer."), self._ask(session, prompt)]
        if not text:
            return [Reply(text=f"Type the note: {escape(pending.label)}")]
        return await self._answer(
            session,
            incoming,
            pending.verification_id,
            pending.step_id,
            pending.option,
            text,
            session.card_id,
            change=pending.change,
        )

    async def _answer(
        self,
        session: Session,
        incoming: Incoming,
        verification_id: str,
        step_id: str,
        option: str,
        note: str | None,
        replaces: str | None,
        change: bool = False,
    ) -> list[Reply]:
        try:
            outcome = await self.service.answer(
                incoming.actor,
                verification_id,
                step_id,
                option,
                note=note,
                change=change,
                dedupe_key=_dedupe_key(incoming),
            )
        except NoteRequired as error:
            session.pending_note = PendingNote(
                verification_id=verification_id,
                step_id=step_id,
                option=option,
                label=error.note_label,
                change=change,
            )
            session.card_id = replaces
            return [
                Reply(
                    text=f"This answer needs a note: {escape(error.note_label)}. Type it as your "
                    "next message, or `cancel` to choose another answer."
                )
            ]
        except VerifybotError as error:
            return [_error(error)]
        session.pending_note = None
        recorded = outcome.recorded
        line = presenter.recorded_line(safe_finding(recorded)) if recorded else ""
        if outcome.duplicate:
            return [Reply(text=f"Already recorded, nothing changed: {line}")]
        replies = []
        if recorded is not None:
            replies.append(
                Reply(
                    card=cards.answered_card(recorded, outcome.verification),
                    text=line,
                    replaces=replaces,
                )
            )
        if change and not outcome.finished:
            return [*replies, *([Reply(text=ESCALATED)] if outcome.escalated else [])]
        return [*replies, *self._after(session, outcome)]

    def _after(self, session: Session, outcome: AnswerOutcome) -> list[Reply]:
        """Computed findings, the escalation notice, then the next step or the summary."""
        replies = [
            Reply(text=presenter.finding_line(safe_finding(finding)))
            for finding in outcome.computed
        ]
        if outcome.escalated:
            replies.append(Reply(text=ESCALATED))
        if outcome.next_prompt is not None:
            replies.append(self._ask(session, outcome.next_prompt))
            return replies
        session.finish()
        return [*replies, _summary(outcome.verification)]

    def _ask(self, session: Session, prompt: Prompt) -> Reply:
        session.ask(prompt)
        return Reply(
            card=cards.prompt_card(prompt),
            text=presenter.prompt_header(safe_prompt(prompt)),
            prompt_step=prompt.step_id,
        )

    async def _current_prompt(self, session: Session, actor: Actor) -> Prompt | None:
        """The service's next step of the session's verification (the source of truth)."""
        if not session.verification_id:
            return None
        try:
            prompt = await self.service.next_prompt(actor, session.verification_id)
        except VerifybotError:
            prompt = None
        if prompt is None:
            session.finish()
        return prompt

    # card buttons

    async def _submit(self, session: Session, incoming: Incoming) -> list[Reply]:
        data = parse_submit(incoming.value)
        if isinstance(data, AnswerSubmit):
            try:
                verification_id = parse_verification_id(data.verification)
            except InvalidInput as error:
                return [_error(error)]
            if (
                verification_id not in session.started
                and verification_id != session.verification_id
                and not self._owns(incoming.actor, verification_id)
            ):
                return [Reply(text=NOT_YOURS)]
            return await self._answer(
                session,
                incoming,
                verification_id,
                data.step,
                data.option,
                data.note,
                incoming.reply_to_id,
                change=data.change,
            )
        if isinstance(data, ChangeSubmit):
            try:
                prompt = await self.service.change_prompt(
                    incoming.actor, data.verification, data.step
                )
            except VerifybotError as error:
                return [_error(error)]
            return [
                Reply(
                    card=cards.prompt_card(prompt, change=True),
                    text=f"Change: {presenter.prompt_header(safe_prompt(prompt))}",
                    replaces=incoming.reply_to_id,
                )
            ]
        if isinstance(data, DecideSubmit):
            return await self._decide(incoming, data)
        if isinstance(data, CandidateSubmit):
            return await self._form(session, incoming, data)
        if isinstance(data, ShipSubmit):
            return await self._ship(session, incoming, data)
        if isinstance(data, OverdueSubmit):
            return await self._acknowledge_overdue(incoming, data)
        return [Reply(text=NOT_UNDERSTOOD)]

    def _owns(self, actor: Actor, verification_id: str) -> bool:
        """The card is of the actor's own verification (sent to their chat by the outbox)."""
        row = self.store.verification(verification_id)
        return row is not None and self.service.roles.can_answer(actor, owner_of(row))

    async def _acknowledge_overdue(self, incoming: Incoming, data: OverdueSubmit) -> list[Reply]:
        try:
            await self.service.acknowledge_overdue(incoming.actor, data.verification)
        except VerifybotError as error:
            return [_error(error)]
        ref = {"kind": "overdue", "verification_id": parse_verification_id(data.verification)}
        notice = self.service.render_notice(ref)
        if not isinstance(notice, OverdueNotice):
            return [Reply(text="Acknowledged.")]
        manager = user_name(self.store, notice.requested_by)
        line = f"Acknowledged by {escape(notice.acknowledged_by or '')}"
        card = overdue_card(notice, manager)
        return [Reply(card=card, text=line, replaces=incoming.reply_to_id)]

    async def _ship(self, session: Session, incoming: Incoming, data: ShipSubmit) -> list[Reply]:
        """The laptop shipping address from the waiting summary card; then what it computed."""
        try:
            outcome = await self.service.give_shipping_address(
                incoming.actor, data.verification, (data.shipping_address or "").strip()
            )
        except VerifybotError as error:
            return [_error(error)]
        if outcome.duplicate:
            return [Reply(text="That shipping address was already given: nothing changed.")]
        return [Reply(text="Laptop shipping address recorded."), *self._after(session, outcome)]

    async def _decide(self, incoming: Incoming, data: DecideSubmit) -> list[Reply]:
        try:
            view, changed = await self.service.decide(
                incoming.actor, data.escalation, data.decision, data.reason
            )
        except VerifybotError as error:
            return [_error(error)]
        shown = safe_escalation(view)
        line = presenter.decision_line(shown.status, shown.decided_by or "", shown.decision_reason)
        if not changed:
            return [Reply(text=f"Nothing changed: {line}")]
        return [Reply(card=cards.escalation_card(view), text=line, replaces=incoming.reply_to_id)]


def _dedupe_key(incoming: Incoming) -> str | None:
    """One answer per incoming activity, whatever the channel redelivers."""
    if not incoming.activity_id:
        return None
    return f"teams:{incoming.conversation_id}:{incoming.activity_id}"[:500]

"""Untrusted input from Slack: request envelopes, button values and modal metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from bot.errors import InvalidInput
from bot.ids import parse_escalation_id, parse_verification_id

SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Short = Annotated[str, StringConstraints(max_length=255)]
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
SEPARATOR = "|"
ENVELOPE = "verifybot_envelope"
M = TypeVar("M", bound=BaseModel)
INVALID_BUTTON = "That button is not valid any more: use /verify status to see where things stand."


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(Loose):
    id: SlackId


class Channel(Loose):
    id: SlackId


class Message(Loose):
    ts: Short


class ActionElement(Loose):
    action_id: Short
    value: Annotated[str, StringConstraints(max_length=2000)] | None = None
    action_ts: Short | None = None


class ViewState(Loose):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class SubmittedView(Loose):
    id: SlackId
    type: Short
    callback_id: Short
    private_metadata: Annotated[str, StringConstraints(max_length=3000)] = ""
    state: ViewState = ViewState()


class BlockActions(Loose):
    type: Literal["block_actions"]
    user: User
    trigger_id: Short | None = None
    channel: Channel | None = None
    message: Message | None = None
    container: dict[str, Any] = {}
    actions: Annotated[list[ActionElement], Field(min_length=1, max_length=25)]


class ViewSubmission(Loose):
    type: Literal["view_submission"]
    user: User
    view: SubmittedView


class SlashCommand(Loose):
    command: Short
    text: Annotated[str, StringConstraints(max_length=4000)] = ""
    user_id: SlackId
    trigger_id: Short | None = None
    channel_id: SlackId | None = None


class Event(Loose):
    type: Short
    user: SlackId | None = None
    tab: Short | None = None


class EventCallback(Loose):
    type: Literal["event_callback"]
    event: Event


ENVELOPES: dict[str, TypeAdapter[Any]] = {
    "block_actions": TypeAdapter(BlockActions),
    "view_submission": TypeAdapter(ViewSubmission),
    "event_callback": TypeAdapter(EventCallback),
}
COMMAND = TypeAdapter(SlashCommand)
PASSED_TO_BOLT = frozenset({"url_verification"})


class UnsupportedPayload(Exception):
    """A kind of request verifybot has no listener for (bolt would fail on a malformed one)."""


def envelope(body: dict[str, Any]) -> BaseModel | None:
    """The validated envelope of a request verifybot handles; None for Slack's own checks.

    ValidationError when it lacks what bolt and the listeners read; UnsupportedPayload for
    kinds verifybot does not handle.
    """
    if "command" in body:
        return COMMAND.validate_python(body)
    kind = body.get("type")
    adapter = ENVELOPES.get(kind) if isinstance(kind, str) else None
    if adapter is not None:
        return adapter.validate_python(body)
    if kind in PASSED_TO_BOLT or body.get("ssl_check") == "1":
        return None
    raise UnsupportedPayload(str(kind)[:50])


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise InvalidInput(INVALID_BUTTON)
    return value


def _parts(text: str | None, count: int) -> list[str]:
    parts = (text or "").split(SEPARATOR)
    if len(parts) != count:
        raise InvalidInput(INVALID_BUTTON)
    return parts


def _verification(value: str) -> str:
    try:
        return parse_verification_id(value)
    except InvalidInput:
        raise InvalidInput(INVALID_BUTTON) from None


@dataclass(frozen=True)
class AnswerRef:
    """An option button: which verification, step and option, and whether it changes an answer."""

    verification_id: str
    step_id: str
    option: str
    change: bool = False

    def encode(self) -> str:
        flag = "c" if self.change else ""
        return SEPARATOR.join((self.verification_id, self.step_id, self.option, flag))

    @classmethod
    def decode(cls, text: str | None) -> AnswerRef:
        verification, step, option, flag = _parts(text, 4)
        if flag not in ("", "c"):
            raise InvalidInput(INVALID_BUTTON)
        return cls(_verification(verification), _identifier(step), _identifier(option), flag == "c")


@dataclass(frozen=True)
class StepRef:
    """A "Change answer" button: the step whose options are shown again."""

    verification_id: str
    step_id: str

    def encode(self) -> str:
        return SEPARATOR.join((self.verification_id, self.step_id))

    @classmethod
    def decode(cls, text: str | None) -> StepRef:
        verification, step = _parts(text, 2)
        return cls(_verification(verification), _identifier(step))


def decode_verification(text: str | None) -> str:
    return _verification(text or "")


def decode_escalation(text: str | None) -> int:
    try:
        return parse_escalation_id(text or "")
    except InvalidInput:
        raise InvalidInput(INVALID_BUTTON) from None


class MessageRef(BaseModel):
    """Where a message is, so that a modal's submit can update it."""

    channel: SlackId | None = None
    ts: Short | None = None


class NoteMetadata(MessageRef):
    answer: Annotated[str, StringConstraints(max_length=300)]


class ClearMetadata(MessageRef):
    escalation: int


def encode_metadata(metadata: BaseModel) -> str:
    return metadata.model_dump_json(exclude_none=True)


def decode_metadata(model: type[M], text: str) -> M:
    """Modal metadata as sent; InvalidInput when it is not what verifybot put there."""
    try:
        return model.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        raise InvalidInput("this form is not valid any more; start again") from None


def input_value(view: SubmittedView, block_id: str) -> str | None:
    """The typed text or chosen option of an input block (action id `value`); None when empty."""
    element = view.state.values.get(block_id, {}).get("value", {})
    if not isinstance(element, dict):
        return None
    selected = element.get("selected_option")
    value = selected.get("value") if isinstance(selected, dict) else element.get("value")
    return value if isinstance(value, str) and value.strip() else None

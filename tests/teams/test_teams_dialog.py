"""The conversation logic turn by turn, through the SDK's TestAdapter (no HTTP, no connector).

These run on a small pinned playbook (tests/teams/playbooks), so the wording they check
does not move when the real playbooks are edited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botbuilder.core import PrivateConversationState, TurnContext
from botbuilder.core.adapters import TestAdapter, TestFlow
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

from bot.models import Actor, Platform
from bot.runtime import Core, build_core
from handlers.teams.bot import VerifyBot, actor_of, text_without_mention
from handlers.teams.conversation import (
    CHANNEL_ONLY,
    NOT_UNDERSTOOD,
    NOT_YOURS,
    STOPPED,
    Conversation,
)
from handlers.teams.storage import SqliteStorage
from tests.fakes.bot_connector import activity_text
from tests.teams.harness import HM, OTHER_HM, SECURITY, TeamsUser, teams_settings

Inspector = Callable[[Activity, str], None]
PLAYBOOKS = Path(__file__).with_name("playbooks")

JANE = {
    "email": "jane.doe@example.com",
    "home_address": "123 Main St, Springfield, IL 62701",
}


def shown(activity: Activity) -> str:
    return activity_text(activity.serialize())


def says(*parts: str) -> Inspector:
    """An assert_reply inspector: the reply (its text or card) contains every part."""

    def inspect(activity: Activity, description: str | None = None) -> None:
        text = shown(activity)
        for part in parts:
            assert part in text, f"{part!r} not in {text!r}"

    return inspect


def user_template(user: TeamsUser, aad: bool = True) -> Activity:
    return Activity(
        channel_id="msteams",
        service_url="https://smba.example.invalid/",
        from_property=ChannelAccount(
            id=f"29:{user.aad_id}", name=user.name, aad_object_id=user.aad_id if aad else None
        ),
        recipient=ChannelAccount(id="28:bot", name="verifybot"),
        conversation=ConversationAccount(id=f"a:{user.aad_id}", conversation_type="personal"),
    )


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    built = build_core(teams_settings(tmp_path / "dialog.db", playbooks_dir=str(PLAYBOOKS)))
    yield built
    built.close()


@pytest.fixture
def make_adapter(core: Core) -> Callable[..., TestAdapter]:
    def make(user: TeamsUser = HM, aad: bool = True) -> TestAdapter:
        state = PrivateConversationState(SqliteStorage(core.store))
        bot = VerifyBot(Conversation(core.service, core.store), state, core.store)
        return TestAdapter(bot.on_turn, user_template(user, aad))

    return make


@pytest.fixture
def adapter(make_adapter: Callable[..., TestAdapter]) -> TestAdapter:
    return make_adapter()


async def start_jane(adapter: TestAdapter) -> TestFlow:
    flow = await adapter.send("start Jane Doe")
    flow = await flow.assert_reply(says("Candidate details", "[input: Email (required)]"))
    flow = await flow.assert_reply(says("What is the candidate's email address?"))
    for text in (JANE["email"], "skip", "skip", JANE["home_address"]):
        flow = await (await flow.send(text)).assert_reply(lambda a, d=None: None)
    flow = await (await flow.send("same")).assert_reply(says("referred them"))
    flow = await (await flow.send("skip")).assert_reply(says("payout email"))
    flow = await flow.send("skip")
    return await flow.assert_reply(says("Started Jane Doe (VB-"))


async def test_help_and_unknown_text_get_the_usage(adapter: TestAdapter) -> None:
    flow = await adapter.send("help")
    flow = await flow.assert_reply(says("`start [name]`", "`status NAME|ID`", "`cancel ID`"))
    flow = await flow.send("what can you do?")
    await flow.assert_reply(says("`list`: your open verifications"))


async def test_details_are_asked_one_at_a_time_and_an_invalid_email_is_asked_again(
    adapter: TestAdapter, core: Core
) -> None:
    flow = await adapter.send("verify start Jane Doe")
    flow = await flow.assert_reply(says("Candidate details"))
    flow = await flow.assert_reply(says("email address?"))
    flow = await flow.send("jane.doe@example")
    flow = await flow.assert_reply(says("Email not a valid email address", "email address?"))
    flow = await flow.send(JANE["email"])
    flow = await flow.assert_reply(says("phone number?"))
    flow = await flow.send("555")
    flow = await flow.assert_reply(says("Phone not a valid phone number"))
    flow = await flow.send("skip")
    flow = await flow.assert_reply(says("Which role"))
    flow = await flow.send("Backend Engineer")
    flow = await flow.assert_reply(says("home address"))
    flow = await flow.send("x")
    flow = await flow.assert_reply(says("Home address"))
    flow = await flow.send(JANE["home_address"])
    flow = await flow.assert_reply(says("Where should the laptop be shipped?"))
    flow = await flow.send("same")
    flow = await flow.assert_reply(says("Who referred them", "Type `skip`"))
    flow = await flow.send("not an email")
    flow = await flow.assert_reply(says("Referred by not a valid email address"))
    flow = await flow.send("Referrer@Example.com")
    flow = await flow.assert_reply(says("IBAN or payout email", "Type `skip`"))
    flow = await flow.send("DE89 3704 0044 0532 0130 00")
    flow = await flow.assert_reply(says("Started Jane Doe (VB-", "Teams test checks"))
    flow = await flow.assert_reply(says("Jane Doe: Notarized proof of identity (Step 1 of 4)"))
    [view] = await core.service.verifications(Actor(user_id=HM.aad_id, platform=Platform.TEAMS))
    assert view.candidate.email == JANE["email"]
    assert view.candidate.role == "Backend Engineer"
    assert view.candidate.phone is None
    assert view.candidate.shipping_address == JANE["home_address"]
    assert view.candidate.payout_account == "****3000"
    assert view.candidate.referred_by == "Referrer@example.com"
    stored = core.store.candidate(view.candidate.id)
    assert "DE89" not in str(stored) and "370400440532013000" not in str(stored)
    kept = core.store.db.execute("SELECT data FROM bot_state").fetchall()
    assert kept and "DE89" not in str(kept), "the typed payout account is not kept in the session"


async def test_a_typed_number_answers_and_a_note_is_asked_for_when_needed(
    adapter: TestAdapter, core: Core
) -> None:
    flow = await start_jane(adapter)
    flow = await flow.assert_reply(says("Step 1 of 4", "[button: 1. Notarized ID received"))
    flow = await flow.send("1")
    flow = await flow.assert_reply(says("This answer needs a note: Notary's name"))
    flow = await flow.send("Notary Ann Smith, commission 12345, IL")
    flow = await flow.assert_reply(says("Background check (Step 2 of 4)"))
    updated = adapter.updated_activities[-1]
    assert "Recorded Notarized ID received and matches (pass)" in shown(updated)
    [view] = await core.service.verifications(Actor(user_id=HM.aad_id, platform=Platform.TEAMS))
    assert view.findings[0].note == "Notary Ann Smith, commission 12345, IL"

    flow = await flow.send("clear, identity MATCHES")
    flow = await flow.assert_reply(says("[PASS] Laptop shipping address"))
    flow = await flow.assert_reply(says("Camera-on interview (Step 4 of 4)"))
    flow = await flow.send("²")
    flow = await flow.assert_reply(says("`start [name]`"))
    flow = await flow.send("1")
    flow = await flow.assert_reply(says("Outcome: Cleared", "[PASS] Camera-on interview"))
    assert len(adapter.updated_activities) == 3
    flow = await flow.send("1")
    await flow.assert_reply(says("`start [name]`"))


async def test_cancel_at_a_note_goes_back_to_the_step(adapter: TestAdapter, core: Core) -> None:
    flow = await start_jane(adapter)
    flow = await flow.assert_reply(says("Step 1 of 4"))
    flow = await flow.send("1")
    flow = await flow.assert_reply(says("This answer needs a note"))
    flow = await flow.send("cancel")
    flow = await flow.assert_reply(says("OK, choose another answer."))
    flow = await flow.assert_reply(says("Notarized proof of identity (Step 1 of 4)"))
    flow = await flow.send("2")
    flow = await flow.assert_reply(says("This answer was sent to the security team for review."))
    recorded = shown(adapter.updated_activities[-1])
    assert "Recorded Not provided or candidate declined (block)" in recorded
    await flow.assert_reply(says("Background check (Step 2 of 4)"))


async def test_cancel_while_giving_details_starts_nothing(adapter: TestAdapter, core: Core) -> None:
    flow = await adapter.send("start")
    flow = await flow.assert_reply(says("Candidate details"))
    flow = await flow.assert_reply(says("full name?"))
    flow = await flow.send("cancel")
    await flow.assert_reply(says(STOPPED))
    assert core.store.list_verifications() == []


async def test_a_card_of_someone_elses_verification_is_refused(
    adapter: TestAdapter, make_adapter: Callable[..., TestAdapter], core: Core
) -> None:
    await start_jane(adapter)
    [view] = await core.service.verifications(Actor(user_id=HM.aad_id, platform=Platform.TEAMS))
    other = make_adapter(OTHER_HM)
    forged = {"verifybot": "answer", "verification": view.id, "step": "notarized_id"}
    flow = await other.send(Activity(type="message", value={**forged, "option": "verified"}))
    await flow.assert_reply(says(NOT_YOURS))
    flow = await other.send(Activity(type="message", value={"verifybot": "answer"}))
    await flow.assert_reply(says(NOT_UNDERSTOOD))
    flow = await other.send(Activity(type="message", value=["not", "an", "object"]))
    await flow.assert_reply(says(NOT_UNDERSTOOD))
    assert core.store.answers(view.id) == []


async def test_status_list_and_cancel(adapter: TestAdapter, core: Core) -> None:
    flow = await start_jane(adapter)
    flow = await flow.assert_reply(says("Step 1 of 4"))
    [view] = await core.service.verifications(Actor(user_id=HM.aad_id, platform=Platform.TEAMS))
    flow = await flow.send("list")
    flow = await flow.assert_reply(says(f"Jane Doe ({view.id}): 0 of 4 steps answered"))
    flow = await flow.send("status jane doe")
    flow = await flow.assert_reply(says(f"Verification {view.id} of Jane Doe", "In progress"))
    flow = await flow.send("status VB-00000000")
    flow = await flow.assert_reply(says("no verification VB-00000000"))
    flow = await flow.send("cancel nonsense")
    flow = await flow.assert_reply(says("not a verification id"))
    flow = await flow.send(f"cancel {view.id.lower()}")
    flow = await flow.assert_reply(says(f"Cancelled Jane Doe ({view.id})."))
    flow = await flow.send("list")
    flow = await flow.assert_reply(says("You have no open verifications."))
    flow = await flow.send("1")
    await flow.assert_reply(says("`start [name]`"))


async def test_security_channel_here_in_a_personal_chat_says_where_to_say_it(
    make_adapter: Callable[..., TestAdapter], core: Core
) -> None:
    flow = await make_adapter(SECURITY).send("security channel here")
    await flow.assert_reply(says(CHANNEL_ONLY))
    assert core.store.conversation_ref("teams:security") is None


async def test_the_session_is_kept_in_sqlite_between_turns(
    adapter: TestAdapter, core: Core
) -> None:
    await start_jane(adapter)
    rows = list(core.store.db.query("SELECT key, data FROM bot_state"))
    assert len(rows) == 1
    assert rows[0]["key"].startswith("msteams/conversations/a:aad-hm-1/users/29:aad-hm-1")
    assert rows[0]["data"].startswith("v1:"), "sealed: a session may hold a half-filled form"
    [state] = core.store.state_read([rows[0]["key"]]).values()
    assert state["data"]["session"]["verification_id"].startswith("VB-")


def test_the_actor_is_the_aad_object_id_else_the_channel_user_id() -> None:
    with_aad = user_template(HM)
    assert actor_of(with_aad) == Actor(
        user_id=HM.aad_id, platform=Platform.TEAMS, display_name=HM.name
    )
    emulator = user_template(HM, aad=False)
    assert actor_of(emulator).user_id == f"29:{HM.aad_id}"


def test_only_the_bots_own_mention_is_taken_out_of_the_text() -> None:
    activity = Activity().deserialize(
        {
            "type": "message",
            "text": "<at>verifybot</at> status <at>Jane</at>",
            "recipient": {"id": "28:bot"},
            "entities": [
                {"type": "mention", "text": "<at>verifybot</at>", "mentioned": {"id": "28:bot"}},
                {"type": "mention", "text": "<at>Jane</at>", "mentioned": {"id": "29:jane"}},
            ],
        }
    )
    assert text_without_mention(activity) == "status <at>Jane</at>"
    assert TurnContext.get_mentions(activity)

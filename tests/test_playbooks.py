"""The shipped playbooks, every option of every step through the service, and the refusal of
invalid playbook files with a message that names the file and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bot.errors import NoteRequired
from bot.models import Outcome, Result
from bot.playbook import (
    Check,
    PlaybookError,
    PlaybookRegistry,
    load_playbook,
    parse_playbook,
)

PLAYBOOK_DIR = Path(__file__).resolve().parents[1] / "playbooks"
REGISTRY = PlaybookRegistry.from_directory(PLAYBOOK_DIR)

OPTIONS = [
    pytest.param(playbook.id, step.id, option.value, id=f"{playbook.id}:{step.id}:{option.value}")
    for playbook in REGISTRY
    for step in playbook.steps
    if not step.computed
    for option in step.options
]
NOTE_REQUIRED = [
    pytest.param(playbook.id, step.id, option.value, id=f"{playbook.id}:{step.id}:{option.value}")
    for playbook in REGISTRY
    for step in playbook.steps
    for option in step.options
    if option.note_required
]

PRE_OFFER_TABLE = [
    (
        "notarized_id",
        None,
        [("verified", "pass"), ("mismatch", "block"), ("not_provided", "block")],
    ),
    (
        "background_check",
        None,
        [
            ("clear", "pass"),
            ("consider", "review"),
            ("pending", "review"),
            ("identity_mismatch", "block"),
            ("not_started", "block"),
        ],
    ),
    (
        "camera_interview",
        None,
        [
            ("matched", "pass"),
            ("virtual_background", "review"),
            ("camera_refused", "block"),
            ("did_not_match", "block"),
        ],
    ),
    (
        "liveness_probes",
        None,
        [("natural", "pass"), ("artifacts", "review"), ("refused", "block")],
    ),
    (
        "shipping_address",
        "address_match",
        [
            ("match", "pass"),
            ("mismatch", "review"),
            ("same_building", "review"),
            ("shared", "block"),
        ],
    ),
    (
        "identity_signals",
        "identity_signals",
        [("none", "pass"), ("weak", "review"), ("linked", "block"), ("watchlisted", "block")],
    ),
    (
        "education_history",
        None,
        [("consistent", "pass"), ("inconsistent", "review"), ("unverified", "review")],
    ),
    ("profile_photo", None, [("genuine", "pass"), ("suspected_ai", "review")]),
]
PRE_OFFER_NOTE_REQUIRED = {
    ("notarized_id", "verified"),
    ("notarized_id", "mismatch"),
    ("background_check", "consider"),
    ("background_check", "identity_mismatch"),
    ("camera_interview", "did_not_match"),
    ("liveness_probes", "artifacts"),
    ("education_history", "inconsistent"),
    ("education_history", "unverified"),
    ("profile_photo", "suspected_ai"),
}
EXPECTED_OUTCOME = {
    Result.PASS: Outcome.CLEARED,
    Result.REVIEW: Outcome.NEEDS_REVIEW,
    Result.BLOCK: Outcome.BLOCKED,
}


def count(store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# the shipped playbooks


def test_both_shipped_playbooks_load_and_pre_offer_is_the_default() -> None:
    assert sorted(playbook.id for playbook in REGISTRY) == ["device-handover", "pre-offer"]
    assert REGISTRY.get().id == "pre-offer"
    assert REGISTRY.get("device_handover").id == "device-handover"


def test_pre_offer_playbook_has_exactly_the_agreed_steps_options_and_results() -> None:
    playbook = REGISTRY.get("pre-offer")
    table = [
        (
            step.id,
            step.check.value if step.check else None,
            [(option.value, option.result.value) for option in step.options],
        )
        for step in playbook.steps
    ]
    assert table == PRE_OFFER_TABLE
    noted = {
        (step.id, option.value)
        for step in playbook.steps
        for option in step.options
        if option.note_required
    }
    assert noted == PRE_OFFER_NOTE_REQUIRED


def test_device_handover_playbook_has_no_computed_step_and_every_step_can_pass_and_fail() -> None:
    playbook = REGISTRY.get("device-handover")
    assert [step.id for step in playbook.steps] == [
        "edr_reporting",
        "remote_access_tools",
        "ip_kvm",
        "first_logins",
        "screen_sharing",
        "mfa_devices",
    ]
    for step in playbook.steps:
        assert not step.computed
        results = {option.result for option in step.options}
        assert Result.PASS in results
        assert results - {Result.PASS}


def test_every_note_required_option_has_a_note_label() -> None:
    for playbook in REGISTRY:
        for step in playbook.steps:
            for option in step.options:
                if option.note_required:
                    assert option.note_label, (playbook.id, step.id, option.value)


@pytest.mark.parametrize(("playbook_id", "step_id", "value"), OPTIONS)
async def test_each_option_records_its_result_and_sets_the_outcome(
    service, store, actor, candidate, pass_answers, answer_steps, playbook_id, step_id, value
) -> None:
    playbook = REGISTRY.get(playbook_id)
    option = playbook.step(step_id).option(value)
    hm = actor()
    started = await service.start(hm, candidate(), playbook_id)
    verification_id = started.verification.id
    others = {step: given for step, given in pass_answers[playbook_id].items() if step != step_id}
    await answer_steps(hm, verification_id, others)
    assert (await service.view(hm, verification_id)).outcome is Outcome.IN_PROGRESS

    note = "evidence: report 42" if option.note_required else None
    result = await service.answer(hm, verification_id, step_id, value, note)

    assert result.recorded is not None
    assert (result.recorded.step, result.recorded.answer) == (step_id, value)
    assert result.recorded.result is option.result
    assert result.recorded.reason.startswith(option.label)
    assert result.recorded.note == note
    assert result.escalated is (option.result is not Result.PASS)
    assert result.finished
    view = result.verification
    assert view.answered == view.total == len(playbook.steps)
    assert view.outcome is EXPECTED_OUTCOME[option.result]
    assert (view.escalation_id is not None) is (option.result is not Result.PASS)
    assert store.verification(verification_id)["status"] == view.outcome.value


@pytest.mark.parametrize(("playbook_id", "step_id", "value"), NOTE_REQUIRED)
async def test_note_required_option_without_a_note_is_refused_and_writes_nothing(
    service, store, actor, candidate, security_notifier, playbook_id, step_id, value
) -> None:
    hm = actor()
    started = await service.start(hm, candidate(), playbook_id)
    before = {table: count(store, table) for table in ("answers", "events", "outbox")}
    note_label = REGISTRY.get(playbook_id).step(step_id).option(value).note_label

    for empty in (None, "", "   \t "):
        with pytest.raises(NoteRequired) as raised:
            await service.answer(hm, started.verification.id, step_id, value, empty)
        assert raised.value.note_label == note_label
        assert raised.value.field == "note"

    assert {table: count(store, table) for table in before} == before
    assert store.escalation_for(started.verification.id) is None


async def test_computed_step_cannot_be_answered_by_hand(service, actor, candidate) -> None:
    from bot.errors import InvalidInput

    started = await service.start(actor(), candidate())
    with pytest.raises(InvalidInput, match="checked by verifybot"):
        await service.answer(actor(), started.verification.id, "shipping_address", "match")


async def test_prompts_follow_the_playbook_order_and_skip_the_computed_step(
    service, actor, candidate, pass_answers
) -> None:
    hm = actor()
    outcome = await service.start(hm, candidate())
    seen = []
    while outcome.next_prompt is not None:
        prompt = outcome.next_prompt
        seen.append((prompt.step_id, prompt.progress))
        value, note = pass_answers["pre-offer"][prompt.step_id]
        outcome = await service.answer(hm, prompt.verification_id, prompt.step_id, value, note)
    assert seen == [
        ("notarized_id", "Step 1 of 8"),
        ("background_check", "Step 2 of 8"),
        ("camera_interview", "Step 3 of 8"),
        ("liveness_probes", "Step 4 of 8"),
        ("education_history", "Step 7 of 8"),
        ("profile_photo", "Step 8 of 8"),
    ]
    assert outcome.verification.outcome is Outcome.CLEARED


# invalid playbooks


def valid_playbook() -> dict:
    return yaml.safe_load((PLAYBOOK_DIR / "pre_offer.yml").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: object, name: str = "x.yml") -> Path:
    path = tmp_path / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PlaybookError) as raised:
        load_playbook(path)
    return str(raised.value)


def test_a_copy_of_the_shipped_playbook_is_valid(tmp_path: Path) -> None:
    assert load_playbook(write(tmp_path, valid_playbook())).id == "pre-offer"


def test_unknown_result_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][2]["options"][1]["result"] = "maybe"
    path = write(tmp_path, data)
    assert f"{path}: steps[2].options[1].result: must be one of pass, review, block" in refusal(
        path
    )


def test_the_message_names_the_source_given_to_the_parser() -> None:
    data = valid_playbook()
    data["steps"][2]["options"][1]["result"] = "maybe"
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(yaml.safe_dump(data), "x.yml")
    assert (
        str(raised.value) == "x.yml: steps[2].options[1].result: must be one of pass, review, block"
    )


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][1]["colour"] = "red"
    path = write(tmp_path, data)
    assert f"{path}: steps[1].colour: is not a known field" in refusal(path)


def test_unknown_top_level_field_is_refused(tmp_path: Path) -> None:
    data = {**valid_playbook(), "owner": "security"}
    path = write(tmp_path, data)
    assert f"{path}: owner: is not a known field" in refusal(path)


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        (("title",), "title"),
        (("steps", 0, "question"), "steps[0].question"),
        (("steps", 4, "options", 0, "label"), "steps[4].options[0].label"),
    ],
)
def test_missing_field_is_refused(tmp_path: Path, remove: tuple, field: str) -> None:
    data = valid_playbook()
    parent = data
    for key in remove[:-1]:
        parent = parent[key]
    del parent[remove[-1]]
    path = write(tmp_path, data)
    assert f"{path}: {field}: is required" in refusal(path)


def test_duplicate_step_ids_are_refused(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"].append(copy.deepcopy(data["steps"][0]))
    path = write(tmp_path, data)
    message = refusal(path)
    assert message.startswith(f"{path}: steps: ")
    assert "appears more than once" in message


def test_duplicate_step_ids_name_the_steps_field_and_the_id(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"].append(copy.deepcopy(data["steps"][0]))
    path = write(tmp_path, data)
    message = refusal(path)
    assert message.startswith(f"{path}: steps")
    assert "notarized_id" in message


def test_duplicate_option_values_are_refused(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][1]["options"][1]["value"] = "clear"
    path = write(tmp_path, data)
    expected = f"{path}: steps[1].options: the option value 'clear' appears more than once"
    assert expected in refusal(path)


@pytest.mark.parametrize(
    "values",
    [["match", "mismatch"], ["match", "mismatch", "shared", "maybe"], ["same", "other", "shared"]],
)
def test_computed_step_with_other_options_is_refused(tmp_path: Path, values: list[str]) -> None:
    data = valid_playbook()
    template = data["steps"][4]["options"][0]
    data["steps"][4]["options"] = [{**template, "value": value} for value in values]
    path = write(tmp_path, data)
    message = refusal(path)
    assert f"{path}: steps[4]: " in message
    assert "exactly the options match, mismatch, shared" in message


def test_unknown_check_is_refused(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][4]["check"] = "phone_match"
    path = write(tmp_path, data)
    expected = f"must be one of {Check.ADDRESS_MATCH.value}, {Check.IDENTITY_SIGNALS.value}"
    assert f"{path}: steps[4].check: {expected}" in refusal(path)


def test_step_with_a_single_option_is_refused(tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][0]["options"] = data["steps"][0]["options"][:1]
    path = write(tmp_path, data)
    assert f"{path}: steps[0]: a step needs at least two options" in refusal(path)


def test_playbook_without_steps_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {**valid_playbook(), "steps": []})
    assert "a playbook needs at least one step" in refusal(path)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", "Pre Offer!", "id: String should match pattern"),
        ("version", 0, "version: Input should be greater than 0"),
    ],
)
def test_bad_identifier_or_version_is_refused(
    tmp_path: Path, field: str, value: object, expected: str
) -> None:
    path = write(tmp_path, {**valid_playbook(), field: value})
    assert f"{path}: {expected}" in refusal(path)


def test_text_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "id: pre-offer\nsteps: [unclosed\n")
    message = refusal(path)
    assert message.startswith(f"{path}: line 3: not valid YAML: ")
    assert "\n" not in message
    assert "<unicode string>" not in message


@pytest.mark.parametrize("text", ["- just\n- a list\n", "a string\n", ""])
def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert refusal(path).startswith(f"{path}: a playbook is a mapping")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    assert refusal(path).startswith(f"{path}: cannot be read")


def test_registry_refuses_two_playbooks_with_one_id(tmp_path: Path) -> None:
    write(tmp_path, valid_playbook(), "a.yml")
    write(tmp_path, valid_playbook(), "b.yml")
    with pytest.raises(PlaybookError) as raised:
        PlaybookRegistry.from_directory(tmp_path)
    assert str(raised.value).startswith(
        f"{tmp_path / 'a.yml'} and {tmp_path / 'b.yml'} both have the playbook id 'pre-offer'"
    )


def test_registry_names_the_known_playbooks_for_an_unknown_id() -> None:
    with pytest.raises(PlaybookError, match=r"unknown playbook 'nope' \(known: "):
        REGISTRY.get("nope")


# `verifybot playbook validate` and `playbook show`


def test_validate_passes_the_shipped_playbooks(cli_runner) -> None:
    result = cli_runner("playbook", "validate")
    assert result.exit_code == 0, result.output
    assert "pre_offer.yml: ok (pre-offer v2, 8 steps)" in result.stdout
    assert "device_handover.yml: ok (device-handover v2, 6 steps)" in result.stdout


def test_validate_exits_2_for_a_bad_file_and_names_the_field(cli_runner, tmp_path: Path) -> None:
    data = valid_playbook()
    data["steps"][2]["options"][1]["result"] = "maybe"
    bad = write(tmp_path, data)
    result = cli_runner("playbook", "validate", str(PLAYBOOK_DIR / "pre_offer.yml"), str(bad))
    assert result.exit_code == 2
    assert f"{bad}: steps[2].options[1].result: must be one of pass, review, block" in (
        result.stderr
    )
    assert "pre_offer.yml: ok" in result.stdout


def test_validate_refuses_two_installed_playbooks_with_one_id(cli_runner, tmp_path: Path) -> None:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    write(directory, valid_playbook(), "a.yml")
    write(directory, valid_playbook(), "b.yml")
    result = cli_runner("playbook", "validate", env={"VERIFYBOT_PLAYBOOKS": str(directory)})
    assert result.exit_code == 2
    assert (
        f"error: {directory / 'a.yml'} and {directory / 'b.yml'} both have the playbook id "
        "'pre-offer'"
    ) in result.stderr


def test_show_prints_every_step_and_option(cli_runner) -> None:
    result = cli_runner("playbook", "show", "pre-offer")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Pre-offer verification (pre-offer v2)")
    assert "5. shipping_address: Laptop shipping address [computed: address_match]" in out
    assert "- camera_refused -> block: Camera refused or kept off" in out
    assert "- verified -> pass: Notarized ID received and matches (note required)" in out
    for step_id, _, options in PRE_OFFER_TABLE:
        assert f". {step_id}: " in out
        for value, result_value in options:
            assert f"- {value} -> {result_value}: " in out


def test_show_of_an_unknown_playbook_exits_2(cli_runner) -> None:
    result = cli_runner("playbook", "show", "nope")
    assert result.exit_code == 2
    assert "unknown playbook 'nope'" in result.stderr

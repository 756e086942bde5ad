"""Requests that must record nothing: bad signatures, stale timestamps, malformed payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
import structlog

from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, HM2, JANE, SECRET, SlackApp, SlackDriver, find_button

NOTHING_LEAKS = ("Traceback", 'File "', "Error:", "handlers/")


def assert_no_trace(text: str) -> None:
    assert not any(marker in text for marker in NOTHING_LEAKS), text


def recorded(app: SlackApp) -> tuple[int, int]:
    store = app.core.store
    answers = store.db.execute("SELECT count(*) FROM answers").fetchone()[0]
    return store.db.execute("SELECT count(*) FROM verifications").fetchone()[0], answers


async def test_a_bad_signature_is_refused_and_records_nothing(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    body = slack.command_body("start Jane Doe")
    headers = slack.signed_headers(body, "application/x-www-form-urlencoded")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    async with slack.session.post(slack.url, data=body, headers=headers) as response:
        text = await response.text()
        assert response.status == 401
    assert_no_trace(text)
    assert fake_slack.calls_to("views.open") == []


async def test_a_stale_timestamp_is_refused(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    await slack.command("start")
    await slack.settle()
    submission = slack.interaction(slack.submission(slack.last_view("vb_start"), JANE))
    stale = await slack.send(submission, timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    assert recorded(slack_app) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": str(int(time.time()))},
    ],
)
async def test_unsigned_requests_are_refused(
    slack: SlackDriver, slack_app: SlackApp, headers: dict[str, str]
) -> None:
    body = slack.command_body("help")
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with slack.session.post(slack.url, data=body, headers=sent) as response:
        assert response.status == 401
        assert_no_trace(await response.text())


async def test_an_unparseable_payload_is_a_400_when_signed_and_a_401_when_not(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    body = urlencode({"payload": "{not json"})
    signed = await slack.send(body)
    assert signed.status == 400
    assert signed.json == {"ok": False, "error": "malformed request"}

    headers = slack.signed_headers(body, "application/x-www-form-urlencoded")
    headers["X-Slack-Signature"] = "v0=" + "1" * 64
    async with slack.session.post(slack.url, data=body, headers=headers) as response:
        assert response.status == 401
    assert recorded(slack_app) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        "[1, 2, 3]",
        json.dumps({"type": "event_callback", "event": "app_home_opened"}),
        json.dumps({"type": "event_callback", "event": {"type": "app_home_opened", "user": ["U"]}}),
    ],
)
async def test_malformed_json_bodies_are_400(
    slack: SlackDriver, slack_app: SlackApp, body: str
) -> None:
    reply = await slack.send(body, "application/json")
    assert reply.status == 400
    assert_no_trace(reply.text)


async def test_malformed_interactions_are_400_and_record_nothing(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    good = slack.click_payload(HM, message, block_id, element)
    broken = [
        {key: value for key, value in good.items() if key != "user"},
        {**good, "actions": []},
        {**good, "actions": "not a list"},
        {**good, "user": {"id": "U<script>"}},
        {**good, "actions": [{**good["actions"][0], "value": "x" * 3000}]},
        {"type": "view_submission", "user": {"id": HM}, "view": {"callback_id": "vb_note"}},
        {"type": "view_submission", "user": {"id": HM}, "view": {"id": "V1", "callback_id": "x"}},
    ]
    for payload in broken:
        reply = await slack.send(slack.interaction(payload))
        assert reply.status == 400, payload
        assert_no_trace(reply.text)
    await slack.settle()
    assert recorded(slack_app) == (1, 0)


async def test_an_unknown_action_is_a_404(slack: SlackDriver, slack_app: SlackApp) -> None:
    await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    payload = slack.click_payload(HM, message, block_id, {**element, "action_id": "vb_unknown"})
    reply = await slack.send(slack.interaction(payload))
    assert reply.status == 404
    assert_no_trace(reply.text)
    assert recorded(slack_app) == (1, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VB-NOTANID|notarized_id|verified|", "not valid any more"),
        ("VB-12345678|notarized_id|not_provided|", "no verification VB-12345678"),
        ("{real}|notarized_id|bogus|", "'bogus' is not an option of notarized_id"),
        ("{real}|no_such_step|not_provided|", "no step 'no_such_step'"),
        ("{real}|shipping_address|match|", "checked by verifybot"),
        ("{real}|notarized_id|not_provided|yes", "not valid any more"),
        ("{real}|Notarized_ID|not_provided|", "not valid any more"),
        ("garbage", "not valid any more"),
    ],
)
async def test_a_tampered_button_gets_a_polite_ephemeral_and_records_nothing(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI, value: str, expected: str
) -> None:
    verification_id = await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    tampered = {**element, "value": value.replace("{real}", verification_id)}
    reply = await slack.send(
        slack.interaction(slack.click_payload(HM, message, block_id, tampered))
    )
    await slack.settle()

    assert reply.status == 200
    [ephemeral] = fake_slack.state.ephemeral
    assert expected in ephemeral["text"]
    assert ephemeral["user"] == HM
    assert recorded(slack_app) == (1, 0)


async def test_another_managers_button_is_refused_and_audited(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    verification_id = await slack.start()
    message = slack.last_dm()
    await slack.click(message, user="UHIRING002", option="not_provided")
    await slack.settle()
    [ephemeral] = fake_slack.state.ephemeral
    assert "not allowed" in ephemeral["text"]
    assert recorded(slack_app) == (1, 0)
    refusals = [e for e in slack_app.core.store.events(verification_id) if e["action"] == "refused"]
    assert [json.loads(e["detail"])["action"] for e in refusals] == ["answer.record"]


async def test_tampered_modal_metadata_is_an_inline_error(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    await slack.start()
    await slack.click(slack.last_dm(), option="verified")
    await slack.settle()
    modal = slack.last_view("vb_note")
    modal.view["private_metadata"] = '{"answer": "VB-00000000|x|y|"}'
    reply = await slack.submit(modal, {"note": "Commission 1"})
    assert reply.json["response_action"] == "errors"
    modal.view["private_metadata"] = "not json"
    reply = await slack.submit(modal, {"note": "Commission 1"})
    assert reply.json["errors"] == {"note": "this form is not valid any more; start again"}
    assert recorded(slack_app) == (1, 0)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "interactive_message", "actions": [], "callback_id": "x"},
        {"type": "shortcut", "callback_id": "x", "user": {"id": HM}},
        {"type": None},
        {"no": "type"},
    ],
)
async def test_kinds_verifybot_does_not_handle_are_404(
    slack: SlackDriver, slack_app: SlackApp, payload: dict
) -> None:
    reply = await slack.send(slack.interaction(payload))
    assert reply.status == 404
    assert reply.json == {"ok": False, "error": "unhandled request"}


async def test_the_url_verification_challenge_is_answered(slack: SlackDriver) -> None:
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "c-123"})
    reply = await slack.send(body, "application/json")
    assert reply.status == 200
    assert reply.json == {"challenge": "c-123"}


def raw_signature(raw: bytes, timestamp: str) -> str:
    """Slack's signature, computed over the raw bytes (the SDK's helper wants text)."""
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


def now() -> str:
    return str(int(time.time()))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=abc"}, None),
        ({"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=abc"}, None),
        ({"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=é"}, None),
        ({"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=abc"}, b"\xff\xfe"),
        (
            {
                "X-Slack-Request-Timestamp": "{now}",
                "X-Slack-Signature": "v0=abc",
                "Content-Type": "application/x-www-form-urlencoded; charset=no-such-codec",
            },
            None,
        ),
        ({"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "{signed}"}, b"text=\xff"),
    ],
    ids=[
        "superscript-timestamp",
        "huge-timestamp",
        "non-ascii-signature",
        "non-utf8-body",
        "unknown-charset",
        "signed-non-utf8-body",
    ],
)
async def test_headers_and_bodies_slack_never_sends_are_a_401_not_a_500(
    slack: SlackDriver,
    slack_app: SlackApp,
    fake_slack: FakeSlackAPI,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    """What the SDK's signature check would raise on is an unsigned request like any other."""
    raw = body if body is not None else slack.command_body("start Jane Doe").encode()
    stamp = now()
    sent = {"Content-Type": "application/x-www-form-urlencoded"}
    for name, value in headers.items():
        sent[name] = value.replace("{now}", stamp).replace("{signed}", raw_signature(raw, stamp))
    with structlog.testing.capture_logs() as logs:
        async with slack.session.post(slack.url, data=raw, headers=sent) as response:
            text = await response.text()
            status = response.status
    assert status == 401, text
    assert json.loads(text) == {"ok": False, "error": "invalid request"}
    assert not [entry for entry in logs if entry["log_level"] == "error"]
    await slack.settle()
    assert fake_slack.calls_to("views.open") == []
    assert recorded(slack_app) == (0, 0)


async def test_a_note_submission_naming_another_managers_verification_records_nothing(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    """The note modal's metadata names the answer; the service checks who may give it."""
    theirs = await slack.start()
    await slack.start({**JANE, "name": "Ann Lee", "email": "ann@example.com"}, user=HM2)
    await slack.click(slack.last_dm(HM2), user=HM2, option="verified")
    await slack.settle()
    modal = slack.last_view("vb_note")
    metadata = json.loads(modal.view["private_metadata"])
    own = metadata["answer"].split("|")[0]
    metadata["answer"] = metadata["answer"].replace(own, theirs)
    modal.view["private_metadata"] = json.dumps(metadata)

    reply = await slack.submit(modal, {"note": "Commission 1"}, user=HM2)

    assert reply.json["response_action"] == "errors"
    assert "not allowed" in reply.json["errors"]["note"]
    assert slack_app.core.store.answers(theirs) == []
    refusals = [e for e in slack_app.core.store.events(theirs) if e["action"] == "refused"]
    assert [(e["actor"], json.loads(e["detail"])["action"]) for e in refusals] == [
        (HM2, "answer.record")
    ]


async def test_an_error_quoting_the_command_cannot_link_or_ping(slack: SlackDriver) -> None:
    reply = await slack.command("status <!channel> <https://evil.example/sso|Log in here>")
    assert reply.status == 200
    assert "no verification found" in reply.text
    assert "<" not in reply.text and ">" not in reply.text
    assert "&lt;!channel&gt;" in reply.text


DEEP = "[" * 10_000 + "]" * 10_000


def with_deep_value(payload: dict, key: str) -> str:
    """`payload` as JSON text with a 10,000-deep array under `key`."""
    return json.dumps({**payload, key: "__deep__"}).replace('"__deep__"', DEEP)


async def test_json_nested_too_deep_is_a_400_without_an_error_and_records_nothing(
    slack: SlackDriver, slack_app: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Form payloads and JSON events alike: never a recursive parser's overflow (a 500)."""
    await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    click = slack.click_payload(HM, message, block_id, element)
    event = {"type": "event_callback", "team_id": "T1", "event": {"type": "app_home_opened"}}
    events_before = len(slack_app.core.store.events())
    caplog.set_level("ERROR")
    with structlog.testing.capture_logs() as logs:
        sent = [
            await slack.send(urlencode({"payload": with_deep_value(click, "state")})),
            await slack.send(urlencode({"payload": DEEP})),
            await slack.send(with_deep_value(event, "authorizations"), "application/json"),
            await slack.send(DEEP, "application/json"),
        ]
        await slack.settle()
    for reply in sent:
        assert (reply.status, reply.json) == (400, {"ok": False, "error": "malformed request"})
    assert recorded(slack_app) == (1, 0)
    assert len(slack_app.core.store.events()) == events_before
    assert [entry for entry in logs if entry["log_level"] in ("error", "critical")] == []
    assert caplog.records == []


async def test_json_nested_within_the_bound_is_read(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    """Brackets inside strings are text, not nesting."""
    await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    click = slack.click_payload(HM, message, block_id, element)
    nested: object = "deep"
    for _ in range(40):
        nested = [nested]
    text = '[{"' * 500 + '\\"[' * 100
    reply = await slack.send(slack.interaction({**click, "extra": nested, "text": text}))
    assert reply.status == 200
    await slack.settle()
    assert recorded(slack_app) == (1, 1)

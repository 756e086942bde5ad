"""The `payload` field read off a signed form body, as urllib's parser reads it."""

from __future__ import annotations

import json
import random
import string
from urllib.parse import parse_qsl, quote_plus, urlencode

import pytest

from handlers.slack.frontend import form_payload


def urllib_payload(body: str) -> str | None:
    return dict(parse_qsl(body, keep_blank_values=True)).get("payload")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (urlencode({"payload": '{"a": "x+y & z=1 %"}'}), '{"a": "x+y & z=1 %"}'),
        ("payload=a+b%2Bc%25&x=", "a b+c%"),
        ("payload=1&payload=2", "2"),
        ("payload=&team=T1", ""),
        ("payload", ""),
        ("a=1;payload=2", None),
        ("command=%2Fverify&text=payload+of+work", None),
        ("payload=%E2%9C%93%zz%C3", "✓%zz\ufffd"),
        ("payload=a%00b#c", "a\x00b#c"),
    ],
)
def test_the_payload_is_decoded_as_urllib_decodes_it(body: str, expected: str | None) -> None:
    assert form_payload(body) == expected == urllib_payload(body)


def test_random_bodies_decode_as_urllib_decodes_them() -> None:
    rng = random.Random(7)
    alphabet = string.printable + "éü✓\x00%+&=;#?/"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        body = "payload=" + (quote_plus(text) if rng.random() < 0.5 else text)
        if rng.random() < 0.3:
            body = f"{text}&{body}"
        assert form_payload(body) == urllib_payload(body), body


def test_a_click_with_its_whole_message_is_read_whole() -> None:
    blocks = [
        {"type": "section", "text": {"text": f"Step {n}: “ok” & <ok> + 100%"}} for n in range(40)
    ]
    payload = json.dumps({"type": "block_actions", "message": {"blocks": blocks}})
    assert form_payload(urlencode({"payload": payload, "x": "1"})) == payload

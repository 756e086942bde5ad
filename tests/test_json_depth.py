"""The nesting check every JSON request passes before it is parsed (Slack, Teams, the API)."""

from __future__ import annotations

import json

from bot.json_depth import MAX_JSON_DEPTH, json_depth, too_deep


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_is_counted_outside_strings_only() -> None:
    assert json_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert json_depth(r'{"a": "\"[[[", "b": [[]]}') == 3
    assert json_depth("") == 0


def test_nesting_up_to_the_limit_passes_and_one_more_level_does_not() -> None:
    assert not too_deep(nested(MAX_JSON_DEPTH))
    assert too_deep(nested(MAX_JSON_DEPTH + 1))
    assert too_deep("[" * 100_000)


def test_many_brackets_that_do_not_nest_pass() -> None:
    shallow = json.dumps({"blocks": [{"text": "[x]"} for _ in range(500)]})
    assert shallow.count("{") + shallow.count("[") > MAX_JSON_DEPTH
    assert json_depth(shallow) == 3
    assert not too_deep(shallow)


def test_brackets_in_strings_are_not_nesting_even_past_the_limit() -> None:
    text = json.dumps({"text": "[" * 500 + "{" * 500})
    assert not too_deep(text)
    deep_after_string = json.dumps({"text": "[" * 500})[:-1] + ', "x": ' + nested(70) + "}"
    assert too_deep(deep_after_string)

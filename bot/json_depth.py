"""How deeply a JSON text nests, found without parsing it (a recursive parser would overflow)."""

from __future__ import annotations

import re
from itertools import accumulate

MAX_JSON_DEPTH = 64
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = str.maketrans({"[": "+", "{": "+", "]": "-", "}": "-"})


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, strings ignored; linear time.

    Malformed text gets a number too (json.loads refuses it afterwards).
    """
    bare = _STRING.sub("", _ESCAPE.sub("", text))
    steps = _NOT_BRACKET.sub("", bare).translate(_STEP)
    return max(accumulate(1 if step == "+" else -1 for step in steps), default=0)


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `text` nests arrays and objects more than `limit` levels deep.

    A text with no more than `limit` opening brackets (in strings or not) cannot, so most
    are answered by two counts instead of a scan."""
    if text.count("{") + text.count("[") <= limit:
        return False
    return json_depth(text) > limit

"""JSON read strictly: an object that gives a key twice is an error, since parsers disagree on which
value counts (the first, the last, or an error), so a proxy or a client that checked one value could see
another used. jiter (pydantic's own parser) finds the key in the same pass that parses."""

from __future__ import annotations

import re

import jiter

_DUPLICATE = re.compile(r'Detected duplicate key "(.*)" at line \d+ column \d+$', re.DOTALL)


def strict_json(data: bytes | str, unique_keys: bool = True):
    """The JSON value of `data`; ValueError when it is not JSON or (`unique_keys`) an object gives a key
    twice (`duplicate_key_of` names it)."""
    return jiter.from_json(data.encode("utf-8") if isinstance(data, str) else data, catch_duplicate_keys=unique_keys)


def duplicate_key_of(error: ValueError) -> str | None:
    """The key `strict_json`'s error says an object gives twice, or None for any other error."""
    found = _DUPLICATE.match(str(error))
    return found.group(1) if found else None

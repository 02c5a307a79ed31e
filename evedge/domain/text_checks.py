"""Text the database cannot hold, refused at the REST boundary with the field named.

PostgreSQL text cannot contain U+0000 ("A string literal cannot contain NUL"), and
neither database driver can encode a lone surrogate (``"\\ud800"`` is valid JSON, and
Python's json reads it): stored, either is a 500 for the request, and inside the
shared group commit it would fail the other writes of the batch. The OCPP side
repairs the same in what chargers send (chargers/tolerance.py, ``nul_replaced``);
a person or a script calling the API gets a 400 naming the field instead.
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What is wrong with ``text`` for the database, None if nothing."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return ("contains a NUL character (U+0000)" if found.group() == "\x00"
            else "contains a lone surrogate (not a Unicode character)")


def require_storable(text: str, field: str) -> str:
    """``text``, or BadRequest naming ``field``."""
    problem = unstorable(text)
    if problem is not None:
        raise errors.BadRequest(f"{field} {problem}", field=field)
    return text


def require_storable_json(value: Any) -> None:
    """BadRequest naming the first key or string in a JSON value the database cannot hold
    (``items[2].note``). Iterative: bodies may nest as deep as json.loads goes."""
    todo: list[tuple[str, Any]] = [("", value)]
    while todo:
        path, item = todo.pop()
        if isinstance(item, str):
            require_storable(item, path or "body")
        elif isinstance(item, dict):
            for key, sub in item.items():
                here = f"{path}.{key}" if path else key
                if unstorable(key) is not None:
                    require_storable(key, "a key of " + (path or "the body"))
                todo.append((here, sub))
        elif isinstance(item, list):
            todo.extend((f"{path}[{index}]", sub) for index, sub in enumerate(item))

"""The values of options, checked once for the Python API and the command line alike.

Each check takes the option's name and value and returns the value as evalkit uses it, or raises `OptionError`
(the API shows it as `limit -1: must be above zero`, the CLI's argparse types as `argument --limit: ...`). Lists
of names and of dimensions may be one string, comma-separated, as the CLI takes them (`"STSB,AFQMC"`).
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from evalkit.errors import OptionError

MAX_PROMPT_CHARS = 4096  # a prompt or instruction longer than this is a mistake (and would bloat model_meta.json)


def names(option: str, value: object) -> list[str] | None:
    """Names as a list: a list of strings, or one string of comma-separated names; None (every name) stays None."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or not all(isinstance(part, str) for part in parts):
        raise OptionError(option, repr(value), "give names: a list of strings, or one string 'A,B'")
    cleaned = [part.strip() for part in parts if part.strip()]
    if not cleaned:
        raise OptionError(option, repr(value), "give at least one name")
    return cleaned


def positive(option: str, value: object, kind: type = int) -> Any:
    """A number above zero: a whole one for `kind` int, any finite one for float; None (the default) stays None."""
    if value is None:
        return None
    expected = Integral if kind is int else Real
    if isinstance(value, bool) or not isinstance(value, expected):
        raise OptionError(option, repr(value), f"give {'a whole number' if kind is int else 'a number'} above zero")
    if not 0 < value < math.inf:
        raise OptionError(option, value, "must be above zero")
    return kind(value)


def dims(option: str, value: object) -> list[int] | None:
    """Dimensions as a list of whole numbers above zero, repeats dropped: a list, or one string `"256,128"`."""
    if value is None:
        return None
    parts = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)):
        raise OptionError(option, repr(value), "give a list of dimensions, or one string '256,128'")
    if not parts:
        raise OptionError(option, repr(value), "give at least one dimension")
    if isinstance(value, str):
        try:
            parts = [int(part) for part in parts]
        except ValueError:
            raise OptionError(option, repr(value), "give whole numbers, e.g. '256,128'") from None
    return list(dict.fromkeys(positive(option, part) for part in parts))


def batch_size(option: str, value: object) -> int | str:
    """A batch size: a whole number above zero, `auto` (grown from 32) or `auto:N` (grown from N)."""
    if isinstance(value, str) and (value == "auto" or value.startswith("auto:")):
        start = value[5:]
        if start and not (start.isdigit() and int(start) > 0):
            raise OptionError(option, repr(value), "use a whole number above zero, auto or auto:N (grow from N)")
        return value
    if isinstance(value, str):
        raise OptionError(option, repr(value), "use a whole number above zero, auto or auto:N (grow from N)")
    return positive(option, value)


def whole(option: str, value: object) -> int:
    """A whole number (a seed)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise OptionError(option, repr(value), "give a whole number")
    return int(value)


def mapping(option: str, value: object) -> dict[str, Any] | None:
    """Keyword arguments: a mapping of names; None stays None."""
    if value is not None and (not isinstance(value, dict) or not all(isinstance(k, str) for k in value)):
        raise OptionError(option, repr(value), 'give a mapping of names, e.g. {"attn_implementation": "sdpa"}')
    return value


def text(option: str, value: object) -> str | None:
    """A string; None stays None."""
    if value is not None and not isinstance(value, str):
        raise OptionError(option, repr(value), "give a string")
    return value


def prompt(option: str, value: object) -> str | None:
    """A prompt: a string of at most MAX_PROMPT_CHARS characters; None (the model's own) stays None."""
    value = text(option, value)
    if value is not None and len(value) > MAX_PROMPT_CHARS:
        raise OptionError(option, f"of {len(value)} characters", f"at most {MAX_PROMPT_CHARS} characters")
    return value


def path(option: str, value: object) -> Path | None:
    """A path: a string or a path object; None stays None."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise OptionError(option, repr(value), "give a path")
    return None if value is None else Path(value)

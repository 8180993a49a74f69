"""argparse value types shared by the commands."""

from __future__ import annotations

import argparse


def csv_list(text: str) -> list[str]:
    """`A,B` -> ["A", "B"]."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("give at least one name")
    return parts


def _positive(cast: type, what: str):
    """An argparse type: a finite number above zero, converted by `cast`."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text} must be above zero")
        return value

    return parse


positive_int = _positive(int, "a whole number")
positive_float = _positive(float, "a number")


def dims(text: str) -> list[int]:
    """`1024,512` -> [1024, 512], each above zero, repeats dropped."""
    return list(dict.fromkeys(positive_int(part) for part in csv_list(text)))


def add_bootstrap_options(parser) -> None:
    """`--resamples` and `--bootstrap-seed`, shared by compare --ci and check --significance."""
    parser.add_argument(
        "--resamples", type=positive_int, default=1000, metavar="N", help="bootstrap resamples per task (default: 1000)"
    )
    parser.add_argument("--bootstrap-seed", type=int, default=0, metavar="S", help="bootstrap seed (default: 0)")


SUITE_HELP = "bundled suite name (c-mteb, sample) or a suite YAML file (default: c-mteb)"


def json_object(text: str) -> dict:
    """`{"key": value}` -> a dict (a JSON object, nothing else)."""
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('give a JSON object, e.g. \'{"attn_implementation": "sdpa"}\'')
    return value

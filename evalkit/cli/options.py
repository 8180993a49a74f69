"""argparse value types shared by the commands."""

from __future__ import annotations

import argparse
import shutil
import textwrap

from evalkit import arguments
from evalkit.errors import OptionError


def _checked(check, text: str, parse=str, what: str = "a whole number"):
    """`text` parsed (a ValueError: it is not `what`), then checked as the API checks the option
    (`evalkit.arguments`); an argparse type."""
    try:
        return check("", parse(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    except OptionError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc.reason}") from None


def csv_list(text: str) -> list[str]:
    """`A,B` -> ["A", "B"]."""
    return _checked(arguments.names, text)


def described(text: str, *examples: str) -> dict:
    """`add_parser` keywords: a description wrapped as argparse wraps options, and an epilog of example commands."""
    epilog = "examples:\n" + "\n".join(f"  %(prog)s {e}" for e in examples) if examples else None
    return {
        "description": textwrap.fill(text, min(100, shutil.get_terminal_size().columns - 2)),
        "epilog": epilog,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


class NameList(argparse.Action):
    """`-t A,B C -t D`: names comma- or space-separated, over one or several flags, as one list (nargs="+")."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        before = getattr(namespace, self.dest) or []
        setattr(namespace, self.dest, [*before, *(name for value in values for name in value)])


def add_names(parser: argparse.ArgumentParser, *flags: str, help: str) -> None:
    """An option taking names as `A,B`, `A B` or repeated flags (as mteb's `-t A B` and lm-eval's `--tasks a,b`)."""
    parser.add_argument(*flags, type=csv_list, nargs="+", action=NameList, metavar="NAME", help=help)


def add_suite(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """`--suite` / `-b` / `--benchmark`: a bundled suite, a suite file or an mteb benchmark name."""
    parser.add_argument(
        "-b",
        "--benchmark",
        "--suite",
        dest="suite",
        default="c-mteb",
        metavar="SUITE",
        help=f"{purpose}{': ' if purpose else ''}a bundled suite (c-mteb, sample), a suite YAML file, or an mteb "
        "benchmark name such as 'MTEB(cmn, v1)' (default: c-mteb, the 35 tasks of the C-MTEB cards)",
    )


def positive_int(text: str) -> int:
    """A whole number above zero."""
    return _checked(arguments.positive, text, int)


def positive_float(text: str) -> float:
    """A finite number above zero."""
    return _checked(lambda option, value: arguments.positive(option, value, float), text, float, "a number")


def batch_size(text: str) -> int | str:
    """`--batch-size`: a positive whole number, `auto` or `auto:N`."""
    return _checked(arguments.batch_size, text, lambda t: t if t.startswith("auto") else int(t))


def dims(text: str) -> list[int]:
    """`1024,512` -> [1024, 512], each above zero, repeats dropped."""
    return _checked(arguments.dims, text)


def prompt(text: str) -> str:
    """A prompt of bounded length."""
    return _checked(arguments.prompt, text)


def clipping_margin(text: str) -> tuple[float, float]:
    """`0.01,0.99` -> (0.01, 0.99): two numbers (mteb's CompressionWrapper checks their range)."""
    parts = csv_list(text)
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers LOW,HIGH (e.g. 0.01,0.99)") from None
    return low, high


def add_bootstrap_options(parser) -> None:
    """`--resamples` and `--bootstrap-seed`, shared by compare --ci and check --significance."""
    parser.add_argument(
        "--resamples", type=positive_int, default=1000, metavar="N", help="bootstrap resamples per task (default: 1000)"
    )
    parser.add_argument("--bootstrap-seed", type=int, default=0, metavar="S", help="bootstrap seed (default: 0)")


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

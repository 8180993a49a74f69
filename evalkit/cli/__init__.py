"""The command line: `run_eval.py` and the `evalkit` console script, one module per command.

This package is the only place that knows argparse, printing and exit codes: 0 done, 1 a failed task or a gate
that did not pass, 2 a user mistake (one line, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from evalkit.cli import card, check, compare, run, tasks
from evalkit.errors import OptionError, UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_eval.py",
        description="evalkit: evaluate Chinese embedding models on C-MTEB through mteb. "
        "With no arguments, evaluates the bundled MiniLM on the bundled sample suite, offline.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_parser(sub)
    tasks.add_parsers(sub)
    compare.add_parser(sub)
    check.add_parser(sub)
    card.add_parsers(sub)
    return parser


def _quiet_libraries(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the CLI prints progress itself (evalkit.cli.run.Printer); evalkit logs what else a user should know
    logging.getLogger("evalkit").setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        for name in ("mteb", "datasets", "sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning)
        # The card's C-MTEB tasks are the legacy versions on purpose; mteb's advice to use `.v2` does not apply.
        warnings.filterwarnings("ignore", message=r".*is superseded by", category=UserWarning)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import datasets

        datasets.disable_progress_bars()


def error_line(exc: UserError) -> str:
    """The one line a user mistake prints; an option is named by its flag."""
    if isinstance(exc, OptionError):
        return exc.text("--" + exc.option.replace("_", "-"))
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; user mistakes print one line and return 2."""
    argv = sys.argv[1:] if argv is None else argv
    if not sys.stderr.isatty():  # progress bars only where someone watches them, not in logs (before tqdm loads)
        os.environ.setdefault("TQDM_DISABLE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(["--debug"] if args.debug else []), *run.default_args()])
    _quiet_libraries(args.debug)
    try:
        return args.handler(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished results are on disk; run the same command again to continue", file=sys.stderr)
        return 130

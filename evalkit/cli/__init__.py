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
from pathlib import Path

from evalkit.cli import audit, card, check, compare, run, tasks
from evalkit.cli.options import described
from evalkit.errors import OptionError, UserError
from evalkit.text import printable


def program_name() -> str:
    """The name the user typed: `evalkit` for the console script, `run_eval.py` for the script."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m evalkit" if name in ("", "-c", "__main__.py") else name


def _add_debug(parser: argparse.ArgumentParser, default) -> None:
    """`--debug`/`-v`; subcommands default to SUPPRESS so that the flag works before or after the command."""
    parser.add_argument(
        "-v", "--debug", "--verbose", action="store_true", default=default, help="show tracebacks, logs and warnings"
    )


def _all_parsers(parser: argparse.ArgumentParser):
    """`parser` and every (nested) subcommand parser."""
    yield parser
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for child in dict.fromkeys(action.choices.values()):
            yield from _all_parsers(child)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        **described(
            "evalkit: evaluate Chinese embedding models on C-MTEB through mteb, compare them and gate CI. With no "
            "arguments, evaluates the bundled MiniLM on the bundled sample suite, offline (a one-minute demo). "
            "`COMMAND --help` explains each command.",
            "                                              the demo",
            "run -m iampanda/zpoint_large_embedding_zh     evaluate a model on the 35 C-MTEB tasks",
            "run -m ./ckpt -b 'MTEB(cmn, v1)' -t STSB BQ   mteb-style flags and benchmark names",
            "compare results/org__model zpoint/README.md   compare with a model card",
            "check results/org__model --baseline B         the CI regression gate",
            "audit results/org__model --against REPO       does the run reproduce the published score?",
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_versions()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_parser(sub)
    tasks.add_parsers(sub)
    compare.add_parser(sub)
    audit.add_parser(sub)
    check.add_parser(sub)
    card.add_parsers(sub)
    for p in _all_parsers(parser):
        _add_debug(p, False if p is parser else argparse.SUPPRESS)
    return parser


def _versions() -> str:
    """`0.1.0 (mteb 2.26.24)`: evalkit's version and the mteb it evaluates with."""
    from importlib.metadata import PackageNotFoundError, version

    from evalkit import __version__

    try:
        return f"{__version__} (mteb {version('mteb')})"
    except PackageNotFoundError:
        return __version__


def _quiet_libraries(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the CLI prints progress itself (evalkit.cli.run.Printer); evalkit logs what else a user should know
    logging.getLogger("evalkit").setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        for name in ("mteb", "datasets", "sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        # Library warnings (mteb's "Main score ... not found", its advice to use the `.v2` tasks that the card does
        # not report, deprecations) are for developers; --debug shows them.
        warnings.filterwarnings("ignore")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # huggingface_hub sets its level when it loads
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
        args.demo = parser.prog  # the embedded default ends by saying what to run next
    _quiet_libraries(args.debug)
    try:
        return args.handler(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {printable(error_line(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished results are on disk; run the same command again to continue", file=sys.stderr)
        return 130

"""`check`: the CI regression gate, with JUnit XML and a GitHub step summary."""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.cli.options import add_bootstrap_options, add_suite, described
from evalkit.report.gate import (
    DEFAULT_TOLERANCE,
    format_markdown,
    format_table,
    gate_json,
    github_annotations,
    junit_xml,
)
from evalkit.report.render import write_output


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="CI regression gate: fail when a task's main score dropped by more than the tolerance",
        **described(
            "Compare the candidate's main score on every suite task the baseline has. Exit 0 when none fell by more "
            "than its tolerance, 1 when one did or a baseline task is missing from the candidate, 2 on bad input. "
            "Prints what regressed and improved; appends a Markdown summary to $GITHUB_STEP_SUMMARY when it is set, "
            "and on GitHub Actions ($GITHUB_ACTIONS) prints an ::error annotation for each failing task.",
            "results/my-org__my-model --baseline zpoint/README.md --tolerance 0.5 --junit gate.xml",
            "results/checkpoint --baseline baseline-results/checkpoint --tolerance-file tolerances.yaml",
        ),
    )
    p.add_argument("candidate", help="results folder or model card of the model under test")
    p.add_argument("--baseline", required=True, help="results folder or model card it must not fall behind")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="POINTS",
        help=f"allowed drop per task in points on the card's 0-100 scale (default: {DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--tolerance-file",
        type=Path,
        metavar="FILE",
        help="YAML mapping of task name or task type to allowed drop in points, plus optional `default:`; "
        "a task's entry wins over its type's, which wins over the default",
    )
    p.add_argument(
        "--significance",
        type=float,
        metavar="ALPHA",
        help="fail a task only when its drop exceeds the tolerance with confidence 1-ALPHA (e.g. 0.05), by a "
        "paired bootstrap of both models' per-example predictions (run --save-predictions); prints each delta's "
        "interval and p-value; tasks without predictions fall back to the plain tolerance",
    )
    add_bootstrap_options(p)
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report (one test case per task)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the verdict and every task's check as JSON")
    p.add_argument("--allow-missing", action="store_true", help="pass although the candidate lacks a baseline task")
    add_suite(p, "the checked tasks and their main metrics")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    """Print the table, write JUnit / step summary; 0 when it passed, 1 when it did not."""
    import evalkit

    result = evalkit.check(
        args.candidate,
        baseline=args.baseline,
        tolerance=args.tolerance,
        tolerance_file=args.tolerance_file,
        allow_missing=args.allow_missing,
        suite=args.suite,
        significance=args.significance,
        resamples=args.resamples,
        seed=args.bootstrap_seed,
    )
    print(format_table(result))
    if os.environ.get("GITHUB_ACTIONS") == "true":  # annotations on the workflow run and the PR's changed files
        for line in github_annotations(result):
            print(line)
    if args.junit:
        write_output(Path(args.junit), junit_xml(result))
    if args.json:
        write_output(Path(args.json), gate_json(result))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        write_output(Path(summary), format_markdown(result), append=True)
    return 0 if result.passed else 1

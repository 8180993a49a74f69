"""`compare`: a comparison report of a model's results against baselines, and a leaderboard."""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import add_bootstrap_options
from evalkit.report.render import FORMATS, SUFFIX_FORMATS, render, write_output


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare a model's results with baselines and rank it on a leaderboard (md, html, csv, json)",
        description="Compare main scores per task, per task type and over the suite (C-MTEB average over 35 "
        "tasks). Each input is a results folder (a model, revision or results folder holding one model) or a model "
        "card README.md. Averages over an incomplete task set are marked (n/N); deltas are the candidate minus each "
        "baseline.",
    )
    p.add_argument("candidate", help="results folder or model card of the model under test")
    p.add_argument("baselines", nargs="*", metavar="BASELINE", help="results folders or model cards to compare with")
    p.add_argument("--format", choices=FORMATS, help="report format (default: from --output's suffix, else md)")
    p.add_argument("--output", type=Path, help="write the report here (default: stdout)")
    p.add_argument(
        "--leaderboard",
        type=Path,
        metavar="DIR",
        help="rank the candidate among every model in DIR, a folder laid out like the public results repository "
        "(<org>__<model>/<revision>/<Task>.json); models lacking a task are listed unranked",
    )
    p.add_argument("--suite", default="c-mteb", help="suite of the averaged tasks and main metrics (default: c-mteb)")
    p.add_argument(
        "--ci",
        type=float,
        metavar="PERCENT",
        help="add bootstrap confidence intervals at this level (e.g. 95) to task scores, deltas and averages, "
        "resampling the queries, pairs or examples of each task's predictions (run --save-predictions); tasks "
        "without predictions get none and the report names them",
    )
    add_bootstrap_options(p)
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import evalkit

    comparison = evalkit.compare(
        args.candidate,
        args.baselines,
        suite=args.suite,
        leaderboard=args.leaderboard,
        ci=args.ci,
        resamples=args.resamples,
        seed=args.bootstrap_seed,
    )
    output = Path(args.output) if args.output else None
    text = render(comparison, args.format or (SUFFIX_FORMATS.get(output.suffix.lower(), "md") if output else "md"))
    if output:
        write_output(output, text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0

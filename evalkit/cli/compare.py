"""`compare`: a comparison report of a model's results against baselines, and a leaderboard."""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import add_bootstrap_options, add_suite, described
from evalkit.errors import UserError
from evalkit.report.gate import DEFAULT_TOLERANCE
from evalkit.report.render import FORMATS, SUFFIX_FORMATS, render, render_markdown, write_output


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare a model's results with baselines and rank it on a leaderboard (md, html, csv, json)",
        **described(
            "Compare main scores per task (grouped by type), per task type and over the suite (C-MTEB average over "
            "35 tasks). Each input is a results folder (a model, revision or results folder holding one model) or a "
            "model card README.md. Averages over an incomplete task set are marked (n/N); deltas are the candidate "
            "minus each baseline. With an mteb benchmark (-b 'MTEB(cmn, v1)') every number follows the benchmark's "
            "definitions, as its official leaderboard computes them: each file's own main score, every eval split, "
            "Mean (Task), Mean (TaskType) and the Borda rank. Tasks a model was trained on (mteb's registry) are "
            "marked ‡. The zpoint card, the usual model to beat: `hf download "
            "iampanda/zpoint_large_embedding_zh README.md --local-dir zpoint`.",
            "results/my-org__my-model zpoint/README.md",
            "results/my-org__my-model zpoint/README.md --pr-comment > comment.md",
            "results/my-org__my-model results/base-model -o report.html",
            "--sweep 'results/my-model_step-*' results/base-model -o sweep.html",
            "results/my-org__my-model -b 'MTEB(cmn, v1)' --leaderboard results-repo/results --ci 95",
            "--pareto results/my-org__my-model results/my-org__my-model_* -o pareto.html",
        ),
    )
    p.add_argument(
        "candidate", nargs="?", help="results folder or model card of the model under test (with --sweep: a baseline)"
    )
    p.add_argument("baselines", nargs="*", metavar="BASELINE", help="results folders or model cards to compare with")
    p.add_argument(
        "--sweep",
        metavar="GLOB",
        help="checkpoints of one model, a quoted glob of results folders ('results/my-model_step-*', in numeric "
        "order, as `run --model` globs; CMTEBEvaluator writes one per evaluation): each type's average and the "
        "suite average against the step (the number ending each folder's name), as a chart in HTML and a table in "
        "Markdown and JSON; the last checkpoint is the candidate, every positional input a baseline (a line)",
    )
    p.add_argument("--format", choices=FORMATS, help="report format (default: from --output's suffix, else md)")
    p.add_argument("-o", "--output", type=Path, help="write the report here (default: stdout)")
    p.add_argument(
        "--leaderboard",
        type=Path,
        metavar="DIR",
        help="rank the candidate among every model in DIR, a folder laid out like the public results repository "
        "(<org>__<model>/<revision>/<Task>.json, or the clone holding results/); with the card's suite, models "
        "lacking a task are listed unranked; with an mteb benchmark (-b), the models its official leaderboard lists "
        "are ranked by Borda count, as it ranks them",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="POINTS",
        help="mark task deltas beyond this many points, ▼ down and ▲ up, as `check` would judge them "
        f"(default: {DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--pr-comment",
        action="store_true",
        help="Markdown for a pull-request comment: the verdict against each baseline and the averages first, the "
        "task table folded in <details>",
    )
    add_suite(p, "the averaged tasks and their main metrics")
    p.add_argument(
        "--ci",
        type=float,
        metavar="PERCENT",
        help="add bootstrap confidence intervals at this level (e.g. 95) to task scores, deltas and averages, "
        "resampling the queries, pairs or examples of each task's predictions (run --save-predictions); tasks "
        "without predictions get none and the report names them. With --leaderboard, also each model's rank "
        "interval (resampling the suite's tasks, and the candidate's examples) and the groups of tied models",
    )
    add_bootstrap_options(p)
    p.add_argument(
        "--pareto",
        action="store_true",
        help="quality per byte: the suite average and each type's against bytes per vector (dimensions × bits / 8, "
        "from each folder's model_meta.json), with the Pareto front marked and the encode speed beside it; for a "
        "run --dims/--quantize sweep or any set of models (a chart in HTML, a table in md, csv and json)",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import evalkit

    output = Path(args.output) if args.output else None
    fmt = args.format or (SUFFIX_FORMATS.get(output.suffix.lower(), "md") if output else "md")
    if args.pr_comment and fmt != "md":
        raise UserError(f"--pr-comment writes Markdown, not {fmt}")
    candidate, baselines = args.candidate, args.baselines
    if args.sweep:  # the candidate is the sweep's last checkpoint
        candidate, baselines = None, [args.candidate, *baselines] if args.candidate else []
    elif args.candidate is None:
        raise UserError("compare: give the candidate's results, or --sweep with its checkpoints")
    comparison = evalkit.compare(
        candidate,
        baselines,
        sweep=args.sweep,
        suite=args.suite,
        leaderboard=args.leaderboard,
        tolerance=args.tolerance,
        ci=args.ci,
        resamples=args.resamples,
        seed=args.bootstrap_seed,
        pareto=args.pareto,
    )
    text = render_markdown(comparison, pr_comment=True) if args.pr_comment else render(comparison, fmt)
    if output:
        write_output(output, text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0

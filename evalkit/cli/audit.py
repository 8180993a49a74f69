"""`audit`: does a run reproduce the published results of the same model, and what differs where it does not?"""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import add_suite, described
from evalkit.report.audit import REPRODUCED, render_audit_json, render_audit_markdown
from evalkit.report.gate import DEFAULT_TOLERANCE
from evalkit.report.render import write_output

FORMATS = {"md": render_audit_markdown, "json": render_audit_json}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="does a run reproduce the published score of the same model? (and what differs if not)",
        **described(
            "Compare a run's main score on every task with the published result of the same model: a folder laid "
            "out like the public results repository (the whole repository's results/ or the model's folder; the "
            "model of the run's name is taken) or a model card. Each task shows both scores, the delta, whether it "
            "is within the results repository's epsilon (0.001 of a 0-1 score, 0.1 points) and within the "
            "tolerance, and what the two result files record differently: mteb version, dataset revision, task "
            "version (.v2), splits and subsets, evaluation date; then what model_meta.json records on both sides: "
            "model revision, prompts and instructions, dtype, max length. Exit 0 when reproduced (every task both "
            "have within the tolerance), 1 when not reproduced or not comparable, 2 on bad input.",
            "results/BAAI__bge-small-zh-v1.5 --against results-repo/results",
            "results/my-org__my-model --against zpoint/README.md -o audit.json",
            "results/BAAI__bge-small-zh-v1.5 --against results-repo/results -b 'MTEB(cmn, v1)'",
        ),
    )
    p.add_argument("results", help="the run's results folder (one model)")
    p.add_argument(
        "--against",
        required=True,
        metavar="PUBLISHED",
        help="the published results: a results-repository folder (or the model's folder in it) or a model card",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="POINTS",
        help=f"a task is reproduced within this many points on the card's 0-100 scale (default: {DEFAULT_TOLERANCE}, "
        "the gate's; the results repository's own epsilon is 0.1)",
    )
    p.add_argument("--format", choices=tuple(FORMATS), help="md (default) or json; default: from --output's suffix")
    p.add_argument("-o", "--output", type=Path, help="write the audit here (default: stdout)")
    add_suite(p, "the tasks audited and their main scores")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import evalkit

    output = Path(args.output) if args.output else None
    fmt = args.format or ("json" if output and output.suffix.lower() == ".json" else "md")
    audit = evalkit.audit(args.results, against=args.against, suite=args.suite, tolerance=args.tolerance)
    text = FORMATS[fmt](audit)
    if output:
        write_output(output, text)
        print(f"wrote {output}: {audit.verdict}")
    else:
        print(text, end="")
    return 0 if audit.verdict == REPRODUCED else 1

"""`tasks` and `prefetch`: what a suite runs, and downloading its data for an offline machine."""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import add_names, add_suite
from evalkit.text import text_table


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "tasks",
        help="list a suite's tasks with the dataset repo each one needs",
        description="List a suite's tasks: card name, type, the split and subset the card reports, and the HF "
        "dataset repo each one loads (what `hf download --repo-type dataset REPO` or `prefetch` fetches).",
    )
    add_suite(p)
    p.set_defaults(handler=handle_tasks)
    p = sub.add_parser(
        "prefetch",
        help="download every dataset snapshot (and a model) for an offline machine",
        description="Download each task's dataset repo at mteb's pinned revision into DATA_DIR/<repo id>, "
        "resuming partial downloads; with --model, the model into the local hub cache.",
    )
    add_suite(p)
    add_names(p, "-t", "--tasks", help="only these tasks (card or mteb names)")
    p.add_argument("--data-dir", type=Path, required=True, help="where the snapshots go (then `run --data-dir`)")
    p.add_argument("-m", "--model", help="also download this hub model into the hub cache")
    p.set_defaults(handler=handle_prefetch)


def handle_tasks(args) -> int:
    import evalkit
    from evalkit.suite import load_suite

    suite = load_suite(args.suite)
    rows = [("task", "type", "split", "subset", "dataset repo")]
    rows += [(t["task"], t["type"], t["split"], t["subset"], t["repo"]) for t in evalkit.list_tasks(suite)]
    print(text_table(rows))
    print(f"\n{len(suite.tasks)} tasks in {suite.origin}")
    return 0


def handle_prefetch(args) -> int:
    import evalkit

    evalkit.prefetch(args.data_dir, suite=args.suite, tasks=args.tasks, model=args.model)
    return 0

"""`tasks` and `prefetch`: what a suite runs, and downloading its data for an offline machine."""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import SUITE_HELP, csv_list
from evalkit.text import text_table


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list a suite's tasks with the dataset repo each one needs")
    p.add_argument("--suite", default="c-mteb", help=SUITE_HELP)
    p.set_defaults(handler=handle_tasks)
    p = sub.add_parser(
        "prefetch",
        help="download every dataset snapshot (and a model) for an offline machine",
        description="Download each task's dataset repo at mteb's pinned revision into DATA_DIR/<repo id>, "
        "resuming partial downloads; with --model, the model into the local hub cache.",
    )
    p.add_argument("--suite", default="c-mteb", help=SUITE_HELP)
    p.add_argument("--tasks", type=csv_list, help="only these tasks")
    p.add_argument("--data-dir", type=Path, required=True, help="where the snapshots go")
    p.add_argument("--model", help="also download this hub model")
    p.set_defaults(handler=handle_prefetch)


def handle_tasks(args) -> int:
    import evalkit
    from evalkit.suite import load_suite

    suite = load_suite(args.suite)
    rows = [("task", "type", "split", "subset", "dataset repo")]
    rows += [(t["task"], t["type"], t["split"], t["subset"], t["repo"]) for t in evalkit.list_tasks(suite)]
    print(text_table(rows))
    print(f"\n{len(suite.tasks)} tasks in {suite.path}")
    return 0


def handle_prefetch(args) -> int:
    import evalkit

    evalkit.prefetch(args.data_dir, suite=args.suite, tasks=args.tasks, model=args.model)
    return 0

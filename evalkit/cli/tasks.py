"""`tasks` and `prefetch`: what a suite runs, and downloading its data for an offline machine."""

from __future__ import annotations

from pathlib import Path

from evalkit.cli.options import add_names, add_suite
from evalkit.text import text_table


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "tasks",
        help="list a suite's tasks with the dataset repo each one needs",
        description="List a suite's tasks: card name, type, the split and subset the card reports, the suite's "
        "sample size (`limit:` in its YAML; `all` for every example), about how many texts each one encodes (from "
        "mteb's descriptive statistics of the hub data), and the HF dataset repo each one loads (what `hf download "
        "--repo-type dataset REPO` or `prefetch` fetches).",
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
    tasks = evalkit.list_tasks(suite)
    rows = [("task", "type", "split", "subset", "sample", "texts", "dataset repo")]
    rows += [
        (t["task"], t["type"], t["split"], t["subset"], str(t["limit"] or "all"), _count(t["texts"]), t["repo"])
        for t in tasks
    ]
    print(text_table(rows))
    print(f"\n{len(suite.tasks)} tasks in {suite.origin}")
    if suite.data_dir:
        print(f"The suite brings its own data ({suite.data_dir}): no hub statistics, no text counts.")
    elif all(t["texts"] is not None for t in tasks):
        total, share = sum(t["texts"] for t in tasks), ""
        full = evalkit.list_tasks("c-mteb") if suite.name != "c-mteb" else []
        if full and all(t["texts"] is not None for t in full):
            everything = sum(t["texts"] for t in full)
            share = f", {total / everything:.1%} of the {len(full)}-task c-mteb suite's {everything:,}"
        print(
            f"About {total:,} texts to encode{share} (at most; from mteb's descriptive statistics of the hub data). "
            "sample: examples per task (queries for retrieval and reranking)."
        )
    return 0


def _count(texts: int | None) -> str:
    return "–" if texts is None else f"{texts:,}"


def handle_prefetch(args) -> int:
    import evalkit

    evalkit.prefetch(args.data_dir, suite=args.suite, tasks=args.tasks, model=args.model)
    return 0

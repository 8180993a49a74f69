"""The command line: `run_eval.py` and the `evalkit` console script."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from evalkit.embeddings import default_cache_dir
from evalkit.errors import UserError

DEFAULT_MODEL = "bundled:minilm"
CACHE_GB = 20.0
DEFAULT_SAMPLE_OUTPUT = Path("results") / "sample"


def _csv(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("give at least one name")
    return parts


def _positive(cast: type, what: str):
    """An argparse type: a finite number above zero, converted by `cast`."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text} must be above zero")
        return value

    return parse


_positive_int = _positive(int, "a whole number")
_positive_float = _positive(float, "a number")


def _add_run_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="evaluate a model on a suite's tasks and write mteb result JSON",
        description="Evaluate a sentence-transformers model on C-MTEB tasks through mteb. Results go to "
        "OUTPUT/<org>__<name>/<revision>/<Task>.json; tasks already there are skipped unless --overwrite.",
    )
    p.add_argument("--model", required=True, help="hub id, local model folder, or bundled:minilm")
    p.add_argument("--revision", help="model revision (hub models only)")
    p.add_argument("--suite", default="c-mteb", help="bundled suite name (c-mteb, sample) or a suite YAML file")
    p.add_argument("--tasks", type=_csv, help="comma-separated task names (card or mteb names)")
    p.add_argument("--types", type=_csv, help="comma-separated task types, e.g. STS,Retrieval")
    p.add_argument(
        "--data-dir", type=Path, help="local dataset snapshots, one folder per HF repo id (default: the hub)"
    )
    p.add_argument("--output-dir", type=Path, default=Path("results"), help="results folder (default: results)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="encode batch size (default: 32)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N, mps, or a comma-separated list (cuda:0,cuda:1) to encode on several devices "
        "(cached mode); default auto: the GPU if any, every GPU if several",
    )
    p.add_argument("--dtype", default="auto", help="auto, fp32, fp16 or bf16 (default: fp16 on GPU, fp32 on CPU)")
    p.add_argument("--max-seq-length", type=_positive_int, help="truncate inputs to this many tokens")
    p.add_argument("--query-prompt", help="prompt prepended to retrieval/reranking queries (default: the model's own)")
    p.add_argument(
        "--passage-prompt", help="prompt prepended to retrieval/reranking passages (default: the model's own)"
    )
    p.add_argument("--overwrite", action="store_true", help="evaluate tasks again even when their result exists")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="reference mode: no deduplication and no embedding cache; mteb is called exactly as plain mteb would",
    )
    p.add_argument("--cache-dir", type=Path, help=f"embedding cache folder (default: {default_cache_dir()})")
    p.add_argument(
        "--cache-max-gb",
        type=_positive_float,
        help=f"size limit of the whole embedding cache folder, oldest entries evicted first (default: {CACHE_GB})",
    )
    p.add_argument(
        "--dims",
        type=_dims,
        help="Matryoshka sweep: comma-separated dimensions, each evaluated by truncating one full-size encode; "
        "results go to <org>__<name>_dim<D> folders (the full size keeps the plain folder)",
    )
    p.add_argument(
        "--limit",
        type=_positive_int,
        help="fast CI mode: a seeded sample of at most N examples per task (retrieval/reranking: N queries); "
        "results are marked sampled, go to <revision>__limit=N_seed=S, and never reach a card",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the --limit sample (default: 42)")
    p.set_defaults(handler=cmd_run)


def _dims(text: str) -> list[int]:
    dims = [_positive_int(part) for part in _csv(text)]
    if not dims:
        raise argparse.ArgumentTypeError("give at least one dimension, e.g. 1024,512,256")
    return list(dict.fromkeys(dims))


def _add_tasks_parser(sub) -> None:
    p = sub.add_parser("tasks", help="list a suite's tasks with the dataset repo each one needs")
    p.add_argument("--suite", default="c-mteb", help="bundled suite name or a suite YAML file")
    p.set_defaults(handler=cmd_tasks)


def _add_prefetch_parser(sub) -> None:
    p = sub.add_parser(
        "prefetch",
        help="download every dataset snapshot (and a model) for an offline machine",
        description="Download each task's dataset repo at mteb's pinned revision into DATA_DIR/<repo id>, "
        "resuming partial downloads; with --model, the model into the local hub cache.",
    )
    p.add_argument("--suite", default="c-mteb", help="bundled suite name or a suite YAML file")
    p.add_argument("--tasks", type=_csv, help="only these tasks")
    p.add_argument("--data-dir", type=Path, required=True, help="where the snapshots go")
    p.add_argument("--model", help="also download this hub model")
    p.set_defaults(handler=cmd_prefetch)


def _add_compare_parser(sub) -> None:
    from evalkit.report import FORMATS, cmd_compare

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
    p.set_defaults(handler=cmd_compare)


def _add_check_parser(sub) -> None:
    from evalkit.gate import DEFAULT_TOLERANCE, cmd_check

    p = sub.add_parser(
        "check",
        help="CI regression gate: fail when a task's main score dropped by more than the tolerance",
        description="Compare the candidate's main score on every suite task the baseline has. Exit 0 when none fell "
        "by more than its tolerance, 1 when one did or a baseline task is missing from the candidate, 2 on bad input. "
        "Prints what regressed and improved; appends a Markdown summary to $GITHUB_STEP_SUMMARY when it is set.",
    )
    p.add_argument("candidate", help="results folder or model card of the model under test")
    p.add_argument("--baseline", required=True, help="results folder or model card it must not fall behind")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"allowed drop per task in points on the card's 0-100 scale (default: {DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--tolerance-file",
        type=Path,
        metavar="FILE",
        help="YAML mapping of task name or task type to allowed drop in points, plus optional `default:`; "
        "a task's entry wins over its type's, which wins over the default",
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report (one test case per task)")
    p.add_argument("--allow-missing", action="store_true", help="pass although the candidate lacks a baseline task")
    p.add_argument("--suite", default="c-mteb", help="suite whose tasks and main metrics are checked (default: c-mteb)")
    p.set_defaults(handler=cmd_check)


def _add_card_parsers(sub) -> None:
    from evalkit.card import cmd_emit, cmd_import

    card = sub.add_parser("card", help="emit, update or import a model card's model-index metadata")
    actions = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "emit",
        help="write the model-index YAML of a model's results in the C-MTEB card layout",
        description="Read one model revision's results (any mteb result format, or a model card) and write the "
        "model card's `model-index` YAML. Without --output or --update it is printed. --update replaces only the "
        "model-index of a README's front matter; every other byte stays.",
    )
    p.add_argument("results", help="results folder holding one model revision, or a model card README.md")
    p.add_argument("--output", type=Path, help="write the model-index block to FILE")
    p.add_argument(
        "--update", type=Path, metavar="README", help="replace the model-index in this README's front matter"
    )
    p.add_argument("--name", help="model name in the model-index (default: the model's name without its org)")
    p.add_argument("--suite", default="c-mteb", help="suite whose tasks the card shows (default: c-mteb)")
    p.set_defaults(handler=cmd_emit)
    p = actions.add_parser(
        "import",
        help="convert a model card's model-index into mteb result JSON",
        description="Write the card's results as OUTPUT_DIR/<name>/external/<Task>.json (mteb 2.x TaskResult "
        "JSON, 0-1 scale) with a model_meta.json, so a published card can be compared, merged and re-emitted.",
    )
    p.add_argument("card", help="model card README.md")
    p.add_argument("--output-dir", type=Path, required=True, help="results folder to write into")
    p.add_argument("--suite", default="c-mteb", help="suite whose tasks are imported (default: c-mteb)")
    p.set_defaults(handler=cmd_import)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_eval.py",
        description="evalkit: evaluate Chinese embedding models on C-MTEB through mteb. "
        "With no arguments, evaluates the bundled MiniLM on the bundled sample suite, offline.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parser(sub)
    _add_tasks_parser(sub)
    _add_prefetch_parser(sub)
    _add_compare_parser(sub)
    _add_check_parser(sub)
    _add_card_parsers(sub)
    return parser


def cmd_run(args) -> int:
    from evalkit.card import write_beside
    from evalkit.data import check_snapshot
    from evalkit.embeddings import EmbeddingStore
    from evalkit.models import ModelOptions, load_model
    from evalkit.results import write_json_atomic
    from evalkit.runner import RunOptions, load_task, run_tasks, summary, summary_table, variants
    from evalkit.suite import load_suite

    if args.no_cache and (args.dims or args.cache_dir or args.cache_max_gb):
        raise UserError(
            "--no-cache is the reference mode without the embedding cache; "
            "it takes no --dims, --cache-dir or --cache-max-gb"
        )
    suite = load_suite(args.suite)
    specs = suite.select(args.tasks, args.types)
    data_dir = args.data_dir or suite.data_dir
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir} is not a folder")
    for spec in specs:  # mistakes in the suite or the data folder show before the model loads
        task = load_task(spec)
        if data_dir is not None:
            check_snapshot(task, data_dir)
    cache_dir = None if args.no_cache else args.cache_dir or default_cache_dir()
    for folder, option in ((args.output_dir, "--output-dir"), (cache_dir, "--cache-dir")):
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{option} {folder}: cannot use it ({exc.strerror})") from exc
    options = ModelOptions(
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        query_prompt=args.query_prompt,
        passage_prompt=args.passage_prompt,
    )
    model = load_model(args.model, options, revision=args.revision)
    store = None
    if cache_dir is not None:
        max_bytes = int((args.cache_max_gb or CACHE_GB) * 2**30)
        try:
            store = EmbeddingStore(cache_dir, model.cache_key, max_bytes=max_bytes)
        except OSError as exc:
            raise UserError(f"--cache-dir {cache_dir}: cannot use it ({exc.strerror})") from exc
    run_options = RunOptions(
        output_dir=args.output_dir,
        data_dir=data_dir,
        overwrite=args.overwrite,
        show_progress=sys.stderr.isatty(),
        store=store,
        dims=args.dims,
        limit=args.limit,
        seed=args.seed,
        main_metrics=suite.main_metrics,
    )
    plan = variants(model, run_options)
    print(
        f"evalkit: {model.name} on {','.join(model.devices)} ({model.dtype}, batch size {options.batch_size}), "
        f"{len(specs)} task(s) of suite {suite.name}, {'cached' if store else 'reference'} mode",
        flush=True,
    )
    try:
        report = run_tasks(model, specs, run_options, plan)
    finally:
        model.close()
    write_json_atomic(plan[0].folder / "run_summary.json", summary(model, run_options, report))
    print()
    print(summary_table(report.outcomes))
    failed = [o for o in report.outcomes if o.status == "failed"]
    print(f"\n{len(report.outcomes) - len(failed)} of {len(report.outcomes)} result(s) are in {args.output_dir}")
    if report.interrupted:
        print("interrupted: the results above are on disk; run the same command again to continue", file=sys.stderr)
        return 130
    for variant in plan:
        if not run_options.sampled and any(o.status != "failed" and o.dim == variant.dim for o in report.outcomes):
            print(f"model-index YAML: {write_beside(variant.folder, suite)}")
    return 1 if failed else 0


def cmd_tasks(args) -> int:
    from evalkit.data import repo_id
    from evalkit.runner import load_task
    from evalkit.suite import load_suite
    from evalkit.tables import text_table

    suite = load_suite(args.suite)
    rows = [("task", "type", "split", "subset", "dataset repo")]
    for spec in suite.tasks:
        rows.append((spec.name, spec.type, spec.split, spec.subset, repo_id(load_task(spec))))
    print(text_table(rows))
    print(f"\n{len(suite.tasks)} tasks in {suite.path}")
    return 0


def cmd_prefetch(args) -> int:
    from evalkit.data import prefetch
    from evalkit.suite import load_suite

    suite = load_suite(args.suite)
    prefetch(suite.select(args.tasks), args.data_dir, args.model)
    return 0


def default_args(debug: bool) -> list[str]:
    """The embedded default: the bundled model on the bundled sample suite, offline."""
    return [
        *(["--debug"] if debug else []),
        "run",
        "--model",
        DEFAULT_MODEL,
        "--suite",
        "sample",
        "--output-dir",
        str(DEFAULT_SAMPLE_OUTPUT),
    ]


def _quiet_libraries(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; user mistakes print one line and return 2."""
    argv = sys.argv[1:] if argv is None else argv
    if not sys.stderr.isatty():  # progress bars only where someone watches them, not in logs (before tqdm loads)
        os.environ.setdefault("TQDM_DISABLE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(default_args(args.debug))
    _quiet_libraries(args.debug)
    try:
        return args.handler(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished results are on disk; run the same command again to continue", file=sys.stderr)
        return 130

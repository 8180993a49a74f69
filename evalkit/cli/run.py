"""`run`: evaluate a model on a suite's tasks and write mteb result JSON (and the embedded default)."""

from __future__ import annotations

import sys
from pathlib import Path

from evalkit.cli.options import SUITE_HELP, csv_list, dims, positive_float, positive_int
from evalkit.errors import UserError
from evalkit.run.cache import default_cache_dir
from evalkit.run.distributed import ClusterObserver
from evalkit.run.runner import RunObserver, TaskOutcome
from evalkit.text import text_table

DEFAULT_MODEL = "bundled:minilm"
DEFAULT_SAMPLE_OUTPUT = Path("results") / "sample"


def add_parser(sub) -> None:
    from evalkit import DEFAULT_CACHE_GB

    p = sub.add_parser(
        "run",
        help="evaluate a model on a suite's tasks and write mteb result JSON",
        description="Evaluate a sentence-transformers model on C-MTEB tasks through mteb. Results go to "
        "OUTPUT/<org>__<name>/<revision>/<Task>.json; tasks already there are skipped unless --overwrite.",
    )
    p.add_argument(
        "--model",
        required=True,
        action="append",
        help="hub id, local model folder, or bundled:minilm; repeat it, or give a quoted glob ('ckpts/step-*'), "
        "to evaluate several models, each into its own results folder",
    )
    p.add_argument("--revision", help="model revision (hub models only)")
    p.add_argument("--suite", default="c-mteb", help=SUITE_HELP)
    p.add_argument("--tasks", type=csv_list, help="comma-separated task names (card or mteb names)")
    p.add_argument("--types", type=csv_list, help="comma-separated task types, e.g. STS,Retrieval")
    p.add_argument(
        "--data-dir", type=Path, help="local dataset snapshots, one folder per HF repo id (default: the hub)"
    )
    p.add_argument("--output-dir", type=Path, default=Path("results"), help="results folder (default: results)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="encode batch size (default: 32)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N, mps, or a comma-separated list (cuda:0,cuda:1) to encode on several devices "
        "(cached mode); default auto: the GPU if any, every GPU if several",
    )
    p.add_argument("--dtype", default="auto", help="auto, fp32, fp16 or bf16 (default: fp16 on GPU, fp32 on CPU)")
    p.add_argument("--max-seq-length", type=positive_int, help="truncate inputs to this many tokens")
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
        type=positive_float,
        help="size limit of the whole embedding cache folder, oldest entries evicted first "
        f"(default: {DEFAULT_CACHE_GB})",
    )
    p.add_argument(
        "--dims",
        type=dims,
        help="Matryoshka sweep: comma-separated dimensions, each evaluated by truncating one full-size encode; "
        "results go to <org>__<name>_dim<D> folders (the full size keeps the plain folder)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        help="fast CI mode: a seeded sample of at most N examples per task (retrieval/reranking: N queries); "
        "results are marked sampled, go to <revision>__limit=N_seed=S, and never reach a card",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the --limit sample (default: 42)")
    p.add_argument(
        "--ray",
        metavar="local|auto|ADDRESS",
        help="evaluate the (model, task) pairs on a Ray cluster: local starts a private one on this machine, auto "
        "joins this node's cluster (RAY_ADDRESS or `ray start`), an address joins that head; needs evalkit[ray]",
    )
    p.add_argument(
        "--ray-cpus-per-worker",
        type=positive_float,
        default=1.0,
        help="with --ray on a cluster without GPUs: CPUs per evaluation worker (default: 1; with GPUs: one per GPU)",
    )
    p.set_defaults(handler=handle)


def default_args() -> list[str]:
    """The embedded default: the bundled model on the bundled sample suite, offline."""
    return ["run", "--model", DEFAULT_MODEL, "--suite", "sample", "--output-dir", str(DEFAULT_SAMPLE_OUTPUT)]


class Printer(RunObserver):
    """Prints a run's progress: a header, then one line per task."""

    def started(self, model, specs, suite, cached) -> None:
        print(
            f"evalkit: {model.name} on {','.join(model.devices)} ({model.dtype}, batch size "
            f"{model.options.batch_size}), {len(specs)} task(s) of suite {suite}, "
            f"{'cached' if cached else 'reference'} mode",
            flush=True,
        )

    def task_finished(self, outcome: TaskOutcome) -> None:
        print(f"{outcome.label}: {_result(outcome)}", flush=True)


def _result(outcome: TaskOutcome) -> str:
    """What a progress line says of a task: its main score and time, or why it did not run."""
    if outcome.status == "failed":
        return f"FAILED: {outcome.error}"
    if outcome.status == "skipped":
        return f"already done ({outcome.path}), skipped"
    return f"{outcome.main_metric} {outcome.main_score:.2f} ({outcome.seconds:.1f} s)"


class RayPrinter(ClusterObserver):
    """Prints a Ray run's progress: the cluster, then one line per unit with its node and the queue."""

    def cluster_ready(self, shape) -> None:
        print(
            f"evalkit: Ray cluster of {shape['nodes']} node(s), {shape['workers']} worker(s) of {shape['worker']}, "
            f"ready in {shape['startup_seconds']:.1f} s",
            flush=True,
        )

    def unit_finished(self, model, outcome, node, pid, counts) -> None:
        where = f" on {node}" if node else ""
        queue = f"done {counts['done']}, running {counts['running']}, queued {counts['queued']}"
        print(f"{outcome.label} {model}{where}: {_result(outcome)} | {queue}", flush=True)


def summary_table(outcomes: list[TaskOutcome]) -> str:
    """The final table of a run: one row per task with its main score (card scale), time, or failure reason."""
    rows = [("task", "type", "main score", "seconds", "status")]
    for o in outcomes:
        name = o.spec.mteb_task + (f" (dim {o.dim})" if o.dim else "")
        score = f"{o.main_metric} {o.main_score:.2f}" if o.main_score is not None else "-"
        status = f"failed: {o.error}" if o.status == "failed" else o.status
        rows.append((name, o.spec.type, score, f"{o.seconds:.1f}", status))
    return text_table(rows, rule=True)


def handle(args) -> int:
    import evalkit

    if args.no_cache and (args.dims or args.cache_dir or args.cache_max_gb):
        raise UserError(
            "--no-cache is the reference mode without the embedding cache; "
            "it takes no --dims, --cache-dir or --cache-max-gb"
        )
    if args.ray_cpus_per_worker != 1.0 and args.ray is None:
        raise UserError("--ray-cpus-per-worker applies to --ray runs")
    reports = evalkit.evaluate_many(
        args.model,
        ray=args.ray,
        ray_cpus_per_worker=args.ray_cpus_per_worker,
        tasks=args.tasks,
        types=args.types,
        suite=args.suite,
        output_dir=args.output_dir,
        data_dir=args.data_dir,
        revision=args.revision,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        query_prompt=args.query_prompt,
        passage_prompt=args.passage_prompt,
        overwrite=args.overwrite,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        cache_max_gb=args.cache_max_gb,
        dims=args.dims,
        limit=args.limit,
        seed=args.seed,
        show_progress=sys.stderr.isatty(),
        observer=RayPrinter() if args.ray is not None else Printer(),
    )
    several = len(reports) > 1
    outcomes = [o for report in reports for o in report.outcomes]
    failed = sum(len(report.failed) for report in reports)
    for report in reports:
        print()
        if several and report.folders:
            print(f"{report.folders[0]}:")
        print(summary_table(report.outcomes))
    print(f"\n{len(outcomes) - failed} of {len(outcomes)} result(s) are in {args.output_dir}")
    if any(report.interrupted for report in reports):
        print("interrupted: the results above are on disk; run the same command again to continue", file=sys.stderr)
        return 130
    for report in reports:
        for path in report.model_index_files:
            print(f"model-index YAML: {path}")
    return 1 if failed else 0

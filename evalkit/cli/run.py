"""`run`: evaluate a model on a suite's tasks and write mteb result JSON (and the embedded default)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from evalkit.cli.options import (
    add_names,
    add_suite,
    batch_size,
    clipping_margin,
    csv_list,
    described,
    dims,
    json_object,
    positive_float,
    positive_int,
    prompt,
)
from evalkit.errors import UserError
from evalkit.report.comparison import build_comparison
from evalkit.report.rows import agg_text
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.run.cache import default_cache_dir
from evalkit.run.distributed import ClusterObserver
from evalkit.run.runner import RunObserver, RunReport, TaskOutcome, variant_text
from evalkit.text import printable, text_table

DEFAULT_MODEL = "bundled:minilm"
DEFAULT_SAMPLE_OUTPUT = Path("results") / "sample"


def add_parser(sub) -> None:
    from evalkit import DEFAULT_CACHE_GB

    p = sub.add_parser(
        "run",
        help="evaluate a model on a suite's tasks and write mteb result JSON",
        **described(
            "Evaluate a model on C-MTEB tasks through mteb, one task at a time. Results go to "
            "OUTPUT_DIR/<org>__<name>/<revision>/<Task>.json as soon as each task ends; tasks already there are "
            "skipped unless --overwrite, so the same command continues a stopped run. The closing table shows each "
            "task's main score (the card's metric and 0-100 scale), the per-type and suite averages, and why a task "
            "failed. Exit status: 0 all done, 1 a task failed, 2 a usage mistake.",
            "-m iampanda/zpoint_large_embedding_zh -o results",
            "-m ./my-checkpoint -t STSB,AFQMC --data-dir snapshots",
            "-m ./my-checkpoint -b 'MTEB(cmn, v1)' --task-types Retrieval Reranking --batch-size 256",
        ),
    )
    p.add_argument(
        "-m",
        "--model",
        required=True,
        action="append",
        help="bundled:minilm, a local folder (a sentence-transformers model, or a cross-encoder for the Reranking "
        "tasks), a model mteb's registry knows (loaded as mteb loads it: its prompts, instructions, dtype and pinned "
        "revision), or another hub id (plain sentence-transformers); repeat it, or give a quoted glob "
        "('ckpts/step-*'), to evaluate several models, each into its own results folder",
    )
    p.add_argument(
        "--model-source",
        choices=("auto", "registry", "sentence-transformers"),
        default="auto",
        help="how a hub id is loaded: through mteb's registry, or as a plain sentence-transformers model "
        "(default auto: the registry when it knows the name)",
    )
    p.add_argument("--revision", help="model revision (hub models only; a registry model is pinned by the registry)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow models that run code from their repository")
    p.add_argument(
        "--model-kwargs",
        type=json_object,
        help='JSON passed to the loader (transformers\' from_pretrained), e.g. \'{"attn_implementation": "sdpa"}\'',
    )
    add_suite(p, "the tasks to run")
    add_names(p, "-t", "--tasks", help="only these tasks (card or mteb names), e.g. -t STSB,AFQMC or -t STSB AFQMC")
    add_names(p, "--types", "--task-types", help="only these task types, e.g. --types STS,Retrieval")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="local dataset snapshots, one folder per HF dataset repo id, as `hf download` or `prefetch` makes them "
        "(default: download from the hub)",
    )
    p.add_argument(
        "-o",
        "--output-dir",
        "--output-folder",
        dest="output_dir",
        type=Path,
        default=Path("results"),
        help="results folder (default: results)",
    )
    p.add_argument(
        "--batch-size",
        type=batch_size,
        default=32,
        help="encode batch size (default: 32); auto (from 32) or auto:N (from N) doubles it in the encode phase "
        "while the GPU's memory allows, and halves it on out-of-memory (cached mode; on the CPU it stays)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N, mps, or a comma-separated list (cuda:0,cuda:1) to encode on several devices "
        "(cached mode); default auto: the GPU if any, every GPU if several",
    )
    p.add_argument(
        "--dtype",
        default="auto",
        help="auto, fp32, fp16 or bf16: the weights load in it directly (default: a registry model's own dtype, "
        "else fp16 on GPU and fp32 on CPU)",
    )
    p.add_argument("--max-seq-length", type=positive_int, help="truncate inputs to this many tokens")
    p.add_argument(
        "--query-prompt", type=prompt, help="prompt prepended to retrieval/reranking queries (default: the model's own)"
    )
    p.add_argument(
        "--passage-prompt",
        type=prompt,
        help="prompt prepended to retrieval/reranking passages (default: the model's own)",
    )
    p.add_argument(
        "--prompts",
        type=Path,
        help="YAML file: task name or task type -> {query: ..., document: ...}; overrides the model's own prompts "
        "and the suite's prompts (recorded in model_meta.json, part of the model identity)",
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
        "--quantize",
        type=csv_list,
        metavar="DTYPES",
        help="precision sweep, alone or with --dims: comma-separated mteb output dtypes (int8, uint8, int4, uint4, "
        "binary, float16, bfloat16, float8_*; float32 for unquantized), each dimension quantized by mteb's "
        "CompressionWrapper (int types calibrated on each encode call's embeddings), all from one encode; results "
        "go to <org>__<name>_dim<D>_<dtype> folders, ready for compare --pareto",
    )
    p.add_argument(
        "--clipping-margin",
        type=clipping_margin,
        metavar="LOW,HIGH",
        help="with --quantize: clip each dimension to these percentiles (0-1, e.g. 0.01,0.99) before the integer "
        "quantization calibrates, as mteb's CompressionWrapper does; recorded in the folder name and the model meta",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        help="fast CI mode: a seeded sample of at most N examples per task (retrieval/reranking: N queries); "
        "results are marked sampled, go to <revision>__limit=N_seed=S, and never reach a card",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the --limit sample (default: 42)")
    p.add_argument(
        "--save-predictions",
        action="store_true",
        help="keep each task's per-example predictions (rankings, similarities, labels, cluster assignments) "
        "beside its result as <Task>.predictions.json.gz, for confidence intervals (compare --ci) and the "
        "significance gate (check --significance)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        help="processes that evaluate tasks in parallel from the embedding cache, each single-threaded, so the "
        "scores equal a serial run's (cached mode; default: one per CPU core, at most 8, for what a rerun finds "
        "cached, and one per core but one for the rest; with more than one, the missing texts are encoded first, "
        "task by task as each task's texts are recorded)",
    )
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
            f"evalkit: {printable(model.name)} on {','.join(model.devices)} ({model.dtype}, batch size "
            f"{model.options.batch_size}), {len(specs)} task(s) of suite {suite}, "
            f"{'cached' if cached else 'reference'} mode",
            flush=True,
        )
        prompts = ", ".join(f"{k}={v!r}" for k, v in model.prompts.items()) or "none"
        print(f"loader: {model.loader}; prompts: {prompts}", flush=True)

    def task_finished(self, outcome: TaskOutcome) -> None:
        print(printable(f"{outcome.label}: {_result(outcome)}"), flush=True)


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
        print(printable(f"{outcome.label} {model}{where}: {_result(outcome)} | {queue}"), flush=True)


def summary_table(report: RunReport) -> str:
    """The closing table of a run: each task's main score (card scale) and status, then the per-type and suite
    averages of each results folder (marked (n/N) where the run covers part of the suite), then the failures."""
    header = ("task", "type", "main score", "seconds", "status")
    rows = []
    for o in report.outcomes:
        score = f"{o.main_metric} {o.main_score:.2f}" if o.main_score is not None else "-"
        rows.append(
            (o.spec.mteb_task + variant_text(o.dim, o.precision), o.spec.type, score, f"{o.seconds:.1f}", o.status)
        )
    averages = []
    if report.suite is not None:
        for variant in dict.fromkeys((o.dim, o.precision) for o in report.outcomes):
            scores = _as_scores([o for o in report.outcomes if (o.dim, o.precision) == variant], report.sampled)
            comp = build_comparison(scores, [], report.suite)
            for row in [*(r for r in comp.types if r.aggregates[0].n_tasks), comp.average]:
                name = row.name if row is comp.average else f"{row.name} average"
                averages.append((name + variant_text(*variant), "", agg_text(row.aggregates[0]), "", ""))
    lines = [line.rstrip() for line in text_table([header, *rows, *averages], rule=True).splitlines()]
    if averages:
        lines.insert(2 + len(rows), lines[1])
    failed = [o for o in report.outcomes if o.status == "failed"]
    lines += [""] if failed else []
    for o in failed:
        failure = printable(f"{o.spec.mteb_task}{variant_text(o.dim, o.precision)} failed: {o.error}")
        lines += textwrap.wrap(failure, 100, subsequent_indent="    ")
    return "\n".join(lines)


def next_steps(prog: str) -> str:
    """The embedded default's last words: what it showed and what to run next."""
    return "\n".join([
        "",
        "That was the demo: the bundled English MiniLM on six tiny Chinese tasks, one per C-MTEB type. It shows that",
        "model, mteb and data work together offline; its scores say little about the model. Next:",
        f"  {prog} run -m YOUR_MODEL -b 'MTEB(cmn, v1)'   evaluate a model on C-MTEB (data from the hub or --data-dir)",
        f"  {prog} compare RESULTS BASELINE              compare its results with another model's or a model card",
        f"  {prog} --help                                every command; COMMAND --help explains one",
    ])  # fmt: skip


def _as_scores(outcomes: list[TaskOutcome], sampled: str | None) -> ModelScores:
    """A run's main scores in the form reports average, so that the table's averages are the reports' own."""
    tasks = {
        o.spec.mteb_task: TaskScores(
            o.spec.mteb_task, o.spec.type, o.spec.split, o.spec.subset, "", {o.main_metric: o.main_score}, sampled
        )
        for o in outcomes
        if o.main_score is not None
    }
    return ModelScores("run", "", Path(), tasks)


def handle(args) -> int:
    import evalkit

    if args.no_cache and (args.cache_dir or args.cache_max_gb or args.workers):
        raise UserError(
            "--no-cache is the reference mode without the embedding cache; "
            "it takes no --cache-dir, --cache-max-gb or --workers"
        )
    if args.workers and args.ray is not None:
        raise UserError("--workers applies to runs on this machine; with --ray every worker evaluates its own tasks")
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
        prompts=args.prompts,
        model_source=args.model_source,
        trust_remote_code=args.trust_remote_code,
        model_kwargs=args.model_kwargs,
        overwrite=args.overwrite,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        cache_max_gb=args.cache_max_gb,
        dims=args.dims,
        quantize=args.quantize,
        clipping_margin=args.clipping_margin,
        limit=args.limit,
        seed=args.seed,
        save_predictions=args.save_predictions,
        workers=args.workers,
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
        print(summary_table(report))
    print(f"\n{len(outcomes) - failed} of {len(outcomes)} result(s) are in {args.output_dir}")
    if any(report.interrupted for report in reports):
        print("interrupted: the results above are on disk; run the same command again to continue", file=sys.stderr)
        return 130
    for report in reports:
        for path in report.model_index_files:
            print(f"model-index YAML: {path}")
    if getattr(args, "demo", None):
        print(next_steps(args.demo))
    return 1 if failed else 0

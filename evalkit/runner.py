"""Running a suite: one mteb evaluation per task (and per Matryoshka dimension), each result written at once."""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from evalkit import data, results, sampling
from evalkit.embeddings import CachedEncoder, EmbeddingStore, EncodeStats
from evalkit.errors import UserError
from evalkit.ingest import card_scores
from evalkit.models import LoadedModel
from evalkit.suite import TaskSpec, suggest
from evalkit.tables import text_table

logger = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """Where data comes from, where results go, and how texts are encoded."""

    output_dir: Path
    data_dir: Path | None = None
    overwrite: bool = False
    show_progress: bool = True
    store: EmbeddingStore | None = None  # None: the reference mode, mteb called exactly as plain mteb
    dims: list[int] | None = None  # Matryoshka dimensions to evaluate by truncation
    limit: int | None = None  # `--limit`: evaluate a seeded sample of at most this many examples per task
    seed: int = 42
    main_metrics: dict[str, str] = field(default_factory=dict)  # the suite's main metric per task type

    @property
    def sampled(self) -> str | None:
        """The marker of a sampled run (None for a full run)."""
        return sampling.sampled_label(self.limit, self.seed) if self.limit else None


@dataclass
class Variant:
    """One results folder of a run: the model at full size, or truncated to `dim` dimensions."""

    dim: int | None
    name: str
    folder: Path


@dataclass
class TaskOutcome:
    """What happened to one task (in one variant) of a run."""

    spec: TaskSpec
    status: str  # "done", "skipped" (result already on disk) or "failed"
    dim: int | None = None
    main_metric: str = ""  # the suite's main metric of the task type, as the card names it
    main_score: float | None = None  # on the card's 0-100 scale
    seconds: float = 0.0
    error: str = ""


@dataclass
class RunReport:
    """Everything a run did, for the summary table and `run_summary.json`."""

    outcomes: list[TaskOutcome] = field(default_factory=list)
    stats: EncodeStats = field(default_factory=EncodeStats)
    wall_seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C; what is done is on disk


def load_task(spec: TaskSpec):
    """The mteb task of `spec`, restricted to the card's split and subset."""
    import mteb

    try:
        task = mteb.get_task(spec.mteb_task, eval_splits=[spec.split], hf_subsets=[spec.subset])
    except KeyError as exc:
        known = [t.metadata.name for t in mteb.get_tasks()]
        raise UserError(f"mteb has no task {spec.mteb_task!r}{suggest(spec.mteb_task, known)}") from exc
    if spec.split not in task.eval_splits:
        raise UserError(
            f"{spec.mteb_task}: mteb does not evaluate split {spec.split!r} (it has {task.metadata.eval_splits})"
        )
    return task


def variants(model: LoadedModel, options: RunOptions) -> list[Variant]:
    """The results folders of a run: one per requested dimension (the full size keeps the plain folder)."""
    full = model.embed_dim
    revision = model.revision
    if options.limit:  # sampled results never share a folder with full ones
        revision += "__" + sampling.sampled_folder_suffix(options.limit, options.seed)
    out = []
    for dim in options.dims or [None]:
        if dim is not None and not 0 < dim <= full:
            raise UserError(f"--dims {dim}: the model has {full} dimensions")
        suffix = f"_dim{dim}" if dim not in (None, full) else ""
        folder = results.model_dir(options.output_dir, model.folder_name + suffix, revision)
        out.append(Variant(dim if suffix else None, model.name + suffix, folder))
    return out


def card_main_score(scores: dict, spec: TaskSpec, main_metrics: dict[str, str]) -> tuple[str, float | None]:
    """The suite's main metric of a task (card name, 0-100) from mteb's scores, None where mteb has none or NaN."""
    name = main_metrics[spec.type]
    return name, card_scores(scores, spec).get(name)


def _existing(
    path: Path, spec: TaskSpec, version: data.DataVersion, model_identity: str, main_metrics: dict[str, str]
) -> tuple[str, float] | None:
    """The main score of a complete result of the same model on the same data, or None when the task must run."""
    from mteb.results import TaskResult

    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        TaskResult.from_dict(raw)  # mteb can read it
    except Exception:  # noqa: BLE001 - an unreadable file is evaluated again and replaced
        logger.warning("%s is unreadable; evaluating %s again", path, spec.mteb_task)
        return None
    same = (raw.get("dataset_revision"), raw.get("dataset_fingerprint"), raw.get("model_identity")) == (
        version.revision,
        version.fingerprint,
        model_identity,
    )
    name, score = card_main_score(raw.get("scores") or {}, spec, main_metrics)
    return (name, score) if same and score is not None else None


def prepare_task(spec: TaskSpec, options: RunOptions):
    """The mteb task pointed at its data, and which data that is (the revision its result will record)."""
    task = load_task(spec)
    if options.data_dir:
        return task, data.use_local_snapshot(task, options.data_dir)
    return task, data.DataVersion(task.metadata.revision)


def _encoder(model: LoadedModel, variant: Variant, options: RunOptions, stats: EncodeStats):
    wrapper = model.mteb_wrapper()
    if options.store is None:
        return wrapper
    meta = wrapper.mteb_model_meta
    if variant.dim:
        meta = meta.model_copy(update={"name": variant.name, "embed_dim": variant.dim})
    return CachedEncoder(
        wrapper, model.cache_key, options.store, stats, dim=variant.dim, meta=meta, encode_kwargs=model.encode_kwargs()
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def evaluate_task(model: LoadedModel, encoder, task, revision: str, options: RunOptions):
    """Evaluate one task through `mteb.evaluate` as plain mteb calls it, halving the batch on GPU out-of-memory."""
    import mteb

    while True:
        try:
            result = mteb.evaluate(
                encoder,
                task,
                encode_kwargs={"batch_size": model.options.batch_size, "show_progress_bar": options.show_progress},
                cache=None,
                show_progress_bar=options.show_progress,
            )
            break
        except Exception as exc:
            if not _is_out_of_memory(exc) or model.options.batch_size == 1:
                raise
            model.free_memory()
            model.options.batch_size //= 2
            logger.warning(
                "out of memory on %s: retrying with batch size %d", task.metadata.name, model.options.batch_size
            )
    task_result = result.task_results[0]
    task_result.dataset_revision = revision
    return task_result


def run_tasks(model: LoadedModel, specs: list[TaskSpec], options: RunOptions, plan: list[Variant]) -> RunReport:
    """Evaluate each task in turn, for each variant of `plan`; a failing task is reported and the others still run."""
    for variant in plan:
        _check_same_model(variant.folder / "model_meta.json", model, options.overwrite)
    _write_meta(model, options, plan)
    report = RunReport()
    start = time.monotonic()
    try:
        for index, spec in enumerate(specs, start=1):
            _run_one(model, spec, plan, options, report, f"[{index}/{len(specs)}] {spec.mteb_task}")
    except KeyboardInterrupt:
        report.interrupted = True
    report.wall_seconds = time.monotonic() - start
    _write_meta(model, options, plan)  # the batch size may have shrunk on out-of-memory
    return report


def _check_same_model(meta_path: Path, model: LoadedModel, overwrite: bool) -> None:
    """Refuse to mix results of another model, or of other model options, into one results folder."""
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("identity")
    except (OSError, ValueError, AttributeError):
        return
    if recorded and recorded != model.cache_key and not overwrite:
        raise UserError(
            f"{meta_path.parent} holds results of {model.name} with other weights or options "
            "(dtype, max length, prompts); use another --output-dir, or --overwrite to evaluate again"
        )


def _write_meta(model: LoadedModel, options: RunOptions, plan: list[Variant]) -> None:
    for variant in plan:
        meta = model.record(variant.name, variant.dim)
        if options.sampled:
            meta["sampled"] = options.sampled
        results.write_json_atomic(variant.folder / "model_meta.json", meta)


def _run_one(
    model: LoadedModel, spec: TaskSpec, plan: list[Variant], options: RunOptions, report: RunReport, prefix: str
) -> None:
    """One task in every variant: skip what is done, load (and sample) the data once, evaluate the rest."""
    labels = {v.dim: prefix + (f" (dim {v.dim})" if v.dim else "") for v in plan}
    try:
        task, version = prepare_task(spec, options)
    except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
        for variant in plan:
            _failed(report, spec, variant, labels[variant.dim], exc, 0.0)
        return
    todo = []
    for variant in plan:
        path = results.task_file(variant.folder, spec.mteb_task)
        done = None if options.overwrite else _existing(path, spec, version, model.cache_key, options.main_metrics)
        if done is None:
            todo.append((variant, path))
        else:
            print(f"{labels[variant.dim]}: already done ({path}), skipped", flush=True)
            report.outcomes.append(TaskOutcome(spec, "skipped", variant.dim, *done))
    try:
        if todo and (options.limit or len(todo) > 1):
            task.load_data()  # loaded once for every dimension, and sampled before mteb sees it
            if options.limit:
                sampling.limit_task(task, options.limit, options.seed)
    except Exception as exc:  # noqa: BLE001
        for variant, _ in todo:
            _failed(report, spec, variant, labels[variant.dim], exc, 0.0)
        todo = []
    for variant, path in todo:
        start = time.monotonic()
        try:
            encoder = _encoder(model, variant, options, report.stats)
            task_result = evaluate_task(model, encoder, task, version.revision, options)
            metric, score = card_main_score(task_result.scores, spec, options.main_metrics)
            if score is None:
                raise RuntimeError(f"mteb gave no finite {metric} (NaN or infinite embeddings?)")
            results.write_task_result(
                task_result,
                path,
                sampled=options.sampled,
                dataset_fingerprint=version.fingerprint,
                model_identity=model.cache_key,
            )
            outcome = TaskOutcome(spec, "done", variant.dim, metric, score, time.monotonic() - start)
            print(f"{labels[variant.dim]}: {metric} {score:.2f} ({outcome.seconds:.1f} s)", flush=True)
            report.outcomes.append(outcome)
        except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
            _failed(report, spec, variant, labels[variant.dim], exc, time.monotonic() - start)
    if task.data_loaded:
        task.unload_data()


def _failed(report: RunReport, spec: TaskSpec, variant: Variant, label: str, exc: Exception, seconds: float) -> None:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    logger.debug("%s failed:\n%s", spec.mteb_task, traceback.format_exc())
    report.outcomes.append(TaskOutcome(spec, "failed", variant.dim, seconds=seconds, error=reason))
    print(f"{label}: FAILED: {reason}", flush=True)


def summary(model: LoadedModel, options: RunOptions, report: RunReport) -> dict:
    """`run_summary.json`: what was asked, encoded and cached, the times, and the environment."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("evalkit", "mteb", "sentence-transformers", "transformers", "torch", "datasets", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    counts = (
        report.stats.record()
        if options.store is not None
        else {key: None for key in ("texts_requested", "unique_texts", "texts_encoded", "cache_hits", "encode_seconds")}
    )
    return {
        "mode": "cached" if options.store is not None else "reference",
        **counts,
        "wall_seconds": round(report.wall_seconds, 3),
        "task_seconds": {_key(o): round(o.seconds, 3) for o in report.outcomes},
        "failed": {_key(o): o.error for o in report.outcomes if o.status == "failed"},
        "device": model.device,
        "dtype": model.dtype,
        "batch_size": model.options.batch_size,
        "dims": options.dims,
        "sampled": options.sampled,
        "cache_dir": str(options.store.folder) if options.store is not None else None,
        "versions": versions,
    }


def _key(outcome: TaskOutcome) -> str:
    return outcome.spec.mteb_task + (f"@dim{outcome.dim}" if outcome.dim else "")


def summary_table(outcomes: list[TaskOutcome]) -> str:
    """The final table of a run: one row per task with its main score (card scale), time, or failure reason."""
    rows = [("task", "type", "main score", "seconds", "status")]
    for o in outcomes:
        name = o.spec.mteb_task + (f" (dim {o.dim})" if o.dim else "")
        score = f"{o.main_metric} {o.main_score:.2f}" if o.main_score is not None else "-"
        status = f"failed: {o.error}" if o.status == "failed" else o.status
        rows.append((name, o.spec.type, score, f"{o.seconds:.1f}", status))
    return text_table(rows, rule=True)

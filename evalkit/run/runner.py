"""Running a suite: one mteb evaluation per task (and per Matryoshka dimension), each result written at once.

The runner never prints: it tells a `RunObserver` what happens (the CLI prints, the API's default logs).
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import OptionError, UserError
from evalkit.fileio import write_json_atomic
from evalkit.results.card import write_beside
from evalkit.results.files import (
    SUMMARY_FILE,
    model_dir,
    recorded_identity,
    result_identities,
    task_file,
    write_model_meta,
    write_task_result,
)
from evalkit.results.predictions import predictions_file, write_predictions
from evalkit.results.read import card_scores, read_task_file
from evalkit.results.scores import main_score
from evalkit.run import data, sampling
from evalkit.run.cache import CachedEncoder, EmbeddingStore, EncodeStats
from evalkit.run.models import LoadedModel
from evalkit.run.record import recording
from evalkit.suite import Suite, TaskSpec, load_task

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
    save_predictions: bool = False  # keep per-example predictions beside each result (`run --save-predictions`)

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
    path: Path | None = None  # the result file (done or skipped)
    position: tuple[int, int] = (0, 0)  # (this task's number, the number of tasks)

    @property
    def label(self) -> str:
        """`[2/6] STSB (dim 128)`: the task as progress lines name it."""
        return f"[{self.position[0]}/{self.position[1]}] {self.spec.mteb_task}" + (
            f" (dim {self.dim})" if self.dim else ""
        )


class RunObserver:
    """Told what a run does; this default logs it (logger `evalkit.run.runner`). The CLI prints instead."""

    def started(self, model: LoadedModel, specs: list[TaskSpec], suite: str, cached: bool) -> None:
        mode = "cached" if cached else "reference"
        logger.info("evaluating %s on %d task(s) of suite %s, %s mode", model.name, len(specs), suite, mode)

    def task_finished(self, outcome: TaskOutcome) -> None:
        if outcome.status == "failed":
            logger.warning("%s: FAILED: %s", outcome.label, outcome.error)
        elif outcome.status == "skipped":
            logger.info("%s: already done (%s), skipped", outcome.label, outcome.path)
        else:
            logger.info("%s: %s %.2f (%.1f s)", outcome.label, outcome.main_metric, outcome.main_score, outcome.seconds)


@dataclass
class RunReport:
    """Everything a run did, for the summary table and `run_summary.json`."""

    outcomes: list[TaskOutcome] = field(default_factory=list)
    stats: EncodeStats = field(default_factory=EncodeStats)
    wall_seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C; what is done is on disk
    folders: list[Path] = field(default_factory=list)  # the results folder of each variant
    model_index_files: list[Path] = field(default_factory=list)  # `model-index.yaml` written beside full results
    suite: Suite | None = None  # the suite the tasks came from
    sampled: str | None = None  # the `--limit` marker of a sampled run

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def variants(model: LoadedModel, options: RunOptions) -> list[Variant]:
    """The results folders of a run: one per requested dimension (the full size keeps the plain folder)."""
    revision = model.revision
    if options.limit:  # sampled results never share a folder with full ones
        revision += "__" + sampling.sampled_folder_suffix(options.limit, options.seed)
    out = []
    for dim in options.dims or [None]:
        full = model.embed_dim
        if dim is not None and model.cross_encoder:
            raise OptionError("dims", dim, f"{model.name} is a cross-encoder: it scores pairs and embeds nothing")
        if dim is not None and not 0 < dim <= full:
            raise OptionError("dims", dim, f"the model has {full} dimensions")
        suffix = f"_dim{dim}" if dim not in (None, full) else ""
        folder = model_dir(options.output_dir, model.folder_name + suffix, revision)
        out.append(Variant(dim if suffix else None, model.name + suffix, folder))
    return out


def existing_result(path: Path, spec: TaskSpec, version: data.DataVersion, model_identity: str, options: RunOptions):
    """A complete result of the same model on the same data (as a skipped outcome), or None when the task must run.

    With `save_predictions`, a result is complete only with its predictions file.
    """
    if not path.is_file() or (options.save_predictions and not predictions_file(path).is_file()):
        return None
    try:
        scores = read_task_file(path, spec)
    except UserError as exc:  # an unreadable file is evaluated again and replaced
        logger.warning("%s; evaluating %s again", exc, spec.mteb_task)
        return None
    if scores is None:
        return None
    same = (scores.dataset_revision, scores.dataset_fingerprint, scores.model_identity) == (
        version.revision,
        version.fingerprint,
        model_identity,
    )
    metric, score = main_score(scores.metrics, spec.type, options.main_metrics)
    return TaskOutcome(spec, "skipped", None, metric, score, path=path) if same and score is not None else None


def prepare_task(spec: TaskSpec, options: RunOptions):
    """The mteb task pointed at its data, and which data that is (the revision its result will record)."""
    task = load_task(spec)
    if options.data_dir:
        return task, data.use_local_snapshot(task, options.data_dir)
    return task, data.DataVersion(task.metadata.revision)


def _encoder(model: LoadedModel, variant: Variant, options: RunOptions, stats: EncodeStats):
    wrapper = model.mteb_wrapper()
    if options.store is None or model.cross_encoder:  # a cross-encoder scores pairs: nothing to cache
        return wrapper
    meta = wrapper.mteb_model_meta
    if variant.dim:
        meta = meta.model_copy(update={"name": variant.name, "embed_dim": variant.dim})
    return CachedEncoder(
        wrapper,
        model.model_identity,
        options.store,
        stats,
        dim=variant.dim,
        meta=meta,
        encode_kwargs=model.encode_kwargs(),
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


def run_tasks(
    model: LoadedModel,
    specs: list[TaskSpec],
    options: RunOptions,
    plan: list[Variant],
    observer: RunObserver | None = None,
) -> RunReport:
    """Evaluate each task in turn, for each variant of `plan`; a failing task is reported and the others still run."""
    observer = observer or RunObserver()
    for variant in plan:
        check_same_model(variant.folder, model, options.overwrite, specs)
    _write_meta(model, options, plan)
    report = RunReport(folders=[v.folder for v in plan])
    start = time.monotonic()
    try:
        for index, spec in enumerate(specs, start=1):
            run_one(model, spec, plan, options, report, (index, len(specs)), observer)
    except KeyboardInterrupt:
        report.interrupted = True
    report.wall_seconds = time.monotonic() - start
    _write_meta(model, options, plan)  # the batch size may have shrunk on out-of-memory
    return report


def check_same_model(folder: Path, model: LoadedModel, overwrite: bool, specs: list[TaskSpec]) -> None:
    """Refuse to mix results of another model, or of other model options, into one results folder.

    `overwrite` replaces another identity's results only when the run evaluates every one of them again.
    """
    recorded = recorded_identity(folder)
    if not recorded or recorded == model.model_identity:
        return
    if not overwrite:
        raise UserError(
            f"{folder} holds results of {model.name} with other weights or options "
            "(dtype, max length, prompts); use another output folder, or overwrite to evaluate again"
        )
    running = {task_file(folder, s.mteb_task).stem for s in specs}
    others = result_identities(folder).items()
    kept = [task for task, identity in others if identity != model.model_identity and task not in running]
    if kept:
        raise UserError(
            f"{folder} holds results of other weights or options that this run would keep beside its own "
            f"({', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}); evaluate all of its tasks again, "
            "or use another output folder"
        )


def variant_meta(model: LoadedModel, options: RunOptions, variant: Variant) -> dict:
    """The `model_meta.json` of one results folder of a run."""
    meta = model.record(variant.name, variant.dim)
    if options.sampled:
        meta["sampled"] = options.sampled
    return meta


def _write_meta(model: LoadedModel, options: RunOptions, plan: list[Variant]) -> None:
    for variant in plan:
        write_model_meta(variant.folder, variant_meta(model, options, variant))


def run_one(
    model: LoadedModel,
    spec: TaskSpec,
    plan: list[Variant],
    options: RunOptions,
    report: RunReport,
    position: tuple[int, int],
    observer: RunObserver,
    write=write_task_result,
) -> None:
    """One task in every variant: skip what is done, load (and sample) the data once, evaluate the rest.

    Each result goes to `write(task_result, path, **marks)`: the file itself, or a Ray worker's list for its driver.
    """

    def finish(outcome: TaskOutcome) -> None:
        outcome.position = position
        report.outcomes.append(outcome)
        observer.task_finished(outcome)

    def failed(variant: Variant, exc: Exception, seconds: float) -> None:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        logger.debug("%s failed:\n%s", spec.mteb_task, traceback.format_exc())
        finish(TaskOutcome(spec, "failed", variant.dim, seconds=seconds, error=reason))

    try:
        task, version = prepare_task(spec, options)
    except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
        for variant in plan:
            failed(variant, exc, 0.0)
        return
    todo = []
    for variant in plan:
        path = task_file(variant.folder, spec.mteb_task)
        done = None if options.overwrite else existing_result(path, spec, version, model.model_identity, options)
        if done is None:
            todo.append((variant, path))
        else:
            done.dim = variant.dim
            finish(done)
    try:
        if todo and (options.limit or len(todo) > 1):
            task.load_data()  # loaded once for every dimension, and sampled before mteb sees it
            if options.limit:
                sampling.limit_task(task, options.limit, options.seed)
    except Exception as exc:  # noqa: BLE001
        for variant, _ in todo:
            failed(variant, exc, 0.0)
        todo = []
    for variant, path in todo:
        start = time.monotonic()
        try:
            encoder = _encoder(model, variant, options, report.stats)
            with recording(task, spec.type) if options.save_predictions else nullcontext() as recorder:
                task_result = evaluate_task(model, encoder, task, version.revision, options)
            metric, score = main_score(card_scores(task_result.scores, spec), spec.type, options.main_metrics)
            if score is None:
                raise RuntimeError(f"mteb gave no finite {metric} (NaN or infinite embeddings?)")
            saved = _save_predictions(recorder, task_result, spec, path) if recorder else None
            if saved is None:  # predictions of an earlier run would not match this result
                predictions_file(path).unlink(missing_ok=True)
            write(
                task_result,
                path,
                sampled=options.sampled,
                dataset_fingerprint=version.fingerprint,
                model_identity=model.model_identity,
                predictions=saved,
            )
            finish(TaskOutcome(spec, "done", variant.dim, metric, score, time.monotonic() - start, path=path))
        except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
            failed(variant, exc, time.monotonic() - start)
    if task.data_loaded:
        task.unload_data()


def write_run_files(
    model: LoadedModel,
    options: RunOptions,
    plan: list[Variant],
    report: RunReport,
    suite: Suite,
    extra: dict | None = None,
) -> None:
    """`run_summary.json` (with `extra` keys) and, after a full run, `model-index.yaml` in each folder with results."""
    report.suite, report.sampled = suite, options.sampled
    write_json_atomic(plan[0].folder / SUMMARY_FILE, summary(model, options, report) | (extra or {}))
    if not report.interrupted and not options.sampled:
        for variant in plan:
            if any(o.status != "failed" and o.dim == variant.dim for o in report.outcomes):
                report.model_index_files.append(write_beside(variant.folder, suite))


def _save_predictions(recorder, task_result, spec: TaskSpec, path: Path) -> str | None:
    """Write the recorded predictions beside the result file; the name the result file refers to them by."""
    entry = next((e for e in task_result.scores.get(spec.split, []) if e.get("hf_subset") == spec.subset), {})
    record = recorder.record(entry)
    if record is None:
        logger.warning("%s: mteb scored no predictions that evalkit can record", spec.mteb_task)
        return None
    target = predictions_file(path)
    meta = {"task": spec.mteb_task, "type": spec.type, "split": spec.split, "subset": spec.subset}
    write_predictions(target, meta | record)
    return target.name


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

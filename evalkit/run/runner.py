"""Running a suite: one mteb evaluation per task (and per Matryoshka dimension), each result written at once.

The runner never prints: it tells a `RunObserver` what happens (the CLI prints, the API's default logs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from evalkit.errors import OptionError, UserError
from evalkit.fileio import write_json_atomic
from evalkit.precision import UNQUANTIZED, bytes_per_vector, variant_suffix
from evalkit.results.card import write_beside
from evalkit.results.files import (
    IDENTITY,
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
from evalkit.run import compress, data, encode, parallel, sampling
from evalkit.run.cache import EmbeddingStore, EncodeStats
from evalkit.run.jobs import Evaluated, Job, JobSettings, Variant, failed, reason, run_job
from evalkit.run.lazy import ModelFacts
from evalkit.run.models import LoadedModel
from evalkit.run.threads import single_threaded
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
    precisions: list[compress.Precision | None] | None = None  # quantizations to evaluate (None in it: unquantized)
    limit: int | None = None  # `--limit`: evaluate a seeded sample of at most this many examples per task
    seed: int = 42
    main_metrics: dict[str, str] = field(default_factory=dict)  # the suite's main metric per task type
    save_predictions: bool = False  # keep per-example predictions beside each result (`run --save-predictions`)
    workers: int | None = None  # evaluation processes in cached mode; None: `parallel.default_workers`
    suite_sampling: str | None = None  # the suite whose per-task sample sizes (`limit:`) the run applies

    def limit_for(self, spec: TaskSpec) -> int | None:
        """The task's sample size: the smaller of `limit` and the suite's own for the task (None: every example)."""
        return sampling.effective_limit(self.limit, spec.limit)

    @property
    def sampling_key(self) -> str | None:
        """What samples the run: `100` (`--limit`), the suite with per-task sizes, or both (`100+c-mteb-lite`)."""
        return "+".join(str(n) for n in (self.limit, self.suite_sampling) if n) or None

    @property
    def sampled(self) -> str | None:
        """The marker of a sampled run (None for a full run)."""
        return sampling.sampled_label(self.sampling_key, self.seed) if self.sampling_key else None

    def task_sampled(self, spec: TaskSpec) -> str | None:
        """The marker of a task's result: its own sample's, or the run's for a task that a sampled run evaluates
        whole (its folder is a sampled one)."""
        limit = self.limit_for(spec)
        return sampling.sampled_label(limit, self.seed) if limit else self.sampled


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
    precision: str | None = None  # the variant's quantization (`Precision.label`), None unquantized

    @property
    def label(self) -> str:
        """`[2/6] STSB (dim 128, int8)`: the task as progress lines name it."""
        return f"[{self.position[0]}/{self.position[1]}] {self.spec.mteb_task}{variant_text(self.dim, self.precision)}"

    def of_variant(self, variant: Variant) -> TaskOutcome:
        """This outcome, marked with the variant it belongs to."""
        self.dim, self.precision = variant.dim, variant.precision_label
        return self


def variant_text(dim: int | None, precision: str | None) -> str:
    """` (dim 128, int8)`: a variant as progress lines and tables name it ("" for the full model)."""
    parts = [f"dim {dim}"] * bool(dim) + [precision] * bool(precision)
    return f" ({', '.join(parts)})" if parts else ""


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
    workers: int = 1  # the processes that evaluated tasks in parallel (1: all in the run's own process)
    phase_seconds: dict[str, float] = field(default_factory=dict)  # cache_only, encode_phase, evaluation

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to `phase_seconds[phase]`."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.phase_seconds[phase] = round(self.phase_seconds.get(phase, 0.0) + time.monotonic() - start, 3)


def variants(model: LoadedModel, options: RunOptions) -> list[Variant]:
    """The results folders of a run: one per requested (dimension, precision) pair, `<name>_dim256_int8`; the full
    size keeps the plain folder, and so does full precision."""
    revision = model.revision
    if options.sampled:  # sampled results never share a folder with full ones
        revision += "__" + sampling.sampled_folder_suffix(options.sampling_key, options.seed)
    out = []
    wrapper_meta = cache(lambda: model.mteb_wrapper().mteb_model_meta)
    for dim in options.dims or [None]:
        full = model.embed_dim
        if dim is not None and model.cross_encoder:
            raise OptionError("dims", dim, f"{model.name} is a cross-encoder: it scores pairs and embeds nothing")
        if dim is not None and not 0 < dim <= full:
            raise OptionError("dims", dim, f"the model has {full} dimensions")
        dim = dim if dim != full else None
        if dim and options.store is None:
            compress.check_reference_truncation(model, dim)
        for precision in options.precisions or [None]:
            if precision is not None and model.cross_encoder:
                raise OptionError("quantize", precision.dtype, f"{model.name} is a cross-encoder: it embeds nothing")
            suffix = variant_suffix(dim, precision.label if precision else None)
            folder = model_dir(options.output_dir, model.folder_name + suffix, revision)
            variant = Variant(dim, model.name + suffix, folder, model.model_identity, precision)
            if suffix:  # what mteb records of the experiment; a quantized variant's identity adds its name
                meta = compress.experiment_meta(wrapper_meta(), dim, precision)
                variant.experiment = meta.experiment_kwargs
                variant.identity += f"+{meta.experiment_name}" if precision else ""
            out.append(variant)
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
    same = (scores.dataset_revision, scores.dataset_fingerprint, scores.model_identity, scores.sampled) == (
        version.revision,
        version.fingerprint,
        model_identity,
        options.task_sampled(spec),  # a suite's edited sample size is a new sample
    )
    metric, score = main_score(scores.metrics, spec.type, options.main_metrics)
    return TaskOutcome(spec, "skipped", None, metric, score, path=path) if same and score is not None else None


def prepare_task(spec: TaskSpec, options: RunOptions):
    """The mteb task pointed at its data, and which data that is (the revision its result will record)."""
    task = load_task(spec)
    if options.data_dir:
        return task, data.use_local_snapshot(task, options.data_dir)
    return task, data.DataVersion(task.metadata.revision)


def settings(model: LoadedModel, options: RunOptions) -> JobSettings:
    """How this run evaluates each job."""
    return JobSettings(
        model.options,
        options.limit,
        options.seed,
        options.show_progress,
        options.save_predictions,
        bulk_columns=options.store is not None,
    )


def _encoder(model: LoadedModel, variant: Variant, options: RunOptions, stats: EncodeStats, may_encode: bool = True):
    """What mteb evaluates with: the model's mteb wrapper, behind the embedding cache in cached mode."""
    wrapper = model.mteb_wrapper()
    if options.store is None or model.cross_encoder:  # a cross-encoder scores pairs: nothing to cache
        return compress.reference_encoder(wrapper, model.model, variant.name, variant.dim, variant.precision)
    return parallel.cached_encoder(
        wrapper,
        model.model_identity,
        options.store,
        stats,
        variant,
        encode_kwargs=model.encode_kwargs,
        may_encode=may_encode,
    )


def run_tasks(
    model: LoadedModel,
    specs: list[TaskSpec],
    options: RunOptions,
    plan: list[Variant],
    observer: RunObserver | None = None,
) -> RunReport:
    """Evaluate each task for each variant of `plan`; a failing task is reported and the others still run.

    Cached mode first evaluates from the cache alone whatever is all cached (a rerun), in `options.workers`
    processes where the model's facts allow a worker without the model. On a GPU, or with several workers, the
    encode phase (`encode.py`) then embeds every missing text of the other tasks as one stream, and they are
    evaluated from the cache in the workers too; otherwise each task encodes its missing texts as it is evaluated,
    in this process. The reference mode evaluates one task after the other, each encoding its own texts, as plain
    mteb does.
    """
    observer = observer or RunObserver()
    for variant in plan:
        check_same_model(variant, model.name, options.overwrite, specs)
    _write_meta(model, options, plan)
    report = RunReport(folders=[v.folder for v in plan])
    facts = _facts(model) if options.store is not None else None
    start = time.monotonic()
    try:
        jobs = [
            job
            for index, spec in enumerate(specs, start=1)
            if (job := plan_job(model, spec, plan, options, report, (index, len(specs)), observer))
        ]
        if options.store is not None and jobs and not model.cross_encoder:
            rerun = options.store.holds_any()
            if facts is not None and (rerun or _streams(model, facts, options, jobs)):
                parallel.start_server(options.workers, len(jobs))  # its imports overlap what comes before
            if rerun:  # what is all cached is evaluated without recording it
                with report.timed("cache_only"):
                    jobs = _evaluate(model, facts, jobs, options, report, observer, cache_only=True)
            if jobs and _streams(model, facts, options, jobs):
                with report.timed("encode_phase"):
                    _encode_phase(model, facts, jobs, options, report)
                    encode.release_freed_memory()
        with report.timed("evaluation"):
            _evaluate(model, facts, jobs, options, report, observer)
    except KeyboardInterrupt:
        report.interrupted = True
    report.outcomes.sort(key=lambda o: o.position[0])  # suite order (parallel workers finish in any order)
    report.wall_seconds = time.monotonic() - start
    _write_meta(model, options, plan)  # the batch size may have shrunk on out-of-memory
    return report


def _facts(model: LoadedModel) -> ModelFacts | None:
    """What a worker needs to evaluate without the model: a sentence-transformers model's (remembered, or taken
    from the loaded model); None for a model whose mteb loader is its own, or a cross-encoder."""
    if getattr(model, "facts", None) is not None:
        return model.facts
    if model.wrapper is None and not model.cross_encoder:
        return ModelFacts.of(model, model.mteb_wrapper())
    return None


def _workers(facts: ModelFacts | None, options: RunOptions, jobs: list[Job], cache_only: bool = False) -> int:
    """How many processes evaluate: 1 without the model's facts (the reference mode among others)."""
    if facts is None:
        return 1
    return options.workers or parallel.default_workers(len(jobs), cache_only)


def _streams(model: LoadedModel, facts: ModelFacts | None, options: RunOptions, jobs: list[Job]) -> bool:
    """Whether the missing texts are encoded in the encode phase: on a GPU, or for several workers (they need every
    text cached). With one worker on the CPU (the default on two cores) each task encodes its own missing texts as
    it is evaluated: measured faster there, since the recording pass costs more than the stream saves."""
    return not model.device.startswith(("cpu", "mps")) or _workers(facts, options, jobs) > 1


def _encode_phase(
    model: LoadedModel, facts: ModelFacts | None, jobs: list[Job], options: RunOptions, report: RunReport
) -> None:
    """Record what each job asks for and encode the texts the cache lacks, job by job (see `encode.py`).

    With several workers the jobs are recorded in the workers, in parallel, and this process encodes each job's
    missing texts as its recording arrives, while the others are still recorded: at C-MTEB's real size a recording
    pass costs about what scoring the task does, and the device would otherwise wait for all of them. It runs where
    `_streams` says."""
    wrapper = model.mteb_wrapper()
    workers = _workers(facts, options, jobs)
    if workers > 1 and len(jobs) > 1:
        setup = parallel.WorkerSetup(options.store.root, facts, replace(settings(model, options), show_progress=False))
        recorded = parallel.record_parallel(jobs, setup, workers)
    else:
        recorded = ((job, _record_here(job, wrapper, model, options)) for job in jobs)
    for job, requests in recorded:
        job.recorded = requests is not None
        if not requests:
            continue
        try:
            encode.encode_missing(model, requests, options.store, report.stats, options.show_progress)
        except Exception:  # noqa: BLE001 - the job then encodes (and fails on) its own texts
            logger.debug("encoding %s's texts failed; it encodes them itself", job.spec.mteb_task, exc_info=True)
            job.recorded = False


def _record_here(job: Job, wrapper, model: LoadedModel, options: RunOptions) -> dict | None:
    """What a job asks for (its recording pass, in this process); None when the recording failed."""
    requests: dict = {}
    task = job.fresh_task()
    ok = encode.record(task, wrapper, model.model_identity, options.limit_for(job.spec), options.seed, requests)
    return requests if ok else None


def _evaluate(
    model: LoadedModel,
    facts: ModelFacts | None,
    jobs: list[Job],
    options: RunOptions,
    report: RunReport,
    observer,
    cache_only: bool = False,
) -> list[Job]:
    """Evaluate the jobs: in worker processes where every text is cached, else in this process, with the model.

    With `cache_only` every job is tried from the cache alone, and the jobs that miss an embedding are returned
    unevaluated (the encode phase then records and encodes them).
    """
    local, missed = jobs, []
    workers = _workers(facts, options, jobs, cache_only)
    ready = [job for job in jobs if job.recorded or cache_only]
    if workers > 1 and len(ready) > 1:
        local = [job for job in jobs if not (job.recorded or cache_only)]
        quiet = replace(settings(model, options), show_progress=False)
        setup = parallel.WorkerSetup(options.store.root, facts, quiet)
        report.workers = workers
        for job, evaluated, stats in parallel.evaluate_parallel(ready, setup, workers):
            if any(item.missing for item in evaluated):
                (missed if cache_only else local).append(job)  # not cached (or evicted): with the model, here
            else:
                report.stats.merge(stats)
                finish_job(job, evaluated, model, options, report, observer)
    for job in sorted(local, key=lambda j: j.position):
        stats = EncodeStats()
        evaluated = evaluate_here(model, job, options, stats, may_encode=not cache_only)
        if any(item.missing for item in evaluated):
            missed.append(job)
        else:
            report.stats.merge(stats)
            finish_job(job, evaluated, model, options, report, observer)
    return sorted(missed, key=lambda j: j.position)


def evaluate_here(
    model: LoadedModel, job: Job, options: RunOptions, stats: EncodeStats, may_encode: bool = True
) -> list[Evaluated]:
    """Evaluate a job in this process. In cached mode mteb scores single-threaded, as the workers do, so that the
    scores never depend on where a job ran; the model encodes the texts missing from the cache with every thread
    (`CachedEncoder`). The reference mode runs as plain mteb does."""
    with single_threaded() if options.store is not None else nullcontext():
        return run_job(
            job, lambda v: _encoder(model, v, options, stats, may_encode), settings(model, options), model.free_memory
        )


def check_same_model(variant: Variant, name: str, overwrite: bool, specs: list[TaskSpec]) -> None:
    """Refuse to mix results of another model, or of other model options, into one results folder.

    Each result file records the identity that computed it, and so does `model_meta.json`: any other identity
    (a copied file, a folder without its `model_meta.json`) is refused. `overwrite` replaces another identity's
    results only when the run evaluates every one of them again.
    """
    folder = variant.folder
    files = result_identities(folder)
    foreign = [task for task, identity in files.items() if identity and identity != variant.identity]
    recorded = recorded_identity(folder)
    if not foreign and (not recorded or recorded == variant.identity):
        return
    if not overwrite:
        shown = f" ({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''})" if foreign else ""
        raise UserError(
            f"{folder} holds results{shown} of {name} with other weights or options "
            "(dtype, max length, prompts); use another output folder, or overwrite to evaluate again"
        )
    running = {task_file(folder, s.mteb_task).stem for s in specs}
    kept = [task for task, identity in files.items() if identity != variant.identity and task not in running]
    if kept:
        raise UserError(
            f"{folder} holds results of other weights or options that this run would keep beside its own "
            f"({', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}); evaluate all of its tasks again, "
            "or use another output folder"
        )


def variant_meta(model: LoadedModel, options: RunOptions, variant: Variant) -> dict:
    """The `model_meta.json` of one results folder of a run: the model, and what one of its vectors costs."""
    meta = model.record(variant.name, variant.dim) | {IDENTITY: variant.identity}
    if meta["embed_dim"]:
        meta["bytes_per_vector"] = bytes_per_vector(meta["embed_dim"], getattr(variant.precision, "dtype", UNQUANTIZED))
    if variant.experiment:
        meta["experiment_kwargs"] = variant.experiment
    if options.sampled:
        meta["sampled"] = options.sampled
    return meta


def _write_meta(model: LoadedModel, options: RunOptions, plan: list[Variant]) -> None:
    for variant in plan:
        write_model_meta(variant.folder, variant_meta(model, options, variant))


def plan_job(
    model: LoadedModel,
    spec: TaskSpec,
    plan: list[Variant],
    options: RunOptions,
    report: RunReport,
    position: tuple[int, int],
    observer: RunObserver,
) -> Job | None:
    """The task's job (the variants whose result is missing), after reporting what is done already or failing."""
    try:
        task, version = prepare_task(spec, options)
    except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
        job = Job(spec, position, None, data.DataVersion(""))
        paths = [(v, task_file(v.folder, spec.mteb_task)) for v in plan]
        finish_job(job, [failed(spec, v, p, exc) for v, p in paths], model, options, report, observer)
        return None
    job = Job(spec, position, task.metadata, version)
    for variant in plan:
        path = task_file(variant.folder, spec.mteb_task)
        done = None if options.overwrite else existing_result(path, spec, version, variant.identity, options)
        if done is None:
            job.todo.append((variant, path))
        else:
            done.of_variant(variant).position = position
            report.outcomes.append(done)
            observer.task_finished(done)
    return job if job.todo else None


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
    """One task in every variant, encoding its own texts: skip what is done, evaluate the rest (a Ray actor's unit).

    Each result goes to `write(task_result, path, **marks)`: the file itself, or a Ray worker's list for its driver.
    """
    job = plan_job(model, spec, plan, options, report, position, observer)
    if job is not None:
        finish_job(job, evaluate_here(model, job, options, report.stats), model, options, report, observer, write)


def finish_job(
    job: Job,
    evaluated: list[Evaluated],
    model: LoadedModel,
    options: RunOptions,
    report: RunReport,
    observer: RunObserver,
    write=write_task_result,
) -> None:
    """Write each evaluated variant's predictions and result (or report its failure), and tell the observer."""
    spec = job.spec
    for item in evaluated:
        try:
            if item.error:
                raise RuntimeError(item.error)
            metric, score = main_score(card_scores(item.result.scores, spec), spec.type, options.main_metrics)
            if score is None:
                raise RuntimeError(f"mteb gave no finite {metric} (NaN or infinite embeddings?)")
            saved, target = None, predictions_file(item.path)
            if item.predictions is not None:
                write_predictions(target, item.predictions)
                saved = target.name
            else:  # predictions of an earlier run would not match this result
                target.unlink(missing_ok=True)
            write(
                item.result,
                item.path,
                sampled=options.task_sampled(spec),
                dataset_fingerprint=job.version.fingerprint,
                model_identity=item.variant.identity,
                predictions=saved,
            )
            outcome = TaskOutcome(spec, "done", None, metric, score, item.seconds, path=item.path)
        except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
            outcome = TaskOutcome(spec, "failed", seconds=item.seconds, error=reason(exc))
        outcome.of_variant(item.variant).position = job.position
        report.outcomes.append(outcome)
        observer.task_finished(outcome)


def write_run_files(
    model: LoadedModel,
    options: RunOptions,
    plan: list[Variant],
    report: RunReport,
    suite: Suite,
    extra: dict | None = None,
) -> None:
    """`run_summary.json` (with `extra` keys) in each folder of the run, so that each variant of a sweep has its
    encode speed beside it, and, after a full run, `model-index.yaml` in each folder with results."""
    report.suite, report.sampled = suite, options.sampled
    record = summary(model, options, report) | (extra or {})
    for variant in plan:
        write_json_atomic(variant.folder / SUMMARY_FILE, record)
    if not report.interrupted and not options.sampled:
        for variant in plan:
            mine = (variant.dim, variant.precision_label)
            if any(o.status != "failed" and (o.dim, o.precision) == mine for o in report.outcomes):
                report.model_index_files.append(write_beside(variant.folder, suite))


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
        "model_load_seconds": None if model.load_seconds is None else round(model.load_seconds, 3),
        "texts_per_second": _throughput(model, report.stats) if options.store is not None else None,
        "workers": report.workers,
        "phase_seconds": report.phase_seconds,
        "device": model.device,
        "dtype": model.dtype,
        "batch_size": model.options.batch_size,
        "batch_size_auto": model.options.grow_batch,
        "dims": options.dims,
        "quantize": [p.label if p else UNQUANTIZED for p in options.precisions] if options.precisions else None,
        "sampled": options.sampled,
        "cache_dir": str(options.store.folder) if options.store is not None else None,
        "versions": versions,
    }


def _throughput(model: LoadedModel, stats: EncodeStats) -> dict[str, float] | None:
    """Texts encoded per second of encoding, per device (the devices share the stream); None when none were."""
    if not stats.texts_encoded or not stats.encode_seconds:
        return None
    rate = stats.texts_encoded / stats.encode_seconds / len(model.devices or [model.device])
    return {device: round(rate, 1) for device in model.devices or [model.device]}


def _key(outcome: TaskOutcome) -> str:
    """`STSB`, `STSB@dim128`, `STSB@dim128_int8`: a task's key in `run_summary.json`."""
    suffix = variant_suffix(outcome.dim, outcome.precision)
    return outcome.spec.mteb_task + ("@" + suffix[1:] if suffix else "")

"""Evaluating several models on a Ray cluster, each (model, task) pair one unit of work.

One evaluation actor per GPU (or per `cpus_per_worker` CPUs where the cluster has none) holds one model at a
time; a free actor takes the next unit of the model it holds, so actors rarely load another. Matryoshka
dimensions stay inside a unit (one encode). Actors evaluate through the runner's own pieces and return the
results: this process, the driver, is the only writer of result files, `model_meta.json`, `run_summary.json`
and `model-index.yaml`, each written atomically as it arrives. An actor whose process or node dies is restarted
by Ray and its unit retried, at most `RETRIES` times; an error inside a task is a failed outcome, never retried.
Ray is imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import OptionError, UserError
from evalkit.results.files import remove_stale_temporaries, task_file, write_model_meta, write_task_result
from evalkit.run.cache import EmbeddingStore, EncodeStats, default_cache_dir
from evalkit.run.models import LoadedModel, ModelOptions, load_model
from evalkit.run.runner import (
    RunObserver,
    RunOptions,
    RunReport,
    TaskOutcome,
    Variant,
    check_same_model,
    existing_result,
    prepare_task,
    run_one,
    variant_meta,
    variants,
    write_run_files,
)
from evalkit.suite import TaskSpec

# the settings (evaluate's keywords) that make a model's ModelOptions, in `_Setup.model_options`' order
MODEL_SETTINGS = (
    "device", "dtype", "batch_size", "max_seq_length", "query_prompt", "passage_prompt", "model_source",
    "trust_remote_code", "model_kwargs",
)  # fmt: skip

logger = logging.getLogger(__name__)

RETRIES = 3  # restarts of a dead actor, and retries of the unit it was running
CONNECT_SECONDS = 10  # how long a head given by address may take to accept a connection


def import_ray():
    """The `ray` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed; install it with: pip install 'evalkit[ray]'") from None
    return ray


@dataclass
class ModelPlan:
    """What the driver knows of a model once a worker has loaded it: its identity and its results folders."""

    spec: str  # as given: hub id or folder
    name: str
    model_identity: str
    device: str
    dtype: str
    options: ModelOptions
    variants: list[Variant]
    records: list[dict[str, Any]]  # `model_meta.json` of each variant
    devices: list[str] = field(default_factory=list)
    load_seconds: float | None = None  # the first load, on the worker that described it


@dataclass
class Unit:
    """One unit of work: one task of one model, in the variants (dimensions) still missing."""

    model: str
    spec: TaskSpec
    variants: list[Variant]
    position: tuple[int, int]


@dataclass
class UnitResult:
    """What a worker returns for a unit: outcomes, the results for the driver to write, and where it ran."""

    outcomes: list[TaskOutcome]
    results: dict[Path, tuple[Any, dict[str, Any]]]  # result path -> (mteb TaskResult, marks)
    stats: EncodeStats
    node: str
    pid: int
    seconds: float


class _Quiet(RunObserver):
    def task_finished(self, outcome: TaskOutcome) -> None:
        pass


def _node_label() -> str:
    import ray

    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


class Evaluator:
    """A Ray actor: holds one model at a time and evaluates units of it, writing nothing."""

    def __init__(self, load: dict[str, Any], options: RunOptions, cache: tuple[Path | None, int] | None):
        """`load`: `load_model`'s options, revision and name; `cache`: (folder or None for the node's default,
        size limit), None in the reference mode."""
        self.load = load
        self.options = dataclasses.replace(options, overwrite=True, show_progress=False)  # the driver skips
        self.cache = cache
        self.model: LoadedModel | None = None
        self.spec: str | None = None

    def where(self) -> tuple[str, int]:
        """The node (IP/node id) and process this actor runs in."""
        return _node_label(), os.getpid()

    def _load(self, spec: str) -> LoadedModel:
        if self.spec != spec or self.model is None:
            if self.model is not None:
                self.model.close()
                self.model = self.spec = self.options.store = None
            options = dataclasses.replace(self.load["options"])  # the batch size may shrink on out-of-memory
            self.model = load_model(spec, options, revision=self.load["revision"], name=self.load["name"])
            self.spec = spec
            if self.cache is not None:  # node-local by default; a shared POSIX folder when the driver names one
                root, max_bytes = self.cache
                self.options.store = EmbeddingStore(root or default_cache_dir(), self.model.model_identity, max_bytes)
        return self.model

    def describe(self, spec: str) -> ModelPlan:
        """Load the model and say what the driver needs to plan its units."""
        model = self._load(spec)
        plan = variants(model, self.options)
        records = [variant_meta(model, self.options, v) for v in plan]
        return ModelPlan(
            spec,
            model.name,
            model.model_identity,
            model.device,
            model.dtype,
            model.options,
            plan,
            records,
            model.devices,
            model.load_seconds,
        )

    def evaluate(self, unit: Unit) -> UnitResult:
        """Evaluate one unit as the runner does locally; each result comes back instead of being written."""
        start = time.monotonic()
        model = self._load(unit.model)
        report = RunReport()
        results: dict[Path, tuple[Any, dict[str, Any]]] = {}

        def keep(task_result, path: Path, **marks) -> None:
            results[path] = (task_result, marks)

        run_one(model, unit.spec, unit.variants, self.options, report, unit.position, _Quiet(), write=keep)
        node, pid = self.where()
        return UnitResult(report.outcomes, results, report.stats, node, pid, time.monotonic() - start)


class ClusterObserver:
    """Told what a Ray run does (in place of a local run's `RunObserver`); this default logs it. The CLI prints."""

    def cluster_ready(self, shape: dict[str, Any]) -> None:
        logger.info("Ray cluster: %(nodes)d node(s), %(workers)d worker(s), ready in %(startup_seconds).1f s", shape)

    def unit_started(self, model: str, spec: TaskSpec, node: str, pid: int) -> None:
        logger.debug("%s %s started on %s (pid %d)", model, spec.mteb_task, node, pid)

    def unit_finished(self, model: str, outcome: TaskOutcome, node: str, pid: int, counts: dict[str, int]) -> None:
        """`node` and `pid`: the worker that evaluated it ("" and 0 where none did: skipped, or failed to start)."""
        what = outcome.error or f"{outcome.main_metric} {outcome.main_score}"
        logger.info("%s %s on %s: %s, %s (%s)", model, outcome.label, node or "-", outcome.status, what, counts)


@dataclass
class _ModelRun:
    spec: str
    plan: ModelPlan | None = None
    report: RunReport = field(default_factory=RunReport)
    node_seconds: dict[str, float] = field(default_factory=dict)


class _Driver:
    """The scheduling loop: hands units to free actors, writes what comes back, reports each unit."""

    def __init__(self, ray, actors, models, specs, options: RunOptions, observer: ClusterObserver):
        self.ray = ray
        self.actors = dict(enumerate(actors))
        self.options = options
        self.specs = specs
        self.observer = observer
        self.runs = {m: _ModelRun(m) for m in models}
        self.to_describe = deque(models)
        self.queues: dict[str, deque[Unit]] = {}
        self.holding: dict[int, str | None] = dict.fromkeys(self.actors)
        self.where: dict[int, tuple[str, int]] = {}
        self.inflight: dict[Any, tuple[int, str, Any]] = {}
        self.done = 0
        self.numbered = 0
        self.total = len(models) * len(specs)
        self.folders: dict[Path, str] = {}

    def counts(self) -> dict[str, int]:
        queued = sum(len(q) for q in self.queues.values()) + len(self.specs) * len(self.to_describe)
        queued += len(self.specs) * sum(kind == "describe" for _, kind, _ in self.inflight.values())
        running = sum(kind == "unit" for _, kind, _ in self.inflight.values())
        return {"done": self.done, "running": running, "queued": queued}

    def run(self) -> None:
        for index in self.actors:
            self._assign(index)
        while self.inflight:
            ready, _ = self.ray.wait(list(self.inflight), num_returns=1)
            index, kind, payload = self.inflight.pop(ready[0])
            try:
                value, error = self.ray.get(ready[0]), None
            except self.ray.exceptions.RayActorError as exc:
                value, error = None, f"the worker died {RETRIES + 1} times ({str(exc).splitlines()[0]})"
                del self.actors[index]
            except self.ray.exceptions.RayTaskError as exc:  # an error in loading the model
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                value, error = None, str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            except self.ray.exceptions.RayError as exc:
                value, error = None, str(exc).splitlines()[0]
            if kind == "describe":
                self._described(index, payload, value, error)
            else:
                self._finished(payload, value, error)
            for free in [i for i in self.actors if i not in {a for a, _, _ in self.inflight.values()}]:
                self._assign(free)
        for run in self.runs.values():  # every actor died: what is left fails
            for unit in self.queues.pop(run.spec, ()):
                self._fail_unit(unit, "no worker is left")
        while self.to_describe:
            self._fail_model(self.runs[self.to_describe.popleft()], "no worker is left")

    def _submit(self, index: int, kind: str, payload) -> None:
        actor = self.actors[index]
        if kind == "describe":
            ref = actor.describe.remote(payload)
            self.holding[index] = payload
        else:
            ref = actor.evaluate.remote(payload)
            self.holding[index] = payload.model
            node, pid = self.where.get(index, ("", 0))
            self.observer.unit_started(self._name(payload.model), payload.spec, node, pid)
        self.inflight[ref] = (index, kind, payload)

    def _assign(self, index: int) -> None:
        """The free actor's next work: its model's next unit, else a model not yet loaded, else the longest queue."""
        held = self.holding.get(index)
        if held and self.queues.get(held):
            return self._submit(index, "unit", self.queues[held].popleft())
        if self.to_describe:
            return self._submit(index, "describe", self.to_describe.popleft())
        longest = max(self.queues, key=lambda m: len(self.queues[m]), default=None)
        if longest and self.queues[longest]:
            self._submit(index, "unit", self.queues[longest].popleft())

    def _name(self, spec: str) -> str:
        plan = self.runs[spec].plan
        return plan.name if plan else spec

    def _report(self, run: _ModelRun, outcome: TaskOutcome, node: str = "", pid: int = 0) -> None:
        run.report.outcomes.append(outcome)
        self.observer.unit_finished(self._name(run.spec), outcome, node, pid, self.counts())

    def _number(self) -> tuple[int, int]:
        self.numbered += 1
        return (self.numbered, self.total)

    def _fail_model(self, run: _ModelRun, reason: str) -> None:
        self.holding.update({i: None for i, held in self.holding.items() if held == run.spec})
        for spec in self.specs:
            self.done += 1
            self._report(run, TaskOutcome(spec, "failed", error=reason, position=self._number()))

    def _fail_unit(self, unit: Unit, reason: str) -> None:
        self.done += 1
        run = self.runs[unit.model]
        for variant in unit.variants:
            outcome = TaskOutcome(unit.spec, "failed", error=reason, position=unit.position)
            self._report(run, outcome.of_variant(variant))

    def _described(self, index: int, spec: str, plan: ModelPlan | None, error: str | None) -> None:
        run = self.runs[spec]
        if plan is None:
            self.holding[index] = None
            return self._fail_model(run, f"cannot load model {spec}: {error}")
        run.plan = plan
        run.report.folders = [v.folder for v in plan.variants]
        try:
            for variant, record in zip(plan.variants, plan.records):
                other = self.folders.setdefault(variant.folder, spec)
                if other != spec:
                    raise UserError(f"{spec} and {other} would write to the same results folder {variant.folder}")
                check_same_model(variant, plan.name, self.options.overwrite, self.specs)
                remove_stale_temporaries(variant.folder)
                write_model_meta(variant.folder, record)
        except (UserError, OSError) as exc:
            run.plan = None
            return self._fail_model(run, str(exc))
        queue = self.queues.setdefault(spec, deque())
        for task_spec in self.specs:
            position = self._number()
            todo = self._missing(run, task_spec, plan, position)
            if todo:
                queue.append(Unit(spec, task_spec, todo, position))

    def _missing(self, run: _ModelRun, spec: TaskSpec, plan: ModelPlan, position: tuple[int, int]) -> list[Variant]:
        """The variants of a task still to evaluate; those already on disk are reported as skipped."""
        if self.options.overwrite:
            return plan.variants
        try:
            _, version = prepare_task(spec, self.options)
        except Exception:  # noqa: BLE001 - the worker evaluates it and reports why it fails
            return plan.variants
        todo, skipped = [], []
        for variant in plan.variants:
            path = task_file(variant.folder, spec.mteb_task)
            done = existing_result(path, spec, version, variant.identity, self.options)
            if done is None:
                todo.append(variant)
            else:
                done.of_variant(variant).position = position
                skipped.append(done)
        self.done += not todo
        for outcome in skipped:
            self._report(run, outcome)
        return todo

    def _finished(self, unit: Unit, result: UnitResult | None, error: str | None) -> None:
        if result is None:
            return self._fail_unit(unit, error or "the worker gave no result")
        self.done += 1
        run = self.runs[unit.model]
        run.report.stats.texts_requested += result.stats.texts_requested
        run.report.stats.texts_encoded += result.stats.texts_encoded
        run.report.stats.encode_seconds += result.stats.encode_seconds
        run.report.stats.unique |= result.stats.unique
        run.node_seconds[result.node] = run.node_seconds.get(result.node, 0.0) + result.seconds
        for index, (node, _) in self.where.items():
            if node == result.node and self.holding.get(index) == unit.model:
                self.where[index] = (node, result.pid)  # a restarted actor has a new process
        for outcome in result.outcomes:
            if outcome.status == "done":
                task_result, marks = result.results[outcome.path]
                try:
                    write_task_result(task_result, outcome.path, **marks)
                except OSError as exc:
                    outcome = dataclasses.replace(outcome, status="failed", error=f"cannot write {outcome.path}: {exc}")
            self._report(run, outcome, result.node, result.pid)


def _reachable(address: str) -> None:
    """An explicit `HOST:PORT` that nothing answers on is one clear line at once (Ray would wait for minutes)."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        raise OptionError("ray", address, "use local, auto, or the HOST:PORT of a Ray head")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise OptionError("ray", address, f"no Ray head answers there ({exc.strerror or exc})") from exc


def _connect(ray, address: str) -> bool:
    """Join the cluster (`local` starts a private one); True when this process started it and must stop it.

    A process already connected (a notebook, a test) keeps its connection."""
    if ray.is_initialized():
        return False
    if address not in ("local", "auto"):
        _reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        settings["include_dashboard"] = False
    try:
        ray.init(address=address, **settings)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise OptionError("ray", address, f"cannot join a Ray cluster there ({str(exc).splitlines()[0]})") from exc
    return True


def _worker_resources(ray, cpus_per_worker: float) -> tuple[int, dict[str, float], dict[str, Any]]:
    """How many actors, the resources of each, and the cluster's shape: one per GPU, else per `cpus_per_worker`."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    shape = {"nodes": nodes, "cpus": cpus, "gpus": gpus}
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 0}, shape | {"worker": "1 GPU"}
    count = int(cpus // cpus_per_worker)
    if count < 1:
        raise OptionError("ray_cpus_per_worker", cpus_per_worker, f"the cluster has only {cpus:g} CPUs")
    return count, {"num_cpus": cpus_per_worker}, shape | {"worker": f"{cpus_per_worker:g} CPU"}


def evaluate_on_ray(
    models: list[str], setup, settings: dict[str, Any], address: str, cpus_per_worker: float, observer
) -> list[RunReport]:
    """Evaluate `models` on `setup`'s tasks on a Ray cluster; `settings` are `evalkit.evaluate`'s keywords."""
    ray = import_ray()
    observer = observer or ClusterObserver()
    models = [str(Path(m).expanduser().resolve()) if Path(m).expanduser().exists() else m for m in models]
    options = setup.run_options(
        settings["overwrite"],
        False,
        settings["dims"],
        settings["limit"],
        settings["seed"],
        settings["save_predictions"],
    )
    options.output_dir = options.output_dir.resolve()
    options.data_dir = options.data_dir.resolve() if options.data_dir else None
    model_options = setup.model_options(*(settings[key] for key in MODEL_SETTINGS))
    load = {"options": model_options, "revision": settings["revision"], "name": settings["name"]}
    cache_dir = setup.cache_dir.resolve() if setup.cache_dir and settings["cache_dir"] else None
    cache = (cache_dir, setup.cache_max_bytes) if setup.cache_dir is not None else None
    start = time.monotonic()
    started = _connect(ray, address)
    actors = []
    try:
        count, resources, shape = _worker_resources(ray, cpus_per_worker)
        count = min(count, len(models) * len(setup.specs))
        actor_class = ray.remote(Evaluator).options(max_restarts=RETRIES, max_task_retries=RETRIES, **resources)
        actors = [actor_class.remote(load, options, cache) for _ in range(count)]
        driver = _Driver(ray, actors, models, setup.specs, options, observer)
        driver.where = dict(enumerate(ray.get([a.where.remote() for a in actors])))
        shape |= {"workers": count, "startup_seconds": round(time.monotonic() - start, 3)}
        observer.cluster_ready(shape)
        interrupted = False
        try:
            driver.run()
        except KeyboardInterrupt:
            interrupted = True
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    wall = time.monotonic() - start
    reports = []
    for run in driver.runs.values():
        run.report.wall_seconds, run.report.interrupted = wall, interrupted
        if run.plan is not None:
            extra = {
                "ray": {
                    "address": address,
                    "cluster": shape,
                    "node_seconds": {n: round(s, 3) for n, s in run.node_seconds.items()},
                }
            }
            if setup.cache_dir is not None:
                extra |= {"mode": "cached", **run.report.stats.record(), "cache_dir": str(cache_dir or "node-local")}
            write_run_files(run.plan, options, run.plan.variants, run.report, setup.suite, extra)
        reports.append(run.report)
    return reports

"""Evaluating tasks in parallel worker processes, from cached embeddings only (`workers`), slowest task types first;
and, before that, recording what each task asks for (the encode phase's recording pass) in the same way.

A worker never loads the model: its encoder reads the embedding cache and raises `MissingEmbeddings` on a miss
(the run then evaluates that task in its own process), and its recorder answers with stand-in vectors. Scores equal
a serial run's: every process evaluates single-threaded (`single_threaded`), on the same stored float32 embeddings,
with each task object freshly seeded by mteb as in a serial run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import types
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.run.cache import CachedEncoder, EmbeddingStore, EncodeStats
from evalkit.run.compress import quantized, renamed
from evalkit.run.encode import Request, record
from evalkit.run.jobs import Evaluated, Job, JobSettings, Variant, reason, run_job
from evalkit.run.lazy import ModelFacts, lazy_wrapper
from evalkit.run.sampling import effective_limit
from evalkit.run.threads import single_threaded


def default_workers(jobs: int, cache_only: bool = False) -> int:
    """One worker per CPU core this process may use, at most one per task and at most 8; but one where the run's
    own process may encode meanwhile (not in the cache-only phase of a rerun, where it only waits).

    `benchmarks/full_shape.py` at a quarter of C-MTEB's size, on two cores: a warm rerun took 38.5 s with one worker
    and 27.0 s with two. On STS-B-sized data a second worker did not pay (`benchmarks/benchmark.py`: 9.8 s against
    11.4 s), since starting it (importing torch, mteb and sentence-transformers) costs what it saves there."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores if cache_only else cores - 1, jobs, 8))


@dataclass
class WorkerSetup:
    """What a worker needs to evaluate from the cache: the store, the model's facts, the run's options."""

    cache_root: Path
    facts: ModelFacts
    settings: JobSettings


def cached_encoder(wrapper, identity: str, store: EmbeddingStore, stats: EncodeStats, variant: Variant, **kw):
    """The cached mteb encoder of one variant: truncated to its dimension and named after it, then quantized by
    mteb's CompressionWrapper, which calibrates on what each encode call returns (`compress.py`)."""
    meta = renamed(wrapper.mteb_model_meta, variant.name, variant.dim)
    encoder = CachedEncoder(wrapper, identity, store, stats, dim=variant.dim, meta=meta, **kw)
    return quantized(encoder, variant.precision)


_store: EmbeddingStore | None = None


def _worker_store(setup: WorkerSetup) -> EmbeddingStore:
    """This worker's view of the run's embedding cache (one per worker process)."""
    global _store
    if _store is None:
        _store = EmbeddingStore(setup.cache_root, setup.facts.model_identity)
    return _store


_lifetime = contextlib.ExitStack()  # what a worker holds for its whole life


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Held by a module global: a context manager entered and dropped is closed at once, threads given back.
    _lifetime.enter_context(single_threaded())


def _evaluate(setup: WorkerSetup, job: Job) -> tuple[list[Evaluated], EncodeStats]:
    store, stats = _worker_store(setup), EncodeStats()
    wrapper = lazy_wrapper(setup.facts)  # without a loader: a miss raises MissingEmbeddings
    identity = setup.facts.model_identity
    evaluated = run_job(job, lambda variant: cached_encoder(wrapper, identity, store, stats, variant), setup.settings)
    return evaluated, stats


def _context():
    """Workers fork from a clean server process that imported mteb once; never from this process, whose torch
    thread pools (and GPU) forked children must not inherit. Where there is no fork server, they are spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "mteb", "sentence_transformers"])  # all an evaluation imports
    return context


@contextlib.contextmanager
def _without_main():
    """Start processes without the caller's main module: multiprocessing would import it in every worker, running
    the top level of a script or notebook without a `__main__` guard again there. Workers run evalkit code only."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def start_server(workers: int | None, jobs: int) -> None:
    """Start the workers' fork server now if a run of `jobs` tasks would have more than one worker, so that its
    imports (mteb, torch, sentence-transformers: several seconds) overlap what the run does before evaluating."""
    from multiprocessing import forkserver

    if (workers or default_workers(jobs, cache_only=True)) > 1 and _context().get_start_method() == "forkserver":
        with _without_main():
            forkserver.ensure_running()


# Types by their evaluation's cost on the same texts: classification fits logistic regressions, clustering k-means.
SLOWEST_FIRST = ("Classification", "Clustering", "Retrieval", "Reranking", "PairClassification", "STS")


def slowest_first(jobs: list[Job]) -> list[Job]:
    """The order jobs start in: the costliest types first, so that no worker is left with a slow task at the end
    while the others idle; the suite's order within a type."""
    rank = {kind: index for index, kind in enumerate(SLOWEST_FIRST)}
    return sorted(jobs, key=lambda job: rank.get(job.spec.type, len(rank)))


def evaluate_parallel(
    jobs: list[Job], setup: WorkerSetup, workers: int
) -> Iterator[tuple[Job, list[Evaluated], EncodeStats]]:
    """Evaluate `jobs` in `workers` processes, yielding each job's outcome as it finishes.

    On Ctrl-C the workers are stopped at once and the interruption propagates.
    """
    for job, outcome in _in_workers(_evaluate, jobs, setup, workers):
        if isinstance(outcome, BaseException):  # a worker that died fails its task only
            evaluated = [Evaluated(v, p, error=f"evaluation worker failed: {reason(outcome)}") for v, p in job.todo]
            outcome = (evaluated, EncodeStats())
        yield job, *outcome


def _record(setup: WorkerSetup, job: Job) -> dict[bytes, Request] | None:
    """The texts a job asks for that the cache lacks (its recording pass, `encode.record`); None when it failed."""
    requests: dict[bytes, Request] = {}
    wrapper = lazy_wrapper(setup.facts)  # the recorder asks the wrapper for prompts, never for embeddings
    limit = effective_limit(setup.settings.limit, job.spec.limit)
    if not record(job.fresh_task(), wrapper, setup.facts.model_identity, limit, setup.settings.seed, requests):
        return None
    cached = _worker_store(setup).has(list(requests))
    return {key: request for key, request in requests.items() if key not in cached}


def record_parallel(jobs: list[Job], setup: WorkerSetup, workers: int) -> Iterator[tuple[Job, dict | None]]:
    """Record what each job asks for in `workers` processes, yielding each job's missing texts as it finishes (None
    where the recording failed), so that the run's process encodes them while the others are recorded."""
    for job, outcome in _in_workers(_record, jobs, setup, workers):
        yield job, None if isinstance(outcome, BaseException) else outcome


def _in_workers(function, jobs: list[Job], setup: WorkerSetup, workers: int) -> Iterator[tuple[Job, Any]]:
    """`function(setup, job)` for every job in `workers` processes, slowest task types first, yielding each job
    with what it returned (or the exception that ended its worker) as it finishes.

    On Ctrl-C the workers are stopped at once and the interruption propagates.
    """
    executor = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker)
    try:
        with _without_main():  # the workers start on the first submissions
            pending = {executor.submit(function, setup, job): job for job in slowest_first(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died fails its task only
                    outcome = exc
                yield job, outcome
    except BaseException:
        for process in list(executor._processes.values()):  # noqa: SLF001 - the pool's own workers, stopped by id
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()

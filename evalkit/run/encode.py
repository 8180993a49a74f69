"""The encode phase of a cached run: find every text the tasks will ask for, then encode the missing ones in streams.

Which texts a task embeds, with which prompt type and prompt, is decided by mteb's task code (STS sides, pair
sides, classification train/test, clustering sentences, retrieval queries and corpus, reranking candidates). Rather
than re-reading each task type's datasets, a recording pass runs `mteb.evaluate` with an encoder that notes every
request and answers with cheap stand-in vectors: the requests are exactly those of the real evaluation, for every
task type, present and future. The evaluation itself then runs on a fresh task object, so nothing of the
recording (data, random state) reaches it. At C-MTEB's real size a recording pass costs about what scoring the task
does, so with several workers the tasks are recorded in the workers, in parallel, and each task's missing texts
are encoded as its recording arrives (`runner._encode_phase`).

A task's missing texts are encoded grouped by prompt type and prompt, longest first, in chunks of `CHUNK` texts
that sentence-transformers batches: the device sees length-sorted streams of full batches instead of one short
call per task side, and each chunk is stored at once, so a crash loses at most one chunk. We chose this over
overlapping each task's encoding with the previous task's evaluation because it needs no model in the evaluation
workers: once the streams are encoded, the evaluation runs on every core in parallel (`parallel.py`), which the
overlap cannot do while the device waits on each task's data; `benchmarks/benchmark.py` measures the streams
against per-task encoding.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.run import sampling
from evalkit.run.cache import EmbeddingStore, EncodeStats, text_keys
from evalkit.run.data import bulk_columns
from evalkit.run.jobs import is_out_of_memory
from evalkit.run.registry import applied_prompt

logger = logging.getLogger(__name__)

CHUNK = 16384  # texts per encode call and stored shard
STAND_IN_DIM = 16


@dataclass
class Request:
    """One text a task asks for, with what decides its prompt."""

    text: str
    prompt: str
    prompt_type: Any
    task_metadata: Any
    hf_split: str
    hf_subset: str


class TextRecorder:
    """An mteb encoder that records what a task asks to embed and answers with stand-in vectors (never the model)."""

    def __init__(self, wrapper, model_identity: str, requests: dict[bytes, Request]) -> None:
        self.inner = wrapper
        self.mteb_model_meta = wrapper.mteb_model_meta
        self.model_identity = model_identity
        self.requests = requests

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs) -> np.ndarray:
        texts = [text for batch in inputs for text in batch["text"]]
        prompt = applied_prompt(self.inner, task_metadata, prompt_type, hf_split, hf_subset)
        keys = text_keys(self.model_identity, prompt_type, prompt, texts)
        for key, text in zip(keys, texts):
            if key not in self.requests:
                self.requests[key] = Request(text, prompt, prompt_type, task_metadata, hf_split, hf_subset)
        # distinct, deterministic, never all-zero vectors: every evaluator runs on them as on real embeddings
        raw = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 32)[:, :STAND_IN_DIM]
        return raw.astype(np.float32) - 127.5

    def similarity(self, embeddings1, embeddings2):
        return self.inner.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        return self.inner.similarity_pairwise(embeddings1, embeddings2)


def record(task, wrapper, model_identity: str, limit: int | None, seed: int, requests: dict[bytes, Request]) -> bool:
    """Add every text `task` asks for to `requests`; False (and nothing added) when the recording pass fails."""
    import mteb

    found: dict[bytes, Request] = {}
    try:
        task.load_data()
        if limit:
            sampling.limit_task(task, limit, seed)
        with bulk_columns():
            mteb.evaluate(TextRecorder(wrapper, model_identity, found), task, cache=None, show_progress_bar=False)
    except Exception:  # noqa: BLE001 - the task's texts are then encoded when it is evaluated
        logger.debug("recording %s failed; its texts are encoded during its evaluation", task.metadata.name, exc_info=1)
        return False
    finally:
        if task.data_loaded:
            task.unload_data()
    for key, request in found.items():
        requests.setdefault(key, request)
    return True


def encode_missing(model, requests: dict[bytes, Request], store: EmbeddingStore, stats: EncodeStats, progress: bool):
    """Encode the requested texts the store lacks: per prompt, longest first, in chunks stored as they finish.

    With `grow_batch` (`--batch-size auto`) on a GPU, the stream goes one batch per call and doubles the batch
    after each call while the peak memory that call took, doubled, fits under `HEADROOM` of the device: a prompt's
    texts come longest first, so each batch is measured on texts at least as long as any that follow it there (a
    later stream's longer texts that do not fit halve the batch again).
    """
    missing = set(requests) - store.has(list(requests))
    groups: dict[tuple[Any, str], list[bytes]] = {}
    for key in requests:  # in request order, so that equal lengths keep a deterministic order
        if key in missing:
            request = requests[key]
            groups.setdefault((request.prompt_type, request.prompt), []).append(key)
    if not groups:
        return
    wrapper = model.mteb_wrapper()
    growing = model.options.grow_batch
    for keys in groups.values():
        keys.sort(key=lambda k: -len(requests[k].text))
        start = 0
        while start < len(keys):
            chunk = keys[start : start + (model.options.batch_size if growing else CHUNK)]
            probe = memory_probe(model.device) if growing else None
            began = time.perf_counter()
            vectors = _encode_chunk(model, wrapper, [requests[k] for k in chunk], progress)
            stats.encode_seconds += time.perf_counter() - began
            stats.texts_encoded += len(chunk)
            store.add(chunk, vectors)
            start += len(chunk)
            growing = growing and _grow(model, probe)


HEADROOM = 0.8  # the share of a GPU's memory `--batch-size auto` may plan to use
MAX_BATCH = 4096


def release_freed_memory() -> None:
    """Give back to the system the heap the encode phase freed (glibc's `malloc_trim`; elsewhere a no-op).

    The recorded texts and the tokenizer's buffers are freed at the end of the phase, but the C heap keeps their
    pages: at a quarter of C-MTEB's size the run's process held 0.58 GB more through the evaluation that followed,
    while the workers scored (1.55 against 0.97 GB, `benchmarks/full_shape.py`'s cold_workers2)."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # no C library by that name, or one without malloc_trim
        pass


def memory_probe(device: str):
    """A function that gives (bytes in use before, peak bytes since, total bytes) of a CUDA device since this call;
    None for any other device, where `--batch-size auto` keeps the batch size."""
    import torch

    if not device.startswith("cuda"):
        return None
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    total = torch.cuda.get_device_properties(device).total_memory
    return lambda: (base, torch.cuda.max_memory_allocated(device), total)


def _grow(model, probe) -> bool:
    """Double the batch size when the last call's memory allows it; False once it stops growing."""
    if probe is None or model.options.batch_size * 2 > MAX_BATCH:
        return False
    base, peak, total = probe()
    if base + 2 * (peak - base) > HEADROOM * total:
        return False
    model.options.batch_size *= 2
    logger.info("batch size auto: %d", model.options.batch_size)
    return True


def _encode_chunk(model, wrapper, chunk: list[Request], progress: bool) -> np.ndarray:
    """One encode call through mteb's wrapper (as a task would make it), halving the batch on GPU out-of-memory."""
    from datasets import Dataset
    from torch.utils.data import DataLoader

    first = chunk[0]
    while True:
        batch_size = model.options.batch_size
        loader = DataLoader(Dataset.from_dict({"text": [r.text for r in chunk]}), batch_size=batch_size)
        try:
            vectors = wrapper.encode(
                loader,
                task_metadata=first.task_metadata,
                hf_split=first.hf_split,
                hf_subset=first.hf_subset,
                prompt_type=first.prompt_type,
                batch_size=batch_size,
                show_progress_bar=progress,
                **model.encode_kwargs(),
            )
            return np.asarray(vectors, dtype=np.float32)
        except Exception as exc:
            if not is_out_of_memory(exc) or batch_size == 1:
                raise
            model.free_memory()
            model.options.batch_size //= 2
            logger.warning("out of memory while encoding: retrying with batch size %d", model.options.batch_size)

"""How many threads mteb's scoring and the model's encoding get in a process of a cached run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_taken: list[tuple[int, list[tuple[Any, int]]]] = []  # what each open `single_threaded` took: torch's, the pools'


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Evaluate with one BLAS/OpenMP thread and one torch thread: the same arithmetic in every process.

    Scores then depend only on the embeddings and mteb's seeds, never on how many workers share the cores; and
    mteb's scoring, a stream of small linear-algebra calls (logistic regressions, k-means, per-query metrics), no
    longer pays for threads that wait on each other, which on a busy machine made it many times slower. The model's
    own calls take the threads back (`all_threads`).
    """
    import torch
    from threadpoolctl import ThreadpoolController

    pools = [(pool, pool.num_threads) for pool in ThreadpoolController().lib_controllers]
    _taken.append((torch.get_num_threads(), pools))
    torch.set_num_threads(1)
    for pool, _ in pools:
        pool.set_num_threads(1)
    try:
        yield
    finally:
        threads, _ = _taken.pop()
        torch.set_num_threads(threads)
        for pool, count in pools:
            pool.set_num_threads(count)


@contextlib.contextmanager
def all_threads() -> Iterator[None]:
    """Inside `single_threaded`, the threads it took, back for the block (the model encoding texts); else nothing."""
    if not _taken:
        yield
        return
    import torch

    threads, pools = _taken[0]
    torch.set_num_threads(threads)
    for pool, count in pools:
        pool.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(1)
        for pool, _ in pools:
            pool.set_num_threads(1)

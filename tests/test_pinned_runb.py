"""Issue 27: what the run package's models, sampling, recording, threads and runner give a user, pinned by value.

Each test here fails on one of the survivors of issue 27's mutation campaign in `evalkit/run/` (lazy, models,
parallel, record, registry, runner, sampling, threads).
"""

from __future__ import annotations

import pytest
from test_registry import E5, hub  # noqa: F401 - `hub`: the registry models' hub cache (a fixture)

from evalkit.run.threads import all_threads, single_threaded

# ---------------------------------------------------------------- threads


def _threads() -> tuple[int, set[int]]:
    """torch's threads and the thread counts of the BLAS/OpenMP pools threadpoolctl sees."""
    import torch
    from threadpoolctl import threadpool_info

    return torch.get_num_threads(), {pool["num_threads"] for pool in threadpool_info()}


@pytest.fixture
def three_threads():
    """torch and every BLAS/OpenMP pool on three threads (whatever the machine), restored afterwards."""
    import numpy  # noqa: F401 - its BLAS is one of the pools
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with threadpool_limits(3):
            assert _threads() == (3, {3})
            yield
    finally:
        torch.set_num_threads(before)


def test_single_threaded_takes_every_thread_and_all_threads_gives_them_back(three_threads):
    assert _threads() == (3, {3})
    with all_threads():  # outside single_threaded: nothing to give back
        assert _threads() == (3, {3})
    with single_threaded():
        assert _threads() == (1, {1})
        with all_threads():
            assert _threads() == (3, {3})
        assert _threads() == (1, {1})
        with single_threaded():  # nested: all_threads gives back what the outermost took
            assert _threads() == (1, {1})
            with all_threads():
                assert _threads() == (3, {3})
        assert _threads() == (1, {1})
    assert _threads() == (3, {3})


# ---------------------------------------------------------------- lazy: a model's remembered facts


def test_a_cache_that_cannot_remember_the_model_warns_once_and_the_model_still_loads(tmp_path, caplog):
    """The model's facts go to `<cache>/.models/`; where they cannot be written (here `.models` is a file), the
    run is told once, as for the embeddings, and goes on with the model loaded."""
    from evalkit.run.lazy import open_model
    from evalkit.run.models import ModelOptions, resolve

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".models").write_text("not a folder")
    with caplog.at_level("WARNING"):
        model = open_model(resolve("bundled:minilm"), ModelOptions(device="cpu"), cache)
    assert model.loaded and model.embed_dim == 384 and model.load_seconds is not None
    (warning,) = [r.getMessage() for r in caplog.records if "embedding cache: cannot write" in r.getMessage()]
    assert warning.startswith(f"embedding cache: cannot write to {cache} (")
    assert warning.endswith("); going on without storing embeddings")


# ---------------------------------------------------------------- models: loading


def test_an_in_memory_model_is_named_after_its_origin_and_identified_by_its_weights(minilm, monkeypatch):
    """A checkpoint handed to `evaluate` is recorded under the hub id or folder it came from (`in-memory-model`
    where it names none), and its identity is a hash of its weights: a checkpoint that trained on is another."""
    import torch

    from evalkit.run.models import NO_REVISION, ModelOptions, load_model

    config = minilm[0].auto_model.config
    named = {}
    for origin in ("org/my-checkpoint", ""):
        monkeypatch.setattr(config, "_name_or_path", origin)
        named[origin] = load_model(minilm, ModelOptions())
    first = named["org/my-checkpoint"]
    assert (first.name, first.folder_name) == ("org/my-checkpoint", "org__my-checkpoint")
    assert named[""].name == "in-memory-model"
    assert (first.source, first.revision, first.dtype, first.device) == ("in-memory", NO_REVISION, "fp32", "cpu")
    assert first.load_seconds is None  # nothing was loaded
    identity = first.model_identity
    assert len(identity) == 32 and int(identity, 16) >= 0
    parameter = next(minilm.parameters())
    try:
        with torch.no_grad():
            parameter.mul_(0.5)
        trained = load_model(minilm, ModelOptions(), name="org/my-checkpoint")
        assert trained.model_identity != identity
    finally:
        with torch.no_grad():
            parameter.mul_(2.0)
    assert load_model(minilm, ModelOptions(), name="org/my-checkpoint").model_identity == identity


@pytest.mark.usefixtures("hub")
def test_a_registry_model_that_produces_nan_fails_its_task_saying_so(six_snapshots, tmp_path, monkeypatch):
    """A registry model's embeddings are checked as a sentence-transformers model's are: NaN never reaches mteb."""
    import mteb
    import torch

    import evalkit

    get_model = mteb.get_model

    def broken(*args, **kwargs):
        wrapper = get_model(*args, **kwargs)
        with torch.no_grad():
            for parameter in wrapper.model.parameters():
                parameter.fill_(float("nan"))
        return wrapper

    monkeypatch.setattr(mteb, "get_model", broken)
    report = evalkit.evaluate(
        E5, tasks=["STSB"], suite="sample", data_dir=six_snapshots, output_dir=tmp_path, device="cpu", cache=False
    )
    ((status, error),) = [(o.status, o.error) for o in report.outcomes]
    assert status == "failed"
    assert error == "the model produced NaN or infinite embeddings for 24 of 24 texts"  # STSB's 12 pairs

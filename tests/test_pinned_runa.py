"""Issue 27: what a user sees of evalkit/run/'s caching, compression, data and job code, pinned by value.

Each test fails on survivors of issue 27's mutation campaign in those modules (cache, checkpoints, compress, data,
distributed, encode, jobs); no model runs here.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import evalkit
from evalkit.errors import OptionError

# ---------------------------------------------------------------- compress


def test_the_reference_mode_truncates_only_a_sentence_transformer():
    from evalkit.run.compress import check_reference_truncation

    class SentenceTransformerLike:
        def truncate_embeddings(self, dim):  # what sentence-transformers' truncate_dim goes through
            raise AssertionError("only looked up")

    check_reference_truncation(SimpleNamespace(model=SentenceTransformerLike(), name="st"), 128)  # no error
    for model in (None, object()):  # a registry loader holding no SentenceTransformer, or another model
        with pytest.raises(OptionError) as caught:
            check_reference_truncation(SimpleNamespace(model=model, name="org/loader-model"), 128)
        assert str(caught.value) == (
            "dims 128: the reference mode truncates through sentence-transformers' truncate_dim, and "
            "org/loader-model is not a SentenceTransformer; evaluate dimensions in cached mode"
        )


# ---------------------------------------------------------------- data


def test_prefetch_downloads_each_tasks_repo_at_mtebs_revision_then_the_model(tmp_path, monkeypatch, capsys):
    """The hub is out of reach here: huggingface_hub's download is replaced by one that records what it is asked."""
    import huggingface_hub
    import mteb

    from evalkit.run import data

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setattr(data, "_check_hub_reachable", lambda repo, revision: calls.append(("reachable", repo)))
    evalkit.prefetch(tmp_path, suite="sample", tasks=["STSB", "Ocnli"], model="org/model")
    sts, ocnli = (mteb.get_task(name).metadata for name in ("STSB", "Ocnli"))
    assert calls == [  # in the suite's order
        ("reachable", "C-MTEB/OCNLI"),
        (
            ("C-MTEB/OCNLI",),
            {"repo_type": "dataset", "revision": ocnli.revision, "local_dir": tmp_path / "C-MTEB/OCNLI"},
        ),
        (("mteb/STSB",), {"repo_type": "dataset", "revision": sts.revision, "local_dir": tmp_path / "mteb/STSB"}),
        (("org/model",), {}),
    ]
    assert capsys.readouterr().out.splitlines()[-1] == "downloading model org/model"


# ---------------------------------------------------------------- jobs


def test_only_gpu_out_of_memory_errors_count_as_out_of_memory():
    import torch

    from evalkit.run.jobs import is_out_of_memory

    assert is_out_of_memory(torch.OutOfMemoryError("CUDA error"))
    assert is_out_of_memory(RuntimeError("CUDA Out Of Memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_out_of_memory(ValueError(""))


class OutOfMemoryAbove:
    """An mteb encoder that runs out of GPU memory at batch sizes above `fits`, and records each call's batch size."""

    def __init__(self, fits: int) -> None:
        from mteb.models.model_meta import ModelMeta

        self.fits = fits
        self.batch_sizes: list[int] = []
        self.mteb_model_meta = ModelMeta.create_empty({"name": "org/stand-in", "revision": "r"})

    def encode(self, inputs, *, batch_size: int = 32, **kwargs):
        import numpy as np
        import torch

        self.batch_sizes.append(batch_size)
        if batch_size > self.fits:
            raise torch.OutOfMemoryError(f"CUDA out of memory at batch size {batch_size}")
        texts = [text for batch in inputs for text in batch["text"]]
        return np.array([[len(text), 1.0 + text.count("的")] for text in texts], dtype=np.float32)

    def similarity(self, a, b):
        import torch

        return torch.nn.functional.cosine_similarity(torch.as_tensor(a)[:, None], torch.as_tensor(b)[None], dim=-1)

    def similarity_pairwise(self, a, b):
        import torch

        return torch.nn.functional.cosine_similarity(torch.as_tensor(a), torch.as_tensor(b), dim=-1)


def sts_task(data_dir):
    import mteb

    from evalkit.run.data import use_local_snapshot

    task = mteb.get_task("STSB", eval_splits=["test"])
    use_local_snapshot(task, data_dir)
    return task


def test_an_evaluation_out_of_gpu_memory_halves_the_batch_until_it_fits_and_gives_up_at_one(six_snapshots):
    from evalkit.run.jobs import JobSettings, evaluate_task
    from evalkit.run.models import ModelOptions

    settings, freed = JobSettings(ModelOptions(batch_size=32)), []
    encoder = OutOfMemoryAbove(fits=8)
    result = evaluate_task(encoder, sts_task(six_snapshots), "rev0", settings, free_memory=lambda: freed.append(1))
    assert result.task_name == "STSB" and result.dataset_revision == "rev0"
    assert encoder.batch_sizes[:3] == [32, 16, 8] and set(encoder.batch_sizes[3:]) == {8}
    assert settings.model_options.batch_size == 8 and len(freed) == 2  # the run goes on at the size that fits

    without = OutOfMemoryAbove(fits=8)  # no way to free memory (a worker without the model): no retry
    with pytest.raises(Exception, match="out of memory at batch size 32"):
        evaluate_task(without, sts_task(six_snapshots), "rev0", JobSettings(ModelOptions(batch_size=32)))
    assert without.batch_sizes == [32]
    never = OutOfMemoryAbove(fits=0)
    settings = JobSettings(ModelOptions(batch_size=4))
    with pytest.raises(Exception, match="out of memory at batch size 1"):
        evaluate_task(never, sts_task(six_snapshots), "rev0", settings, free_memory=lambda: None)
    assert never.batch_sizes == [4, 2, 1]


# ---------------------------------------------------------------- distributed


def test_a_ray_cluster_that_cannot_be_joined_is_one_line_naming_the_first_line_of_rays_reason(monkeypatch):
    from evalkit.run import distributed

    def init(address, **settings):
        raise ConnectionError("could not find any running Ray instance\nplease start one with `ray start --head`")

    ray = SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    with pytest.raises(OptionError) as caught:
        distributed._connect(ray, "auto")
    assert caught.value.text("--ray") == (
        "--ray auto: cannot join a Ray cluster there (could not find any running Ray instance)"
    )
    joined = []
    ray = SimpleNamespace(is_initialized=lambda: False, init=lambda address, **kw: joined.append((address, kw)))
    assert distributed._connect(ray, "local") is True  # this process started it: it stops it at the end
    assert joined == [("local", {"log_to_driver": False, "logging_level": 30, "include_dashboard": False})]
    assert distributed._connect(SimpleNamespace(is_initialized=lambda: True), "auto") is False  # already connected


def test_a_ray_evaluator_holds_one_model_at_a_time_and_its_cache_store(tmp_path, monkeypatch):
    from evalkit.run import distributed
    from evalkit.run.models import ModelOptions
    from evalkit.run.runner import RunOptions

    events = []

    class Loaded:
        def __init__(self, spec: str) -> None:
            self.spec, self.model_identity = spec, spec.replace("/", "-")

        def close(self) -> None:
            events.append(("close", self.spec))

    def load_model(spec, options, revision=None, name=None):
        events.append(("load", spec, revision, name))
        return Loaded(spec)

    monkeypatch.setattr(distributed, "load_model", load_model)
    load = {"options": ModelOptions(), "revision": "main", "name": None}
    actor = distributed.Evaluator(load, RunOptions(tmp_path / "out"), (tmp_path / "cache", None))
    first = actor._load("org/a")
    assert actor._load("org/a") is first  # the same model is never loaded twice
    assert actor.options.store.folder == tmp_path / "cache" / "org-a"
    second = actor._load("org/b")
    assert second.spec == "org/b" and actor.options.store.folder == tmp_path / "cache" / "org-b"
    assert events == [("load", "org/a", "main", None), ("close", "org/a"), ("load", "org/b", "main", None)]
    assert actor.options.overwrite and not actor.options.show_progress  # the driver skips; workers print nothing


# ---------------------------------------------------------------- encode


class StandInModel:
    """What the encode phase needs of a loaded model, around an mteb encoder; counts how often memory is freed."""

    def __init__(self, wrapper, batch_size: int) -> None:
        from evalkit.run.models import ModelOptions

        self.wrapper, self.device, self.freed = wrapper, "cpu", 0
        self.options = ModelOptions(batch_size=batch_size)

    def mteb_wrapper(self):
        return self.wrapper

    def encode_kwargs(self) -> dict:
        return {}

    def free_memory(self) -> None:
        self.freed += 1


class Recording(OutOfMemoryAbove):
    """`OutOfMemoryAbove` that also keeps the texts of each call that fits."""

    def __init__(self, fits: int) -> None:
        super().__init__(fits)
        self.texts: list[list[str]] = []
        self.loader_batch_sizes: list[int] = []  # the batches the model is fed

    def encode(self, inputs, *, batch_size: int = 32, **kwargs):
        self.loader_batch_sizes.append(inputs.batch_size)
        out = super().encode(inputs, batch_size=batch_size, **kwargs)
        self.texts.append([text for batch in inputs for text in batch["text"]])
        return out


def test_the_encode_phase_records_a_tasks_texts_then_encodes_the_missing_ones_longest_first(six_snapshots, tmp_path):
    import numpy as np

    from evalkit.run.cache import EmbeddingStore, EncodeStats
    from evalkit.run.encode import encode_missing, record

    task, requests = sts_task(six_snapshots), {}
    assert record(task, Recording(fits=64), "m", None, 42, requests) is True
    assert not task.data_loaded  # the recording pass leaves nothing loaded
    task = sts_task(six_snapshots)
    task.load_data()
    rows = task.dataset["test"]
    assert {r.text for r in requests.values()} == set(rows["sentence1"]) | set(rows["sentence2"])

    model, store, stats = StandInModel(Recording(fits=4), batch_size=16), EmbeddingStore(tmp_path, "m"), EncodeStats()
    began = time.perf_counter()
    encode_missing(model, requests, store, stats, progress=False)
    assert 0 < stats.encode_seconds <= time.perf_counter() - began
    assert model.wrapper.batch_sizes == model.wrapper.loader_batch_sizes == [16, 8, 4]
    assert model.options.batch_size == 4 and model.freed == 2  # halved on out-of-memory, kept for the next calls
    (texts,) = model.wrapper.texts  # one call: every missing text of the one prompt, longest first
    assert sorted(texts) == sorted(r.text for r in requests.values())
    assert [len(t) for t in texts] == sorted((len(t) for t in texts), reverse=True)
    assert stats.texts_encoded == len(requests) and store.has(list(requests)) == set(requests)
    stored = store.get(list(requests))
    assert all(np.array_equal(stored[k], [len(r.text), 1.0 + r.text.count("的")]) for k, r in requests.items())
    encode_missing(model, requests, store, stats, progress=False)  # nothing missing: the model is not called
    assert len(model.wrapper.batch_sizes) == 3 and stats.texts_encoded == len(requests)

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
    """torch's threads, and the thread counts of the BLAS/OpenMP pools threadpoolctl sees and of the MKL linked
    into torch where torch reports one (threadpoolctl cannot see a statically linked MKL)."""
    import re

    import torch
    from threadpoolctl import threadpool_info

    mkl = re.findall(r"mkl_get_max_threads\(\) : (\d+)", torch.__config__.parallel_info())
    return torch.get_num_threads(), {pool["num_threads"] for pool in threadpool_info()} | {int(n) for n in mkl}


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


# ---------------------------------------------------------------- record: the predictions record of each task type


class _Task:
    """The methods mteb's tasks score through (`record.HOOKS`), each returning what it was given."""

    skip_first_result = True

    def _calculate_scores(self, *args, **kwargs):
        return args

    _compute_metrics = task_specific_scores = _calculate_scores


def _recorded(task_type: str, calls: list[tuple], scores: dict | None = None, task=None) -> dict | None:
    """The record of `calls` to the task's hooked method, made through `recording`."""
    from evalkit.run.record import HOOKS, recording

    task = task or _Task()
    with recording(task, task_type) as recorder:
        for args in calls:
            assert getattr(task, HOOKS[task_type])(*args) == args  # passed through unchanged
    return recorder.record(scores or {})


def test_the_hook_records_only_inside_the_block_and_every_type_has_one():
    import numpy as np

    from evalkit.run.record import HOOKS, recording

    assert HOOKS == {
        "STS": "_calculate_scores",
        "PairClassification": "_compute_metrics",
        "Classification": "_calculate_scores",
        "Clustering": "_compute_metrics",
        "Reranking": "task_specific_scores",
        "Retrieval": "task_specific_scores",
    }
    task = _Task()
    with recording(task, "Classification") as recorder:
        task._calculate_scores(np.array([1, 0]), np.array([1, 1]))
    task._calculate_scores(np.array([0]), np.array([0]))  # after the block: not recorded, the method is the task's
    assert "_calculate_scores" not in vars(task)
    assert recorder.record({}) == {"labels": [1, 0], "experiments": [[1, 1]]}
    assert _recorded("STS", []) is None  # the hooked call never came


def test_sts_and_pair_records_keep_the_gold_values_and_every_similarity_given():
    import numpy as np

    scores = {
        "cosine_scores": np.array([0.5, 0.25], dtype=np.float32),
        "euclidean_distances": [1.0, 2.0],
        "manhattan_distances": np.array([3, 4]),
        "dot_scores": None,
        "other": [9.0],
    }
    expected = {
        k: [float(v) for v in scores[k]] for k in ("cosine_scores", "euclidean_distances", "manhattan_distances")
    }
    sts = _recorded("STS", [(scores, np.array([4.5, 1.0]))])
    assert sts == {"gold": [4.5, 1.0], "scores": expected}
    assert all(type(v) is float for values in sts["scores"].values() for v in values)
    pairs = _recorded("PairClassification", [(scores, np.array([1, 0]))])
    assert pairs == {"labels": [1, 0], "scores": expected}
    assert all(type(v) is int for v in pairs["labels"])


def test_classification_and_clustering_records_keep_each_experiment_and_set():
    import numpy as np

    labels = np.array(["a", "b", "a"])
    experiments = [(labels, np.array(["a", "a", "a"])), (labels, np.array(["b", "b", "a"]))]
    assert _recorded("Classification", experiments) == {
        "labels": ["a", "b", "a"],
        "experiments": [["a", "a", "a"], ["b", "b", "a"]],
    }
    sets = [(np.array([0, 0, 1]), np.array([2, 2, 3])), (np.array([5, 6]), np.array([7, 7]))]
    # mteb scores a set of one label as constant, without calling the metrics: v_measures has one more entry
    assert _recorded("Clustering", sets, {"v_measures": [0.5, 0.25, 1.0]}) == {
        "sets": [{"labels": [0, 0, 1], "assignments": [2, 2, 3]}, {"labels": [5, 6], "assignments": [7, 7]}],
        "constant_sets": 1,
    }


def test_retrieval_records_the_top_100_in_pytrec_evals_order_and_reranking_every_candidate():
    per_query = {"q1": {"ndcg_cut_10": 0.5, "ndcg_cut_1000": 0.75}, "q0": {"ndcg_cut_10": 1.0, "ndcg_cut_1000": 1.0}}
    qrels = {"q1": {"d1": 1, "d2": 2.0}, "q0": {"d0": 1}}
    ranked = {f"d{i:03}": float(i % 50) for i in range(120)}  # ties: the higher document id first
    results = {"q1": ranked, "q0": {"d0": 0.5}}
    retrieval = _recorded("Retrieval", [(per_query, qrels, results, 10)])
    order = sorted(ranked, key=lambda doc: (ranked[doc], doc), reverse=True)
    assert retrieval["query_scores"] == {"queries": ["q0", "q1"], "measures": {"ndcg_cut_10": [1.0, 0.5]}}
    assert retrieval["qrels"] == {"q1": {"d1": 1, "d2": 2}, "q0": {"d0": 1}}
    assert list(retrieval["rankings"]["q1"].items()) == [(doc, ranked[doc]) for doc in order[:100]]
    assert retrieval["rankings"]["q0"] == {"d0": 0.5}
    assert (retrieval["depth"], retrieval["skip_first_result"]) == (100, True)
    reranking = _recorded(
        "Reranking", [(per_query, qrels, results, 10)], task=type("Plain", (_Task,), {"skip_first_result": False})()
    )
    assert reranking["query_scores"]["measures"] == {"ndcg_cut_10": [1.0, 0.5], "ndcg_cut_1000": [1.0, 0.75]}
    assert list(reranking["rankings"]["q1"]) == order
    assert (reranking["depth"], reranking["skip_first_result"]) == (None, False)


@pytest.mark.parametrize("loader_kwargs", [{"trust_remote_code": True}, {"model_kwargs": {"trust_remote_code": True}}])
def test_a_registry_entry_that_runs_the_repositorys_code_is_refused_without_the_flag(loader_kwargs):
    """Whether the entry asks for remote code itself or inside its `model_kwargs`, nothing loads without the user's
    `--trust-remote-code`."""
    import mteb

    from evalkit.errors import UserError
    from evalkit.run.registry import load_registry_model

    meta = mteb.get_model_meta(E5).model_copy(update={"loader_kwargs": loader_kwargs})
    with pytest.raises(UserError, match=f"{E5} runs code from its repository"):
        load_registry_model(meta, None, "cpu", None, False, {}, None)


def test_the_default_observer_logs_which_mode_each_run_is_in(caplog):
    """The API's default observer (a notebook or training loop) logs the run's start and its mode."""
    import logging
    from types import SimpleNamespace

    from evalkit.run.runner import RunObserver

    model = SimpleNamespace(name="org/model")
    with caplog.at_level(logging.INFO, logger="evalkit.run.runner"):
        RunObserver().started(model, [object(), object()], "c-mteb", cached=True)
        RunObserver().started(model, [object()], "sample", cached=False)
    assert [record.getMessage() for record in caplog.records] == [
        "evaluating org/model on 2 task(s) of suite c-mteb, cached mode",
        "evaluating org/model on 1 task(s) of suite sample, reference mode",
    ]

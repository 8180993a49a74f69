"""Reading results of every mteb format, folders of any depth and model cards into `ModelScores`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import shared_path

from evalkit.errors import UserError
from evalkit.metrics import SOURCES
from evalkit.results.read import read_card, read_one, read_scores
from evalkit.suite import load_suite

SUITE = load_suite("c-mteb")
E5 = "intfloat__multilingual-e5-base/d13f1b27baf31030b7fd040960d60d909913633f"


def _raw(*parts: str) -> dict:
    return json.loads(shared_path("reference-results", *parts).read_text(encoding="utf-8"))


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _v1_reranking(name: str = "CMedQAv1") -> dict:
    """A result file as mteb 1.0 wrote it for a reranking task."""
    return {
        "dataset_revision": None,
        "mteb_dataset_name": name,
        "mteb_version": "1.0.2",
        "test": {"evaluation_time": 1.0, "map": 0.8, "mrr": 0.9},
    }


def test_every_reference_model_and_revision_ingests_with_sane_values():
    models = read_scores(shared_path("reference-results"), SUITE)
    found = {(m.name, m.revision): len(m.tasks) for m in models}
    assert found == {
        ("BAAI/bge-large-zh-v1.5", "no_revision_available"): 30,
        ("BAAI/bge-small-zh", "no_revision_available"): 33,
        ("Qwen/Qwen3-Embedding-0.6B", "b22da495047858cce924d27d76261e96be6febc0"): 33,
        ("TencentBAC/Conan-embedding-v1", "external"): 35,
        ("dunzhang/stella-mrl-large-zh-v3.5-1792d", "external"): 32,
        ("iampanda/zpoint_large_embedding_zh", "external"): 32,
        ("intfloat/multilingual-e5-base", "d13f1b27baf31030b7fd040960d60d909913633f"): 35,
        ("openai/text-embedding-ada-002", "3"): 1,
        ("openai/text-embedding-ada-002", "no_revision_available"): 32,
        ("sensenova/piccolo-large-zh-v2", "external"): 35,
    }
    for model in models:
        for name, scores in model.tasks.items():
            spec = SUITE.by_mteb_name[name]
            assert (scores.type, scores.split, scores.subset) == (spec.type, spec.split, spec.subset)
            assert SUITE.main_metrics[spec.type] in scores.metrics, (model.name, name)
            assert set(scores.metrics) <= set(SOURCES[spec.type]) | {"max_accuracy", "max_ap", "max_f1"}
            assert all(0 <= v <= 100 for v in scores.metrics.values()), (model.name, name)
            assert scores.sampled is None and scores.dataset_revision


def test_v1_file_nested_by_similarity_function():
    raw = _raw("BAAI__bge-small-zh", "no_revision_available", "Cmnli.json")["validation"]
    scores = read_one(shared_path("reference-results", "BAAI__bge-small-zh"), SUITE).tasks["Cmnli"]
    assert scores.dataset_revision == "None"
    assert scores.metrics["cos_sim_ap"] == 100 * raw["cos_sim"]["ap"]
    assert scores.metrics["manhattan_recall"] == 100 * raw["manhattan"]["recall"]
    assert scores.metrics["max_ap"] == 100 * raw["max"]["ap"]  # legacy max over the four functions
    assert len(scores.metrics) == 23


def test_v1_multilingual_subset_nested_under_split():
    raw = _raw("BAAI__bge-small-zh", "no_revision_available", "AmazonReviewsClassification.json")
    scores = read_one(shared_path("reference-results", "BAAI__bge-small-zh"), SUITE).tasks[
        "AmazonReviewsClassification"
    ]
    assert (scores.subset, scores.dataset_revision) == ("zh", raw["dataset_revision"])
    assert scores.metrics == {"accuracy": 100 * raw["test"]["zh"]["accuracy"], "f1": 100 * raw["test"]["zh"]["f1"]}


def test_reranking_in_each_format():
    v1 = _raw("BAAI__bge-small-zh", "no_revision_available", "T2Reranking.json")["dev"]
    v112 = _raw(E5, "T2Reranking.json")["scores"]["dev"][0]
    v2 = _raw(E5, "CMedQAv1-reranking.json")["scores"]["test"][0]
    bge = read_one(shared_path("reference-results", "BAAI__bge-small-zh"), SUITE).tasks
    e5 = read_one(shared_path("reference-results", E5), SUITE).tasks
    assert bge["T2Reranking"].metrics == {"map": 100 * v1["map"], "mrr": 100 * v1["mrr"]}
    assert e5["T2Reranking"].metrics == {"map": 100 * v112["map"], "mrr": 100 * v112["mrr"]}
    assert e5["CMedQAv1-reranking"].metrics == {"map": 100 * v2["map_at_1000"], "mrr": 100 * v2["mrr_at_10"]}


def test_external_folder_mixing_old_and_new_names():
    raw = _raw("iampanda__zpoint_large_embedding_zh", "external", "AFQMC.json")["scores"]["validation"][0]
    scores = read_one(shared_path("reference-results", "iampanda__zpoint_large_embedding_zh"), SUITE).tasks["AFQMC"]
    assert scores.metrics["cos_sim_spearman"] == 100 * raw["cosine_spearman"]
    assert scores.metrics["euclidean_pearson"] == 100 * raw["euclidean_pearson"]


def test_multilingual_tasks_contribute_only_the_cards_subset():
    raw = {e["hf_subset"]: e for e in _raw(E5, "STS22.json")["scores"]["test"]}
    assert {"zh", "zh-en"} <= set(raw)
    e5 = read_one(shared_path("reference-results", E5), SUITE)
    assert e5.tasks["STS22"].metrics["cos_sim_spearman"] == 100 * raw["zh"]["cosine_spearman"]
    # Qwen's AmazonReviews (en) and STS22 (en, ru) files lack zh: left out, never emitted under another config.
    qwen = read_one(shared_path("reference-results", "Qwen__Qwen3-Embedding-0.6B"), SUITE)
    assert "AmazonReviewsClassification" not in qwen.tasks and "STS22" not in qwen.tasks
    # A revision whose only files are German subsets holds nothing for the suite.
    with pytest.raises(UserError, match="no results"):
        read_one(
            shared_path("reference-results", "BAAI__bge-large-zh-v1.5", "79e7739b6ab944e86d6171e44d24c997fc1e0116"),
            SUITE,
        )


def test_model_folder_with_several_revisions(tmp_path):
    shared_path("reference-results")
    models = read_scores(shared_path("reference-results", "openai__text-embedding-ada-002"), SUITE)
    assert [m.revision for m in models] == ["3", "no_revision_available"]
    with pytest.raises(UserError, match=r"holds 2 model revisions.*@3 .*@no_revision_available"):
        read_one(shared_path("reference-results", "openai__text-embedding-ada-002"), SUITE)


def test_names_from_model_meta_else_folder_and_renamed_v1_files(tmp_path):
    _write(tmp_path / "deep" / "org__model" / "rev1" / "CMedQAv1.json", _v1_reranking())
    _write(tmp_path / "deep" / "org__model" / "rev1" / "NotASuiteTask.json", "not even JSON")
    _write(tmp_path / "other__m" / "rev2" / "CMedQAv2.json", _v1_reranking("CMedQAv2"))
    _write(tmp_path / "other__m" / "rev2" / "model_meta.json", {"name": "Other/M", "revision": "rev2"})
    models = read_scores(tmp_path, SUITE)
    assert [(m.name, m.revision, list(m.tasks)) for m in models] == [
        ("Other/M", "rev2", ["CMedQAv2-reranking"]),
        ("org/model", "rev1", ["CMedQAv1-reranking"]),
    ]
    assert models[1].tasks["CMedQAv1-reranking"].metrics == {"map": 80.0, "mrr": 90.0}
    assert read_one(tmp_path / "other__m" / "rev2", SUITE).name == "Other/M"


def test_sampled_runs_are_marked(tmp_path):
    folder = tmp_path / "org__model" / "rev"
    _write(folder / "CMedQAv1-reranking.json", _v1_reranking())
    _write(folder / "model_meta.json", {"name": "org/model", "sampled": "limit=100,seed=42"})
    assert read_one(folder, SUITE).tasks["CMedQAv1-reranking"].sampled == "limit=100,seed=42"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task_name": "Cmnli",\n "scores": {', r"Cmnli.json:2: not valid JSON"),
        ("[1, 2]", "a result file is a JSON object"),
        ("{}", "not an mteb result file"),
        ('{"task_name": "Cmnli", "mteb_version": "2.0.0", "scores": {"test": 1}}', "not an mteb result file"),
        ("[" * 100000, "not valid JSON"),
    ],
)
def test_malformed_result_files_are_user_errors(tmp_path, content, message):
    path = _write(tmp_path / "m" / "r" / "Cmnli.json", content)
    with pytest.raises(UserError, match=message) as info:
        read_scores(tmp_path, SUITE)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_file_holding_another_task_is_a_user_error(tmp_path):
    _write(tmp_path / "m" / "r" / "CMedQAv2-reranking.json", _v1_reranking("CMedQAv1"))
    with pytest.raises(UserError, match="holds task 'CMedQAv1-reranking', expected 'CMedQAv2-reranking'"):
        read_scores(tmp_path, SUITE)


def test_malformed_model_meta_and_missing_paths(tmp_path):
    _write(tmp_path / "m" / "r" / "CMedQAv1.json", _v1_reranking())
    _write(tmp_path / "m" / "r" / "model_meta.json", '{"name": ')
    with pytest.raises(UserError, match="model_meta.json:1: not valid JSON"):
        read_scores(tmp_path, SUITE)
    with pytest.raises(UserError, match="does not exist"):
        read_scores(tmp_path / "absent", SUITE)
    with pytest.raises(UserError, match="expected a results folder or a model card"):
        read_scores(tmp_path / "m" / "r" / "CMedQAv1.json", SUITE)


def test_a_card_is_read_like_a_results_folder():
    seed = shared_path("seed", "zpoint_large_embedding_zh.README.md")
    (model,) = read_scores(seed, SUITE)
    assert (model.name, model.revision, len(model.tasks)) == ("zpoint_large_embedding_zh", "external", 35)
    assert model.tasks["CMedQAv1-reranking"].metrics == {"map": 91.10738371185181, "mrr": 92.82496031746031}
    assert model.tasks["MassiveIntentClassification"].subset == "zh-CN"
    assert model.tasks["Waimai"].metrics["ap"] == 75.26507519569006


CARD_HEAD = "---\nmodel-index:\n- name: m\n  results:\n"
GOOD_RESULT = (
    "  - task:\n      type: Clustering\n    dataset:\n      type: C-MTEB/CLSClusteringS2S\n"
    "      name: MTEB CLSClusteringS2S\n      config: default\n      split: test\n      revision: None\n"
    "    metrics:\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "no YAML front matter"),
        ("---\nlicense: mit\n---\n", "no `model-index` list"),
        ("---\nlicense: mit\na: [1\n---\n", r"README.md:3: front matter is not valid YAML"),
        (CARD_HEAD + "  - 7\n---\n", "result #1: expected a mapping"),
        (CARD_HEAD + GOOD_RESULT + "    - type: v_measure\n      value: high\n---\n", "numeric `value`"),
        (
            CARD_HEAD + GOOD_RESULT.replace("Clustering\n", "STS\n") + "    - {type: v_measure, value: 1}\n---\n",
            "task type 'STS', the suite says 'Clustering'",
        ),
        ("---\nmodel-index:\n- results: []\n---\n", "needs a `name`"),
    ],
)
def test_malformed_cards_are_user_errors(tmp_path, text, message):
    path = _write(tmp_path / "README.md", text)
    with pytest.raises(UserError, match=message):
        read_card(path, SUITE)


def test_card_results_outside_the_suite_are_skipped(tmp_path):
    other = GOOD_RESULT.replace("split: test", "split: validation")
    path = _write(
        tmp_path / "README.md",
        CARD_HEAD
        + GOOD_RESULT
        + "    - {type: v_measure, value: 40}\n"
        + other
        + "    - {type: v_measure, value: 50}\n---\nbody\n",
    )
    (model,) = read_card(path, SUITE)
    assert {k: v.metrics for k, v in model.tasks.items()} == {"CLSClusteringS2S": {"v_measure": 40.0}}


# ---------------------------------------------------------------- what users see of folders, revisions and cards


def _v2(task: str = "CMedQAv1-reranking", value: float = 0.8, **marks) -> dict:
    """A result file as mteb 2.x writes it, main score `value` (0-1), with evalkit's `marks` (date, sampled, ...)."""
    from evalkit.metrics import mteb_key

    spec = SUITE.by_mteb_name[task]
    entry = {mteb_key(spec.type, SUITE.main_metrics[spec.type]): value, "main_score": value}
    entry |= {"hf_subset": spec.subset, "languages": ["cmn-Hans"]}
    return {"dataset_revision": "d", "task_name": task, "mteb_version": "2.0.0", "evaluation_time": 1.0} | {
        "scores": {spec.split: [entry]},
        **marks,
    }


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_card_emit_names_ten_revisions_and_counts_the_rest(tmp_path):
    import evalkit

    for count in (10, 11):
        for i in range(count):
            _write(tmp_path / str(count) / "org__m" / f"r{i:02}" / "CMedQAv1.json", _v1_reranking())
        message = _error(evalkit.model_index, tmp_path / str(count))
        listed = [f"@r{i:02}" for i in range(count) if f"@r{i:02} " in message]
        assert f"holds {count} model revisions" in message and listed == [f"@r{i:02}" for i in range(10)]
        assert message.endswith(" and 1 more") if count == 11 else "more" not in message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{}", "('mteb_dataset_name')"),  # a 1.x file lacking its task name: mteb's KeyError
        ('{"task_name": "Cmnli", "mteb_version": "2.0.0", "scores": {}}', "(dataset_revision: Field required)"),
    ],
)
def test_a_file_mteb_refuses_says_mtebs_first_reason(tmp_path, content, reason):
    path = _write(tmp_path / "m" / "r" / "Cmnli.json", content)
    assert _error(read_scores, tmp_path, SUITE) == f"{path}: not an mteb result file {reason}"


def test_revisions_merge_a_run_over_a_card_and_equal_scores_without_dates(tmp_path):
    import evalkit

    model = tmp_path / "org__m"
    _write(model / "external" / "CMedQAv1-reranking.json", _v2(value=0.5))  # `card import` writes `external`
    _write(model / "zzz" / "CMedQAv1-reranking.json", _v2(value=0.7))
    _write(model / "abc" / "CMedQAv2-reranking.json", _v2("CMedQAv2-reranking", 0.6))
    _write(model / "zzz" / "CMedQAv2-reranking.json", _v2("CMedQAv2-reranking", 0.6))
    merged = evalkit.load_results(model)
    assert merged.revision == "abc+zzz+external"  # the card's revision last
    assert merged.tasks["CMedQAv1-reranking"].metrics["map"] == 70.0
    assert merged.tasks["CMedQAv1-reranking"].revision == "zzz"
    assert merged.tasks["CMedQAv2-reranking"].metrics["map"] == 60.0
    # One dated run and one undated with other scores: nothing tells which is newer.
    _write(model / "zzz" / "CMedQAv2-reranking.json", _v2("CMedQAv2-reranking", 0.1, date=1_700_000_000.0))
    assert "revisions abc and zzz hold different scores" in _error(evalkit.load_results, model)


def test_a_folder_of_several_models_or_of_sampled_and_full_results_is_refused(tmp_path):
    import evalkit

    for name in "abcdef":
        _write(tmp_path / "six" / f"org__{name}" / "r" / "CMedQAv1.json", _v1_reranking())
        if name in "ab":
            _write(tmp_path / "two" / f"org__{name}" / "r" / "CMedQAv1.json", _v1_reranking())
    assert "holds 2 models (org/a, org/b);" in _error(evalkit.load_results, tmp_path / "two")
    assert "holds 6 models (org/a, org/b, org/c, org/d, org/e);" in _error(evalkit.load_results, tmp_path / "six")
    _write(tmp_path / "mixed" / "org__m" / "full" / "CMedQAv1.json", _v1_reranking())
    _write(tmp_path / "mixed" / "org__m" / "part" / "CMedQAv1.json", _v2(sampled="limit=9,seed=1"))
    assert "holds sampled (run --limit) and full results" in _error(evalkit.load_results, tmp_path / "mixed")


def test_the_leaderboard_merges_revisions_and_keeps_sampled_results_apart(tmp_path):
    import evalkit

    board = tmp_path / "board"
    _write(board / "org__m" / "r1" / "CMedQAv1.json", _v1_reranking())
    _write(board / "org__m" / "r2" / "CMedQAv2-reranking.json", _v2("CMedQAv2-reranking"))
    _write(board / "org__m" / "s" / "CMedQAv2-reranking.json", _v2("CMedQAv2-reranking", sampled="limit=9,seed=1"))
    _write(board / "org__n" / "r" / "CMedQAv1.json", _v1_reranking())
    comparison = evalkit.compare(board / "org__n", leaderboard=board)
    assert sorted((row.name, row.revision) for row in comparison.leaderboard) == [
        ("org/m", "r1+r2"),
        ("org/m", "s"),
        ("org/n", "r"),  # the candidate itself
        ("org/n", "r"),
    ]
    (tmp_path / "empty").mkdir()
    assert "no results of suite 'c-mteb'" in _error(evalkit.compare, board / "org__n", leaderboard=tmp_path / "empty")


def test_one_model_identity_per_folder_and_two_named_of_more(tmp_path):
    import evalkit

    folder = tmp_path / "org__m" / "r"
    tasks = ("CMedQAv1-reranking", "CMedQAv2-reranking", "MMarcoReranking")
    for task in tasks:
        _write(folder / f"{task}.json", _v2(task, model_identity="a" * 8))
    assert sorted(evalkit.load_results(folder).tasks) == sorted(tasks)
    for task, identity in zip(tasks, "abc"):
        _write(folder / f"{task}.json", _v2(task, model_identity=identity * 8))
    message = _error(evalkit.load_results, folder)
    assert "mixes results of 3 model identities (other weights or options: " in message
    assert message.count(" by ") == 2


def test_other_files_beside_result_files_are_ignored(tmp_path):
    folder = tmp_path / "org__m" / "r"
    _write(folder / "AFQMC.txt", "notes, not JSON")  # named like a suite task, sorted before the result
    _write(folder / "CMedQAv1-reranking.json", _v2())
    _write(folder / "model_meta.json", {"name": "org/m"})
    assert list(read_one(tmp_path, SUITE).tasks) == ["CMedQAv1-reranking"]


def test_a_result_names_its_predictions_file_only_when_it_is_there(tmp_path):
    import evalkit

    folder = tmp_path / "org__m" / "r"
    _write(folder / "CMedQAv1-reranking.json", _v2(predictions="elsewhere/CMedQAv1-reranking.predictions.json.gz"))
    assert evalkit.load_results(folder).tasks["CMedQAv1-reranking"].predictions is None
    _write(folder / "CMedQAv1-reranking.predictions.json.gz", "")
    found = evalkit.load_results(folder).tasks["CMedQAv1-reranking"].predictions
    assert found == folder / "CMedQAv1-reranking.predictions.json.gz"  # beside the result, whatever the path says


def test_a_score_beyond_the_largest_float_on_the_card_scale_is_refused(tmp_path):
    path = _write(tmp_path / "m" / "r" / "CMedQAv1-reranking.json", _v2(value=1e307))
    assert _error(read_scores, tmp_path, SUITE) == f"{path}: score map is out of range"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nmodel-index: []\n---\n", "the front matter has no `model-index` list"),
        ("---\nmodel-index:\n- results: []\n---\n", "model-index entry #1: needs a `name`"),
        (CARD_HEAD + GOOD_RESULT + "    - {type: v_measure, value: .inf}\n---\n", "numeric `value`"),
    ],
)
def test_card_errors_say_which_entry(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        read_card(_write(tmp_path / "README.md", text), SUITE)


def test_card_results_after_one_outside_the_suite_are_read_up_to_the_largest_float(tmp_path):
    other = GOOD_RESULT.replace("split: test", "split: validation")
    path = _write(
        tmp_path / "README.md",
        CARD_HEAD + other + "    - {type: v_measure, value: 50}\n" + GOOD_RESULT + "    - {type: v_measure, value: "
        f"{sys.float_info.max!r}}}\n---\n",
    )
    (model,) = read_card(path, SUITE)
    assert model.tasks["CLSClusteringS2S"].metrics == {"v_measure": sys.float_info.max}

"""Emitting, updating and importing the model card's `model-index`, against the seed card byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import shared_path
from huggingface_hub import metadata_load

from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.results.card import emit_model_index, update_readme
from evalkit.results.read import read_card, read_one
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import load_suite

SUITE = load_suite("c-mteb")
SEED = ("seed", "zpoint_large_embedding_zh.README.md")


def _seed_block(text: str) -> str:
    """The seed's model-index block: from `model-index:` to the next top-level key."""
    start = text.index("model-index:")
    return text[start : text.index("\nlanguage:", start) + 1]


def _model() -> ModelScores:
    scores = TaskScores("CLSClusteringS2S", "Clustering", "test", "default", "2", {"v_measure": 100.0})
    return ModelScores("org/m", "rev", Path("results/org__m/rev"), {"CLSClusteringS2S": scores})


def test_seed_import_then_emit_is_byte_identical(tmp_path, capsys):
    seed = shared_path(*SEED)
    assert main(["card", "import", str(seed), "--output-dir", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "zpoint_large_embedding_zh" / "external"
    assert len(list(folder.glob("*.json"))) == 36  # 35 tasks and model_meta.json
    capsys.readouterr()
    assert main(["card", "emit", str(folder)]) == 0
    assert capsys.readouterr().out == _seed_block(seed.read_text(encoding="utf-8"))


def test_update_of_an_unchanged_seed_copy_changes_no_byte(tmp_path):
    seed = shared_path(*SEED)
    copy = shutil.copy(seed, tmp_path / "README.md")
    assert main(["card", "emit", str(seed), "--update", str(copy), "--output", str(tmp_path / "mi.yaml")]) == 0
    assert Path(copy).read_bytes() == seed.read_bytes()
    assert (tmp_path / "mi.yaml").read_text(encoding="utf-8") == _seed_block(seed.read_text(encoding="utf-8"))


def test_emit_from_reference_results_gives_the_seed_values():
    seed = shared_path(*SEED)
    (card,) = read_card(seed, SUITE)
    model = read_one(shared_path("reference-results", "iampanda__zpoint_large_embedding_zh"), SUITE)
    emitted = yaml.safe_load(emit_model_index(model, SUITE))["model-index"][0]
    seed_results = {r["dataset"]["name"]: r for r in metadata_load(seed)["model-index"][0]["results"]}
    names = {r["dataset"]["name"] for r in emitted["results"]}
    assert len(names) == len(model.tasks) == 32
    assert names == set(seed_results) - {
        "MTEB AmazonReviewsClassification (zh)",
        "MTEB MassiveIntentClassification (zh-CN)",
        "MTEB MassiveScenarioClassification (zh-CN)",
    }
    worst = 0.0
    for result in emitted["results"]:
        expected = seed_results[result["dataset"]["name"]]
        assert result["dataset"] == expected["dataset"] and result["task"] == expected["task"]
        assert [m["type"] for m in result["metrics"]] == [m["type"] for m in expected["metrics"]]
        for got, want in zip(result["metrics"], expected["metrics"]):
            worst = max(worst, abs(got["value"] - want["value"]))
    assert worst < 1e-9
    assert len(card.tasks) == 35


def test_values_print_as_the_card_writer_printed_them():
    text = emit_model_index(_model(), SUITE, name="my-model")
    assert text.startswith("model-index:\n- name: my-model\n  results:\n  - task:\n      type: Clustering\n")
    assert "      revision: '2'\n" in text  # quoted: a bare 2 would read back as a number
    assert "    - type: v_measure\n      value: 100\n" in text
    scores = TaskScores("T2Reranking", "Reranking", "dev", "default", "None", {"map": 0.55 * 100, "mrr": 87.0})
    text = emit_model_index(ModelScores("m", "r", Path("m"), {"T2Reranking": scores}), SUITE)
    assert "value: 55.00000000000001\n" in text and "value: 87\n" in text and "revision: None\n" in text


def test_sampled_results_are_refused():
    scores = TaskScores("CLSClusteringS2S", "Clustering", "test", "default", "None", {"v_measure": 50.0}, "limit=10")
    with pytest.raises(UserError, match="sampled result"):
        emit_model_index(ModelScores("m", "r", Path("m"), {"CLSClusteringS2S": scores}), SUITE)
    with pytest.raises(UserError, match="no result of suite"):
        emit_model_index(ModelScores("m", "r", Path("m")), SUITE)


def test_update_replaces_only_the_model_index(tmp_path):
    block = emit_model_index(_model(), SUITE)
    readme = "---\ntags:\n- mteb\nmodel-index:\n- name: old\n  results: []\n\nlicense: mit\n---\n# Body\n\ntext\n"
    updated = update_readme(readme, block)
    assert updated == "---\ntags:\n- mteb\n" + block + "\nlicense: mit\n---\n# Body\n\ntext\n"
    assert update_readme(updated, block) == updated
    path = tmp_path / "README.md"
    path.write_text(updated, encoding="utf-8")
    meta = metadata_load(path)
    assert list(meta) == ["tags", "model-index", "license"]
    assert meta["model-index"][0]["results"][0]["metrics"] == [{"type": "v_measure", "value": 100}]


def test_update_adds_a_model_index_where_there_is_none():
    block = emit_model_index(_model(), SUITE)
    assert update_readme("---\nlicense: mit\n---\nbody\n", block) == "---\nlicense: mit\n" + block + "---\nbody\n"
    assert update_readme("body\n", block) == "---\n" + block + "---\nbody\n"


def test_import_writes_results_mteb_reads(tmp_path):
    from mteb.results import TaskResult

    seed = shared_path(*SEED)
    assert main(["card", "import", str(seed), "--output-dir", str(tmp_path)]) == 0
    result = TaskResult.from_disk(tmp_path / "zpoint_large_embedding_zh" / "external" / "CMedQAv1-reranking.json")
    (entry,) = result.scores["test"]
    assert (result.task_name, result.dataset_revision) == ("CMedQAv1-reranking", "None")
    assert entry["map_at_1000"] == entry["main_score"] and entry["mrr_at_10"] * 100 == 92.82496031746031


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["card", "emit", str(tmp_path / "absent")]) == 2
    assert main(["card", "import", str(tmp_path / "absent.md"), "--output-dir", str(tmp_path)]) == 2
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n", encoding="utf-8")
    assert main(["card", "import", str(tmp_path / "README.md"), "--output-dir", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)

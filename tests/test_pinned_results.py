"""What users see of evalkit.results on small hand-written inputs (no model runs): the card's name and results table,
`card import`, `.eval_results` read and written, result files and predictions, and how revisions merge."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

import evalkit
from evalkit.errors import UserError
from evalkit.results.card import TABLE_END, TABLE_START, place_table
from evalkit.suite import load_suite

SAMPLE = load_suite("sample")
SPECS = {spec.mteb_task: spec for spec in SAMPLE.tasks}


def card_result(task: str, metrics: dict[str, float], revision: str = "r") -> dict:
    """One model-index result of a sample-suite task."""
    spec = SPECS[task]
    card = spec.card
    return {
        "task": {"type": spec.type},
        "dataset": {"type": card.type, "name": card.name, "config": card.config, "split": card.split,
                    "revision": revision},
        "metrics": [{"type": name, "value": value} for name, value in metrics.items()],
    }  # fmt: skip


def write_card(path: Path, *entries: tuple[str, list[dict]]) -> Path:
    """A model card at `path` whose model-index holds `entries` (name, results)."""
    index = [{"name": name, "results": results} for name, results in entries]
    front = yaml.safe_dump({"model-index": index}, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nlicense: mit\n{front}---\n# A model\n", encoding="utf-8")
    return path


@pytest.fixture
def imported(tmp_path) -> Path:
    """The results folder `card import` writes for a card of `org/my-model` with two sample tasks."""
    card = write_card(
        tmp_path / "card" / "README.md",
        ("org/my-model", [card_result("STSB", {"cos_sim_spearman": 61.5}), card_result("Ocnli", {"cos_sim_ap": 70})]),
    )
    (folder,) = evalkit.import_card(card, tmp_path / "results", suite=SAMPLE)
    return folder


# ---------------------------------------------------------------- model cards


def test_the_card_names_the_model_without_its_organisation(imported):
    assert imported == imported.parents[1] / "org__my-model" / "external"
    assert evalkit.model_index(imported, suite=SAMPLE).startswith("model-index:\n- name: my-model\n  results:\n")
    assert evalkit.model_index(imported, suite=SAMPLE, name="mine").startswith("model-index:\n- name: mine\n")


def test_import_skips_entries_without_suite_results(tmp_path):
    outside = {**card_result("STSB", {"cos_sim_spearman": 50}), "dataset": {"type": "x/y", "name": "Other", "config":
               "default", "split": "test"}}  # fmt: skip
    card = write_card(
        tmp_path / "README.md", ("org/other", [outside]), ("org/mine", [card_result("STSB", {"cos_sim_spearman": 50})])
    )
    assert evalkit.import_card(card, tmp_path / "out", suite=SAMPLE) == [tmp_path / "out" / "org__mine" / "external"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["org__mine"]
    only_other = write_card(tmp_path / "other" / "README.md", ("org/other", [outside]))
    with pytest.raises(UserError, match="the card holds no result of suite 'sample'"):
        evalkit.import_card(only_other, tmp_path / "out2", suite=SAMPLE)
    assert not (tmp_path / "out2").exists()


def test_update_card_says_whether_the_file_changed(imported, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# My model\n", encoding="utf-8")
    block = evalkit.model_index(imported, suite=SAMPLE)
    assert evalkit.update_card(readme, block) is True
    after = readme.read_bytes()
    assert evalkit.update_card(readme, block) is False
    assert readme.read_bytes() == after and after.decode() == f"---\nlicense: mit\n{block}---\n# My model\n"


BLOCK = f"{TABLE_START}\n| a | b |\n\n{TABLE_END}"  # what place_table puts for the table "| a | b |"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", f"{BLOCK}\n"),
        ("---\nlicense: mit\n---\n", f"---\nlicense: mit\n---\n\n{BLOCK}\n"),
        ("# Model\n\nIntro.\n", f"# Model\n\nIntro.\n\n{BLOCK}\n"),
        ("# Model\n\nIntro.", f"# Model\n\nIntro.\n\n{BLOCK}\n"),
        ("# Model\r\nIntro.\r\n", f"# Model\r\nIntro.\r\n\r\n{BLOCK.replace(chr(10), chr(13) + chr(10))}\r\n"),
        (f"Intro.\n{TABLE_START}\nold\n{TABLE_END}\nOutro.\n", f"Intro.\n{BLOCK}\nOutro.\n"),
        (f"Intro.\n\n{TABLE_START}{TABLE_END}", f"Intro.\n\n{BLOCK}"),
        (f"---\nnote: '{TABLE_START}'\n---\nIntro.\n", f"---\nnote: '{TABLE_START}'\n---\nIntro.\n\n{BLOCK}\n"),
    ],
)
def test_the_results_table_goes_between_the_markers_or_after_the_body(text, expected):
    assert place_table(text, "| a | b |\n") == expected
    assert place_table(expected, "| a | b |") == expected


@pytest.mark.parametrize(
    "body", [f"{TABLE_END}\n{TABLE_START}\n", f"{TABLE_START}\n{TABLE_START}\n{TABLE_END}\n", f"{TABLE_START}\n"]
)
def test_markers_out_of_order_are_a_user_error(body):
    with pytest.raises(UserError, match="README.md: the body needs one <!-- evalkit:results-table --> before one"):
        place_table(f"Intro.\n{body}", "| a |")


# ---------------------------------------------------------------- .eval_results

MAIN = {"STSB": 61.5, "Ocnli": 70.0, "Waimai": 80.25, "CLSClusteringS2S": 40.0, "T2Reranking": 65.0,
        "CovidRetrieval": 72.5}  # fmt: skip


@pytest.fixture
def full_run(tmp_path) -> Path:
    """An imported card of `org/full` with a main score for every sample task."""
    results = [card_result(task, {SAMPLE.main_metrics[SPECS[task].type]: value}) for task, value in MAIN.items()]
    (folder,) = evalkit.import_card(write_card(tmp_path / "full" / "README.md", ("org/full", results)),
                                    tmp_path / "results", suite=SAMPLE)  # fmt: skip
    return folder


def test_the_suite_entry_holds_mtebs_mean_at_revision_1(full_run, tmp_path):
    published = evalkit.eval_results(full_run, tmp_path / "repo" / ".eval_results", suite=SAMPLE,
                                     benchmark_repo="my-org/sample-bench", user="me")  # fmt: skip
    assert sorted(published.files) == sorted([f"{task}.yaml" for task in MAIN] + ["sample.yaml"])
    assert published.notes == []
    (entry,) = yaml.safe_load(published.files["sample.yaml"])
    assert entry["dataset"] == {"id": "my-org/sample-bench", "task_id": "sample", "revision": "1"}
    assert entry["value"] == pytest.approx(sum(MAIN.values()) / len(MAIN) / 100, abs=1e-12)
    assert entry["notes"] == "Obtained using MTEB" and entry["source"]["user"] == "me"
    assert sorted(p.name for p in (tmp_path / "repo" / ".eval_results").iterdir()) == sorted(published.files)
    without = evalkit.eval_results(full_run, suite=SAMPLE)
    assert "sample.yaml" not in without.files
    assert without.notes == [
        f"no entry for suite sample (Mean (Task) {entry['value']:.5f}): no benchmark repository on the hub was named"
    ]


def entry(task_id: str, value: object, dataset: str = "mteb/STSB", **more: object) -> dict:
    return {"dataset": {"id": dataset, "task_id": task_id, "revision": "abc"}, "value": value, **more}


def write_repo(folder: Path, files: dict[str, list[dict]]) -> Path:
    """A model repository with only `.eval_results/` files (name -> entries)."""
    (folder / ".eval_results").mkdir(parents=True)
    for name, entries in files.items():
        (folder / ".eval_results" / name).write_text(yaml.safe_dump(entries), encoding="utf-8")
    return folder


def test_eval_results_read_back_as_a_model(full_run, tmp_path, caplog):
    repo = tmp_path / "org__my-model"
    evalkit.eval_results(full_run, repo / ".eval_results", suite=SAMPLE)
    (repo / ".eval_results" / "notes.txt").write_text(yaml.safe_dump([entry("STSB_default_test", 1.0)]))
    (repo / ".eval_results" / "folder.yaml").mkdir()
    model = evalkit.load_results(repo, suite=SAMPLE)
    assert (model.name, model.revision, model.source) == ("org/my-model", ".eval_results", repo / ".eval_results")
    assert {task: scores.metrics for task, scores in model.tasks.items()} == {
        task: {SAMPLE.main_metrics[SPECS[task].type]: value} for task, value in MAIN.items() if task != "Ocnli"
    }
    assert "left out of suite sample: Ocnli (mteb's max_accuracy is no card metric)" in caplog.text
    assert model.tasks["STSB"].dataset_revision == "e036defee8f190911de6fc825a944b928c8cda53"
    assert evalkit.load_results(repo / ".eval_results", suite=SAMPLE).tasks.keys() == model.tasks.keys()


def test_entries_without_a_score_are_left_out_with_a_warning(tmp_path, caplog):
    repo = write_repo(tmp_path / "org__m", {"a.yml": [
        entry("STSB_default_test", float("nan")),
        entry("Ocnli_default_validation", "n/a", dataset="C-MTEB/OCNLI"),
        entry("Other_default_test", 1.0, dataset="x/other"),
        entry("Waimai_default_test", 80.5, dataset="C-MTEB/waimai-classification"),
    ]})  # fmt: skip
    model = evalkit.load_results(repo, suite=SAMPLE)
    assert {task: scores.metrics for task, scores in model.tasks.items()} == {"Waimai": {"accuracy": 80.5}}
    assert "left out of suite sample: STSB (value nan is no score), Ocnli (value 'n/a' is no score)" in caplog.text
    assert "1 entries of no task of suite sample, not read: x/other Other_default_test" in caplog.text


@pytest.mark.parametrize(
    "date, expected",
    [
        ("2025-01-02T03:04:05Z", "2025-01-02T03:04:05+00:00"),
        ("2025-01-02T03:04:05+02:00", "2025-01-02T01:04:05+00:00"),
        ("2025-01-02T03:04:05", "2025-01-02T03:04:05+00:00"),
        (datetime.date(2025, 1, 2), "2025-01-02T00:00:00+00:00"),
        (datetime.datetime(2025, 1, 2, 3, 4), "2025-01-02T03:04:00+00:00"),
        ("yesterday", None),
        (None, None),
    ],
)
def test_an_entrys_date_is_read_as_utc(tmp_path, date, expected):
    repo = write_repo(tmp_path / "org__m", {"STSB.yaml": [entry("STSB_default_test", 61.5, date=date)]})
    got = evalkit.load_results(repo, suite=SAMPLE).tasks["STSB"].date
    assert got == (None if expected is None else datetime.datetime.fromisoformat(expected).timestamp())

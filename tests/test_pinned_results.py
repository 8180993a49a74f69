"""What users see of evalkit.results on small hand-written inputs (no model runs): the card's name and results table,
`card import`, `.eval_results` read and written, result files and predictions, and how revisions merge."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import json
import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import evalkit
from evalkit.errors import UserError
from evalkit.results.card import TABLE_END, TABLE_START, place_table
from evalkit.results.files import remove_stale_temporaries, result_identities
from evalkit.results.official import converted, file_facts, input_frame, leaderboard_frame
from evalkit.results.predictions import predictions_file, query_scores, read_predictions, write_predictions
from evalkit.results.read import read_scores
from evalkit.results.scores import ModelScores, TaskScores, main_score
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


def edit_scores(result_file: Path, change) -> None:
    """Rewrite a result file with `change` applied to its `scores`."""
    data = json.loads(result_file.read_text(encoding="utf-8"))
    change(data["scores"])
    result_file.write_text(json.dumps(data), encoding="utf-8")


def test_results_mteb_cannot_publish_are_left_out_with_a_note(full_run):
    edit_scores(
        full_run / "STSB.json", lambda s: s["test"].append({**s["test"][0], "hf_subset": "x", "main_score": None})
    )
    edit_scores(full_run / "Waimai.json", lambda s: s["test"][0].update(main_score="high"))
    edit_scores(full_run / "Ocnli.json", lambda s: s["validation"][0].update(main_score=float("nan")))
    published = evalkit.eval_results(full_run, suite=SAMPLE, benchmark_repo="my-org/sample-bench")
    assert sorted(published.files) == ["CLSClusteringS2S.yaml", "CovidRetrieval.yaml", "Ocnli.yaml", "T2Reranking.yaml"]
    assert published.notes == [
        "Ocnli: no score (.nan, as mteb writes it) for Ocnli_default_validation, Ocnli",
        "STSB left out: mteb cannot publish STSB.json (no main_score)",
        "Waimai left out: mteb cannot publish Waimai.json (type str doesn't define __round__ method)",
        "no entry for suite sample: its Mean (Task) needs every task's score (NaN)",
    ]
    values = [entry["value"] for entry in yaml.safe_load(published.files["Ocnli.yaml"])]
    assert len(values) == 2 and all(math.isnan(value) for value in values)


def test_eval_results_are_made_from_full_runs_only(full_run, tmp_path):
    repo = tmp_path / "org__full"
    evalkit.eval_results(full_run, repo / ".eval_results", suite=SAMPLE)
    with pytest.raises(UserError, match=r"\.eval_results is already \.eval_results; they are made from mteb result"):
        evalkit.eval_results(repo, suite=SAMPLE)
    with pytest.raises(UserError, match="README.md is a model card; .eval_results are made from mteb result files"):
        evalkit.eval_results(tmp_path / "full" / "README.md", suite=SAMPLE)
    meta = json.loads((full_run / "model_meta.json").read_text(encoding="utf-8"))
    (full_run / "model_meta.json").write_text(json.dumps({**meta, "sampled": "limit=10,seed=42"}), encoding="utf-8")
    with pytest.raises(
        UserError, match=r"external: sampled results \(limit=10,seed=42\); the hub shows full runs only"
    ):
        evalkit.eval_results(full_run, suite=SAMPLE)


# ---------------------------------------------------------------- card push, at huggingface_hub's boundary


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The hub online as huggingface_hub sees it: the README it serves (None: the repository has none) and the
    commits `HfApi.create_commit` would send, with the token its `HfApi` was made with."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import EntryNotFoundError

    served = tmp_path / "hub-README.md"
    state = {"readme": "---\nlicense: mit\n---\nHub text.\n", "downloads": [], "commits": []}

    def download(*args, **kwargs):
        state["downloads"].append((args, kwargs))
        if state["readme"] is None:
            raise EntryNotFoundError("404 README.md")
        served.write_text(state["readme"], encoding="utf-8")
        return str(served)

    def create_commit(self, **kwargs):
        state["commits"].append({"client token": self.token, **kwargs})
        pr = "https://huggingface.co/my-org/my-model/discussions/3" if kwargs["create_pr"] else None
        return SimpleNamespace(pr_url=pr, commit_url="https://huggingface.co/my-org/my-model/commit/c0ffee")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", create_commit)
    return state


def test_push_commits_the_readme_and_eval_results_once(full_run, hub):
    publication = evalkit.push("my-org/my-model", full_run, suite=SAMPLE, token="hf_x", revision="v2",
                               create_pr=True, commit_message="Add scores")  # fmt: skip
    assert hub["downloads"] == [(("my-org/my-model", "README.md"), {"revision": "v2", "token": "hf_x"})]
    (commit,) = hub["commits"]
    operations = commit.pop("operations")
    description = commit.pop("commit_description")
    assert commit == {
        "client token": "hf_x",
        "repo_id": "my-org/my-model",
        "commit_message": "Add scores",
        "token": "hf_x",
        "repo_type": "model",
        "revision": "v2",
        "create_pr": True,
    }
    assert description.startswith("Scores of org/full on suite sample (6 tasks), computed by mteb and published")
    sent = {op.path_in_repo: op.path_or_fileobj.decode("utf-8") for op in operations}
    assert sent == publication.files and sorted(sent) == [f".eval_results/{t}.yaml" for t in sorted(MAIN)] + [
        "README.md"
    ]
    assert sent["README.md"].startswith("---\nlicense: mit\nmodel-index:\n- name: full\n")
    assert f"---\nHub text.\n\n{TABLE_START}\n" in sent["README.md"]
    assert publication.url == "https://huggingface.co/my-org/my-model/discussions/3"
    assert publication.readme_before == "---\nlicense: mit\n---\nHub text.\n"
    diff = publication.readme_diff()
    assert diff.startswith("--- a/README.md\n+++ b/README.md\n@@ -1,4 +1,") and "+model-index:\n" in diff
    assert " license: mit\n" in diff and f"+{TABLE_START}\n" in diff


def test_push_to_a_repository_without_a_readme_starts_one(full_run, hub):
    hub["readme"] = None
    publication = evalkit.push("my-org/my-model", full_run, suite=SAMPLE, dry_run=True)
    assert hub["commits"] == [] and publication.url is None and publication.create_pr is False
    assert publication.readme_before == "" and publication.files["README.md"].startswith("---\nmodel-index:\n")
    assert hub["downloads"] == [(("my-org/my-model", "README.md"), {"revision": None, "token": None})]


def test_push_failures_are_one_line_user_errors(full_run, hub, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    def broken(*args, **kwargs):
        raise OSError("connection reset\nmore detail")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", broken)
    with pytest.raises(UserError) as failed:
        evalkit.push("my-org/my-model", full_run, suite=SAMPLE, token="hf_x")
    assert str(failed.value) == "pushing to my-org/my-model failed (connection reset)"
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", broken)
    with pytest.raises(UserError) as failed:
        evalkit.push("my-org/my-model", full_run, suite=SAMPLE, dry_run=True)
    assert str(failed.value) == "cannot read the README of my-org/my-model from the hub (connection reset)"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as failed:
        evalkit.push("my-org/my-model", full_run, suite=SAMPLE, dry_run=True)
    assert str(failed.value) == (
        "HF_HUB_OFFLINE is set: reading the README of my-org/my-model needs the Hugging Face hub; "
        "unset it on a machine with a network"
    )


# ---------------------------------------------------------------- result files on disk


def test_the_identity_each_result_file_records(tmp_path):
    files = {
        "a.json": {"model_identity": "st:abc"},
        "b.json": "{not json",
        "c.json": [1, 2],
        "d.json": {"task_name": "STSB"},
        "model_meta.json": {"model_identity": "st:meta"},
        "run_summary.json": {"model_identity": "st:summary"},
        "e.txt": {"model_identity": "st:text"},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    assert result_identities(tmp_path) == {"a": "st:abc", "b": None, "c": None, "d": None}


def test_stale_temporaries_are_removed_even_when_one_vanishes_meanwhile(tmp_path, monkeypatch):
    names = [f".STSB.json.{i}.tmp" for i in range(4)]
    for name in [*names, ".fresh.json.9.tmp", "STSB.json", "old.tmp"]:
        (tmp_path / name).write_text("{}", encoding="utf-8")
        if name != ".fresh.json.9.tmp":
            os.utime(tmp_path / name, (1_000_000, 1_000_000))
    stat, vanished = Path.stat, []

    def racing_stat(self, *args, **kwargs):  # another run removes the first temporary looked at, just before
        if not vanished and self.name.endswith(".tmp"):
            vanished.append(self.name)
            os.unlink(self)
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", racing_stat)
    removed = remove_stale_temporaries(tmp_path)
    monkeypatch.undo()
    assert len(vanished) == 1 and sorted(p.name for p in removed) == sorted(set(names) - set(vanished))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".fresh.json.9.tmp", "STSB.json", "old.tmp"]


# ---------------------------------------------------------------- results as mteb's official leaderboard reads them

BENCHMARK = "MTEB(cmn, v1)"
BGE_REVISION = "1d2363c5de6ce9ba9c890c8e23a4c72dce540ca8"  # BAAI/bge-small-zh's revision in mteb's registry


def retrieval_result(score: float, splits: tuple[str, ...] = ("dev",), version: str = "2.1.0") -> dict:
    """An mteb 2.x result file of T2Retrieval with `score` as its main score at each of `splits`."""
    entry = {"hf_subset": "default", "languages": ["cmn-Hans"], "ndcg_at_10": score, "main_score": score}
    scores = {split: [entry] for split in splits}
    return {"dataset_revision": "r", "task_name": "T2Retrieval", "mteb_version": version, "scores": scores,
            "evaluation_time": 1.0, "kg_co2_emissions": None}  # fmt: skip


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_leaderboard_lists_registry_models_and_says_which_it_leaves_out(tmp_path):
    import mteb

    root = tmp_path / "clone" / "results"
    folders = {f"BAAI__bge-small-zh/{BGE_REVISION}": 0.5, "iampanda__zpoint_large_embedding_zh/external": 0.6,
               "voyageai__voyage-3/1": 0.7, "my-org__private-model/r1": 0.8}  # fmt: skip
    for folder, score in folders.items():
        write_json(root / folder / "T2Retrieval.json", retrieval_result(score))
    write_json(root / "my-org__no-results" / "r1" / "other.json", {"a": 1})
    (root / "BAAI__bge-small-zh" / BGE_REVISION / "notes.json").mkdir()  # not a result file: never read
    board = leaderboard_frame(tmp_path / "clone", mteb.get_benchmark(BENCHMARK))
    rows = [(r["model_name"], r["model_revision"], r["task_name"], r["split"], r["score"]) for r in
            board.frame.sort("model_name").iter_rows(named=True)]  # fmt: skip
    assert rows == [
        ("BAAI/bge-small-zh", BGE_REVISION, "T2Retrieval", "dev", 0.5),
        ("iampanda/zpoint_large_embedding_zh", "external", "T2Retrieval", "dev", 0.6),
    ]
    assert board.unlisted == [
        "my-org/private-model (not in mteb's registry)",
        "voyageai/voyage-3 (mteb's registry renamed it mongodb/voyage-3)",
    ]
    assert leaderboard_frame(root, mteb.get_benchmark(BENCHMARK)).unlisted == board.unlisted


def test_a_model_under_test_loads_as_the_leaderboard_would_load_it(imported, tmp_path):
    import mteb

    bench = mteb.get_benchmark(BENCHMARK)

    def scores(path: Path) -> list[tuple]:
        frame = input_frame(read_scores(path, SAMPLE), bench, "candidate")
        return sorted((r["model_name"], r["model_revision"], r["task_name"], r["split"], r["score"]) for r in
                      frame.iter_rows(named=True))  # fmt: skip

    # its result files as mteb loads them: Ocnli's main score is the one the file records
    assert scores(imported) == [
        ("candidate", "external", "Ocnli", "validation", 0.7),
        ("candidate", "external", "STSB", "test", 0.615),
    ]
    # a card converted as mteb converts a 1.x file: Ocnli's main metric (max_accuracy) is not on the card
    assert scores(tmp_path / "card" / "README.md") == [
        ("candidate", "external", "Ocnli", "validation", None),
        ("candidate", "external", "STSB", "test", 0.615),
    ]
    stsb = read_scores(tmp_path / "card" / "README.md", SAMPLE)[0].tasks["STSB"]
    assert (converted(stsb).task_name, converted(stsb).dataset_revision) == ("STSB", "r")


def test_what_a_result_file_records_of_how_it_was_computed(tmp_path):
    two_splits = write_json(tmp_path / "a" / "T2Retrieval.json", retrieval_result(0.5, ("test", "dev")))
    assert file_facts(two_splits) == {
        "mteb version": "2.1.0",
        "dataset revision": "r",
        "task": "T2Retrieval",
        "splits": "dev, test",
        "subsets": "default",
        "evaluation date": None,
    }
    v1 = {"dataset_revision": None, "mteb_dataset_name": "T2Retrieval", "mteb_version": "1.0.2",
          "dev": {"evaluation_time": 1.0, "ndcg_at_10": 0.5}}  # fmt: skip
    facts = file_facts(write_json(tmp_path / "b" / "T2Retrieval.json", v1))
    assert (facts["mteb version"], facts["dataset revision"], facts["splits"]) == ("1.0.2", None, "dev")
    unknown = {**retrieval_result(0.5), "dataset_revision": "None"}  # as a card without a revision is imported
    assert file_facts(write_json(tmp_path / "c" / "T2Retrieval.json", unknown))["dataset revision"] is None


# ---------------------------------------------------------------- per-example predictions


def test_predictions_are_json_lines_with_the_bulky_parts_last(tmp_path):
    path = predictions_file(tmp_path / "T2Retrieval.json")
    assert path == tmp_path / "T2Retrieval.predictions.json.gz"
    record = {"type": "Retrieval", "query_scores": {"queries": ["q1"]}, "rankings": {"q1": {"d1": 0.5}},
              "qrels": {"q1": {"d1": 1}}, "skip_first_result": False}  # fmt: skip
    write_predictions(path, record)
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    assert lines == [
        '{"format":2,"type":"Retrieval","query_scores":{"queries":["q1"]},"skip_first_result":false}',
        '{"qrels":{"q1":{"d1":1}}}',
        '{"rankings":{"q1":{"d1":0.5}}}',
    ]
    assert read_predictions(path) == {"format": 2, **record}
    assert read_predictions(path, bulky=False) == {"format": 2, "type": "Retrieval", "query_scores": {"queries":
                                                   ["q1"]}, "skip_first_result": False}  # fmt: skip
    old = tmp_path / "old.predictions.json.gz"  # format 1: one JSON document
    old.write_bytes(gzip.compress(json.dumps({"format": 1, "type": "STS", "gold": [1.0]}).encode("utf-8")))
    assert read_predictions(old) == {"format": 1, "type": "STS", "gold": [1.0]}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[1, 2]\n", "not a predictions file of format 1 or 2"),
        (b'{"format": 3, "type": "STS"}\n', "not a predictions file of format 1 or 2"),
        (b'{"format": 2}\n', "not a predictions file of format 1 or 2"),
        (b"{not json\n", r"not a predictions file \(JSONDecodeError\)"),
    ],
)
def test_a_file_that_is_no_predictions_record_is_a_user_error(tmp_path, content, message):
    path = tmp_path / "STSB.predictions.json.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(UserError, match=f"STSB.predictions.json.gz: {message}"):
        read_predictions(path)


def test_per_query_measures_are_kept_down_to_the_depth():
    scores = {"q2": {"ndcg_cut_10": 0.5, "ndcg_cut_100": 0.25, "recall_5": 1}, "q1": {"ndcg_cut_10": 1.0,
              "ndcg_cut_100": 0.75, "recall_5": 0}}  # fmt: skip
    assert query_scores(scores, 10) == {
        "queries": ["q1", "q2"],
        "measures": {"ndcg_cut_10": [1.0, 0.5], "recall_5": [0.0, 1.0]},
    }
    assert query_scores(scores, None)["measures"] == {
        "ndcg_cut_10": [1.0, 0.5],
        "ndcg_cut_100": [0.75, 0.25],
        "recall_5": [0.0, 1.0],
    }
    assert list(query_scores(scores, 100)["measures"]) == ["ndcg_cut_10", "ndcg_cut_100", "recall_5"]


# ---------------------------------------------------------------- reading and merging revisions


def test_a_run_and_a_card_of_one_model_merge_with_the_runs_vector_facts(imported):
    run = imported.parent / "abc"
    run.mkdir()
    stsb = json.loads((imported / "STSB.json").read_text(encoding="utf-8"))
    stsb["scores"]["test"][0].update(cosine_spearman=0.625, main_score=0.625)
    write_json(run / "STSB.json", {**stsb, "predictions": "STSB.predictions.json.gz"})
    write_predictions(run / "STSB.predictions.json.gz", {"type": "STS", "gold": [1.0], "scores": {}})
    (run / "STSB.txt").write_text("notes, not a result file", encoding="utf-8")
    write_json(run / "model_meta.json", {"embed_dim": 256, "experiment_kwargs": {"embed_dim": 256,
               "output_dtypes": "int8"}})  # fmt: skip
    write_json(run / "run_summary.json", {"texts_per_second": {"cpu": 100.25, "cuda:0": 50.5, "note": "x"}})
    model = evalkit.load_results(imported.parent, suite=SAMPLE)
    assert (model.name, model.revision, model.source) == ("org/my-model", "abc+external", imported.parent)
    assert {t: (s.revision, s.metrics[SAMPLE.main_metrics[s.type]]) for t, s in model.tasks.items()} == {
        "STSB": ("abc", 62.5),  # a run wins over the card
        "Ocnli": ("external", 70.0),
    }
    assert (model.embed_dim, model.precision, model.variant) == (256, "int8", "dim256_int8")
    assert model.texts_per_second == 150.8 and model.bytes_per_vector == 256
    assert (model.tasks["STSB"].predictions, model.tasks["Ocnli"].predictions) == (
        run / "STSB.predictions.json.gz",
        None,
    )
    assert evalkit.model_index(run, suite=SAMPLE).startswith("model-index:\n- name: my-model_dim256_int8\n")


def test_a_folder_of_several_models_names_them_in_order(imported, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty: no results of suite 'sample' found \(expected mteb result files"):
        evalkit.model_index(tmp_path / "empty", suite=SAMPLE)
    for name in ("org__e", "org__b", "org__d", "org__a"):
        copy = shutil.copytree(imported, imported.parents[1] / name / "external")
        (copy / "model_meta.json").unlink()  # named by its folder
    with pytest.raises(UserError, match=r"holds 5 models \(org/a, org/b, org/d, org/e, org/my-model\); pass one"):
        evalkit.load_results(imported.parents[1], suite=SAMPLE)


def test_scores_hold_what_was_read_and_answer_for_absent_tasks():
    stsb = TaskScores("STSB", "STS", "test", "default", "r", {"cos_sim_spearman": 61.5})
    model = ModelScores("org/m", "r", Path("m"), {"STSB": stsb}, embed_dim=1024, precision="float32")
    assert model.main_score("STSB", SAMPLE.main_metrics) == 61.5
    assert model.main_score("Ocnli", SAMPLE.main_metrics) is None
    assert model.main_score("STSB", {"STS": "cos_sim_pearson"}) is None
    assert main_score(stsb.metrics, "STS", SAMPLE.main_metrics) == ("cos_sim_spearman", 61.5)
    assert model.bytes_per_vector == 4096
    assert ModelScores("m", "r", Path("m"), embed_dim=1024).bytes_per_vector is None
    assert ModelScores("m", "r", Path("m"), precision="int8").bytes_per_vector is None
    assert ModelScores("m", "r", Path("m")).tasks == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        stsb.metrics = {}

"""What users see from `check`, `card` and result reading on small hand-written cards: the verdicts, the exact
tolerance boundary, which card entry stands for which suite task, and what `card import` writes."""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from test_ingest import _v1_reranking

import evalkit
from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.metrics import card_metrics
from evalkit.results.card import update_readme, write_beside
from evalkit.suite import load_suite

SUITE = load_suite("c-mteb")
SPECS = {spec.mteb_task: spec for spec in SUITE.tasks}
BLOCK = "model-index:\n- name: m\n  results: []\n"


def result(task: str, value: float, metric: str | None = None, **dataset: str) -> dict:
    """One model-index entry of a suite task (its main metric unless `metric`), `dataset` fields overridden."""
    spec = SPECS[task]
    card = spec.card
    fields = {"type": card.type, "name": card.name, "config": card.config, "split": card.split, "revision": "r"}
    return {
        "task": {"type": spec.type},
        "dataset": fields | dataset,
        "metrics": [{"type": metric or SUITE.main_metrics[spec.type], "value": value}],
    }


def write_card(folder: Path, scores: dict[str, float], *extra: dict, name: str = "org/m", bom: str = "") -> Path:
    """A README.md in a fresh folder under `folder` with a model-index of `scores` (mteb task -> main score)."""
    results = [result(task, value) for task, value in scores.items()] + list(extra)
    front = yaml.safe_dump({"model-index": [{"name": name, "results": results}]}, allow_unicode=True, sort_keys=False)
    path = Path(tempfile.mkdtemp(dir=folder)) / "README.md"
    path.write_text(f"{bom}---\n{front}---\n# A model\n", encoding="utf-8")
    return path


def check(tmp_path: Path, capsys, candidate: dict, baseline: dict, *args: str) -> tuple[int, str]:
    """`check` of two cards holding `candidate` and `baseline`: (exit status, stdout + stderr)."""
    code = main(
        ["check", str(write_card(tmp_path, candidate)), "--baseline", str(write_card(tmp_path, baseline)), *args]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def rows(output: str) -> list[list[str]]:
    """The gate table's rows (status, task, type, baseline, candidate, delta, tolerance), header and verdict off."""
    lines = output.strip().splitlines()
    return [line.split() for line in lines[1 : lines.index("")]] if "" in lines else []


# ---------------------------------------------------------------- the gate


def test_without_tolerance_a_one_point_drop_fails_and_a_small_one_passes(tmp_path, capsys):
    code, out = check(
        tmp_path, capsys, {"CovidRetrieval": 63.0, "AFQMC": 61.0}, {"CovidRetrieval": 64.0, "AFQMC": 60.0}
    )
    assert code == 1 and out == (
        "status     task            type       baseline  candidate  delta  tolerance\n"
        "REGRESSED  CovidRetrieval  Retrieval     64.00      63.00  -1.00        0.5\n"
        "improved   AFQMC           STS           60.00      61.00  +1.00        0.5\n"
        "\n"
        "FAIL: org/m vs org/m, 2 tasks (1 regressed, 1 improved): CovidRetrieval\n"
    )
    assert check(tmp_path, capsys, {"CovidRetrieval": 63.6}, {"CovidRetrieval": 64.0})[0] == 0


@pytest.mark.parametrize(
    "baseline, candidate, tolerance, passed",
    [(64.01, 63.51, "0.5", True), (64.0, 63.495, "0.5", False), (64.0, 64.0, "0", True), (64.0, 63.99, "0", False)],
)
def test_the_tolerance_boundary_is_exact(tmp_path, capsys, baseline, candidate, tolerance, passed):
    code, out = check(tmp_path, capsys, {"AFQMC": candidate}, {"AFQMC": baseline}, "--tolerance", tolerance)
    assert code == (0 if passed else 1), out
    verdict = "PASS: org/m vs org/m, 1 tasks (1 ok)" if passed else "FAIL: org/m vs org/m, 1 tasks (1 regressed): AFQMC"
    assert out.strip().splitlines()[-1] == verdict


def test_an_improvement_beyond_the_tolerance_is_listed_but_passes(tmp_path, capsys):
    code, out = check(tmp_path, capsys, {"AFQMC": 64.6, "BQ": 64.5}, {"AFQMC": 64.0, "BQ": 64.0})
    assert code == 0 and rows(out) == [["improved", "AFQMC", "STS", "64.00", "64.60", "+0.60", "0.5"]]
    assert out.strip().endswith("PASS: org/m vs org/m, 2 tasks (1 improved, 1 ok)")


@pytest.mark.parametrize("value", ["nan", "inf", "-0.1"])
def test_a_tolerance_that_is_not_a_finite_number_of_points_exits_2(tmp_path, capsys, value):
    code, out = check(tmp_path, capsys, {"AFQMC": 60.0}, {"AFQMC": 60.0}, "--tolerance", value)
    assert code == 2 and out.startswith("error: --tolerance ") and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["AFQMC: .nan\n", "default: .inf\n", "STS: true\n"])
def test_a_tolerance_file_entry_that_is_not_points_exits_2(tmp_path, capsys, text):
    (tmp_path / "tol.yaml").write_text(text)
    code, out = check(
        tmp_path, capsys, {"AFQMC": 60.0}, {"AFQMC": 60.0}, "--tolerance-file", str(tmp_path / "tol.yaml")
    )
    assert code == 2 and "tol.yaml:1" in out and ">= 0" in out


def test_type_and_task_tolerances_apply_through_the_gate(tmp_path, capsys):
    (tmp_path / "tol.yaml").write_text("Retrieval: 2\nCMedQAv1-reranking: 1.5\nAFQMC: 0.2\ndefault: 0.8\n")
    baseline = {"CovidRetrieval": 64.0, "CMedQAv1-reranking": 80.0, "AFQMC": 50.0, "BQ": 50.0, "T2Reranking": 60.0}
    candidate = {"CovidRetrieval": 63.0, "CMedQAv1-reranking": 78.6, "AFQMC": 49.7, "BQ": 49.3, "T2Reranking": 59.1}
    code, out = check(tmp_path, capsys, candidate, baseline, "--tolerance-file", str(tmp_path / "tol.yaml"))
    assert code == 1
    assert [(r[0], r[1], r[-1]) for r in rows(out)] == [
        ("REGRESSED", "T2Reranking", "0.8"),
        ("REGRESSED", "AFQMC", "0.2"),
    ]
    assert out.strip().endswith("5 tasks (2 regressed, 3 ok): AFQMC, T2Reranking")


def test_regressions_are_listed_worst_first(tmp_path, capsys):
    code, out = check(
        tmp_path,
        capsys,
        {"AFQMC": 59.0, "BQ": 57.0, "ATEC": 58.0, "LCQMC": 61.0},
        dict.fromkeys(("AFQMC", "BQ", "ATEC", "LCQMC"), 60.0),
        "--junit",
        str(tmp_path / "junit.xml"),
    )
    assert code == 1 and [r[1] for r in rows(out)] == ["BQ", "ATEC", "AFQMC", "LCQMC"]
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8").splitlines()  # indented, one element a line
    assert junit[:2] == ['<?xml version="1.0" encoding="utf-8"?>', "<testsuites>"]
    assert junit[2].startswith('  <testsuite name="evalkit check org/m vs org/m" tests="4" failures="3"')
    assert junit[3].startswith('    <testcase classname="evalkit.check.STS" name="AFQMC"')


def test_a_missing_task_fails_after_the_regressions_unless_allowed(tmp_path, capsys):
    code, out = check(tmp_path, capsys, {"AFQMC": 50.0}, {"AFQMC": 60.0, "BQ": 60.0})
    assert code == 1 and [(r[0], r[1], r[4]) for r in rows(out)] == [
        ("REGRESSED", "AFQMC", "50.00"),
        ("MISSING", "BQ", "–"),
    ]
    junit = tmp_path / "junit.xml"
    code, out = check(
        tmp_path, capsys, {"AFQMC": 60.0}, {"AFQMC": 60.0, "BQ": 60.0}, "--allow-missing", "--junit", str(junit)
    )
    assert code == 0 and rows(out) == [["missing", "BQ", "STS", "60.00", "–", "–", "0.5"]]
    cases = {case.get("name"): [child.tag for child in case] for case in ET.parse(junit).iter("testcase")}
    assert cases == {"AFQMC": ["system-out"], "BQ": ["skipped"]}
    assert out.strip().endswith("PASS: org/m vs org/m, 2 tasks (1 missing, 1 ok)")


def test_a_baseline_without_main_scores_is_refused_not_passed(tmp_path, capsys):
    only_map = result("CovidRetrieval", 40.0, metric="map_at_10")
    code = main(
        ["check", str(write_card(tmp_path, {"AFQMC": 1.0})), "--baseline", str(write_card(tmp_path, {}, only_map))]
    )
    out = capsys.readouterr().out
    assert code == 1 and "PASS" not in out and "invalid" in out  # a finding, never "PASS, 0 tasks"


def _imported(tmp_path: Path, scores: dict[str, float], sampled: str | None = None) -> Path:
    (folder,) = evalkit.import_card(write_card(tmp_path, scores), Path(tempfile.mkdtemp(dir=tmp_path)))
    if sampled:
        meta = json.loads((folder / "model_meta.json").read_text())
        (folder / "model_meta.json").write_text(json.dumps(meta | {"sampled": sampled}))
    return folder


def test_sampled_and_full_results_are_never_compared_either_way(tmp_path, capsys):
    full, sampled = _imported(tmp_path, {"AFQMC": 60.0}), _imported(tmp_path, {"AFQMC": 60.0}, "limit=10,seed=42")
    assert main(["check", str(full), "--baseline", str(sampled)]) == 2
    assert "candidate full run, baseline limit=10,seed=42" in capsys.readouterr().err
    assert main(["check", str(sampled), "--baseline", str(full)]) == 2
    assert "candidate limit=10,seed=42, baseline full run" in capsys.readouterr().err
    for count, more in [(5, "; run both"), (6, " and 1 more; run both")]:  # five are named
        tasks = [spec.mteb_task for spec in SUITE.tasks[:count]]
        many = _imported(tmp_path, dict.fromkeys(tasks, 60.0), "limit=10,seed=42")
        assert main(["check", str(many), "--baseline", str(_imported(tmp_path, dict.fromkeys(tasks, 60.0)))]) == 2
        err = capsys.readouterr().err
        assert err.count("(candidate limit=10,seed=42, baseline full run)") == 5 and f"full run){more}" in err
    assert (
        main(["check", str(sampled), "--baseline", str(_imported(tmp_path, {"AFQMC": 60.0}, "limit=10,seed=42"))]) == 0
    )


# ---------------------------------------------------------------- cards


def test_card_emit_update_writes_the_readme(tmp_path, capsys):
    source = write_card(tmp_path, {"AFQMC": 61.5, "CovidRetrieval": 80.25})
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# Mine\n", encoding="utf-8")
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 0
    assert capsys.readouterr() == ("", f"{readme}: model-index updated\n")  # the README gets it, not stdout
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\nlicense: mit\nmodel-index:\n- name: m\n") and text.endswith("---\n# Mine\n")
    assert text.split("---\n")[1].removeprefix("license: mit\n") == evalkit.model_index(source)
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 0
    assert (
        capsys.readouterr().err == f"{readme}: model-index unchanged\n" and readme.read_text(encoding="utf-8") == text
    )


def test_update_refuses_flow_style_front_matter_and_says_when_nothing_changed(tmp_path, capsys):
    source = write_card(tmp_path, {"AFQMC": 61.5})
    readme = tmp_path / "README.md"
    readme.write_text("---\n{license: mit, model-index: []}\n---\n# Mine\n", encoding="utf-8")
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 2
    assert "flow style" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == "---\n{license: mit, model-index: []}\n---\n# Mine\n"
    block = evalkit.model_index(source)
    readme.write_text("---\nlicense: mit\n---\n", encoding="utf-8")
    assert evalkit.update_card(readme, block) is True and evalkit.update_card(readme, block) is False


@pytest.mark.parametrize(
    "front, expected",
    [("license: mit\n\n", "license: mit\n"), ("\n", ""), ("license: mit\n", "license: mit\n")],
    ids=["trailing-blank-line", "empty", "plain"],
)
def test_update_appends_the_model_index_to_the_front_matter(front, expected):
    assert update_readme(f"---\n{front}---\nbody\n", BLOCK) == f"---\n{expected}{BLOCK}---\nbody\n"


@pytest.mark.parametrize(
    "old, kept",
    [("model-index: []\n\n", "\n"), ("model-index:\n- name: old\n  results: []\n# kept\n\n", "# kept\n\n")],
    ids=["one-line", "comment"],
)
def test_update_keeps_the_blank_lines_and_comments_after_the_model_index(old, kept):
    readme = f"---\n{old}license: mit\n---\nbody\n"
    assert update_readme(readme, BLOCK) == f"---\n{BLOCK}{kept}license: mit\n---\nbody\n"


def test_update_errors_name_the_line_and_flow_style_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"README.md:3: front matter is not valid YAML"):
        update_readme("---\nlicense: mit\na: [1\n---\n", BLOCK)
    with pytest.raises(UserError, match="flow style"):
        update_readme("---\n{license: mit}\n---\n", BLOCK)


def test_a_results_folder_gets_its_model_index_beside_it(tmp_path):
    (folder,) = evalkit.import_card(write_card(tmp_path, {"AFQMC": 61.5}), tmp_path / "out")
    path = write_beside(folder, SUITE)
    assert path == folder / "model-index.yaml" and path.read_text(encoding="utf-8") == evalkit.model_index(folder)


def test_the_model_index_is_named_without_the_org_unless_named(tmp_path):
    source = write_card(tmp_path, {"AFQMC": 61.5}, name="org/sub-model")
    assert yaml.safe_load(evalkit.model_index(source))["model-index"][0]["name"] == "sub-model"
    assert yaml.safe_load(evalkit.model_index(source, name="mine"))["model-index"][0]["name"] == "mine"


def test_import_writes_org_model_external_with_mteb_2_keys(tmp_path):
    pair = result("Ocnli", 80.5, metric="cos_sim_accuracy")
    pair["metrics"] += [{"type": "cos_sim_ap", "value": 85.0}, {"type": "max_ap", "value": 85.0}]
    rerank = result("T2Reranking", 66.0)
    rerank["metrics"].append({"type": "mrr", "value": 77.0})
    card = write_card(tmp_path, {"AFQMC": 61.5}, pair, rerank, name="org/m")
    (folder,) = evalkit.import_card(card, tmp_path / "out")
    assert folder == tmp_path / "out" / "org__m" / "external"
    assert json.loads((folder / "model_meta.json").read_text()) == {
        "name": "org/m",
        "revision": "external",
        "source": str(card),
    }
    ocnli = json.loads((folder / "Ocnli.json").read_text())
    (entry,) = ocnli["scores"]["validation"]
    assert entry == {
        "cosine_accuracy": 0.805,
        "cosine_ap": 0.85,
        "max_ap": 0.85,
        "max_accuracy": 0.805,  # the card's max_* over the similarity functions it shows
        "main_score": 0.85,
        "hf_subset": "default",
        "languages": ["cmn-Hans"],  # the subset's, as mteb writes them (its overall and suite scores count them)
    }
    (entry,) = json.loads((folder / "T2Reranking.json").read_text())["scores"]["dev"]
    assert (entry["map_at_1000"], entry["mrr_at_10"], entry["main_score"]) == (0.66, 0.77, 0.66)
    assert ocnli["task_name"] == "Ocnli" and ocnli["dataset_revision"] == "r"
    model = evalkit.load_results(folder)
    assert model.tasks["Ocnli"].metrics == {
        "cos_sim_accuracy": 80.5,
        "cos_sim_ap": 85.0,
        "max_ap": 85.0,
        "max_accuracy": 80.5,
    }


def test_import_skips_card_models_without_suite_tasks_and_keeps_unicode_names(tmp_path):
    models = [
        {"name": "other", "results": [result("AFQMC", 61.0, split="test")]},  # AFQMC is scored on validation
        {"name": "org/中文模型", "results": [result("AFQMC", 61.0)]},
    ]
    both = tmp_path / "README.md"
    both.write_text(f"---\n{yaml.safe_dump({'model-index': models}, allow_unicode=True)}---\n", encoding="utf-8")
    (folder,) = evalkit.import_card(both, tmp_path / "out")
    assert json.loads((folder / "model_meta.json").read_text(encoding="utf-8"))["name"] == "org/中文模型"
    assert "- name: 中文模型\n" in evalkit.model_index(folder)


def test_a_card_without_suite_tasks_exits_2(tmp_path, capsys):
    card = write_card(tmp_path, {}, result("AFQMC", 61.0, split="test"))  # AFQMC is scored on validation
    assert main(["card", "import", str(card), "--output-dir", str(tmp_path / "out")]) == 2
    assert main(["card", "emit", str(card)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "no result of suite 'c-mteb'" in errors[0] and not (tmp_path / "out").exists()


def test_import_goes_into_an_empty_folder_but_never_over_other_results(tmp_path, capsys):
    card = write_card(tmp_path, {"AFQMC": 61.0})
    (tmp_path / "out" / "org__m" / "external").mkdir(parents=True)
    assert main(["card", "import", str(card), "--output-dir", str(tmp_path / "out")]) == 0
    assert evalkit.load_results(tmp_path / "out").tasks["AFQMC"].metrics == {"cos_sim_spearman": 61.0}
    run = tmp_path / "runs" / "org__m" / "external"
    run.mkdir(parents=True)
    (run / "model_meta.json").write_text(json.dumps({"name": "org/m"}))  # a run's folder: no card it came from
    assert main(["card", "import", str(card), "--output-dir", str(tmp_path / "runs")]) == 2
    assert f"{run} already holds other results; import {card} into another output folder" in capsys.readouterr().err


# ---------------------------------------------------------------- reading cards and result folders


def test_only_the_suites_config_of_a_multilingual_dataset_is_read(tmp_path):
    zh = result("AmazonReviewsClassification", 45.0)
    en = result("AmazonReviewsClassification", 40.0, config="en", name="MTEB AmazonReviewsClassification (en)")
    tw = result("STS22", 70.0, config="zh-TW")
    model = evalkit.load_results(write_card(tmp_path, {}, zh, en, tw))
    assert {task: s.metrics for task, s in model.tasks.items()} == {"AmazonReviewsClassification": {"accuracy": 45.0}}
    assert model.tasks["AmazonReviewsClassification"].subset == "zh"


def test_a_renamed_dataset_of_the_same_type_is_still_read_and_a_bom_is_no_matter(tmp_path):
    renamed = result("AFQMC", 61.0, name="MTEB AFQMC (old name)")
    retyped = result("BQ", 62.0, type="someone/bq-copy")
    model = evalkit.load_results(write_card(tmp_path, {}, renamed, retyped, bom="\ufeff"))
    assert {task: s.metrics for task, s in model.tasks.items()} == {
        "AFQMC": {"cos_sim_spearman": 61.0},
        "BQ": {"cos_sim_spearman": 62.0},
    }


def test_a_1x_file_of_a_renamed_task_never_beats_the_current_one(tmp_path):
    (folder,) = evalkit.import_card(write_card(tmp_path, {"CMedQAv1-reranking": 70.0}), tmp_path / "out")
    (folder / "CMedQAv1.json").write_text(json.dumps(_v1_reranking()))  # map 80 under the 1.x name
    assert evalkit.load_results(folder).tasks["CMedQAv1-reranking"].metrics == {"map": 70.0}


# ---------------------------------------------------------------- the metric mapping


def test_a_score_of_zero_is_a_score():
    assert card_metrics("STS", {"cosine_spearman": 0.0, "cosine_pearson": None}) == {"cos_sim_spearman": 0.0}
    assert card_metrics("Retrieval", {"ndcg_at_10": 0, "map_at_10": float("nan")}) == {"ndcg_at_10": 0.0}


def test_pair_maxima_over_a_single_similarity_function():
    assert card_metrics("PairClassification", {"dot_f1": 0.25}) == {"dot_f1": 25.0, "max_f1": 25.0}
    assert card_metrics("PairClassification", {"manhattan_ap": 0.0}) == {"manhattan_ap": 0.0, "max_ap": 0.0}


# ---------------------------------------------------------------- the significance-aware gate and its reports


def _predicted(folder: Path, scores: dict[str, float], predictions: list[float] | None = None) -> Path:
    """A results folder of mteb 2.x files with these main scores, and STSB with `predictions` (cosine scores
    against gold 0-5) when given, scored as mteb scores them (a gate refuses predictions of another score)."""
    from scipy.stats import spearmanr

    from evalkit.results.predictions import write_predictions

    folder.mkdir(parents=True)
    if predictions is not None:
        scores = scores | {"STSB": 100 * spearmanr([i % 6 for i in range(len(predictions))], predictions)[0]}
    for task, value in scores.items():
        spec = SPECS[task]
        entry = {"cosine_spearman": value / 100, "main_score": value / 100, "hf_subset": "default", "languages": []}
        data = {"dataset_revision": "d", "task_name": task, "mteb_version": "2.0.0", "evaluation_time": 1.0}
        data["scores"] = {spec.split: [entry]}
        if task == "STSB" and predictions is not None:
            data["predictions"] = "STSB.predictions.json.gz"
            gold = [i % 6 for i in range(len(predictions))]
            write_predictions(
                folder / data["predictions"], {"type": "STS", "gold": gold, "scores": {"cosine_scores": predictions}}
            )
        (folder / f"{task}.json").write_text(json.dumps(data))
    return folder


def test_the_significance_gate_reports_each_tasks_interval_or_its_fallback(tmp_path, capsys, monkeypatch):
    import numpy as np

    gold = [i % 6 for i in range(60)]
    noisy = (np.asarray(gold) + np.random.default_rng(0).normal(0, 3, 60)).tolist()
    base = _predicted(tmp_path / "base" / "org__m" / "r", {"AFQMC": 60.0, "BQ": 60.0}, gold)  # STSB 100.00
    cand = _predicted(tmp_path / "cand" / "org__m" / "r", {"AFQMC": 59.0}, noisy)  # STSB 47.56
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    reports = ("--json", str(tmp_path / "gate.json"), "--junit", str(tmp_path / "gate.xml"))
    code = main(["check", str(cand), "--baseline", str(base), "--significance", "0.05", "--resamples", "200", *reports])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[:3] == [
        "status     task   type  baseline  candidate   delta  tolerance  delta CI              p",
        "REGRESSED  STSB   STS     100.00      47.56  -52.44        0.5  [-78.92, -36.11]  0.000",
        "REGRESSED  AFQMC  STS      60.00      59.00   -1.00        0.5  tolerance only        –",
    ]
    assert "(2 regressed, 1 missing; significance 0.05: 1 tested, 2 on tolerance only): AFQMC, STSB, BQ\n" in out
    assert "::error title=evalkit check%3A STSB regressed::STSB cos_sim_spearman fell from 100.00 (org/m) to " in out
    assert "47.56 (org/m): -52.44 points, tolerance 0.5\n" in out
    checks = {c["task"]: c for c in json.loads((tmp_path / "gate.json").read_text())["tasks"]}
    assert checks["STSB"]["decided_by"] == "significance" and checks["STSB"]["p_value"] == 0.0
    assert len(checks["STSB"]["delta_ci"]) == 2 and checks["STSB"]["paired"] is True
    assert checks["AFQMC"]["decided_by"] == "tolerance" and checks["AFQMC"]["p_value"] is None
    cases = {case.get("name"): case for case in ET.parse(tmp_path / "gate.xml").iter("testcase")}
    assert "; delta CI [" in cases["STSB"].find("failure").get("message")
    assert cases["AFQMC"].find("failure").get("message").endswith("; tolerance only, no predictions")
    assert (
        cases["BQ"].find("failure").get("message")
        == "BQ is missing from the candidate (baseline cos_sim_spearman 60.00)"
    )
    properties = {p.get("name"): p.get("value") for p in cases["STSB"].iter("property")}
    assert properties["decided_by"] == "significance" and properties["p_value"] == "0.0"
    assert "p_value" not in {p.get("name") for p in cases["AFQMC"].iter("property")}  # None: left out


def test_a_drop_that_is_not_significant_is_noise_up_to_a_p_value_of_exactly_alpha(tmp_path, capsys):
    import numpy as np

    gold = [i % 6 for i in range(60)]
    noise = np.random.default_rng(1).normal(0, 2, (2, 60))
    base = _predicted(tmp_path / "base" / "org__m" / "r", {"AFQMC": 60.0}, (gold + noise[0]).tolist())  # STSB 77.09
    cand = _predicted(tmp_path / "cand" / "org__模型" / "r", {"AFQMC": 59.0}, (gold + noise[1]).tolist())  # 62.55
    args = ["check", str(cand), "--baseline", str(base), "--resamples", "200", "--json", str(tmp_path / "gate.json")]
    assert main([*args, "--junit", str(tmp_path / "gate.xml")]) == 1  # without --significance: two regressions
    messages = [case.find("failure").get("message") for case in ET.parse(tmp_path / "gate.xml").iter("testcase")]
    assert messages[0] == "cos_sim_spearman 60.00 -> 59.00 (-1.00, tolerance 0.5)"  # the plain gate's message
    assert all("tolerance only" not in m and "delta CI" not in m for m in messages)
    assert main([*args, "--significance", "0.05"]) == 1  # AFQMC on its tolerance
    text = (tmp_path / "gate.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "passed": false,\n') and '"candidate": "org/模型",' in text
    (stsb,) = [c for c in json.loads(text)["tasks"] if c["task"] == "STSB"]
    assert stsb["status"] == "noise" and 0.05 < stsb["p_value"] < 1
    capsys.readouterr()
    assert main([*args, "--significance", repr(stsb["p_value"]), "--tolerance-file", str(_tolerances(tmp_path))]) == 0
    assert "PASS: org/模型 vs org/m, 2 tasks (1 noise, 1 ok; significance 0.21: " in capsys.readouterr().out
    for alpha in ("0.0", "1.0", "1.5"):
        assert main([*args, "--significance", alpha]) == 2
        assert f"--significance {alpha}: a significance level between 0 and 1" in capsys.readouterr().err


def _tolerances(tmp_path: Path) -> Path:
    (tmp_path / "tol.yaml").write_text("AFQMC: 1\n")
    return tmp_path / "tol.yaml"


def test_the_model_index_lists_tasks_in_name_order_not_suite_order(tmp_path):
    import dataclasses

    source = write_card(tmp_path, {"Waimai": 70.0, "CovidRetrieval": 80.0, "AFQMC": 60.0})
    backwards = dataclasses.replace(SUITE, tasks=SUITE.tasks[::-1])  # a suite file that lists its tasks Z to A
    entries = yaml.safe_load(evalkit.model_index(source, suite=backwards))["model-index"][0]["results"]
    names = [entry["dataset"]["name"] for entry in entries]
    assert names == sorted(names) and len(names) == 3
    assert [entry["task"]["type"] for entry in entries] == ["STS", "Retrieval", "Classification"]


def test_card_emit_refuses_a_task_without_its_main_metric(tmp_path, capsys):
    card = write_card(tmp_path, {"CovidRetrieval": 80.0}, result("AFQMC", 60.0, metric="cos_sim_pearson"))
    assert main(["card", "emit", str(card)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "AFQMC has no finite cos_sim_spearman" in err

"""Per-example predictions, bootstrap intervals in reports, and the significance-aware gate."""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import SIX_TASKS, run_sample, shared_path

import evalkit
from evalkit.cli import main
from evalkit.report import bootstrap
from evalkit.report.html import render_html
from evalkit.report.render import render_csv, render_json, render_markdown
from evalkit.results.predictions import predictions_file, read_predictions
from evalkit.results.read import read_task_file
from evalkit.snapshot import read_stsb, write_stsb_tasks
from evalkit.suite import load_suite

SAMPLE = load_suite("sample")
MODEL = "sentence-transformers__all-MiniLM-L6-v2"
REVISION = "no_revision_available"


@pytest.fixture(scope="session")
def predicted(tmp_path_factory) -> Path:
    """The sample suite run with predictions, at full size and cut to 32 dimensions."""
    out = tmp_path_factory.mktemp("predicted")
    assert run_sample("--output-dir", str(out), "--save-predictions", "--dims", "384,32") == 0
    return out


def folder(out: Path, dim: int | None = None) -> Path:
    return out / (MODEL + (f"_dim{dim}" if dim else "")) / REVISION


def sample_of(out: Path, task: str, dim: int | None = None) -> tuple[bootstrap.Sample, float]:
    """A task's predictions as a bootstrap sample, and its stored main score."""
    spec = SAMPLE.by_mteb_name[task]
    scores = read_task_file(folder(out, dim) / f"{task}.json", spec)
    metric = SAMPLE.main_metrics[spec.type]
    return bootstrap.load_sample(scores.predictions, spec.type, metric), scores.metrics[metric]


@pytest.mark.parametrize("task", sorted(SIX_TASKS))
def test_main_score_recomputed_from_predictions_equals_the_stored_one(predicted, task):
    for dim in (None, 32):
        sample, stored = sample_of(predicted, task, dim)
        assert sample is not None
        assert abs(sample.point() - stored / 100) < 1e-9, (task, dim)
        # no resampling: every example counted once gives the same value (retrieval: before mteb's rounding)
        once = sample.replicates(np.ones((1, sum(sample.strata))))[0]
        assert abs(once - stored / 100) < (
            1e-5 if SAMPLE.by_mteb_name[task].type in ("Retrieval", "Reranking") else 1e-9
        )


def test_predictions_are_compressed_beside_the_result_and_referenced_by_it(predicted):
    for task in SIX_TASKS:
        result = folder(predicted) / f"{task}.json"
        path = predictions_file(result)
        assert path.name == f"{task}.predictions.json.gz" and path.read_bytes()[:2] == b"\x1f\x8b"
        assert json.loads(result.read_text(encoding="utf-8"))["predictions"] == path.name
        record = read_predictions(path)
        assert (record["task"], record["type"]) == (task, SAMPLE.by_mteb_name[task].type)


def test_a_run_without_predictions_removes_stale_ones(predicted, tmp_path):
    shutil.copytree(predicted, tmp_path / "out")
    assert run_sample("--output-dir", str(tmp_path / "out"), "--tasks", "STSB", "--overwrite") == 0
    result = folder(tmp_path / "out") / "STSB.json"
    assert "predictions" not in json.loads(result.read_text(encoding="utf-8"))
    assert not predictions_file(result).exists()


def _repeat(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.repeat(values, counts.astype(int))


@pytest.mark.parametrize("seed", range(3))
def test_vectorized_resamples_equal_the_library_on_repeated_examples(seed):
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import average_precision_score, v_measure_score

    rng = np.random.default_rng(seed)
    n = 60
    gold = rng.integers(0, 6, n).astype(float)  # ties, as real gold scores have
    pred = np.round(gold + rng.normal(0, 2, n), 1)
    labels = rng.integers(0, 2, n).astype(float)
    counts = bootstrap._draw([n], 5, rng)
    for row, spear, pear, ap in zip(
        counts,
        bootstrap.Correlation(gold, pred, True).replicates(counts),
        bootstrap.Correlation(gold, pred, False).replicates(counts),
        bootstrap.AveragePrecision(labels, pred).replicates(counts),
    ):
        assert spear == pytest.approx(spearmanr(_repeat(gold, row), _repeat(pred, row))[0], abs=1e-12)
        assert pear == pytest.approx(pearsonr(_repeat(gold, row), _repeat(pred, row))[0], abs=1e-12)
        assert ap == pytest.approx(average_precision_score(_repeat(labels, row), _repeat(pred, row)), abs=1e-12)
    sets = [(rng.choice(list("abcd"), m), rng.integers(0, 4, m)) for m in (30, 45)]
    clustering = bootstrap.VMeasure(sets, constant_sets=1)  # plus one single-label set, which mteb scores 1.0
    counts = bootstrap._draw(clustering.strata, 5, rng)
    for row, value in zip(counts, clustering.replicates(counts)):
        parts = (row[:30], row[30:])
        assert [p.sum() for p in parts] == [30, 45]  # each cluster set resampled on its own
        per_set = [v_measure_score(_repeat(a, c), _repeat(b, c)) for (a, b), c in zip(sets, parts)]
        assert value == pytest.approx((sum(per_set) + 1.0) / 3, abs=1e-12)


def test_coverage_of_the_intervals_is_near_nominal_on_synthetic_data():
    """Data with a known answer: the 95% intervals must hold it about 95% of the time."""
    rng = np.random.default_rng(7)
    rho = 0.6
    truth = {"accuracy": 0.7, "spearman": 6 / np.pi * np.arcsin(rho / 2)}
    covered = {name: 0 for name in truth}
    runs = 200
    for run in range(runs):
        correct = (rng.random(300) < truth["accuracy"]).astype(float)
        x = rng.standard_normal((300, 2)) @ np.linalg.cholesky([[1, rho], [rho, 1]]).T
        samples = {
            "accuracy": bootstrap.Mean(correct, correct.mean(), ("examples",)),
            "spearman": bootstrap.Correlation(x[:, 0], x[:, 1], True),
        }
        for name, sample in samples.items():
            low, high = bootstrap.interval(bootstrap.replicates([sample], 500, np.random.default_rng(run))[0], 0.95)
            covered[name] += low <= 100 * truth[name] <= high
    for name, hits in covered.items():
        assert 0.90 <= hits / runs <= 0.99, (name, hits / runs)


def test_v_measure_intervals_cover_the_population_value_despite_the_bias():
    """V-measure on a finite set is biased upward (a plain percentile interval misses the population value most of
    the time); the bias-corrected interval covers it at about the nominal rate."""
    rng = np.random.default_rng(11)
    accuracy, labels = 0.6, 5
    joint = (accuracy * np.eye(labels) + (1 - accuracy) / labels) / labels  # labels uniform; right 60% of the time
    truth = 100 * bootstrap._v_measures(joint[None])[0]
    runs, covered, above = 150, 0, 0
    for run in range(runs):
        gold = rng.integers(0, labels, 300)
        guess = np.where(rng.random(300) < accuracy, gold, rng.integers(0, labels, 300))
        sample = bootstrap.VMeasure([(gold, guess)], 0)
        low, high = bootstrap.interval(bootstrap.replicates([sample], 500, np.random.default_rng(run))[0], 0.95)
        covered += low <= truth <= high
        above += 100 * sample.point() > truth
    assert above / runs > 0.65  # the score itself is mostly above the population value
    assert 0.90 <= covered / runs <= 0.99, covered / runs


def test_the_v_measure_bias_estimate_is_the_jackknife_of_sklearns_score():
    from sklearn.metrics import v_measure_score

    rng = np.random.default_rng(5)
    sets = [(rng.choice(list("abcd"), m), rng.integers(0, 4, m)) for m in (30, 45)]
    expected = 0.0
    for labels, assignments in sets:
        full = v_measure_score(labels, assignments)
        left_out = [v_measure_score(np.delete(labels, i), np.delete(assignments, i)) for i in range(len(labels))]
        expected += (len(labels) - 1) * (np.mean(left_out) - full)
    assert bootstrap.VMeasure(sets, constant_sets=1).bias() == pytest.approx(expected / 3, abs=1e-12)


def test_examples_of_one_kind_are_resampled_as_a_kind():
    """Documents of one contingency cell (values of one size) are interchangeable: one example per kind, weighted
    by how many there are, gives the metric of them all."""
    rng = np.random.default_rng(2)
    sets = [(rng.integers(0, 3, 200), rng.integers(0, 4, 200)) for _ in range(2)]
    values = rng.integers(0, 5, 300) / 4
    for sample in (bootstrap.VMeasure(sets, 0), bootstrap.Mean(values, values.mean(), ())):
        reduced, weights = bootstrap._by_kind([sample, sample])
        assert sum(map(len, weights)) < sum(sample.strata) / 8
        once = sample.replicates(np.ones((1, sum(sample.strata))))[0]
        assert reduced[0].replicates(np.concatenate(weights)[None])[0] == pytest.approx(once, abs=1e-12)


def test_retrieval_recomputed_from_rankings_equals_mtebs_recorded_per_query_measures(predicted, tmp_path):
    """Predictions recorded before per-query measures were (format 1, one JSON document) are scored from the
    rankings by pytrec_eval, to the same values as mteb's recorded per-query measures."""
    import gzip

    ranked = [t for t in sorted(SIX_TASKS) if SAMPLE.by_mteb_name[t].type in ("Retrieval", "Reranking")]
    assert len(ranked) == 2
    for task in ranked:
        spec = SAMPLE.by_mteb_name[task]
        path = predictions_file(folder(predicted) / f"{task}.json")
        record = read_predictions(path)
        assert "rankings" in record and "rankings" not in read_predictions(path, bulky=False)
        old = {**record, "format": 1}
        del old["query_scores"]
        (tmp_path / path.name).write_bytes(gzip.compress(json.dumps(old).encode()))
        metric = SAMPLE.main_metrics[spec.type]
        recorded, rescored = (bootstrap.load_sample(p, spec.type, metric) for p in (path, tmp_path / path.name))
        assert recorded.point() == rescored.point()
        assert np.allclose(recorded.values, rescored.values, rtol=0, atol=1e-12) and recorded.units == rescored.units


def build_plain(out: Path):
    return evalkit.compare(folder(out, 32), [folder(out)], suite="sample")


def test_compare_with_ci_gives_intervals_in_every_format(predicted):
    comp = evalkit.compare(folder(predicted, 32), [folder(predicted)], suite="sample", ci=95)
    data = json.loads(render_json(comp))
    for task in data["tasks"]:
        assert len(task["ci"]) == len(task["scores"]) == 2
        for (low, high), score in zip(task["ci"], task["scores"]):
            assert low <= high and low - 1e-9 <= score <= high + 1e-9 or task["type"] == "Clustering"
        (delta_low, delta_high) = task["delta_ci"][0]
        assert delta_low <= task["deltas"][0] + 1e-9 and task["deltas"][0] - 1e-9 <= delta_high
    assert data["average"]["ci"][0] is not None and data["intervals"]["resamples"] == 1000
    rows = list(csv.DictReader(io.StringIO(render_csv(comp))))
    stsb = [r for r in rows if r["name"] == "STSB"]
    assert all(float(r["ci_low"]) <= float(r["score"]) <= float(r["ci_high"]) for r in stsb)
    assert stsb[1]["delta_ci_low"] and not stsb[0]["delta_ci_low"]
    markdown = render_markdown(comp)
    assert "±" in markdown and "95% bootstrap confidence interval" in markdown
    page = render_html(comp)
    assert "±" in page and page.count("<path") > render_html(build_plain(predicted)).count("<path")  # error bars
    again = evalkit.compare(folder(predicted, 32), [folder(predicted)], suite="sample", ci=95)
    assert render_json(again) == render_json(comp)  # seeded


def test_tasks_without_predictions_get_no_interval_and_the_report_says_so(predicted, tmp_path):
    shutil.copytree(folder(predicted), tmp_path / "model")
    result = tmp_path / "model" / "STSB.json"
    data = json.loads(result.read_text(encoding="utf-8"))
    del data["predictions"]
    result.write_text(json.dumps(data), encoding="utf-8")
    comp = evalkit.compare(tmp_path / "model", suite="sample", ci=90)
    tasks = {t["mteb_task"]: t for t in json.loads(render_json(comp))["tasks"]}
    assert tasks["STSB"]["ci"] == [None] and tasks["Ocnli"]["ci"][0] is not None
    types = {t["name"]: t for t in json.loads(render_json(comp))["types"]}
    assert types["STS"]["ci"] == [None] and json.loads(render_json(comp))["average"]["ci"] == [None]
    assert "No interval (no saved per-example predictions): STSB." in render_markdown(comp)
    assert "STSB | STS | cos_sim_spearman | " in render_markdown(comp).replace("±", "")


def test_compare_and_check_give_a_delta_the_same_paired_interval(predicted):
    comp = evalkit.compare(folder(predicted, 32), [folder(predicted)], suite="sample", ci=95)
    gate = evalkit.check(folder(predicted, 32), baseline=folder(predicted), suite="sample", significance=0.05)
    tested = {c.task: c.test for c in gate.checks}
    assert all(t is not None and t.paired for t in tested.values())
    for row in comp.tasks:
        assert row.delta_ci[0] == pytest.approx(tested[row.mteb_task].ci, abs=1e-9), row.mteb_task


@pytest.mark.parametrize("value", ["0", "100", "-5"])
def test_a_confidence_level_outside_0_100_is_a_usage_error(predicted, value, capsys):
    assert main(["compare", str(folder(predicted)), "--suite", "sample", "--ci", value]) == 2
    assert "--ci" in capsys.readouterr().err


@pytest.fixture(scope="session")
def real_sentences(tmp_path_factory) -> Path:
    """STS, retrieval and reranking tasks built from 300 real Chinese STS-B pairs, evaluated with predictions at
    full size (384), at 256 and at 16 dimensions."""
    work = tmp_path_factory.mktemp("real")
    write_stsb_tasks(read_stsb(shared_path("data", "stsb-zh"), limit=300), work / "data")
    args = ["run", "--model", "bundled:minilm", "--device", "cpu", "--tasks", "STSB,T2Retrieval,T2Reranking"]
    args += ["--data-dir", str(work / "data"), "--output-dir", str(work / "out"), "--save-predictions"]
    assert main([*args, "--dims", "384,256,16"]) == 0
    return work / "out"


def check(out: Path, dim: int | None, *extra: str) -> list[str]:
    return ["check", str(folder(out, dim)), "--baseline", str(folder(out)), "--allow-missing", *extra]


def test_significance_fails_a_model_cut_to_16_dimensions_naming_the_tasks(real_sentences, tmp_path, capsys):
    junit, report = tmp_path / "gate.xml", tmp_path / "gate.json"
    extra = ("--significance", "0.05", "--junit", str(junit), "--json", str(report))
    assert main(check(real_sentences, 16, *extra)) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-3:] == ["delta", "CI", "p"]
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("FAIL") and verdict.endswith(": STSB, T2Reranking, T2Retrieval")
    tasks = {t["task"]: t for t in json.loads(report.read_text())["tasks"]}
    for task in tasks.values():
        assert task["status"] == "regressed" and task["decided_by"] == "significance" and task["paired"]
        assert task["p_value"] < 0.05 and task["delta_ci"][1] < -task["tolerance"]
    cases = ET.parse(junit).getroot().iter("testcase")
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert float(props["p_value"]) == tasks[case.get("name")]["p_value"]
        assert case.find("failure") is not None and "delta CI [" in case.find("failure").get("message")


def test_significance_passes_the_model_against_itself(real_sentences, capsys):
    assert main(check(real_sentences, None, "--significance", "0.05", "--tolerance", "0")) == 0
    assert capsys.readouterr().out.strip().startswith("PASS")


def test_significance_passes_a_small_difference_that_the_tolerance_fails(real_sentences, capsys):
    assert main(check(real_sentences, 256)) == 1  # the plain tolerance (0.5) fails the 256-dimension cut
    failed = capsys.readouterr().out.strip().splitlines()[-1]
    assert failed.startswith("FAIL")
    assert main(check(real_sentences, 256, "--significance", "0.05")) == 0
    out = capsys.readouterr().out
    assert "noise" in out and out.strip().splitlines()[-1].startswith("PASS")
    for task in failed.rsplit(": ", 1)[1].split(", "):
        row = next(line.split() for line in out.splitlines() if line.split()[1:2] == [task])
        assert row[0] == "noise" and float(row[-1]) >= 0.05


def test_without_predictions_the_significance_gate_falls_back_to_the_tolerance(predicted, tmp_path, capsys):
    shutil.copytree(folder(predicted, 32), tmp_path / "cand")
    for path in (tmp_path / "cand").glob("*.predictions.json.gz"):
        path.unlink()
    assert main(["check", str(tmp_path / "cand"), "--baseline", str(folder(predicted)), "--suite", "sample",
                 "--significance", "0.05"]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "tolerance only" in out and "0 tested, 6 on tolerance only" in out
    plain = evalkit.check(tmp_path / "cand", baseline=folder(predicted), suite="sample")
    assert out.strip().splitlines()[-1].split(": ")[-1] == ", ".join(c.task for c in plain.failures)


@pytest.mark.parametrize("value", ["0", "1", "1.5"])
def test_a_significance_level_outside_0_1_is_a_usage_error(predicted, value, capsys):
    assert main(["check", str(folder(predicted)), "--baseline", str(folder(predicted)), "--suite", "sample",
                 "--significance", value]) == 2  # fmt: skip
    assert "--significance" in capsys.readouterr().err


@pytest.mark.parametrize("metric", ["ndcg_at_10", "map_at_10", "recall_at_10", "precision_at_10"])
def test_every_retrieval_metric_a_suite_may_choose_gets_its_sample(predicted, metric):
    """A suite whose retrieval metric is any of mteb's cut-off measures gets intervals and significance for it."""
    spec = SAMPLE.by_mteb_name["CovidRetrieval"]
    scores = read_task_file(folder(predicted) / "CovidRetrieval.json", spec)
    sample = bootstrap.load_sample(scores.predictions, "Retrieval", metric)
    assert sample is not None and abs(sample.point() - scores.metrics[metric] / 100) < 1e-9

"""Suites with per-task sample sizes (`limit:`), the bundled `c-mteb-lite` suite and its texts to encode."""

from __future__ import annotations

import json

import pytest

import evalkit
from evalkit.cli import main
from evalkit.run.sampling import DISTRACTORS_PER_QUERY, texts_to_encode
from evalkit.suite import TASK_TYPES, load_suite, load_task

MINI = """name: mini
main_metrics:
  STS: cos_sim_spearman
  PairClassification: cos_sim_ap
tasks:
  - name: STSB
    type: STS
    split: test
    limit: {limit}
  - name: Ocnli
    mteb_task: Ocnli
    type: PairClassification
    split: validation
"""


def _scores(folder, task: str) -> dict:
    scores = json.loads((folder / f"{task}.json").read_text())["scores"]
    for entries in scores.values():
        entries[0].pop("evaluation_time", None)
    return scores


def test_a_suite_samples_the_tasks_it_gives_a_sample_size(minilm, six_snapshots, tmp_path):
    suite = tmp_path / "mini.yaml"
    suite.write_text(MINI.format(limit=3), encoding="utf-8")
    common = {"data_dir": six_snapshots, "output_dir": tmp_path / "out", "name": "m", "cache_dir": tmp_path / "cache"}
    report = evalkit.evaluate(minilm, suite=suite, **common)
    folder = tmp_path / "out" / "m" / "no_revision_available__limit=mini_seed=42"
    assert report.folders == [folder] and not report.failed
    assert json.loads((folder / "model_meta.json").read_text())["sampled"] == "limit=mini,seed=42"
    assert json.loads((folder / "STSB.json").read_text())["sampled"] == "limit=3,seed=42"
    assert json.loads((folder / "Ocnli.json").read_text())["sampled"] == "limit=mini,seed=42"  # whole, in a lite run
    assert not (folder / "model-index.yaml").exists()  # sampled results never reach a card

    limited = evalkit.evaluate(minilm, suite="sample", tasks=["STSB"], limit=3, **common).folders[0]
    full = evalkit.evaluate(minilm, suite="sample", tasks=["Ocnli"], **common).folders[0]
    assert _scores(folder, "STSB") == _scores(limited, "STSB")  # the sample `run --limit 3` draws
    assert _scores(folder, "Ocnli") == _scores(full, "Ocnli")  # a task without a sample size runs whole

    suite.write_text(MINI.format(limit=4), encoding="utf-8")  # an edited sample size is a new sample
    again = evalkit.evaluate(minilm, suite=suite, **common)
    assert {o.spec.name: o.status for o in again.outcomes} == {"STSB": "done", "Ocnli": "skipped"}
    assert json.loads((folder / "STSB.json").read_text())["sampled"] == "limit=4,seed=42"
    both = evalkit.evaluate(minilm, suite=suite, limit=2, **common)  # the smaller of the run's and the suite's
    assert both.folders[0].name == "no_revision_available__limit=2+mini_seed=42"
    assert {o.spec.name: o.status for o in both.outcomes} == {"STSB": "done", "Ocnli": "done"}
    assert json.loads((both.folders[0] / "Ocnli.json").read_text())["sampled"] == "limit=2,seed=42"


def test_the_lite_suite_covers_every_type_within_a_tenth_of_the_texts():
    lite, full = load_suite("c-mteb-lite"), load_suite("c-mteb")
    assert {s.type for s in lite.tasks} == set(TASK_TYPES)
    assert lite.main_metrics == full.main_metrics
    assert {s.mteb_task for s in lite.tasks} <= {s.mteb_task for s in full.tasks}
    listed = evalkit.list_tasks(lite)
    assert all(t["texts"] for t in listed) and any(t["limit"] for t in listed)
    assert sum(t["texts"] for t in listed) < 0.1 * sum(t["texts"] for t in evalkit.list_tasks(full))
    for spec in lite.tasks:  # the split the card does not report, where mteb evaluates one
        card = full.by_mteb_name[spec.mteb_task]
        others = [split for split in load_task(card).metadata.eval_splits if split != card.split]
        assert spec.split in others if others else spec.split == card.split, spec.name
    assert any(s.split != full.by_mteb_name[s.mteb_task].split for s in lite.tasks)


def test_tasks_lists_the_lite_suite_with_its_texts_to_encode(capsys):
    assert main(["tasks", "--suite", "c-mteb-lite"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("T2Retrieval ", "Ocnli "))}
    t2 = load_suite("c-mteb-lite").by_mteb_name["T2Retrieval"]
    assert rows["T2Retrieval"][4:6] == [str(t2.limit), f"{texts_to_encode(t2, t2.limit):,}"]
    assert rows["Ocnli"][4] == "all"
    assert "24 tasks in" in out and "% of the 35-task c-mteb suite's 1,776,225" in out
    assert main(["tasks", "--suite", "sample"]) == 0
    assert "brings its own data" in capsys.readouterr().out  # hub statistics would not describe it


@pytest.mark.parametrize("task", ["T2Retrieval", "T2Reranking", "STSB", "TNews", "ThuNewsClusteringS2S", "Ocnli"])
def test_texts_to_encode_follows_the_sampling_rules(task):
    spec = load_suite("c-mteb").by_mteb_name[task]
    whole = texts_to_encode(spec)
    assert texts_to_encode(spec, 10**9) == whole
    counts = [texts_to_encode(spec, n) for n in (50, 100, 400)]
    assert counts == sorted(counts) and counts[-1] <= whole
    if spec.type == "Retrieval":  # each query, its judged documents and ten distractors
        assert counts[1] - counts[0] >= 50 * (1 + DISTRACTORS_PER_QUERY)
    if spec.type in ("STS", "PairClassification"):
        assert counts[0] == 100  # both sides of 50 pairs
    if spec.type == "Classification":  # the training samples do not depend on the sample size
        assert counts[1] - counts[0] == 50

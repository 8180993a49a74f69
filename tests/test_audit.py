"""`audit`: a run against the published results of the same model, and what explains a difference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import shared_path

import evalkit
from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.report.audit import render_audit_json, render_audit_markdown

NAME, REVISION = "my-org/my-model", "abc123"
PROMPTS = {"T2Retrieval-query": "为这个句子生成表示以用于检索相关文章：", "CovidRetrieval-query": "查询："}
SCORES = {  # mteb task -> (main score key, value), the card's main metric of each type
    "AFQMC": ("cosine_spearman", "validation", 0.61),
    "Cmnli": ("cosine_ap", "validation", 0.85),
    "TNews": ("accuracy", "validation", 0.52),
    "CLSClusteringS2S": ("v_measure", "test", 0.47),
    "T2Reranking": ("map_at_1000", "dev", 0.66),
    "T2Retrieval": ("ndcg_at_10", "dev", 0.83),
}


def write_run(folder: Path, scores=SCORES, version: str = "2.26.24", prompts=PROMPTS) -> Path:
    """A model's results folder as evalkit writes it: result files and a model_meta.json with its settings."""
    folder.mkdir(parents=True, exist_ok=True)
    for task, (key, split, value) in scores.items():
        entry = {"hf_subset": "default", "languages": ["cmn-Hans"], key: value, "main_score": value}
        data = {"dataset_revision": "d1", "task_name": task, "mteb_version": version,
                "scores": {split: [entry]}, "evaluation_time": 1.0, "date": 1767225600.0}  # fmt: skip
        (folder / f"{task}.json").write_text(json.dumps(data), encoding="utf-8")
    meta = {"name": NAME, "revision": REVISION, "dtype": "fp16", "max_seq_length": 512, "prompts": prompts}
    (folder / "model_meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def run(tmp_path) -> Path:
    return write_run(tmp_path / "run" / "my-org__my-model" / REVISION)


def published_copy(run: Path, root: Path) -> Path:
    """The run's folder inside a results-repository folder that holds another model too."""
    target = root / "results" / "my-org__my-model" / REVISION
    shutil.copytree(run, target)
    write_run(root / "results" / "other-org__other-model" / "r", prompts={})
    return root / "results"


def test_a_run_against_itself_is_reproduced(run, tmp_path, capsys):
    published = published_copy(run, tmp_path / "repo")
    audit = evalkit.audit(run, against=published)
    assert audit.verdict == "reproduced" and audit.published == NAME
    assert [t.status for t in audit.tasks] == ["same"] * len(SCORES)
    assert all(t.differences == [] for t in audit.tasks)
    assert not any(d.run != d.published for d in audit.settings)
    assert main(["audit", str(run), "--against", str(published)]) == 0
    assert "## ✅ reproduced" in capsys.readouterr().out


def test_a_changed_score_mteb_version_and_prompt_are_each_named(run, tmp_path, capsys):
    changed = dict(SCORES, T2Retrieval=("ndcg_at_10", "dev", 0.80))  # -3 points
    published = tmp_path / "repo" / "results"
    write_run(
        published / "my-org__my-model" / REVISION, changed, version="1.12.75", prompts={"T2Retrieval-query": "Q:"}
    )
    audit = evalkit.audit(run, against=published)
    assert audit.verdict == "not reproduced"
    by_task = {t.mteb_task: t for t in audit.tasks}
    assert by_task["T2Retrieval"].status == "differs" and by_task["T2Retrieval"].delta == pytest.approx(3.0)
    assert by_task["AFQMC"].status == "same"
    assert {"what": "mteb version", "run": "2.26.24", "published": "1.12.75"} in [
        vars(d) for d in by_task["T2Retrieval"].differences
    ]
    prompts = next(d for d in audit.settings if d.what == "prompts")
    assert prompts.run != prompts.published and "Q:" in prompts.published
    reasons = " ".join(audit.reasons)
    assert "T2Retrieval (+3.00)" in reasons and "mteb version" in reasons and "prompts" in reasons
    assert main(["audit", str(run), "--against", str(published)]) == 1
    md = capsys.readouterr().out
    assert "## ❌ not reproduced" in md and "mteb version: 2.26.24 → 1.12.75" in md and "| prompts |" in md
    out = tmp_path / "audit.json"
    assert main(["audit", str(run), "--against", str(published), "-o", str(out)]) == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["verdict"] == "not reproduced" and data["epsilon"] == pytest.approx(0.1)


def test_within_the_tolerance_but_beyond_the_results_repositorys_epsilon(run, tmp_path):
    published = tmp_path / "published"
    write_run(published, dict(SCORES, AFQMC=("cosine_spearman", "validation", 0.6130)))  # 0.3 points
    audit = evalkit.audit(run, against=published)
    status = {t.mteb_task: t.status for t in audit.tasks}
    assert status["AFQMC"] == "within tolerance" and audit.verdict == "reproduced"
    assert evalkit.audit(run, against=published, tolerance=0.1).verdict == "not reproduced"


def test_another_task_version_is_not_comparable(tmp_path):
    run = write_run(tmp_path / "run", {"CLSClusteringS2S": SCORES["CLSClusteringS2S"]})
    published = write_run(tmp_path / "published", {"AFQMC": SCORES["AFQMC"]})
    v2 = json.loads((run / "CLSClusteringS2S.json").read_text(encoding="utf-8")) | {"task_name": "CLSClusteringS2S.v2"}
    (published / "CLSClusteringS2S.v2.json").write_text(json.dumps(v2), encoding="utf-8")
    audit = evalkit.audit(run, against=published)
    assert audit.verdict == "not comparable"
    task = next(t for t in audit.tasks if t.mteb_task == "CLSClusteringS2S")
    assert task.status == "other task version"
    assert "CLSClusteringS2S.v2" in " ".join(audit.reasons)
    assert "⚠️ not comparable" in render_audit_markdown(audit)


def test_a_folder_of_several_models_without_the_runs_is_refused(run, tmp_path):
    root = tmp_path / "others"
    write_run(root / "a__one" / "r")
    write_run(root / "b__two" / "r")
    for name, folder in (("a/one", root / "a__one" / "r"), ("b/two", root / "b__two" / "r")):
        meta = json.loads((folder / "model_meta.json").read_text(encoding="utf-8")) | {"name": name}
        (folder / "model_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(UserError, match="holds 2 models but not 'my-org/my-model'"):
        evalkit.audit(run, against=root)


def test_a_benchmark_audits_by_its_own_main_scores(run, tmp_path):
    audit = evalkit.audit(run, against=published_copy(run, tmp_path / "repo"), suite="MTEB(cmn, v1)")
    assert audit.definition == "MTEB(cmn, v1)" and audit.verdict == "reproduced"
    assert {t.mteb_task: t.metric for t in audit.tasks}["T2Reranking"] == "map_at_1000"
    assert json.loads(render_audit_json(audit))["definition"] == "MTEB(cmn, v1)"


def test_the_zpoint_card_against_its_conversion_in_the_reference_results():
    card = shared_path("seed", "zpoint_large_embedding_zh.README.md")
    audit = evalkit.audit(card, against=shared_path("reference-results"))
    assert audit.published == "iampanda/zpoint_large_embedding_zh"
    compared = [t for t in audit.tasks if t.delta is not None]
    assert len(compared) == 32 and audit.verdict == "reproduced"
    assert {t.status for t in audit.tasks} <= {"same", "not published"}


def test_audit_explains_itself_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["audit", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "-v, --debug" in out and "MTEB(cmn, v1)" in out and "epsilon" in out
    assert main(["audit", str(tmp_path / "missing"), "--against", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err

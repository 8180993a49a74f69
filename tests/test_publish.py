"""Publishing where the hub reads today: `.eval_results/` equal to mteb's, read back as an input, the card's results
table, and `card push` at the huggingface_hub boundary (the hub itself is unreachable here)."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import yaml
from conftest import shared_path
from huggingface_hub import constants, metadata_load, parse_eval_result_entries

import evalkit
from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.results.card import TABLE_END, TABLE_START, emit_model_index
from evalkit.results.eval_results import task_entries, to_yaml
from evalkit.results.files import META_FILE, SUMMARY_FILE
from evalkit.results.read import load_results, load_task_result, read_one, read_scores, result_files
from evalkit.results.scores import ModelScores
from evalkit.suite import load_suite, load_task

SUITE = load_suite("c-mteb")
SAMPLE_SUITE = load_suite("sample")
SEED = ("seed", "zpoint_large_embedding_zh.README.md")
MODEL_FOLDER = "sentence-transformers__all-MiniLM-L6-v2"
E5_REVISION = "d13f1b27baf31030b7fd040960d60d909913633f"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    """A fresh run of the bundled model on the sample suite: its revision folder."""
    from conftest import run_sample

    out = tmp_path_factory.mktemp("run")
    assert run_sample("--output-dir", str(out), "--cache-dir", str(out / "cache")) == 0
    return out / MODEL_FOLDER / "no_revision_available"


def _mteb_text(path: Path) -> str | None:
    """What mteb writes to `.eval_results` for a result file, read by mteb's loader; None where mteb cannot."""
    from mteb.results.task_result import TaskResult

    try:
        return TaskResult.from_disk(path)._to_hf_benchmark_result().to_yaml()
    except Exception:  # noqa: BLE001 - 1.x files without today's main score make mteb fail
        return None


def _result_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.name not in (META_FILE, SUMMARY_FILE))


def _parses_back(text: str) -> None:
    """huggingface_hub's parser reads the text, and its entries write the same text again."""
    entries = parse_eval_result_entries(yaml.safe_load(text))
    assert entries and len(entries) == text.count("- dataset:")
    assert to_yaml(entries) == text


def _publish(results: Path, repo: Path, suite=SAMPLE_SUITE, **options) -> Path:
    """A model repository folder holding only the `.eval_results` of `results`."""
    evalkit.eval_results(results, repo / ".eval_results", suite=suite, **options)
    return repo


# ---------------------------------------------------------------- emit: equal to mteb


def test_every_reference_result_file_gives_mtebs_eval_results_text():
    files = sorted(p for p in shared_path("reference-results").glob("*/*/*.json") if p.name != META_FILE)
    compared = 0
    for path in files:
        expected = _mteb_text(path)
        if expected is None:
            with pytest.raises(Exception):  # noqa: B017 - the same mteb function, failing the same way
                task_entries(load_task_result(path))
            continue
        text = to_yaml(task_entries(load_task_result(path)))
        assert text == expected, path
        _parses_back(text)
        compared += 1
    assert (len(files), compared) == (309, 303)  # 6 files of mteb 1.0 reranking lack the main score mteb names


def test_each_reference_revision_publishes_mtebs_files_and_says_what_it_left_out():
    published = 0
    for model in read_scores(shared_path("reference-results"), SUITE):
        result = evalkit.eval_results(model.source, suite=SUITE)
        for task, path in result_files(model.source, SUITE).items():
            expected = _mteb_text(path)
            name = f"{load_task_result(path).task_name}.yaml"
            if expected is None:
                assert (
                    name not in result.files
                    and f"{task} left out: mteb cannot publish {path.name} (no main_score)" in result.notes
                )
            else:
                assert result.files[name] == expected, path
                published += 1
    assert published == 294
    e5 = evalkit.eval_results(shared_path("reference-results", "intfloat__multilingual-e5-base", E5_REVISION))
    assert "AFQMC: no score (.nan, as mteb writes it) for AFQMC_default_test" in e5.notes


def test_a_fresh_run_publishes_what_mteb_pushes_with_the_suite_entry(sample_run, tmp_path, monkeypatch, capsys):
    """mteb's own `push_model_results(benchmark=...)`, its upload caught at huggingface_hub, is the reference."""
    import mteb
    from mteb.results import ModelResult, TaskResult

    pushed = {}

    def upload_folder(*, folder_path, path_in_repo, **kwargs):
        pushed.update({p.name: p.read_text(encoding="utf-8") for p in Path(folder_path).iterdir()})
        assert path_in_repo == ".eval_results"

    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    tasks = [load_task(spec) for spec in SAMPLE_SUITE.tasks]
    benchmark = mteb.Benchmark(name="sample", tasks=tasks, benchmark_hf_repo="my-org/sample-benchmark")
    results = [TaskResult.from_disk(p) for p in _result_paths(sample_run)]
    ModelResult(model_name="m", model_revision="r", task_results=results).push_model_results(
        "my-org", benchmark=benchmark
    )
    assert len(pushed) == 7 and "value: 0." in pushed["sample.yaml"]  # mteb writes the suite's mean on 0-1

    out = tmp_path / ".eval_results"
    argv = ["card", "emit", str(sample_run), "--suite", "sample", "--format", "eval-results", "--output-dir", str(out)]
    assert main([*argv, "--user", "my-org", "--benchmark-repo", "my-org/sample-benchmark"]) == 0
    written = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}
    assert written == pushed
    for text in written.values():
        _parses_back(text)
    assert f"wrote {out / 'sample.yaml'}" in capsys.readouterr().out


def test_without_a_benchmark_repo_or_a_complete_suite_there_is_no_suite_entry(sample_run, tmp_path):
    result = evalkit.eval_results(sample_run, suite="sample")
    assert "sample.yaml" not in result.files and len(result.files) == 6
    assert any("no benchmark repository" in note for note in result.notes)
    partial = tmp_path / "partial"
    shutil.copytree(sample_run, partial)
    (partial / "Ocnli.json").unlink()
    result = evalkit.eval_results(partial, suite="sample", benchmark_repo="my-org/sample-benchmark")
    assert "sample.yaml" not in result.files and any("no result of Ocnli" in note for note in result.notes)


def test_cards_eval_results_and_sampled_results_are_refused(tmp_path, sample_run):
    with pytest.raises(UserError, match="is a model card"):
        evalkit.eval_results(shared_path(*SEED))
    repo = _publish(sample_run, tmp_path / "repo")
    with pytest.raises(UserError, match="already .eval_results"):
        evalkit.eval_results(repo, suite="sample")
    assert main(["card", "emit", str(sample_run), "--suite", "sample", "--format", "eval-results"]) == 2
    sampled = shutil.copytree(sample_run, tmp_path / "sampled")
    meta = sampled / META_FILE
    meta.write_text(
        meta.read_text(encoding="utf-8").replace("{", '{"sampled": "limit=5,seed=42", ', 1), encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"sampled results \(limit=5,seed=42\); the hub shows full runs only"):
        evalkit.eval_results(sampled, suite="sample")


def test_an_imported_card_publishes_scores_and_the_suite_entry(tmp_path):
    """Imported results carry each subset's languages, as mteb's do: its overall entries and Mean (Task) count them."""
    (folder,) = evalkit.import_card(shared_path(*SEED), tmp_path)
    result = evalkit.eval_results(folder, benchmark_repo="my-org/c-mteb")
    assert len(result.files) == 36 and "c-mteb.yaml" in result.files
    assert not any(".nan" in text for text in result.files.values())


# ---------------------------------------------------------------- read back


def _projected(model: ModelScores, suite, left_out: str) -> ModelScores:
    """What `.eval_results` keeps of a model: each task's main metric at mteb's precision (x 100, 5 decimals) and
    mteb's dataset revision; the tasks whose mteb main score is no card metric are left out."""
    import mteb

    tasks = {}
    for task, scores in model.tasks.items():
        if scores.type == left_out:
            continue
        main = suite.main_metrics[scores.type]
        revision = mteb.get_task(task).metadata.revision
        tasks[task] = replace(scores, dataset_revision=revision, metrics={main: round(scores.metrics[main], 5)})
    return ModelScores(model.name, model.revision, model.source, tasks)


def test_card_emit_from_eval_results_is_the_results_model_index_at_their_precision(
    sample_run, tmp_path, capsys, caplog
):
    repo = _publish(sample_run, tmp_path / "my-org__my-model")
    expected = emit_model_index(_projected(read_one(sample_run, SAMPLE_SUITE), SAMPLE_SUITE, "PairClassification"),
                                SAMPLE_SUITE, "my-model")  # fmt: skip
    capsys.readouterr()
    assert main(["card", "emit", str(repo), "--suite", "sample"]) == 0
    assert capsys.readouterr().out == expected
    assert "left out of suite sample: Ocnli (mteb's max_accuracy is no card metric)" in caplog.text
    assert evalkit.load_results(repo / ".eval_results", suite="sample").name == "my-org/my-model"


def test_compare_check_and_the_leaderboard_read_a_folder_with_only_eval_results(sample_run, tmp_path, capsys):
    repo = _publish(sample_run, tmp_path / "board" / "my-org__my-model")
    comparison = evalkit.compare(repo, [sample_run], suite="sample")
    rows = {row.mteb_task: row.scores for row in comparison.tasks}
    assert rows["Ocnli"][0] is None and rows["STSB"][0] == round(rows["STSB"][1], 5)
    assert all(abs(d) < 1e-5 for row in comparison.tasks if (d := row.deltas[0]) is not None)
    assert evalkit.check(sample_run, baseline=repo, suite="sample", tolerance=0.001).passed
    assert evalkit.check(repo, baseline=sample_run, suite="sample", tolerance=0.001, allow_missing=True).passed
    assert main(["check", str(sample_run), "--baseline", str(repo), "--suite", "sample"]) == 0
    shutil.copytree(sample_run, tmp_path / "board" / "my-org__other" / "rev")
    board = evalkit.compare(sample_run, suite="sample", leaderboard=tmp_path / "board").leaderboard
    assert {(row.name, row.revision) for row in board} >= {("my-org/my-model", ".eval_results")}


def test_a_run_wins_over_published_scores_of_the_same_model(sample_run, tmp_path):
    model = tmp_path / MODEL_FOLDER
    shutil.copytree(sample_run, model / "no_revision_available")
    _publish(sample_run, model)
    for path in (model / ".eval_results").iterdir():  # published after the run: newer, but rounded
        path.write_text(path.read_text(encoding="utf-8").replace("date: '", "date: '2099"), encoding="utf-8")
    merged = load_results(model, SAMPLE_SUITE)
    assert {s.revision for s in merged.tasks.values()} == {"no_revision_available"}


def test_unknown_entries_are_reported_never_guessed(sample_run, tmp_path, caplog):
    repo = _publish(sample_run, tmp_path / "repo")
    stsb = yaml.safe_load((repo / ".eval_results" / "STSB.yaml").read_text(encoding="utf-8"))
    other = [
        {"dataset": {"id": "cais/hle", "task_id": "default"}, "value": 20.9},
        {"dataset": {"id": "mteb/STSB", "task_id": "STSB_zh_test"}, "value": 50.0},
        {"dataset": {"id": "mteb/STSB", "task_id": "STSB_default_test"}, "value": "n/a"},
    ]
    (repo / ".eval_results" / "other.yaml").write_text(yaml.safe_dump(other), encoding="utf-8")
    (repo / ".eval_results" / "STSB.yaml").unlink()
    model = read_one(repo, SAMPLE_SUITE)
    assert "STSB" not in model.tasks and len(model.tasks) == 4
    assert "2 entries of no task of suite sample, not read: cais/hle default, mteb/STSB STSB_zh_test" in caplog.text
    assert "STSB (value 'n/a' is no score)" in caplog.text
    stsb[0]["value"] += 1
    (repo / ".eval_results" / "other.yaml").write_text(yaml.safe_dump(stsb * 2), encoding="utf-8")
    shutil.copy(repo / ".eval_results" / "other.yaml", repo / ".eval_results" / "again.yaml")
    read_one(repo, SAMPLE_SUITE)  # the same value twice is one score
    stsb[0]["value"] += 1
    (repo / ".eval_results" / "again.yaml").write_text(yaml.safe_dump(stsb), encoding="utf-8")
    with pytest.raises(UserError, match="STSB_default_test has another value at"):
        read_one(repo, SAMPLE_SUITE)
    (repo / ".eval_results" / "again.yaml").write_text("- dataset: {id: mteb/STSB}\n  value: 1\n", encoding="utf-8")
    assert main(["compare", str(repo), "--suite", "sample"]) == 2


# ---------------------------------------------------------------- the results table in the card


def test_table_is_idempotent_and_keeps_crlf_mode_and_symlinks(sample_run, tmp_path):
    real = tmp_path / "cards" / "CARD.md"
    real.parent.mkdir()
    real.write_bytes(b"---\r\nlicense: mit\r\n---\r\n# My model\r\n\r\nIntro.\r\n")
    real.chmod(0o640)
    link = tmp_path / "README.md"
    link.symlink_to(real)
    argv = ["card", "emit", str(sample_run), "--suite", "sample", "--update", str(link), "--table"]
    assert main(argv) == 0
    first = real.read_bytes()
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert b"\n" not in first.replace(b"\r\n", b"")
    assert first.startswith(b"---\r\nlicense: mit\r\nmodel-index:\r\n") and b"# My model\r\n\r\nIntro.\r\n\r\n" in first
    assert (
        metadata_load(real)["model-index"]
        == yaml.safe_load(evalkit.model_index(sample_run, suite="sample"))["model-index"]
    )
    text = first.decode()
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    assert "| STS | STSB | cos_sim_spearman |" in table and "| all | sample average |  | " in table
    assert main(argv) == 0
    assert real.read_bytes() == first and link.is_symlink()


def test_table_is_replaced_in_place_and_the_rest_of_the_body_stays(sample_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"---\nlicense: mit\n---\nIntro.\n\n{TABLE_START}\nold\n{TABLE_END}\n\nOutro.\n", encoding="utf-8"
    )
    evalkit.update_card(readme, evalkit.model_index(sample_run, suite="sample"),
                        table=evalkit.results_table(sample_run, suite="sample"))  # fmt: skip
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and text.endswith(f"{TABLE_END}\n\nOutro.\n") and "\n---\nIntro.\n\n<!--" in text
    readme.write_text(text + TABLE_START + "\n", encoding="utf-8")
    assert main(["card", "emit", str(sample_run), "--suite", "sample", "--update", str(readme), "--table"]) == 2
    assert main(["card", "emit", str(sample_run), "--suite", "sample", "--table"]) == 2


# ---------------------------------------------------------------- card push


@pytest.fixture
def hub(monkeypatch):
    """The hub as huggingface_hub sees it, online: the commits `HfApi.create_commit` would send, caught."""
    commits = []

    def create_commit(self, **kwargs):
        commits.append(kwargs)
        return SimpleNamespace(
            pr_url="https://huggingface.co/my-org/my-model/discussions/7" if kwargs["create_pr"] else None,
            commit_url="https://huggingface.co/my-org/my-model/commit/abc",
        )

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", create_commit)
    return commits


@pytest.mark.parametrize("create_pr", [True, False])
def test_push_sends_one_commit_of_the_readme_and_eval_results(sample_run, tmp_path, hub, capsys, create_pr):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# My model\n", encoding="utf-8")
    argv = ["card", "push", "my-org/my-model", str(sample_run), "--suite", "sample", "--readme", str(readme)]
    argv += ["--token", "hf_test", "--revision", "dev", *(["--create-pr"] if create_pr else [])]
    assert main(argv) == 0
    (commit,) = hub
    assert commit["create_pr"] is create_pr and (commit["revision"], commit["token"]) == ("dev", "hf_test")
    assert (commit["repo_id"], commit["repo_type"]) == ("my-org/my-model", "model")
    sent = {op.path_in_repo: op.path_or_fileobj.decode("utf-8") for op in commit["operations"]}
    published = evalkit.eval_results(sample_run, suite="sample").files
    assert sent == {"README.md": sent["README.md"]} | {f".eval_results/{n}": t for n, t in published.items()}
    expected = readme.read_text(encoding="utf-8")
    evalkit.update_card(readme, evalkit.model_index(sample_run, suite="sample"),
                        table=evalkit.results_table(sample_run, suite="sample"))  # fmt: skip
    assert sent["README.md"] == readme.read_text(encoding="utf-8") != expected
    url = "discussions/7" if create_pr else "commit/abc"
    assert f"pushed to my-org/my-model: https://huggingface.co/my-org/my-model/{url}" in capsys.readouterr().out


def test_push_starts_from_the_repositorys_readme(sample_run, tmp_path, hub, monkeypatch):
    card = tmp_path / "hub-README.md"
    card.write_text("---\nlicense: mit\n---\nHub text.\n", encoding="utf-8")
    asked = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: asked.append((a, k)) or str(card))
    publication = evalkit.push("my-org/my-model", sample_run, suite="sample", token="hf_test", revision="v2")
    assert asked == [(("my-org/my-model", "README.md"), {"revision": "v2", "token": "hf_test"})]
    assert f"---\nHub text.\n\n{TABLE_START}\n" in publication.files["README.md"]
    assert publication.readme_before == card.read_text(encoding="utf-8") and publication.url.endswith("commit/abc")


def test_dry_run_prints_the_commit_and_touches_nothing(sample_run, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# My model\n", encoding="utf-8")
    before = readme.read_bytes()
    argv = ["card", "push", "my-org/my-model", str(sample_run), "--suite", "sample", "--readme", str(readme)]
    assert constants.HF_HUB_OFFLINE and main([*argv, "--dry-run", "--create-pr"]) == 0  # offline, no token: fine
    out = capsys.readouterr().out
    assert "dry run: a pull request to my-org/my-model would hold" in out
    assert "  .eval_results/STSB.yaml (" in out and "  README.md (" in out
    assert "--- a/README.md\n+++ b/README.md\n" in out and "+model-index:\n" in out and f"+{TABLE_START}\n" in out
    assert readme.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["README.md"]


def test_push_offline_or_without_a_token_is_one_line_exit_2(sample_run, tmp_path, monkeypatch, capsys):
    argv = ["card", "push", "my-org/my-model", str(sample_run), "--suite", "sample"]
    assert constants.HF_HUB_OFFLINE and main(argv) == 2
    assert main([*argv, "--dry-run"]) == 2  # the repository's README needs the hub
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    assert main(argv) == 2
    argv[2] = "not a repo id"
    assert main([*argv, "--dry-run", "--readme", str(shared_path(*SEED))]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in errors] == ["error"] * 4
    assert "HF_HUB_OFFLINE is set" in errors[0] and "no Hugging Face token" in errors[2]
    assert errors[3].startswith("error: 'not a repo id' is not a hub repository id")

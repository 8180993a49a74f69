"""`run --limit N`: sampled results are marked, kept apart, refused by the card and gated only like for like."""

from __future__ import annotations

import json

from conftest import SIX_TASKS, run_sample

from evalkit.cli import main

MODEL = "sentence-transformers__all-MiniLM-L6-v2"


def _run(data, out, *extra: str) -> int:
    return run_sample("--data-dir", str(data), "--output-dir", str(out), *extra)


def test_limited_run_is_marked_deterministic_and_kept_off_cards(six_snapshots, tmp_path, capsys):
    assert _run(six_snapshots, tmp_path / "a", "--limit", "3") == 0
    assert _run(six_snapshots, tmp_path / "b", "--limit", "3") == 0
    assert _run(six_snapshots, tmp_path / "full") == 0
    folder = tmp_path / "a" / MODEL / "no_revision_available__limit=3_seed=42"
    assert json.loads((folder / "model_meta.json").read_text())["sampled"] == "limit=3,seed=42"
    assert not (folder / "model-index.yaml").exists()
    for task in SIX_TASKS:
        first = json.loads((folder / f"{task}.json").read_text())
        again = json.loads((tmp_path / "b" / MODEL / folder.name / f"{task}.json").read_text())
        assert first["sampled"] == "limit=3,seed=42"
        assert first["scores"] == again["scores"], task
    capsys.readouterr()

    assert main(["card", "emit", str(folder), "--suite", "sample"]) == 2
    assert "sampled" in capsys.readouterr().err

    same = tmp_path / "b" / MODEL / folder.name
    assert main(["check", str(folder), "--baseline", str(same), "--suite", "sample"]) == 0
    full = tmp_path / "full" / MODEL / "no_revision_available"
    assert main(["check", str(folder), "--baseline", str(full), "--suite", "sample"]) == 2
    assert "sampled" in capsys.readouterr().err


def test_a_different_seed_draws_a_different_sample(six_snapshots, tmp_path):
    assert _run(six_snapshots, tmp_path, "--limit", "3", "--seed", "7", "--tasks", "STSB") == 0
    assert (tmp_path / MODEL / "no_revision_available__limit=3_seed=7" / "STSB.json").is_file()

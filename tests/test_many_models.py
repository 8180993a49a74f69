"""Issue 12 without a cluster: `--model` globs, and the one-line errors of `--ray` (no Ray, a bad address).

These run in a process not connected to Ray (the cluster tests are in test_distributed.py).
"""

from __future__ import annotations

import sys

import pytest

from evalkit.cli import main


def test_without_ray_installed_the_flag_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--model", "bundled:minilm", "--suite", "sample", "--ray", "local", "--output-dir", "out"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: Ray is not installed; install it with: pip install 'evalkit[ray]'"


@pytest.mark.parametrize(
    "address, reason",
    [("127.0.0.1:1", "no Ray head answers there"), ("nonsense", "use local, auto, or the HOST:PORT of a Ray head")],
)
def test_a_bad_ray_address_is_one_line(address, reason, monkeypatch, tmp_path, capsys):
    pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--model", "bundled:minilm", "--suite", "sample", "--ray", address, "--output-dir", "out"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --ray {address}: {reason}") and "\n" not in err


def test_model_globs_expand_to_folders_in_checkpoint_order(tmp_path, capsys):
    from evalkit.run.checkpoints import expand

    for step in (10, 2, 1):
        (tmp_path / f"step-{step}").mkdir()
    (tmp_path / "step-notes.txt").write_text("")
    assert expand([str(tmp_path / "step-*"), "bundled:minilm"]) == [
        *(str(tmp_path / f"step-{s}") for s in (1, 2, 10)),
        "bundled:minilm",
    ]
    code = main(["run", "--model", str(tmp_path / "ckpt-*"), "--suite", "sample"])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: --model {tmp_path / 'ckpt-*'}: matches no model folder"

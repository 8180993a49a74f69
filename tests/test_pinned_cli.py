"""Issue 27: what a user of the command line (and of `CMTEBEvaluator`) sees, pinned by value: exit codes, messages,
files written. Each test fails on a survivor of the mutation campaign on evalkit/cli and evalkit/integrations."""

from __future__ import annotations

import pytest

import evalkit
from evalkit.cli import main


def test_ctrl_c_says_the_results_are_kept_and_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evalkit, "check", interrupted)
    assert main(["check", "candidate", "--baseline", "baseline"]) == 130
    err = capsys.readouterr().err
    assert err == "\ninterrupted: finished results are on disk; run the same command again to continue\n"

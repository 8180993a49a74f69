"""Publishing where the hub reads today: the `.eval_results` files of one model revision's results, and one commit
of those and the model card to a model repository through huggingface_hub (`HfApi.create_commit`)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import UserError
from evalkit.fileio import read_text, write_text_atomic
from evalkit.results.eval_results import EVAL_RESULTS, suite_entry, suite_mean, task_entries, to_yaml
from evalkit.results.read import load_task_result, result_files, sampled_label
from evalkit.results.scores import ModelScores
from evalkit.suite import Suite
from evalkit.text import first_line

README = "README.md"


@dataclass
class EvalResults:
    """The `.eval_results` files of one model revision, and what was left out of them and why."""

    files: dict[str, str]  # file name (`<Task>.yaml`, `<suite>.yaml`) -> YAML text
    notes: list[str]


def eval_results(
    model: ModelScores, suite: Suite, user: str | None = None, benchmark_repo: str | None = None
) -> EvalResults:
    """The `.eval_results` files of the mteb result files that `model` (one revision folder) was read from.

    Each suite task's file is mteb's for that result file; a result mteb cannot publish (a 1.x file without the main
    score mteb names today) is left out with a note. With `benchmark_repo` (the hub dataset of the suite's
    leaderboard) and every suite task scored, `<suite>.yaml` holds the suite's entry too.
    """
    if model.revision == EVAL_RESULTS:
        raise UserError(f"{model.source} is already .eval_results; they are made from mteb result files")
    if model.source.is_file():
        raise UserError(
            f"{model.source} is a model card; .eval_results are made from mteb result files (import the card first)"
        )
    label = sampled_label(model)
    if label:
        raise UserError(f"{model.source}: sampled results ({label}); the hub shows full runs only")
    files, notes, results = {}, [], []
    for task, path in result_files(model.source, suite).items():
        result = load_task_result(path)
        try:
            entries = task_entries(result, user)
        except Exception as exc:  # noqa: BLE001 - mteb fails in many ways on a result it cannot publish
            lacking = any(e.get("main_score") is None for split in result.scores.values() for e in split)
            notes.append(
                f"{task} left out: mteb cannot publish {path.name} ({'no main_score' if lacking else first_line(exc)})"
            )
            continue
        unscored = [e.task_id for e in entries if isinstance(e.value, float) and math.isnan(e.value)]
        if unscored:
            notes.append(f"{task}: no score (.nan, as mteb writes it) for {', '.join(unscored)}")
        files[f"{result.task_name}.yaml"] = to_yaml(entries)
        results.append(result)
    missing = [spec.name for spec in suite.tasks if spec.mteb_task not in model.tasks]
    mean = None if missing else suite_mean(suite, results)
    if mean is None:
        lacking = f"no result of {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else "NaN"
        notes.append(f"no entry for suite {suite.name}: its Mean (Task) needs every task's score ({lacking})")
    elif benchmark_repo is None:
        notes.append(
            f"no entry for suite {suite.name} (Mean (Task) {mean:.5f}): no benchmark repository on the hub was named"
        )
    else:
        if Path(suite.name).name != suite.name or suite.name.startswith("."):
            raise UserError(f"suite name {suite.name!r} cannot name a file of .eval_results")
        files[f"{suite.name}.yaml"] = to_yaml([suite_entry(suite, mean, benchmark_repo, user)])
    return EvalResults(files, notes)


def write_eval_results(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write the files into `folder` (a model repository's `.eval_results/`), each atomically; the paths."""
    paths = [Path(folder) / name for name in files]
    for path, text in zip(paths, files.values()):
        write_text_atomic(path, text)
    return paths


@dataclass
class Publication:
    """One commit to a model repository: its files (path in the repository -> text) and the README they replace."""

    repo_id: str
    files: dict[str, str]
    readme_before: str
    notes: list[str]
    revision: str | None = None
    create_pr: bool = False
    url: str | None = None  # the pull request, or the commit, once pushed

    def readme_diff(self) -> str:
        """The unified diff from the repository's README to the one committed ("" when they are the same)."""
        before, after = self.readme_before.splitlines(keepends=True), self.files[README].splitlines(keepends=True)
        return "".join(difflib.unified_diff(before, after, f"a/{README}", f"b/{README}"))


def check_repo_id(repo_id: str) -> None:
    """A `repo_id` that huggingface_hub accepts (`org/name`), else a `UserError`."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(
            f"{repo_id!r} is not a hub repository id (org/name, of letters, digits, '-', '_' and '.')"
        ) from exc


def _require_hub(what: str) -> None:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise UserError(
            f"HF_HUB_OFFLINE is set: {what} needs the Hugging Face hub; unset it on a machine with a network"
        )


def hub_token(token: str | None) -> str:
    """The token to push with: `token`, else huggingface_hub's (`HF_TOKEN`, then the saved login); a `UserError`
    when the hub is offline or there is no token."""
    from huggingface_hub import get_token

    _require_hub("pushing")
    token = token or get_token()
    if not token:
        raise UserError("no Hugging Face token: pushing needs one with write access (set HF_TOKEN, or `hf auth login`)")
    return token


def hub_readme(repo_id: str, revision: str | None, token: str | None) -> str:
    """The README of a model repository at `revision` ("" where it has none)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    _require_hub(f"reading the README of {repo_id}")
    try:
        path = hf_hub_download(repo_id, README, revision=revision, token=token)
    except EntryNotFoundError:
        return ""
    except Exception as exc:  # noqa: BLE001 - the hub's errors, and the HTTP library's
        raise UserError(f"cannot read the README of {repo_id} from the hub ({first_line(exc)})") from exc
    return read_text(Path(path), "README")


def commit(publication: Publication, token: str, message: str, description: str) -> str:
    """Commit the publication's files in one commit (or pull request) with `HfApi.create_commit`; its URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=text.encode("utf-8"))
        for path, text in publication.files.items()
    ]
    try:
        info = HfApi(token=token).create_commit(
            repo_id=publication.repo_id,
            operations=operations,
            commit_message=message,
            commit_description=description,
            token=token,
            repo_type="model",
            revision=publication.revision,
            create_pr=publication.create_pr,
        )
    except Exception as exc:  # noqa: BLE001 - the hub's errors, and the HTTP library's
        raise UserError(f"pushing to {publication.repo_id} failed ({first_line(exc)})") from exc
    return info.pr_url or info.commit_url

"""Model cards: emit the `model-index` YAML in the seed card's layout, update a README (its front matter, and the
results table between evalkit's markers in its body), import a card.

The layout is PyYAML's block style with the seed's key order: `task/type`, then `dataset` (type, name, config,
split, revision), then `metrics` (type, value) sorted by name; results sorted by task name. Values print as the
card writer printed `score * 100`: the float's repr, integers without `.0`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from huggingface_hub import ModelCardData

from evalkit.errors import UserError
from evalkit.fileio import read_text, write_json_atomic, write_text_atomic
from evalkit.metrics import from_card, mteb_key
from evalkit.results.files import META_FILE, MODEL_INDEX_FILE, model_dir, task_file
from evalkit.results.read import model_meta, read_card, read_one, split_front_matter
from evalkit.results.scores import ModelScores, TaskScores, main_score
from evalkit.suite import Suite, load_task
from evalkit.yamlio import load_yaml

MODEL_INDEX = "model-index"
TABLE_START = "<!-- evalkit:results-table -->"  # the markers around the results table in a card's body
TABLE_END = "<!-- /evalkit:results-table -->"


def emit_model_index(model: ModelScores, suite: Suite, name: str | None = None) -> str:
    """The `model-index:` block (ending in a newline) for the suite tasks `model` holds."""
    entries = []
    for spec in sorted(suite.tasks, key=lambda s: (s.name, s.card.config)):
        scores = model.tasks.get(spec.mteb_task)
        if scores is None:
            continue
        if scores.sampled is not None:
            raise UserError(
                f"{model.source}: {spec.mteb_task} is a sampled result ({scores.sampled}); cards show full runs only"
            )
        if main_score(scores.metrics, spec.type, suite.main_metrics)[1] is None:
            raise UserError(
                f"{model.source}: {spec.mteb_task} has no finite {suite.main_metrics[spec.type]} (NaN?); "
                "cards show finite scores only"
            )
        card = spec.card
        entries.append(
            {
                "task": {"type": spec.type},
                "dataset": {
                    "type": card.type,
                    "name": card.name,
                    "config": card.config,
                    "split": card.split,
                    "revision": scores.dataset_revision,
                },
                "metrics": [{"type": k, "value": _card_value(v)} for k, v in sorted(scores.metrics.items())],
            }
        )
    if not entries:
        raise UserError(f"{model.source}: no result of suite {suite.name!r} to put on a card")
    data = {"model-index": [{"name": card_name(model, name), "results": entries}]}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=2**31)
    _validate(text, sum(len(e["metrics"]) for e in entries))
    return text


def card_name(model: ModelScores, name: str | None = None) -> str:
    """The model-index name: `name`, else the model's name without its organisation. Results of a truncated or
    quantized variant always say which (`my-model_dim256_int8`): its card is never taken for the full model's."""
    name = name or model.name.split("/")[-1]
    suffix = f"_{model.variant}" if model.variant else ""
    return name if name.endswith(suffix) else name + suffix


def _card_value(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _validate(text: str, n_metrics: int) -> None:
    """Parse the YAML back with huggingface_hub's model-card metadata parser; it must see every metric."""
    card = ModelCardData(**yaml.safe_load(text))
    if len(card.eval_results or []) != n_metrics:
        raise RuntimeError(f"huggingface_hub reads {len(card.eval_results or [])} metrics, evalkit wrote {n_metrics}")


def update_readme(text: str, model_index: str, path: Path = Path("README.md")) -> str:
    """`text` with the front matter's `model-index` replaced by `model_index`; all else is kept byte for byte.

    Without a `model-index` the block is appended to the front matter; without front matter, one is added. The
    block takes the front matter's line endings. Front matter that is not a YAML mapping, or where the block cannot
    go (flow style), is a `UserError`.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom) :]
    try:
        head, front, tail = split_front_matter(text, path)
    except UserError:
        return f"{bom}---\n{model_index}---\n{text}"
    newline = head[len(head.rstrip("\r\n")) :]
    block = model_index.replace("\n", newline)
    meta = load_yaml(front, path, head.count("\n") + 1, "front matter is not valid YAML") or {}
    if not isinstance(meta, dict):
        raise UserError(f"{path}: the front matter is not a YAML mapping")
    if MODEL_INDEX in meta:
        start = meta.key_offsets[MODEL_INDEX]
        keys = [*meta.key_offsets.values(), *meta.merge_offsets]  # the block ends where the next key, or `<<:`, starts
        end = min((o for o in keys if o > start), default=len(front))
        lines = front[start:end].splitlines(keepends=True)
        while len(lines) > 1 and (not lines[-1].strip() or lines[-1].startswith("#")):  # blank lines, comments stay
            end -= len(lines.pop())
        if not front[start:end].endswith(("\n", "\r")):
            block = block.rstrip("\r\n")
        new_front, keys = front[:start] + block + front[end:], list(meta)
    else:
        separator = "" if not front or front.endswith(("\n", "\r")) else newline
        new_front, keys = front + separator + block.rstrip("\r\n"), [*meta, MODEL_INDEX]
    if not _holds(new_front, keys, model_index):
        raise UserError(f"{path}: cannot place `model-index` in this front matter (flow style?); edit it by hand")
    return bom + head + new_front + tail


def _holds(front: str, keys: list, model_index: str) -> bool:
    """Whether `front` is a mapping with exactly `keys`, in order, and the model-index of `model_index`."""
    try:
        meta = load_yaml(front, Path("README.md"))
    except UserError:
        return False
    return (
        isinstance(meta, dict) and list(meta) == keys and meta[MODEL_INDEX] == yaml.safe_load(model_index)[MODEL_INDEX]
    )


def place_table(text: str, table: str, path: Path = Path("README.md")) -> str:
    """`text` with `table` between evalkit's markers in the card's body: what is between them is replaced, and
    without markers the block goes after the body; every other byte is kept. The block takes the text's line
    endings. Markers other than one start before one end are a `UserError`."""
    try:
        body = len(text) - len(split_front_matter(text.removeprefix("\ufeff"), path)[2])
    except UserError:
        body = 0
    newline = next(iter(re.findall(r"\r\n|\r|\n", text)), "\n")
    block = f"{TABLE_START}\n{table.rstrip()}\n\n{TABLE_END}".replace("\n", newline)  # a blank line ends the table
    counts = (text.count(TABLE_START, body), text.count(TABLE_END, body))
    if counts == (0, 0):
        separator = "" if not text or text.endswith(("\n", "\r")) else newline
        return text + separator + (newline if text.strip() else "") + block + newline
    start, end = text.find(TABLE_START, body), text.find(TABLE_END, body)
    if counts != (1, 1) or end < start:
        raise UserError(f"{path}: the body needs one {TABLE_START} before one {TABLE_END}; fix the markers by hand")
    return text[:start] + block + text[end + len(TABLE_END) :]


def updated_readme(text: str, model_index: str, table: str | None = None, path: Path = Path("README.md")) -> str:
    """`text` with its model-index replaced (`update_readme`) and, given a `table`, its table (`place_table`)."""
    text = update_readme(text, model_index, path)
    return text if table is None else place_table(text, table, path)


def import_card(card_path: Path, output_dir: Path, suite: Suite) -> list[Path]:
    """Write a card's suite results as mteb result JSON under `output_dir`; returns the folders written.

    Each model-index entry becomes `<name>/external/<MtebTask>.json` plus a `model_meta.json`, with the dataset
    revisions the card records and scores that give back the card's values exactly. Two entries that map to one
    folder, or a folder that holds anything but this card's results, are a `UserError` before anything is written.
    """
    models = {}
    for model in read_card(card_path, suite):
        if not model.tasks:
            continue
        folder = model_dir(output_dir, model.name.replace("/", "__"), model.revision)
        if folder in models:
            raise UserError(
                f"{card_path}: model-index entries {models[folder].name!r} and {model.name!r} would both go to {folder}"
            )
        _check_import_target(folder, card_path)
        models[folder] = model
    if not models:
        raise UserError(f"{card_path}: the card holds no result of suite {suite.name!r}")
    for folder, model in models.items():
        write_json_atomic(
            folder / META_FILE, {"name": model.name, "revision": model.revision, "source": str(card_path)}
        )
        for scores in model.tasks.values():
            write_json_atomic(task_file(folder, scores.task), _result_json(scores, suite))
    return list(models)


def _check_import_target(folder: Path, card_path: Path) -> None:
    """Refuse a folder that holds results from anything but this card: two cards never merge into one model."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    source = model_meta(folder).get("source")
    if not isinstance(source, str) or Path(source).resolve() != card_path.resolve():
        held = f"results imported from {source}" if isinstance(source, str) else "other results"
        raise UserError(f"{folder} already holds {held}; import {card_path} into another output folder")


def _result_json(scores: TaskScores, suite: Suite) -> dict:
    """mteb 2.x TaskResult JSON for one card result (0-1 scale; main_score is the suite's main metric)."""
    entry = {mteb_key(scores.type, k): from_card(v) for k, v in sorted(scores.metrics.items())}
    main = suite.main_metrics.get(scores.type)
    entry["main_score"] = entry.get(mteb_key(scores.type, main)) if main else None
    languages = load_task(suite.by_mteb_name[scores.task]).metadata.hf_subsets_to_langscripts.get(scores.subset, [])
    entry |= {"hf_subset": scores.subset, "languages": languages}  # as mteb writes them: its scores count them
    return {
        "dataset_revision": scores.dataset_revision,
        "task_name": scores.task,
        "mteb_version": None,
        "scores": {scores.split: [entry]},
        "evaluation_time": None,
        "kg_co2_emissions": None,
    }


def write_beside(folder: Path, suite: Suite) -> Path:
    """Emit the model-index of the results in `folder` to `folder/model-index.yaml`."""
    path = Path(folder) / MODEL_INDEX_FILE
    write_text_atomic(path, emit_model_index(read_one(Path(folder), suite), suite))
    return path


def update_card(readme: Path, model_index: str, table: str | None = None) -> bool:
    """Replace the model-index in a README's front matter (see `update_readme`) and, given a `table`, the results
    table in its body (see `place_table`); False when nothing changed.

    The file keeps its line endings and mode; a symbolic link stays a link and its target is updated.
    """
    readme = Path(readme)
    old = read_text(readme)
    new = updated_readme(old, model_index, table, readme)
    if new == old:
        return False
    write_text_atomic(readme, new, follow_link=True)
    return True

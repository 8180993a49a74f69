"""Models as mteb's registry defines them: finding an entry, loading it through the registry's own loader (its
prompts, instruction template, dtype and pinned revision), and the exact prompt or instruction a loaded mteb model
applies to a task's texts (the embedding cache keys each text by it)."""

from __future__ import annotations

import logging
from typing import Any

from evalkit.errors import OptionError, UserError

logger = logging.getLogger(__name__)

SOURCES = ("auto", "registry", "sentence-transformers")


def NEEDS_REMOTE_CODE(name: str) -> OptionError:  # noqa: N802 - an error factory, used like a class
    """The error for a model whose loading runs code from its repository, without trust_remote_code."""
    return OptionError(
        "trust_remote_code", None, f"{name} runs code from its repository; allow it after reading that code"
    )


TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def registry_meta(name: str):
    """mteb's registry entry for `name` (a `ModelMeta`), or None where the registry does not know it."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    return MODEL_REGISTRY.get(name)


def is_cross_encoder(meta) -> bool:
    return "cross-encoder" in (meta.model_type or [])


def registry_dtype(meta) -> str | None:
    """The dtype (fp32/fp16/bf16) the registry entry loads its weights in, None where it names none."""
    model_kwargs = meta.loader_kwargs.get("model_kwargs") or {}
    value = model_kwargs.get("dtype", model_kwargs.get("torch_dtype"))
    if value is None:
        return None
    text = str(getattr(value, "value", value)).removeprefix("torch.")
    return {torch_name: short for short, torch_name in TORCH_DTYPES.items()}.get(text)


def torch_dtype(dtype: str):
    import torch

    return getattr(torch, TORCH_DTYPES[dtype])


def takes_model_kwargs(meta) -> bool:
    """Whether the registry entry's loader passes `model_kwargs` (dtype among them) on to transformers."""
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    from mteb.models.sentence_transformer_wrapper import CrossEncoderWrapper, SentenceTransformerEncoderWrapper

    known = (SentenceTransformerEncoderWrapper, InstructSentenceTransformerModel, CrossEncoderWrapper)
    return "model_kwargs" in meta.loader_kwargs or (isinstance(meta.loader, type) and issubclass(meta.loader, known))


def loaded_dtype(model) -> str:
    """The dtype of a loaded model's weights (fp32/fp16/bf16), or `loader default` where it cannot be seen."""
    try:
        text = str(next(model.parameters()).dtype).removeprefix("torch.")
    except (AttributeError, StopIteration, TypeError):
        return "loader default"
    return {torch_name: short for short, torch_name in TORCH_DTYPES.items()}.get(text, text)


def needs_remote_code(meta) -> bool:
    """Whether the registry entry's loader runs code from the model's repository."""
    kwargs = meta.loader_kwargs
    return bool(kwargs.get("trust_remote_code") or (kwargs.get("model_kwargs") or {}).get("trust_remote_code"))


def check_cached(name: str, revision: str) -> None:
    """Offline, the pinned revision must be in the local hub cache; say how to download it where it is not."""
    from huggingface_hub import constants, snapshot_download

    if not constants.HF_HUB_OFFLINE:
        return
    try:
        snapshot_download(name, revision=revision, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        raise UserError(
            f"{name} at the registry's revision {revision} is not in the local hub cache and the hub is offline "
            f"(download it with `hf download {name} --revision {revision}`)"
        ) from exc


def load_registry_model(
    meta,
    revision: str | None,
    device: str,
    dtype: str | None,
    trust_remote_code: bool,
    model_kwargs: dict[str, Any],
    prompts: dict[str, str] | None,
):
    """Load `meta` exactly as `mteb.get_model(name)` does, with the weights in `dtype` from the start (None: the
    loader's own choice, for loaders that take no `model_kwargs`).

    `model_kwargs` add to (and override) the registry's own; `prompts` (mteb prompt keys) override its prompts.
    """
    import mteb

    if revision and revision != meta.revision:
        raise OptionError(
            "revision",
            revision,
            f"mteb's registry pins {meta.name} at {meta.revision} (load another revision as "
            "a plain sentence-transformers model)",
        )
    if needs_remote_code(meta) and not trust_remote_code:
        raise NEEDS_REMOTE_CODE(meta.name)
    check_cached(meta.name, meta.revision)
    kwargs: dict[str, Any] = {}
    if dtype is not None or model_kwargs:
        merged = {**(meta.loader_kwargs.get("model_kwargs") or {}), **model_kwargs}
        if dtype is not None and registry_dtype(meta) != dtype:
            merged.pop("torch_dtype", None)
            merged["dtype"] = torch_dtype(dtype)
        if merged != (meta.loader_kwargs.get("model_kwargs") or {}):
            kwargs["model_kwargs"] = merged
    if trust_remote_code and not needs_remote_code(meta) and takes_model_kwargs(meta):
        kwargs["trust_remote_code"] = True
    if prompts:
        kwargs.update(prompt_kwargs(meta, prompts))
    try:
        return mteb.get_model(meta.name, meta.revision, device=device, **kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load {meta.name} through mteb's registry: {str(exc).splitlines()[0]}") from exc


def prompt_kwargs(meta, prompts: dict[str, str]) -> dict[str, Any]:
    """The loader argument that carries `prompts` for this registry entry's loader."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    if meta.loader is SentenceTransformerEncoderWrapper:
        return {"model_prompts": {**(meta.loader_kwargs.get("model_prompts") or {}), **prompts}}
    raise UserError(
        f"{meta.name} is loaded by mteb's {getattr(meta.loader, '__name__', meta.loader)}, which takes its "
        "instructions from mteb's task definitions; prompts apply to sentence-transformers models only"
    )


def applied_prompt(model, task_metadata, prompt_type, hf_split: str, hf_subset: str) -> str:
    """What `model` (an mteb encoder) puts before each text of this task and prompt type, as one cache-key string.

    The SentenceTransformer wrapper resolves a prompt from its `model_prompts`; an instruction model formats the
    task's instruction with its template. Any other loader may do anything per task: its texts are keyed by the
    task, split and subset, so they are never shared with another task.
    """
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper, _resolve_prompt
    from mteb.types import PromptType

    if isinstance(model, SentenceTransformerEncoderWrapper):
        return _resolve_prompt(model.model_prompts, task_metadata, prompt_type) or ""
    if isinstance(model, InstructSentenceTransformerModel):
        if not model.apply_instruction_to_passages and prompt_type == PromptType.document:
            return "instruction:"
        return "instruction:" + (model.get_task_instruction(task_metadata, prompt_type) or "")
    return f"task:{task_metadata.name}\0{hf_split}\0{hf_subset}"


def describe_prompts(model) -> dict[str, Any]:
    """The prompts or instruction setup of a loaded mteb model, as `model_meta.json` records it."""
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    if isinstance(model, SentenceTransformerEncoderWrapper):
        return dict(model.model_prompts or {})
    if isinstance(model, InstructSentenceTransformerModel):
        template = model.instruction_template
        return {
            "instruction_template": template if isinstance(template, str) else repr(template),
            "apply_instruction_to_passages": model.apply_instruction_to_passages,
            "prompts_dict": dict(model.prompts_dict or {}),
        }
    return {}

"""The embedding cache on its own: what a text's key holds, what reaches the model, eviction and damaged shards.

A stand-in model makes every embedding depend on the prompt type, the prompt and the text, as e5/bge/Qwen3 models
do, so that a vector served under the wrong key shows.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing

import numpy as np
import pytest

from evalkit.run.cache import CachedEncoder, EmbeddingStore, EncodeStats, default_cache_dir

DIM = 8


class PromptedModel:
    """Embeds `prompt type + prompt + text` (its model prompts resolved as mteb does) and records each call."""

    mteb_model_meta = "meta"

    def __init__(self, prompts: dict[str, str] | None = None) -> None:
        self.model_prompts = prompts or {}
        self.calls: list[dict] = []

    def encode(self, loader, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
        from mteb.models.sentence_transformer_wrapper import _resolve_prompt

        prompt = _resolve_prompt(self.model_prompts, task_metadata, prompt_type) or ""
        texts = [text for batch in loader for text in batch["text"]]
        self.calls.append({"texts": texts, **kwargs, "batch_size": loader.batch_size})  # what the model is fed
        kind = prompt_type.value if prompt_type else ""
        return np.stack([vector(f"{kind}|{prompt}{text}") for text in texts])

    def similarity(self, a, b):
        return a @ b.T

    def similarity_pairwise(self, a, b):
        return (a * b).sum(axis=1)


def vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def metadata(task: str):
    import mteb

    return mteb.get_task(task).metadata


def encoder(tmp_path, model: PromptedModel, **kwargs) -> CachedEncoder:
    return CachedEncoder(model, "model@rev", EmbeddingStore(tmp_path, "model@rev"), EncodeStats(), **kwargs)


def encode(enc: CachedEncoder, texts: list[str], task: str = "STSB", prompt_type=None, **kwargs) -> np.ndarray:
    batches = [{"text": texts[i : i + 2]} for i in range(0, len(texts), 2)]
    return enc.encode(
        batches, task_metadata=metadata(task), hf_split="test", hf_subset="default", prompt_type=prompt_type, **kwargs
    )


def test_each_unique_text_reaches_the_model_once_and_comes_back_in_order(tmp_path):
    model = PromptedModel()
    enc = encoder(tmp_path, model)
    out = encode(enc, ["a", "b", "a", "c", "b"])
    assert np.array_equal(out, np.stack([vector(f"|{t}") for t in "abacb"]))
    assert [call["texts"] for call in model.calls] == [["a", "b", "c"]]
    again = encoder(tmp_path, model)  # a later run: served from disk
    assert np.array_equal(encode(again, ["c", "a", "d"]), np.stack([vector(f"|{t}") for t in "cad"]))
    assert model.calls[-1]["texts"] == ["d"] and again.stats.encode_seconds > 0
    assert again.stats.record() | {"encode_seconds": 0} == {
        "texts_requested": 3,
        "unique_texts": 3,
        "texts_encoded": 1,
        "cache_hits": 2,
        "encode_seconds": 0,
    }
    warm = encoder(tmp_path, model)
    encode(warm, ["a", "d"])
    assert warm.stats.record() == {
        "texts_requested": 2,
        "unique_texts": 2,
        "texts_encoded": 0,
        "cache_hits": 2,
        "encode_seconds": 0.0,
    }


def test_similarities_and_model_meta_are_the_models_unless_given(tmp_path):
    a, b = np.eye(2, DIM, dtype=np.float32), np.ones((2, DIM), dtype=np.float32)
    enc = encoder(tmp_path, PromptedModel())
    assert np.array_equal(enc.similarity(a, b), a @ b.T)
    assert np.array_equal(enc.similarity_pairwise(a, b), np.ones(2))
    assert enc.mteb_model_meta == "meta" and encoder(tmp_path, PromptedModel(), meta="dim").mteb_model_meta == "dim"


def test_an_embedding_made_under_one_prompt_is_never_served_under_another(tmp_path):
    from mteb.types import PromptType

    model = PromptedModel({"STSB": "sts: ", "AFQMC": "afqmc: "})
    enc = encoder(tmp_path, model)
    sts, afqmc = encode(enc, ["同一句话"], "STSB"), encode(enc, ["同一句话"], "AFQMC")
    assert np.array_equal(sts[0], vector("|sts: 同一句话")) and np.array_equal(afqmc[0], vector("|afqmc: 同一句话"))
    unprompted = PromptedModel()  # no prompts: queries and documents differ only by the prompt type
    enc = encoder(tmp_path / "types", unprompted)
    query = encode(enc, ["同一句话"], "CovidRetrieval", PromptType.query)
    document = encode(enc, ["同一句话"], "CovidRetrieval", PromptType.document)
    assert np.array_equal(query[0], vector("query|同一句话"))
    assert np.array_equal(document[0], vector("document|同一句话"))


def test_long_texts_sharing_a_prefix_keep_their_own_embeddings(tmp_path):
    prefix = "很长的文本。" * 5000
    out = encode(encoder(tmp_path, PromptedModel()), [prefix + "甲", prefix + "乙"])
    assert np.array_equal(out, np.stack([vector(f"|{prefix}甲"), vector(f"|{prefix}乙")]))


def test_the_batch_size_and_the_device_pool_reach_the_model(tmp_path):
    model = PromptedModel()
    pool = object()
    enc = encoder(tmp_path, model, encode_kwargs=lambda: {"pool": pool})
    encode(enc, ["a", "b", "c"], batch_size=2)
    encode(enc, ["d"])
    assert [(call["batch_size"], call["pool"]) for call in model.calls] == [(2, pool), (32, pool)]
    assert model.calls[0]["texts"] == ["a", "b", "c"]


def test_dims_truncate_without_renormalizing_and_empty_input_is_empty(tmp_path):
    out = encode(encoder(tmp_path, PromptedModel(), dim=3), ["a", "b"])
    assert np.array_equal(out, np.stack([vector("|a")[:3], vector("|b")[:3]]))
    assert encode(encoder(tmp_path, PromptedModel()), []).shape == (0, 0)


def test_a_damaged_shard_is_encoded_again_not_a_crash(tmp_path):
    model = PromptedModel()
    encode(encoder(tmp_path, model), ["a", "b"])
    (shard,) = (tmp_path / "model@rev").glob("*.npy")
    shard.write_bytes(b"\x93NUMPY garbage")  # keys intact, vectors unreadable
    again = encoder(tmp_path, model)
    assert np.array_equal(encode(again, ["a", "b"]), np.stack([vector("|a"), vector("|b")]))
    assert model.calls[-1]["texts"] == ["a", "b"]
    assert np.array_equal(encode(again, ["b"]), vector("|b")[None])  # the new shard serves them from now on
    assert np.array_equal(encode(encoder(tmp_path, model), ["a"]), vector("|a")[None])  # in later runs too
    assert not shard.with_suffix(".keys").exists()  # else it hides the new shard wherever listed first
    assert len(model.calls) == 2


def _shard(seed: int, rows: int = 50) -> tuple[list[bytes], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(32) for _ in range(rows)], rng.standard_normal((rows, DIM)).astype(np.float32)


def _add_shard(folder, seed):
    EmbeddingStore(folder, "model").add(*_shard(seed))


def test_store_is_safe_for_concurrent_writers(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_shard, args=(tmp_path, seed)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = EmbeddingStore(tmp_path, "model")
    for seed in range(4):
        keys, vectors = _shard(seed)
        found = store.get(keys)
        assert len(found) == 50
        assert all(np.array_equal(found[k], v) for k, v in zip(keys, vectors))
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("kept", [1, 3])
def test_eviction_keeps_exactly_the_newest_shards_that_fit(tmp_path, kept):
    EmbeddingStore(tmp_path / "one", "m").add(*_shard(99))  # what one shard takes on disk: vectors, keys, headers
    shard_bytes = sum(p.stat().st_size for p in (tmp_path / "one").glob("*/*") if p.suffix in (".npy", ".keys"))
    tmp_path = tmp_path / "cache"
    shards = []
    for seed in range(6):  # two model identities writing into one cache
        store = EmbeddingStore(tmp_path, f"model-{seed % 2}", max_bytes=kept * shard_bytes)
        keys, vectors = _shard(seed)
        store.add(keys, vectors)
        shards.append((f"model-{seed % 2}", keys))
        present = [len(EmbeddingStore(tmp_path, identity).get(keys)) for identity, keys in shards]
        assert present == [0] * max(0, len(shards) - kept) + [50] * min(len(shards), kept), seed
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*/*") if p.suffix in (".npy", ".keys"))
    assert on_disk <= kept * shard_bytes
    assert EmbeddingStore(tmp_path, "model-9", max_bytes=0).get(shards[-1][1]) == {}  # identities stay apart


def test_shards_written_by_another_run_are_found(tmp_path):
    reader = EmbeddingStore(tmp_path, "model")
    for seed in range(3):
        reader.add(*_shard(seed))
    assert len(reader.get(_shard(0)[0])) == 50
    for seed in range(3, 6):
        EmbeddingStore(tmp_path, "model").add(*_shard(seed))
    assert [len(reader.get(_shard(seed)[0])) for seed in range(6)] == [50] * 6


def test_a_shard_evicted_under_a_reader_is_encoded_again(tmp_path):
    reader = EmbeddingStore(tmp_path, "model")
    reader.add(*_shard(0))
    EmbeddingStore(tmp_path, "model").add(*_shard(1))
    assert len(reader.get(_shard(0)[0])) == 50  # indexes both shards, reads the first
    for path in (tmp_path / "model").glob("*"):  # another run evicts both
        path.unlink()
    keys, vectors = _shard(1)
    assert reader.get(keys) == {}
    reader.add(keys, vectors)
    assert len(reader.get(keys)) == 50


def test_a_shard_bigger_than_the_limit_is_still_kept_and_an_unbounded_store_evicts_nothing(tmp_path):
    store = EmbeddingStore(tmp_path / "small", "model", max_bytes=10)
    keys, vectors = _shard(0)
    store.add(keys, vectors)
    assert len(store.get(keys)) == 50  # the shard just written is never evicted
    unbounded = EmbeddingStore(tmp_path / "big", "model")
    for seed in range(3):
        unbounded.add(*_shard(seed))
    assert all(len(EmbeddingStore(tmp_path / "big", "model").get(_shard(s)[0])) == 50 for s in range(3))
    store.add([], np.zeros((0, DIM), dtype=np.float32))
    assert len(list((tmp_path / "small" / "model").glob("*.npy"))) == 1


def test_a_cached_run_encodes_with_the_batch_size_and_halves_it_on_out_of_memory(six_snapshots, tmp_path, monkeypatch):
    import torch
    from conftest import run_sample
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    real, sizes = SentenceTransformerEncoderWrapper.encode, []

    def tight_memory(self, inputs, **kwargs):
        sizes.append(inputs.batch_size)
        if inputs.batch_size > 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, inputs, **kwargs)

    monkeypatch.setattr(SentenceTransformerEncoderWrapper, "encode", tight_memory)
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ("--tasks", "STSB", "--data-dir", str(six_snapshots), "--output-dir", str(out), "--cache-dir", str(cache))
    assert run_sample(*args, "--batch-size", "32") == 0
    assert sizes[:3] == [32, 16, 8] and set(sizes[2:]) == {8}


def test_the_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("EVALKIT_CACHE", "")
    assert default_cache_dir() == tmp_path / "xdg" / "evalkit" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "evalkit" / "embeddings"


@pytest.mark.parametrize("keys, vectors", [([b"k" * 32], [["not a number"]]), (["not bytes"], [[1.0]])])
def test_a_failed_write_leaves_no_temporary_files(tmp_path, keys, vectors):
    with pytest.raises((ValueError, TypeError)):
        EmbeddingStore(tmp_path, "model").add(keys, np.array(vectors))
    assert list((tmp_path / "model").iterdir()) == []


def test_eviction_waits_for_the_cache_lock_and_counts_torn_shards(tmp_path):
    import fcntl
    import threading

    store = EmbeddingStore(tmp_path, "model", max_bytes=1)
    torn = tmp_path / "model" / "00000000000000000001-1-deadbeef.npy"  # the oldest shard, its keys never written
    torn.write_bytes(b"torn")
    with (tmp_path / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run evicting
        writer = threading.Thread(target=store.add, args=_shard(0))
        writer.start()
        writer.join(1.0)
        assert writer.is_alive()  # waits for the lock
    writer.join(60)
    assert not writer.is_alive() and not torn.exists()
    assert len(store.get(_shard(0)[0])) == 50


def test_a_cache_of_the_layout_before_the_marker_is_adopted(tmp_path):
    identity = "0123456789abcdef0123456789abcdef"  # what evalkit named identity folders before the marker
    keys, vectors = _shard(0)
    EmbeddingStore(tmp_path, identity).add(keys, vectors)
    (tmp_path / ".evalkit-cache").unlink()
    (tmp_path / identity / ".00000000000000000001-1-0badf00d.npy.tmp").write_bytes(b"left by a crash")
    (tmp_path / ".lock").write_bytes(b"")
    assert len(EmbeddingStore(tmp_path, identity).get(keys)) == 50
    assert (tmp_path / ".evalkit-cache").read_text().startswith("evalkit embedding cache: evalkit deletes")


def test_changed_vector_bytes_under_valid_keys_are_never_served(tmp_path):
    keys, vectors = _shard(0)
    EmbeddingStore(tmp_path, "model").add(keys, vectors)
    (shard,) = (tmp_path / "model").glob("*.npy")
    data = bytearray(shard.read_bytes())
    data[-4:] = np.float32(1e6).tobytes()  # the last row's last value: shape and dtype unchanged
    shard.write_bytes(bytes(data))
    assert EmbeddingStore(tmp_path, "model").get(keys) == {}
    assert shard.with_name(shard.name + ".bad").is_file()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dim": DIM // 2}, f"float32 (50, {DIM}), the key file says float32 (50, {DIM // 2})"),
        ({"dtype": "float16"}, f"key file header says 'float16' rows of {DIM} dimensions"),
        ({"dim": 0}, "key file header says 'float32' rows of 0 dimensions"),
        ({"rows": 49}, "key file holds 50 keys, its header says 49"),
    ],
)
def test_a_key_file_whose_header_disagrees_with_its_vectors_is_never_trusted(tmp_path, caplog, change, reason):
    keys, vectors = _shard(0)
    EmbeddingStore(tmp_path, "model").add(keys, vectors)
    (path,) = (tmp_path / "model").glob("*.keys")
    magic, header, rest = path.read_bytes().split(b"\n", 2)  # checksum and keys unchanged
    path.write_bytes(b"\n".join([magic, json.dumps(json.loads(header) | change).encode(), rest]))
    assert EmbeddingStore(tmp_path, "model").get(keys) == {}
    assert path.with_name(path.name + ".bad").is_file()
    assert f"failed its check ({reason}); its texts are encoded again" in caplog.text


def test_one_dimensional_embeddings_are_stored(tmp_path):
    keys, vectors = _shard(0)
    EmbeddingStore(tmp_path, "model").add(keys, vectors[:, :1])
    assert np.array_equal(np.stack(list(EmbeddingStore(tmp_path, "model").get(keys).values())), vectors[:, :1])


IDENTITY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("other", [f"{IDENTITY}/notes.txt", "photos/", IDENTITY, ".lock/"])
def test_a_folder_holding_anything_but_identity_folders_of_shards_is_refused(tmp_path, other):
    from evalkit.errors import OptionError

    path = tmp_path / other
    if other == f"{IDENTITY}/notes.txt":
        EmbeddingStore(tmp_path, IDENTITY).add(*_shard(0))
        (tmp_path / ".evalkit-cache").unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir() if other.endswith("/") else path.write_text("mine")
    if other != ".lock/":
        (tmp_path / ".lock").write_bytes(b"")  # a lock file of the old layout, wherever it is listed
    with pytest.raises(OptionError, match="not an evalkit embedding cache"):
        EmbeddingStore(tmp_path, "model")
    assert path.exists() and not (tmp_path / ".evalkit-cache").exists()


def test_a_new_cache_folder_is_made_with_its_parents_and_eviction_passes_other_files_by(tmp_path):
    EmbeddingStore(tmp_path / "one", "m").add(*_shard(99))
    shard_bytes = sum(p.stat().st_size for p in (tmp_path / "one").glob("*/*") if p.suffix in (".npy", ".keys"))
    store = EmbeddingStore(tmp_path / "new" / "cache", "model", max_bytes=shard_bytes)
    gone = tmp_path / "new" / "cache" / "model" / "00000000000000000001-1-0badf00d.npy"
    gone.symlink_to(tmp_path / "gone")
    (tmp_path / "new" / "cache" / "notes.txt").write_text("put there after the cache was made")
    keys, vectors = _shard(0)
    store.add(keys, vectors)  # eviction weighs every shard file, one of them gone (0 bytes), and passes others by
    assert len(store.get(keys)) == 50 and (tmp_path / "new" / "cache" / "notes.txt").is_file()
    assert gone.is_symlink()  # the cache holds exactly its limit: nothing evicted
    store.add(*_shard(1))  # still writable: nothing failed
    assert len(store.get(_shard(1)[0])) == 50


@pytest.mark.parametrize("failing", ["write", "rename"])
def test_after_a_failed_write_the_store_writes_nothing_more_and_leaves_no_temporary(
    tmp_path, monkeypatch, caplog, failing
):
    import errno
    import os
    from pathlib import Path

    store = EmbeddingStore(tmp_path, "model")
    store.add([], np.zeros((0, DIM), dtype=np.float32))
    assert list((tmp_path / "model").iterdir()) == []  # nothing to store: no shard
    write_bytes, replace = Path.write_bytes, os.replace

    def full_disk(path, data):  # the vectors are written, then the key file is not
        if path.name.endswith(".keys.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(path, data)

    def failing_rename(source, target):  # both files are written, then the key file's rename fails
        if str(source).endswith(".keys.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(source, target)

    if failing == "write":
        monkeypatch.setattr(Path, "write_bytes", full_disk)
    else:
        monkeypatch.setattr(os, "replace", failing_rename)
    store.add(*_shard(0))
    monkeypatch.undo()  # space again: the run still goes on without the cache
    store.add(*_shard(1))
    assert not [p for p in (tmp_path / "model").iterdir() if p.name.endswith((".tmp", ".keys"))]
    assert [r.message.count("No space left") for r in caplog.records] == [1]


def test_a_bad_key_file_among_good_shards_hides_none_of_them(tmp_path):
    shards = [_shard(seed, rows=5) for seed in range(10)]
    for keys, vectors in shards:
        EmbeddingStore(tmp_path, "model").add(keys, vectors)
    (tmp_path / "model" / "00000000000000000001-1-0badf00d.keys").write_bytes(b"not a key file")
    found = EmbeddingStore(tmp_path, "model").get([key for keys, _ in shards for key in keys])
    assert len(found) == 50
    assert (tmp_path / "model" / "00000000000000000001-1-0badf00d.keys.bad").is_file()


def test_eviction_deletes_a_quarantined_shard_before_the_oldest_good_one(tmp_path):
    EmbeddingStore(tmp_path / "one", "m").add(*_shard(99))
    shard_bytes = sum(p.stat().st_size for p in (tmp_path / "one").glob("*/*") if p.suffix in (".npy", ".keys"))
    store = EmbeddingStore(tmp_path / "cache", "model", max_bytes=3 * shard_bytes)
    for seed in range(3):
        store.add(*_shard(seed))
    (newest,) = sorted((tmp_path / "cache" / "model").glob("*.npy"))[-1:]  # names start with their time
    newest.write_bytes(newest.read_bytes()[:-4] + np.float32(7).tobytes())
    assert EmbeddingStore(tmp_path / "cache", "model").get(_shard(2)[0]) == {}  # quarantined
    store.add(*_shard(3))  # four shards: one must go, the bad one
    assert [len(EmbeddingStore(tmp_path / "cache", "model").get(_shard(s)[0])) for s in (0, 1, 3)] == [50, 50, 50]
    assert not list((tmp_path / "cache" / "model").glob("*.bad"))


def test_the_run_record_counts_hits_and_encode_seconds(tmp_path):
    stats = EncodeStats()
    enc = CachedEncoder(PromptedModel(), "model@rev", EmbeddingStore(tmp_path, "model@rev"), stats)
    encode(enc, ["a", "b", "a"])
    encode(enc, ["b", "c"])
    record = stats.record()
    seconds = record.pop("encode_seconds")
    assert record == {"texts_requested": 5, "unique_texts": 3, "texts_encoded": 3, "cache_hits": 2}
    assert 0 < seconds < 60 and seconds == round(seconds, 3)


def test_a_run_bigger_than_the_limit_keeps_its_own_shards_and_evicts_the_others(tmp_path, caplog):
    """The encode phase stores every text before the evaluation reads it: a run whose embeddings exceed the cache's
    limit must not evict its own (they would be encoded again), only other shards; the next run evicts them."""
    EmbeddingStore(tmp_path / "one", "m").add(*_shard(99))
    shard_bytes = sum(p.stat().st_size for p in (tmp_path / "one").glob("*/*") if p.suffix in (".npy", ".keys"))
    cache = tmp_path / "cache"
    EmbeddingStore(cache, "other").add(*_shard(50))
    run = EmbeddingStore(cache, "model", max_bytes=2 * shard_bytes)
    for seed in range(4):
        run.add(*_shard(seed))
    assert [len(run.get(_shard(seed)[0])) for seed in range(4)] == [50] * 4  # all of this run's, over the limit
    assert EmbeddingStore(cache, "other").get(_shard(50)[0]) == {}  # the other identity's went first
    assert sum("exceed the cache's limit" in r.getMessage() for r in caplog.records) == 1  # said once
    later = EmbeddingStore(cache, "model", max_bytes=2 * shard_bytes)
    later.add(*_shard(9))
    kept = [seed for seed in (0, 1, 2, 3, 9) if len(later.get(_shard(seed)[0])) == 50]
    assert kept == [3, 9]  # the next run evicts the oldest down to the limit


def test_eviction_goes_past_the_shard_just_written_to_newer_ones(tmp_path):
    # Another machine sharing the cache, its clock ahead, wrote a shard named later than the one just written.
    EmbeddingStore(tmp_path / "one", "m").add(*_shard(99))
    shard_bytes = sum(p.stat().st_size for p in (tmp_path / "one").glob("*/*") if p.suffix in (".npy", ".keys"))
    EmbeddingStore(tmp_path / "cache", "other")
    for path in (tmp_path / "one" / "m").iterdir():
        path.rename(tmp_path / "cache" / "other" / f"99999999999999999999-1-0badf00d{path.suffix}")
    (tmp_path / "cache" / "other" / "notes.keys").write_bytes(b"not a shard of evalkit's")
    store = EmbeddingStore(tmp_path / "cache", "model", max_bytes=shard_bytes)
    keys, vectors = _shard(0)
    store.add(keys, vectors)
    assert len(store.get(keys)) == 50
    assert not list((tmp_path / "cache" / "other").glob("9*"))  # evicted: the cache holds one shard
    assert len(EmbeddingStore(tmp_path / "cache", "other").get(_shard(99)[0])) == 0


def test_a_reader_finds_every_shard_another_run_adds_whatever_the_listing_order(tmp_path):
    reader = EmbeddingStore(tmp_path, "model")
    for seed in range(10):
        reader.add(*_shard(seed, rows=2))
    for seed in range(10, 20):
        EmbeddingStore(tmp_path, "model").add(*_shard(seed, rows=2))
    assert len(reader.get([key for seed in range(20) for key in _shard(seed, rows=2)[0]])) == 40

"""Checkpoints (scratchrnn.checkpoint): round trips, atomic writes, damaged and foreign files.

A checkpoint is NAME.npz (arrays plus the metadata as UTF-8 bytes under ``__meta__``) and
NAME.json (the same metadata for people), with a SHA-256 over metadata and arrays inside the
.npz. Both files are written to a temporary file and renamed into place, so a crash mid-write
leaves the previous checkpoint whole; loading never unpickles.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from scratchrnn import checkpoint
from scratchrnn.checkpoint import (CheckpointError, checkpoint_paths, load_checkpoint,
                                   load_model, save_checkpoint)
from scratchrnn.models import CharLM


def arrays_a():
    rng = np.random.default_rng(0)
    return {"model/w": rng.standard_normal((6, 5)).astype(np.float32),
            "model/b": rng.standard_normal(5),
            "optim/exp_avg/0": np.arange(12, dtype=np.int64).reshape(3, 4)}


def arrays_b():
    return {k: v * 2 + 1 for k, v in arrays_a().items()}


META_A = {"step": 10, "history": {"val": [[10, 1.5, 2.25]]}, "note": "ünïcödé 中文"}
META_B = {"step": 20, "history": {"val": [[10, 1.5, 2.25], [20, 3.0, 2.0]]}, "note": "b"}


def assert_same_arrays(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def load_quietly(path):
    """load_checkpoint, failing the test on any warning (a stale .json would warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_checkpoint(path)


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# --------------------------------------------------------------------------- round trips

def test_round_trip_keeps_arrays_dtypes_and_metadata(tmp_path):
    npz, js = save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    assert (npz, js) == (tmp_path / "ck.npz", tmp_path / "ck.json")
    arrays, meta = load_quietly(tmp_path / "ck")
    assert_same_arrays(arrays, arrays_a())
    assert meta["format"] == checkpoint.FORMAT and meta["version"] == checkpoint.VERSION
    assert {k: meta[k] for k in META_A} == META_A
    # The .json is the readable copy of the very same metadata.
    assert json.loads(js.read_text(encoding="utf-8")) == meta
    assert files_in(tmp_path) == ["ck.json", "ck.npz"]


@pytest.mark.parametrize("spelling", ["ck", "ck.npz", "ck.json", "."])
def test_every_spelling_of_the_path_loads_the_same_checkpoint(tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    name = "last" if spelling == "." else "ck"     # a directory means DIR/last
    save_checkpoint(tmp_path / name, arrays_a(), META_A)
    arrays, meta = load_quietly(spelling)
    assert_same_arrays(arrays, arrays_a())
    assert meta["step"] == 10


def test_checkpoint_paths():
    assert checkpoint_paths("runs/best") == (Path("runs/best.npz"), Path("runs/best.json"))
    assert checkpoint_paths("runs/best.npz") == (Path("runs/best.npz"), Path("runs/best.json"))
    assert checkpoint_paths("runs/best.json") == (Path("runs/best.npz"), Path("runs/best.json"))


def test_saving_again_replaces_both_files(tmp_path):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    save_checkpoint(tmp_path / "ck", arrays_b(), META_B)
    arrays, meta = load_quietly(tmp_path / "ck")
    assert_same_arrays(arrays, arrays_b())
    assert meta["step"] == 20
    assert files_in(tmp_path) == ["ck.json", "ck.npz"]


def test_metadata_that_is_not_json_fails_before_touching_the_files(tmp_path):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    before = {n: (tmp_path / n).read_bytes() for n in files_in(tmp_path)}
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "ck", arrays_b(), {"step": object()})
    assert {n: (tmp_path / n).read_bytes() for n in files_in(tmp_path)} == before


def test_checkpoint_files_get_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")                       # what the umask gives an ordinary file
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    want = plain.stat().st_mode & 0o777
    assert (tmp_path / "ck.npz").stat().st_mode & 0o777 == want
    assert (tmp_path / "ck.json").stat().st_mode & 0o777 == want


# --------------------------------------------------------------------------- atomicity

class Crash(Exception):
    """Stands for the process dying in the middle of a write."""


def test_crash_while_writing_the_npz_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    before = {n: (tmp_path / n).read_bytes() for n in files_in(tmp_path)}
    real_savez = np.savez

    def savez_then_crash(f, **arrays):
        real_savez(f, **arrays)        # the whole archive is in the temporary file ...
        f.write(b"half a footer")
        raise Crash("killed while writing")   # ... when the process dies

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(Crash):
        save_checkpoint(tmp_path / "ck", arrays_b(), META_B)
    monkeypatch.undo()
    # Nothing half-written and no temporary files left behind; the old pair loads as it was.
    assert files_in(tmp_path) == ["ck.json", "ck.npz"]
    assert {n: (tmp_path / n).read_bytes() for n in files_in(tmp_path)} == before
    arrays, meta = load_quietly(tmp_path / "ck")
    assert_same_arrays(arrays, arrays_a())
    assert meta["step"] == 10


def test_crash_midway_through_the_archive_leaves_no_partial_file(tmp_path, monkeypatch):
    """The crash hits after some bytes of the new .npz went to disk (a write that raises)."""
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    real_savez = np.savez
    written = []

    class DyingFile:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            if sum(written) > 300:
                raise Crash("disk full / killed")
            written.append(len(b))
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def savez_dying(f, **arrays):
        real_savez(DyingFile(f), **arrays)

    monkeypatch.setattr(np, "savez", savez_dying)
    with pytest.raises(Crash):
        save_checkpoint(tmp_path / "ck", arrays_b(), META_B)
    monkeypatch.undo()
    assert sum(written) > 0, "the simulated crash should come after some bytes were written"
    assert files_in(tmp_path) == ["ck.json", "ck.npz"]
    arrays, meta = load_quietly(tmp_path / "ck")
    assert_same_arrays(arrays, arrays_a())
    assert meta["step"] == 10


def test_first_save_crashing_leaves_nothing(tmp_path, monkeypatch):
    def crash(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise Crash("killed")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(Crash):
        save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    monkeypatch.undo()
    assert files_in(tmp_path) == []
    with pytest.raises(CheckpointError, match="ck.npz"):
        load_checkpoint(tmp_path / "ck")


def test_crash_between_the_two_files_loads_the_new_npz_with_a_warning(tmp_path, monkeypatch):
    """Killed after the new .npz was renamed into place but while the .json was written:
    the .npz carries its own metadata, so the new checkpoint is complete."""
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:            # the second file of the pair: the .json
            raise Crash("killed")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(Crash):
        save_checkpoint(tmp_path / "ck", arrays_b(), META_B)
    monkeypatch.undo()
    assert files_in(tmp_path) == ["ck.json", "ck.npz"]
    assert json.loads((tmp_path / "ck.json").read_text())["step"] == 10    # stale
    with pytest.warns(UserWarning, match="ck.json"):
        arrays, meta = load_checkpoint(tmp_path / "ck")
    assert_same_arrays(arrays, arrays_b())
    assert meta["step"] == 20


def test_stale_json_beside_a_new_npz_warns_and_uses_the_npz_metadata(tmp_path):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    old_json = (tmp_path / "ck.json").read_bytes()
    save_checkpoint(tmp_path / "ck", arrays_b(), META_B)
    (tmp_path / "ck.json").write_bytes(old_json)
    with pytest.warns(UserWarning, match=r"ck\.json.*ck\.npz"):
        arrays, meta = load_checkpoint(tmp_path / "ck")
    assert meta["step"] == 20 and meta["note"] == "b"
    assert_same_arrays(arrays, arrays_b())


@pytest.mark.parametrize("json_bytes", [None, b"", b"{not json", b"\xff\xfe"])
def test_missing_or_damaged_json_warns_and_loads_from_the_npz(tmp_path, json_bytes):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    if json_bytes is None:
        (tmp_path / "ck.json").unlink()
    else:
        (tmp_path / "ck.json").write_bytes(json_bytes)
    with pytest.warns(UserWarning, match="ck.json"):
        arrays, meta = load_checkpoint(tmp_path / "ck")
    assert meta["step"] == 10
    assert_same_arrays(arrays, arrays_a())


# --------------------------------------------------------------------------- bad files

def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothere\.npz.*does not exist"):
        load_checkpoint(tmp_path / "nothere")
    with pytest.raises(CheckpointError, match=r"last\.npz"):
        load_checkpoint(tmp_path)                  # an empty save dir


@pytest.mark.parametrize("content", [b"", b"garbage" * 50,
                                     np.random.default_rng(0).bytes(3000)],
                         ids=["empty", "text", "random-bytes"])
def test_corrupt_npz_bytes(tmp_path, content):
    (tmp_path / "ck.npz").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"ck\.npz"):
        load_checkpoint(tmp_path / "ck")


def test_every_truncation_of_an_npz_is_refused(tmp_path):
    save_checkpoint(tmp_path / "good", arrays_a(), META_A)
    data = (tmp_path / "good.npz").read_bytes()
    cuts = sorted(set(range(0, len(data), 13)) | {1, 4, 30, len(data) // 2, len(data) - 1})
    for cut in cuts:
        (tmp_path / "ck.npz").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"ck\.npz"):
            load_checkpoint(tmp_path / "ck")


def test_a_flipped_byte_never_loads_wrong_numbers(tmp_path):
    """Every damaged byte is refused or (in a field that does not matter, e.g. a zip
    timestamp) harmless; never a traceback, never different or missing arrays."""
    save_checkpoint(tmp_path / "good", arrays_a(), META_A)
    data = (tmp_path / "good.npz").read_bytes()
    refused = 0
    for pos in range(0, len(data), 4):
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        (tmp_path / "ck.npz").write_bytes(bytes(damaged))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arrays, meta = load_checkpoint(tmp_path / "ck")
        except CheckpointError as e:
            assert "ck.npz" in str(e)
            refused += 1
        else:
            assert_same_arrays(arrays, arrays_a())
            assert meta["step"] == 10
    assert refused > len(data) // 8      # most damage is noticed


def test_arrays_changed_behind_the_checksum_are_refused(tmp_path):
    """Re-packing the archive with one number changed (every zip field valid) is caught."""
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    with np.load(tmp_path / "ck.npz") as z:
        members = {k: z[k] for k in z.files}
    members["model/b"] = members["model/b"] + 1e-3
    np.savez(tmp_path / "ck.npz", **members)
    with pytest.raises(CheckpointError, match=r"ck\.npz is damaged"):
        load_checkpoint(tmp_path / "ck")


def _damage_central_directory(data, entry, offset, value):
    """Overwrite a 2-byte field of the entry-th central-directory header of a zip file."""
    pos = -1
    for _ in range(entry + 1):
        pos = data.find(b"PK\x01\x02", pos + 1)
    assert pos > 0
    data[pos + offset:pos + offset + 2] = value.to_bytes(2, "little")


@pytest.mark.parametrize("field", ["compression", "version"])
def test_damaged_zip_header_fields_give_a_checkpoint_error(tmp_path, field):
    save_checkpoint(tmp_path / "good", arrays_a(), META_A)
    data = bytearray((tmp_path / "good.npz").read_bytes())
    if field == "compression":
        _damage_central_directory(data, 0, 10, 99)      # an unknown compression method
    else:
        _damage_central_directory(data, 0, 6, 210)      # "needs zip version 21.0"
    (tmp_path / "ck.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"ck\.npz"):
        load_checkpoint(tmp_path / "ck")


def test_a_damaged_central_directory_cannot_silently_drop_arrays(tmp_path):
    save_checkpoint(tmp_path / "good", arrays_a(), META_A)
    data = bytearray((tmp_path / "good.npz").read_bytes())
    _damage_central_directory(data, 1, 32, 0xFF00)      # entry 1's comment length
    (tmp_path / "ck.npz").write_bytes(bytes(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arrays, _ = load_checkpoint(tmp_path / "ck")
    except CheckpointError as e:
        assert "ck.npz" in str(e)
    else:
        assert sorted(arrays) == sorted(arrays_a())


def test_foreign_npz_without_metadata(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "ck.npz", weights=rng.standard_normal((4, 4)), bias=rng.standard_normal(4))
    with pytest.raises(CheckpointError, match=r"ck\.npz is not a scratchrnn checkpoint"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("meta_bytes", [b"\xff\xfe\x00", b"[1, 2, 3]", b'{"format": "other"}',
                                        b"{truncated"])
def test_npz_with_unreadable_or_foreign_metadata(tmp_path, meta_bytes):
    np.savez(tmp_path / "ck.npz", __meta__=np.frombuffer(meta_bytes, dtype=np.uint8),
             w=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"ck\.npz is not a scratchrnn checkpoint"):
        load_checkpoint(tmp_path / "ck")


def test_wrong_version(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "VERSION", checkpoint.VERSION + 1)
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=rf"ck\.npz has checkpoint version "
                                              rf"{checkpoint.VERSION + 1}.*reads version "
                                              rf"{checkpoint.VERSION}"):
        load_checkpoint(tmp_path / "ck")


_UNPICKLED = []


def _evil(marker):
    """What a malicious pickle would run; loading a checkpoint must never get here."""
    _UNPICKLED.append(marker)
    Path(marker).write_text("pwned")
    return marker


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _evil, (self.marker,)


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "executed.txt"
    meta = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION}).encode()
    obj = np.empty(1, dtype=object)
    obj[0] = Evil(str(marker))
    np.savez(tmp_path / "ck.npz", __meta__=np.frombuffer(meta, dtype=np.uint8), evil=obj)
    # The file really does hold a pickle that would run _evil if it were unpickled.
    assert b"_evil" in (tmp_path / "ck.npz").read_bytes()
    with pytest.raises(CheckpointError, match=r"ck\.npz"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match=r"ck\.npz"):
        load_model(tmp_path / "ck")
    assert not marker.exists() and _UNPICKLED == []


# --------------------------------------------------------------------------- load_model

def test_load_model_round_trip(tmp_path):
    model = CharLM(7, "gru", embedding_dim=4, hidden_size=5, num_layers=2,
                   rng=np.random.default_rng(0))
    arrays = {"model/" + k: v for k, v in model.state_dict().items()}
    vocab = {"type": "char", "itos": list("abcdefg")}
    save_checkpoint(tmp_path / "m", arrays, {"model": model.config(), "vocab": vocab})
    loaded, v, meta = load_model(tmp_path / "m")
    assert not loaded.training and len(v) == 7 and loaded.config() == model.config()
    for k, p in loaded.state_dict().items():
        np.testing.assert_array_equal(p, model.state_dict()[k])


def test_load_model_refuses_checkpoints_that_are_not_language_models(tmp_path):
    save_checkpoint(tmp_path / "ck", arrays_a(), META_A)
    with pytest.raises(CheckpointError, match=r"ck\.npz.*not a language model"):
        load_model(tmp_path / "ck")
    model = CharLM(7, "lstm", embedding_dim=4, hidden_size=5, num_layers=1,
                   rng=np.random.default_rng(0))
    arrays = {"model/" + k: v for k, v in model.state_dict().items()}
    # vocabulary of the wrong size
    save_checkpoint(tmp_path / "m", arrays, {"model": model.config(),
                                             "vocab": {"type": "char", "itos": list("abc")}})
    with pytest.raises(CheckpointError, match=r"(?s)m\.npz.*vocabulary of 3"):
        load_model(tmp_path / "m")
    # an array missing
    del arrays["model/decoder.weight"]
    save_checkpoint(tmp_path / "m2", arrays, {"model": model.config(),
                                              "vocab": {"type": "char", "itos": list("abcdefg")}})
    with pytest.raises(CheckpointError, match=r"(?s)m2\.npz.*decoder\.weight"):
        load_model(tmp_path / "m2")


# --------------------------------------------------------------------------- hostile files
# A checkpoint is untrusted input: what the zip directory declares is checked against what a
# checkpoint of the declared model can hold before anything is unpacked, and every array is
# read by a reader that allocates no more than the zip entry holds.

import io            # noqa: E402
import tracemalloc   # noqa: E402
import zipfile       # noqa: E402


def small_lm():
    model = CharLM(20, "lstm", embedding_dim=8, hidden_size=16, num_layers=1,
                   rng=np.random.default_rng(0))
    meta = {"model": model.config(), "vocab": {"type": "char", "itos": [chr(97 + i) for i in range(20)]}}
    return {"model/" + k: v for k, v in model.state_dict().items()}, meta


def large_lm():
    """A checkpoint whose weight_hh is 1 MB: big enough that a damaged .npy header is met
    long before the end of its zip member (and so before the zip's CRC is checked)."""
    model = CharLM(65, "lstm", embedding_dim=64, hidden_size=256, num_layers=1,
                   rng=np.random.default_rng(0))
    meta = {"model": model.config(), "vocab": {"type": "char", "itos": [chr(40 + i) for i in range(65)]}}
    return {"model/" + k: v for k, v in model.state_dict().items()}, meta


def npy_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def meta_entry(meta):
    text = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, **meta})
    return np.frombuffer(text.encode(), dtype=np.uint8)


def refused(path, match=None):
    """load_checkpoint and load_model both refuse with a CheckpointError naming the file,
    never with NumPy's advice to load the file unsafely; returns the message."""
    for load in (load_checkpoint, load_model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(CheckpointError) as info:
                load(path)
        message = str(info.value)
        assert Path(path).with_suffix(".npz").name in message
        assert "allow_pickle" not in message and "pickle=True" not in message
        if match:
            assert re.search(match, message), message
    return message


def peak_memory_of(f):
    tracemalloc.start()
    try:
        f()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


import re            # noqa: E402


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """A 400 MB array of zeros deflated to ~2 MB, declared as the model's embedding, with
    metadata of a small LSTM and a checksum entry: everything a checkpoint has."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    _, meta = small_lm()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("__meta__.npy", npy_bytes(meta_entry(meta)))
        z.writestr("__sha256__.npy", npy_bytes(np.zeros(32, np.uint8)))
        with z.open("model/embedding.weight.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f4", "fortran_order": False, "shape": (100 << 20,)})
            block = bytes(4 << 20)
            for _ in range(100):
                f.write(block)
    assert path.stat().st_size < 3 << 20
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(zip_bomb):
    peak = peak_memory_of(lambda: refused(zip_bomb, r"more than a checkpoint of its LSTM "
                                                    r"language model .* can hold"))
    assert peak < 2 << 20, f"refusing the bomb allocated {peak / 2**20:.1f} MiB"


def forged_npy(header, data=b""):
    """An .npy member with this header text (padded as NumPy pads it) and these bytes."""
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def forged_checkpoint(path, meta, members):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__meta__.npy", npy_bytes(meta_entry(meta)))
        z.writestr("__sha256__.npy", npy_bytes(np.zeros(32, np.uint8)))
        for name, data in members.items():
            z.writestr(name + ".npy", data)


def test_a_header_claiming_more_than_its_entry_holds_is_refused_before_allocating(tmp_path):
    """NumPy's reader allocates the shape a header names before it reads; here a header
    of a model declared big enough for it, naming 40 GB, beside 4 kB of data."""
    arrays, meta = small_lm()
    meta["model"] = dict(meta["model"], hidden_size=20000)
    lie = forged_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (10000000000,), }",
                     bytes(4000))
    forged_checkpoint(tmp_path / "ck.npz", meta, {"model/decoder.bias": lie})
    peak = peak_memory_of(lambda: refused(tmp_path / "ck", r"shape \(10000000000,\) does not "
                                                            r"match the 4,\d+ bytes stored"))
    assert peak < 2 << 20, f"{peak / 2**20:.1f} MiB"


def test_twenty_thousand_entries_are_refused_before_the_directory_is_parsed(tmp_path):
    arrays, meta = small_lm()
    one = npy_bytes(np.zeros(1))
    with zipfile.ZipFile(tmp_path / "ck.npz", "w") as z:
        z.writestr("__meta__.npy", npy_bytes(meta_entry(meta)))
        for i in range(20000):
            z.writestr(f"x{i}.npy", one)
    peak = peak_memory_of(lambda: refused(tmp_path / "ck", r"20,001 entries"))
    assert peak < 2 << 20, f"{peak / 2**20:.1f} MiB"


def test_more_entries_than_the_declared_model_has_are_refused(tmp_path):
    arrays, meta = small_lm()
    arrays.update({f"junk/{i}": np.zeros(1) for i in range(200)})
    save_checkpoint(tmp_path / "ck", arrays, meta)
    refused(tmp_path / "ck", r"declares 20\d arrays .* more than a checkpoint of its LSTM")


def test_a_model_checkpoint_with_optimiser_and_hidden_state_fits_its_budget(tmp_path):
    """What train saves (parameters, two Adam buffers each, an LSTM state) loads."""
    arrays, meta = small_lm()
    model_arrays = dict(arrays)
    for k, (name, a) in enumerate(model_arrays.items()):
        arrays[f"optim/exp_avg/{k}"] = np.zeros_like(a, dtype=np.float64)
        arrays[f"optim/exp_avg_sq/{k}"] = np.zeros_like(a, dtype=np.float64)
    arrays["hidden/0"] = arrays["hidden/1"] = np.zeros((1, 32, 16), np.float64)
    meta["args"] = {"batch_size": 32}
    save_checkpoint(tmp_path / "ck", arrays, meta)
    got, _ = load_quietly(tmp_path / "ck")
    assert_same_arrays(got, arrays)
    entries, nbytes, _ = checkpoint.checkpoint_budget(meta)
    # ... and the budget is tight: a few times the model, not a fixed gigabyte.
    assert len(arrays) <= entries < 4 * len(arrays)
    assert sum(a.nbytes for a in arrays.values()) < nbytes < 4 << 20


def test_a_recompressed_checkpoint_still_loads(tmp_path):
    arrays, meta = large_lm()
    save_checkpoint(tmp_path / "ck", arrays, meta)
    with zipfile.ZipFile(tmp_path / "ck.npz") as src, \
            zipfile.ZipFile(tmp_path / "z.npz", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    (tmp_path / "z.json").write_bytes((tmp_path / "ck.json").read_bytes())
    model, vocab, _ = load_model(tmp_path / "z")
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, arrays["model/" + k])


def test_metadata_larger_than_any_run_writes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_META_BYTES", 1000)
    arrays, meta = small_lm()
    meta["history"] = {"train": [[i, 0.5, 1.25] for i in range(200)]}
    save_checkpoint(tmp_path / "ck", arrays, meta)
    refused(tmp_path / "ck", r"not a scratchrnn checkpoint")


def test_a_json_copy_larger_than_any_run_writes_is_ignored_with_a_warning(tmp_path, monkeypatch):
    arrays, meta = small_lm()
    save_checkpoint(tmp_path / "ck", arrays, meta)
    monkeypatch.setattr(checkpoint, "MAX_META_BYTES", 100)
    with pytest.warns(UserWarning, match="ck.json"):
        load_checkpoint(tmp_path / "ck")


def test_an_npy_renamed_npz_is_refused(tmp_path):
    np.save(tmp_path / "ck.npy", np.arange(5.0))
    os.replace(tmp_path / "ck.npy", tmp_path / "ck.npz")
    refused(tmp_path / "ck", r"damaged or not a scratchrnn checkpoint")


def test_a_directory_named_like_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "ck.npz").mkdir()
    refused(tmp_path / "ck", r"ck\.npz is a directory")


def test_entries_that_are_not_npy_arrays_or_are_stored_twice_are_refused(tmp_path):
    arrays, meta = small_lm()
    save_checkpoint(tmp_path / "ck", arrays, meta)
    with zipfile.ZipFile(tmp_path / "ck.npz", "a") as z:
        z.writestr("readme.txt", b"hello")
    refused(tmp_path / "ck", r"not \.npy arrays")
    save_checkpoint(tmp_path / "ck", arrays, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # zipfile warns about the duplicate name
        with zipfile.ZipFile(tmp_path / "ck.npz", "a") as z:
            z.writestr("model/decoder.bias.npy", npy_bytes(np.zeros(20, np.float32)))
    refused(tmp_path / "ck", r"stored twice")


@pytest.mark.parametrize("descr", ["'|O'", "'<U5'", "[('a', '<f8')]", "'<M8[s]'", "'|V8'"])
def test_arrays_that_are_not_plain_numbers_are_refused_without_unpickling(tmp_path, descr):
    _, meta = small_lm()
    member = forged_npy(f"{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}", bytes(16))
    forged_checkpoint(tmp_path / "ck.npz", meta, {"model/decoder.bias": member})
    refused(tmp_path / "ck", r"not a plain numeric array .* never unpickled")


@pytest.mark.parametrize("header", [
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)",           # unterminated
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}",  # an extra key
    "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}",
    "{'descr': '<f8', 'fortran_order': False, 'shape': [2]}",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }" + "(" * 3000,
    "__import__('os').system('echo pwned')",
    "\"\"\"",
], ids=["unterminated", "extra-key", "int-order", "negative", "list-shape", "deep", "code", "quotes"])
def test_damaged_npy_headers_are_refused(tmp_path, header):
    _, meta = small_lm()
    forged_checkpoint(tmp_path / "ck.npz", meta, {"model/decoder.bias": forged_npy(header, bytes(16))})
    refused(tmp_path / "ck", r"decoder\.bias\.npy has a damaged \.npy header")


def test_a_damaged_config_is_refused_before_the_model_is_built(tmp_path):
    """A config asking for a billion layers or a 6 GB layer, beside arrays of a small model."""
    arrays, meta = small_lm()
    for change, match in [({"num_layers": 10 ** 9}, r"declares 1,000,000,000 layers"),
                          ({"hidden_size": 20000}, r"rnn\.weight_hh_l0: shape \(64, 16\), the "
                                                   r"model needs \(80000, 20000\)"),
                          ({"hidden_size": "16"}, r"not a CharLM's"),
                          ({"dtype": "object"}, r"not a CharLM's"),
                          ({"model_type": "transformer"}, r"not a CharLM's")]:
        save_checkpoint(tmp_path / "ck", arrays, dict(meta, model=dict(meta["model"], **change)))
        peak = peak_memory_of(lambda: pytest.raises(CheckpointError, load_model, tmp_path / "ck"))
        with pytest.raises(CheckpointError, match=match):
            load_model(tmp_path / "ck")
        assert peak < 2 << 20, (change, peak)


def test_charlm_parameter_shapes_are_the_models():
    for kind in ("rnn", "lstm", "gru"):
        for layers in (1, 3):
            model = CharLM(11, kind, embedding_dim=3, hidden_size=5, num_layers=layers)
            want = {k: v.shape for k, v in model.state_dict().items()}
            assert checkpoint.charlm_parameter_shapes(model.config()) == want
            assert list(checkpoint.charlm_parameter_shapes(model.config())) == list(want)


# Damage to large checkpoints: the zip CRC is checked only at the end of a member, so
# damage at the start of a 1 MB member meets the .npy reader first.

def assert_refused_or_identical(path, want):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arrays, _ = load_checkpoint(path)
    except CheckpointError as e:
        assert Path(path).name in str(e)
        assert "allow_pickle" not in str(e)
        return True
    assert_same_arrays(arrays, want)
    return False


def test_every_byte_flip_in_the_npy_headers_of_a_large_checkpoint_is_refused(tmp_path):
    arrays, meta = large_lm()
    save_checkpoint(tmp_path / "good", arrays, meta)
    data = (tmp_path / "good.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.npz") as z:
        largest = sorted(z.infolist(), key=lambda i: i.file_size)[-3:]
    assert largest[-1].file_size > 1 << 20
    # Each member's data follows its local header: 30 bytes, the name, the extra field.
    starts = [i.header_offset + 30 + int.from_bytes(data[i.header_offset + 26:i.header_offset + 28],
                                                    "little")
              + int.from_bytes(data[i.header_offset + 28:i.header_offset + 30], "little")
              for i in largest]
    assert all(data[s:s + 6] == b"\x93NUMPY" for s in starts)
    for start in starts:
        for pos in range(start, start + 128):     # magic, version, length and the dict text
            damaged = bytearray(data)
            damaged[pos] ^= 0xFF if pos % 2 else 0x01
            (tmp_path / "ck.npz").write_bytes(bytes(damaged))
            assert assert_refused_or_identical(tmp_path / "ck.npz", arrays) or pos > start + 10


def test_byte_flips_and_truncations_anywhere_in_a_large_checkpoint(tmp_path):
    arrays, meta = large_lm()
    save_checkpoint(tmp_path / "good", arrays, meta)
    data = (tmp_path / "good.npz").read_bytes()
    rng = np.random.default_rng(0)
    refusals = 0
    for pos in rng.choice(len(data), 150, replace=False):
        damaged = bytearray(data)
        damaged[pos] ^= int(rng.integers(1, 256))
        (tmp_path / "ck.npz").write_bytes(bytes(damaged))
        refusals += assert_refused_or_identical(tmp_path / "ck.npz", arrays)
    assert refusals > 140          # nearly every byte of a checkpoint is array data
    for cut in list(rng.choice(len(data), 40, replace=False)) + [len(data) - 22, len(data) - 1]:
        (tmp_path / "ck.npz").write_bytes(data[:cut])
        assert assert_refused_or_identical(tmp_path / "ck.npz", arrays)


@pytest.mark.parametrize("field, value", [(20, 1 << 30), (24, 100)], ids=["compressed", "size"])
def test_a_directory_declaring_sizes_the_file_cannot_hold_is_refused(tmp_path, field, value):
    """A stored entry's compressed and declared sizes must agree and fit in the file."""
    arrays, meta = small_lm()
    save_checkpoint(tmp_path / "good", arrays, meta)
    data = bytearray((tmp_path / "good.npz").read_bytes())
    pos = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)      # entry 1 of the directory
    data[pos + field:pos + field + 4] = value.to_bytes(4, "little")
    (tmp_path / "ck.npz").write_bytes(bytes(data))
    refused(tmp_path / "ck", r"declares sizes the file cannot hold")

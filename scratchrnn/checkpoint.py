"""Checkpoints: arrays in ``NAME.npz``, everything else in ``NAME.json``. Loading never unpickles.

Each file is written to a temporary name, flushed to disk, then renamed into place
(``os.replace`` is atomic), so a run killed mid-write never leaves a half-written file.
Two renames cannot be one atomic step, so the ``.npz`` also carries the metadata (as UTF-8
bytes under ``__meta__``): it alone is a complete checkpoint, and a ``.json`` left over from
the previous save is noticed and ignored. The ``.json`` is the copy for people and tools.
A SHA-256 over the metadata and every array (``__sha256__``) is checked on load: NumPy does
not verify the zip's CRC, so without it a flipped byte would load as different numbers.

A checkpoint file is untrusted input. Before anything is unpacked, the zip's end record and
directory are checked against what a checkpoint of the model its metadata declares can hold
(``checkpoint_budget``), so a small file that would inflate to gigabytes, or a directory of
20,000 entries, is refused at once; NumPy's loader is not used at all (it allocates whatever
shape a header names, lets some damaged headers escape as tokenizer errors, and advises
``allow_pickle=True`` for object arrays). Every failure is one ``CheckpointError``.
"""
import ast
import hashlib
import json
import math
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "scratchrnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or not one of ours."""


def checkpoint_paths(path):
    """'runs/best', 'runs/best.npz' or 'runs/best.json' -> (runs/best.npz, runs/best.json).
    A directory means its last checkpoint ('DIR/last')."""
    p = Path(path)
    if p.is_dir():
        p = p / "last"
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def _atomic_write(path, write):
    """Write through a temporary file in the same folder, fsync, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)     # mkstemp makes files private; give the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path, arrays, meta):
    """Save ``arrays`` ({name: ndarray}) and ``meta`` (a JSON-serialisable dict) as a pair."""
    npz_path, json_path = checkpoint_paths(path)
    doc = {"format": FORMAT, "version": VERSION, **meta}
    text = json.dumps(doc, indent=1)
    arrays = {"__meta__": np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
              **{k: np.asarray(v, order="C") for k, v in arrays.items()}}   # keeps 0-d arrays 0-d
    digest = np.frombuffer(_digest(arrays), dtype=np.uint8)
    _atomic_write(npz_path, lambda f: np.savez(f, __sha256__=digest, **arrays))
    _atomic_write(json_path, lambda f: f.write(text.encode("utf-8")))
    return npz_path, json_path


def load_checkpoint(path):
    """Return (arrays, meta) from a checkpoint, or raise CheckpointError saying what is wrong.

    The file is treated as untrusted: the zip directory is read first and an archive with more
    entries or more declared bytes than its declared model can hold is refused before anything
    is unpacked (see ``checkpoint_budget``), and every array is read by ``_read_npy``, which
    accepts plain numeric arrays whose header agrees with the zip's sizes and nothing else.
    """
    npz_path, json_path = checkpoint_paths(path)
    if npz_path.is_dir():
        raise CheckpointError(f"{npz_path} is a directory, not a checkpoint file; give the "
                              f"checkpoint's name (e.g. runs/shakespeare/best)")
    if not npz_path.is_file():
        raise CheckpointError(f"checkpoint file {npz_path} does not exist (a checkpoint is a pair "
                              f"NAME.npz + NAME.json, e.g. runs/shakespeare/best)")
    try:
        with open(npz_path, "rb") as f:
            entries, directory_bytes = _zip_directory_size(f)
            if entries > MAX_ENTRIES or directory_bytes > MAX_ENTRIES * 1024:
                raise CheckpointError(
                    f"{npz_path} declares {entries:,} entries in a {directory_bytes:,}-byte zip "
                    f"directory, more than any checkpoint holds (at most {MAX_ENTRIES:,}): refused "
                    f"without reading it (it is damaged or was not written by scratchrnn)")
            with zipfile.ZipFile(f) as zf:
                arrays, meta = _read_archive(zf, npz_path)
    except CheckpointError:
        raise
    except _BadArray as e:
        raise _damaged(npz_path, str(e)) from None
    except Exception as e:   # noqa: BLE001 -- whatever a damaged file trips, it gets one message
        raise _damaged(npz_path, f"{type(e).__name__}: {e}") from None
    if _read_json(json_path) != meta:
        warnings.warn(f"{json_path} is missing, damaged or from another save; using the "
                      f"metadata stored inside {npz_path.name}", stacklevel=2)
    return arrays, meta


def _zip_directory_size(f):
    """(entries, bytes) of the central directory, from the zip's end record, so that a huge
    directory is refused before zipfile parses it; (0, 0) when there is no end record to read
    (zipfile then says what is wrong). Zip64 puts 0xFFFF... here only past 65,535 entries."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 22 - 0xFFFF))     # the 22-byte end record, then up to 64 KiB of comment
    tail = f.read()
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return 0, 0
    return (int.from_bytes(tail[pos + 10:pos + 12], "little"),
            int.from_bytes(tail[pos + 12:pos + 16], "little"))


def _damaged(npz_path, reason):
    return CheckpointError(f"{npz_path} is damaged or not a scratchrnn checkpoint ({reason}); "
                           f"use another checkpoint (e.g. best instead of last)")


def _read_archive(zf, npz_path):
    """The zip directory, then the metadata, then the budget, then the arrays, then the checksum."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _damaged(npz_path, "the same array is stored twice")
    if any(not n.endswith(".npy") for n in names):
        raise _damaged(npz_path, "it holds entries that are not .npy arrays")
    size = zf.fp.seek(0, os.SEEK_END)
    if any(i.compress_size > size or i.compress_type == zipfile.ZIP_STORED
           and i.compress_size != i.file_size for i in infos):
        raise _damaged(npz_path, "its zip directory declares sizes the file cannot hold")
    by_name = {n[:-len(".npy")]: i for n, i in zip(names, infos)}
    meta_info, digest_info = by_name.pop("__meta__", None), by_name.pop("__sha256__", None)
    if meta_info is None or meta_info.file_size > MAX_META_BYTES + NPY_HEADER_BYTES:
        raise CheckpointError(f"{npz_path} is not a scratchrnn checkpoint (it has no readable "
                              f"'{FORMAT}' metadata)")
    blob = _read_npy(zf, meta_info)
    try:
        meta = json.loads(blob.tobytes().decode("utf-8")) if blob.dtype == np.uint8 else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{npz_path} is not a scratchrnn checkpoint (it has no readable "
                              f"'{FORMAT}' metadata)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{npz_path} has checkpoint version {meta.get('version')}; this "
                              f"scratchrnn reads version {VERSION}")
    if digest_info is None:
        raise CheckpointError(f"{npz_path} is not a scratchrnn checkpoint, or is damaged (it has "
                              f"no '__sha256__' entry)")
    max_entries, max_bytes, what = checkpoint_budget(meta)
    declared = sum(i.file_size for i in by_name.values())
    if len(by_name) > max_entries or declared > max_bytes:
        raise CheckpointError(
            f"{npz_path} declares {len(by_name):,} array{'s' * (len(by_name) != 1)} of "
            f"{declared:,} bytes, more than "
            f"{what} can hold ({max_entries:,} arrays, {max_bytes:,} bytes): refused without "
            f"unpacking it (it is damaged or was not written by scratchrnn)")
    if digest_info.file_size > 32 + NPY_HEADER_BYTES:
        raise _damaged(npz_path, "its checksum entry is not a SHA-256")
    digest = _read_npy(zf, digest_info)
    arrays = {k: _read_npy(zf, i) for k, i in by_name.items()}
    arrays["__meta__"] = blob
    if digest.tobytes() != _digest(arrays):
        raise CheckpointError(f"{npz_path} is damaged: its contents do not match the checksum "
                              f"saved with them; use another checkpoint (e.g. best instead of last)")
    del arrays["__meta__"]
    return arrays, meta


class _BadArray(Exception):
    """An entry of the archive that is not a plain numeric .npy array."""


def _read_npy(zf, info):
    """One .npy member -> ndarray, allocating no more than the zip says the member holds.

    NumPy's own reader trusts the header: it allocates the shape the header names before it
    reads, lets a damaged header escape as tokenize or syntax errors, and answers an object
    array with advice to unpickle it. Here the header must be a plain dict naming a numeric
    dtype and a shape whose size is exactly what the zip entry holds; anything else is refused.
    """
    with zf.open(info) as f:
        magic = f.read(8)
        if len(magic) != 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
            raise _BadArray(f"{info.filename} is not a .npy array")
        prefix = 10 if magic[6] == 1 else 12
        size = f.read(prefix - 8)
        header_len = int.from_bytes(size, "little")
        if len(size) != prefix - 8 or header_len > NPY_HEADER_BYTES:
            raise _BadArray(f"{info.filename} has a damaged .npy header")
        text = f.read(header_len)
        try:
            header = ast.literal_eval(text.decode("utf-8" if magic[6] == 3 else "latin1"))
            dtype = np.dtype(header["descr"]) if isinstance(header["descr"], str) else None
            shape, fortran = header["shape"], header["fortran_order"]
        except Exception:    # noqa: BLE001 -- a damaged header can fail in many ways
            raise _BadArray(f"{info.filename} has a damaged .npy header") from None
        if dtype is None or dtype.kind not in "biufc":
            raise _BadArray(f"{info.filename} is not a plain numeric array (dtype "
                            f"{header['descr']!r}); checkpoints hold nothing else, and objects "
                            f"are never unpickled")
        if (len(header) != 3 or not isinstance(fortran, bool) or not isinstance(shape, tuple)
                or not all(isinstance(n, int) and n >= 0 for n in shape)):
            raise _BadArray(f"{info.filename} has a damaged .npy header")
        count = math.prod(shape)
        if prefix + header_len + count * dtype.itemsize != info.file_size:
            raise _BadArray(f"{info.filename}: its header's shape {shape} does not match the "
                            f"{info.file_size:,} bytes stored")
        array = np.empty(count, dtype)
        view, done = memoryview(array).cast("B"), 0
        while done < len(view):
            chunk = f.read(min(1 << 20, len(view) - done))
            if not chunk:
                raise _BadArray(f"{info.filename} is truncated")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        if f.read(1):     # reading to the end also makes zipfile check the CRC
            raise _BadArray(f"{info.filename} holds more bytes than its header says")
    return array.reshape(shape, order="F" if fortran else "C")


# An .npy header is about 128 bytes (NumPy pads it to a multiple of 64); allow for long shapes.
NPY_HEADER_BYTES = 4096
# Entries any checkpoint may have (a 2-layer LSTM's has 48), checked before the zip directory
# is parsed; then the declared model's own bound applies (checkpoint_budget).
MAX_ENTRIES = 4096
# The metadata is JSON with the run's history: a million-step run writes about 12 MB.
MAX_META_BYTES = 32 << 20
# Arrays beyond those of the declared model (and what a checkpoint holds without a model).
SPARE_ENTRIES, SPARE_BYTES = 16, 1 << 20
UNDECLARED_MAX_ENTRIES, UNDECLARED_MAX_BYTES = 1024, 64 << 20
OPTIMIZER_BUFFERS = 3      # per parameter: Adam keeps 2, SGD and Adagrad 1


def checkpoint_budget(meta):
    """(max entries, max bytes, description) a checkpoint with this metadata may declare.

    A language model's checkpoint holds its parameters, up to OPTIMIZER_BUFFERS optimiser
    buffers per parameter and the carried hidden state (2 x num_layers x batch_size x
    hidden_size), each at most 8 bytes an entry, plus a little to spare. A checkpoint that
    declares no model may hold up to UNDECLARED_MAX_BYTES.
    """
    model = meta.get("model")
    sizes = _charlm_sizes(model) if isinstance(model, dict) else None
    if sizes is None:
        return (UNDECLARED_MAX_ENTRIES, UNDECLARED_MAX_BYTES,
                "a checkpoint without a language model")
    vocab, emb, hidden, layers, gates = sizes
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    batch = args.get("batch_size")
    batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 0
    # The same sums as charlm_parameter_shapes, without listing num_layers layers.
    params = (vocab * emb + gates * hidden * (emb + hidden + 2)
              + (layers - 1) * gates * hidden * (2 * hidden + 2) + vocab * hidden + vocab)
    entries = (4 * layers + 3) * (1 + OPTIMIZER_BUFFERS) + 2 + SPARE_ENTRIES
    nbytes = (8 * (params * (1 + OPTIMIZER_BUFFERS) + 2 * layers * batch * hidden)
              + entries * NPY_HEADER_BYTES + SPARE_BYTES)
    return (entries, nbytes, f"a checkpoint of its {model.get('model_type', 'lstm').upper()} "
            f"language model ({params:,} parameters)")


_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _charlm_sizes(config):
    """(vocab_size, embedding_dim, hidden_size, num_layers, gates) of a CharLM config, or None."""
    sizes = [config.get(k) for k in ("vocab_size", "embedding_dim", "hidden_size", "num_layers")]
    kind = config.get("model_type", "lstm")
    if not isinstance(kind, str) or kind not in _GATES or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        return None
    return (*sizes, _GATES[kind])


def charlm_parameter_shapes(config):
    """{name: shape} of CharLM(**config)'s parameters, worked out without building the model
    (a damaged or hostile config may ask for terabytes); None if config is not a CharLM's."""
    sizes = _charlm_sizes(config) if isinstance(config, dict) else None
    if sizes is None:
        return None
    vocab, emb, hidden, layers, gates = sizes
    shapes = {"embedding.weight": (vocab, emb)}
    for k in range(layers):
        shapes[f"rnn.weight_ih_l{k}"] = (gates * hidden, emb if k == 0 else hidden)
        shapes[f"rnn.weight_hh_l{k}"] = (gates * hidden, hidden)
        shapes[f"rnn.bias_ih_l{k}"] = (gates * hidden,)
        shapes[f"rnn.bias_hh_l{k}"] = (gates * hidden,)
    shapes["decoder.weight"] = (vocab, hidden)
    shapes["decoder.bias"] = (vocab,)
    return shapes


def _digest(arrays):
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = arrays[k]
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).data)     # the bytes in place, not a copy of them
    return h.digest()


def _read_json(path):
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_META_BYTES:   # no bigger than the original
                return None
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def load_model(path):
    """A language model checkpoint -> (model, vocab, meta). The model is in eval mode."""
    from .data import vocab_from_dict
    from .models import CharLM
    arrays, meta = load_checkpoint(path)
    npz_path = checkpoint_paths(path)[0]
    if not isinstance(meta.get("model"), dict) or not isinstance(meta.get("vocab"), dict):
        raise CheckpointError(f"{npz_path} is a scratchrnn checkpoint but not a language model's "
                              f"(no 'model' and 'vocab' entries)")
    state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    check_model_arrays(npz_path, meta["model"], state)
    try:
        model = CharLM(**meta["model"])
        model.load_state_dict(state)
        vocab = vocab_from_dict(meta["vocab"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{npz_path} does not hold a model this scratchrnn can build: {e}") from None
    if len(vocab) != model.embedding.num_embeddings:
        raise CheckpointError(f"{npz_path}: vocabulary of {len(vocab)} tokens does not match the "
                              f"model's {model.embedding.num_embeddings}")
    return model.eval(), vocab, meta


def check_model_arrays(npz_path, config, state):
    """The arrays must be the parameters the config describes, checked before the model is
    built: a config is only numbers, and a damaged one could ask for any amount of memory."""
    sizes = _charlm_sizes(config)
    dtype = config.get("dtype", "float32")
    if sizes is None or dtype not in ("float16", "float32", "float64"):
        raise CheckpointError(f"{npz_path} does not hold a model this scratchrnn can build: its "
                              f"model settings {config} are not a CharLM's (positive integer "
                              f"sizes, model_type rnn/lstm/gru, a float dtype)")
    layers = sizes[3]
    if 4 * layers + 3 > len(state) + SPARE_ENTRIES:
        raise CheckpointError(f"{npz_path} does not hold a model this scratchrnn can build: it "
                              f"declares {layers:,} layers but holds only {len(state)} arrays")
    shapes = charlm_parameter_shapes(config)
    problems = [f"{k}: missing" for k in shapes if k not in state]
    problems += [f"{k}: not a parameter of this model" for k in state if k not in shapes]
    problems += [f"{k}: shape {state[k].shape}, the model needs {shapes[k]}"
                 for k in shapes if k in state and state[k].shape != shapes[k]]
    if problems:
        raise CheckpointError(f"{npz_path} does not hold a model this scratchrnn can build: "
                              + "; ".join(problems))

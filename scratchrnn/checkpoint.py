"""Checkpoints: arrays in ``NAME.npz``, everything else in ``NAME.json``. Loading never unpickles.

Each file is written to a temporary name, flushed to disk, then renamed into place
(``os.replace`` is atomic), so a run killed mid-write never leaves a half-written file.
Two renames cannot be one atomic step, so the ``.npz`` also carries the metadata (as UTF-8
bytes under ``__meta__``): it alone is a complete checkpoint, and a ``.json`` left over from
the previous save is noticed and ignored. The ``.json`` is the copy for people and tools.
A SHA-256 over the metadata and every array (``__sha256__``) is checked on load: NumPy does
not verify the zip's CRC, so without it a flipped byte would load as different numbers.
"""
import hashlib
import json
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
              **{k: np.ascontiguousarray(v) for k, v in arrays.items()}}
    digest = np.frombuffer(_digest(arrays), dtype=np.uint8)
    _atomic_write(npz_path, lambda f: np.savez(f, __sha256__=digest, **arrays))
    _atomic_write(json_path, lambda f: f.write(text.encode("utf-8")))
    return npz_path, json_path


def load_checkpoint(path):
    """Return (arrays, meta) from a checkpoint, or raise CheckpointError saying what is wrong."""
    npz_path, json_path = checkpoint_paths(path)
    if not npz_path.is_file():
        raise CheckpointError(f"checkpoint file {npz_path} does not exist (a checkpoint is a pair "
                              f"NAME.npz + NAME.json, e.g. runs/shakespeare/best)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise CheckpointError(f"{npz_path} is damaged or not an .npz file ({e}); use another "
                              f"checkpoint (e.g. best instead of last)") from None
    digest = arrays.pop("__sha256__", None)
    if digest is None or "__meta__" not in arrays:
        raise CheckpointError(f"{npz_path} is not a scratchrnn checkpoint, or is damaged (it has "
                              f"no '__sha256__' and '__meta__' entries)")
    if digest.tobytes() != _digest(arrays):
        raise CheckpointError(f"{npz_path} is damaged: its contents do not match the checksum "
                              f"saved with them; use another checkpoint (e.g. best instead of last)")
    blob = arrays.pop("__meta__", None)
    try:
        meta = json.loads(blob.tobytes().decode("utf-8")) if blob is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{npz_path} is not a scratchrnn checkpoint (it has no readable "
                              f"'{FORMAT}' metadata)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{npz_path} has checkpoint version {meta.get('version')}; this "
                              f"scratchrnn reads version {VERSION}")
    if _read_json(json_path) != meta:
        warnings.warn(f"{json_path} is missing, damaged or from another save; using the "
                      f"metadata stored inside {npz_path.name}", stacklevel=2)
    return arrays, meta


def _digest(arrays):
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = arrays[k]
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.digest()


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
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
    try:
        model = CharLM(**meta["model"])
        model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items()
                               if k.startswith("model/")})
        vocab = vocab_from_dict(meta["vocab"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{npz_path} does not hold a model this scratchrnn can build: {e}") from None
    if len(vocab) != model.embedding.num_embeddings:
        raise CheckpointError(f"{npz_path}: vocabulary of {len(vocab)} tokens does not match the "
                              f"model's {model.embedding.num_embeddings}")
    return model.eval(), vocab, meta

"""Make each lab's fixtures.npz: fixed inputs and the reference solution's outputs.

    python -m labs.make_fixtures            # all labs
    python -m labs.make_fixtures lab03      # one lab

The graders compare a student's forward results with these stored values, so they need no
solution at grading time. Rerun this only when a lab's interface or its reference changes,
and commit the .npz files. Inputs are drawn from fixed seeds, so the files are reproducible.
Keys are 'case/array', e.g. 'main/x', 'main/h' (see labs/grading.py: load_cases).
"""
import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):       # `python labs/make_fixtures.py` as well as `-m`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labs.grading import LABS, LABS_DIR  # noqa: E402


def _ref(lab):
    return importlib.import_module(f"labs._reference.{lab}")


def _normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


# --------------------------------------------------------------------------- lab01
def lab01(rng):
    ref = _ref("lab01")
    cases = {}
    for name, (B, D, H) in {"main": (3, 5, 4), "batch1": (1, 3, 6)}.items():
        c = dict(x=_normal(rng, (B, D)), h_prev=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (H, D), 0.5), W_hh=_normal(rng, (H, H), 0.5),
                 b=_normal(rng, H, 0.5))
        c["h"], _ = ref.rnn_step_forward(**c)
        cases[name] = c
    return cases


# --------------------------------------------------------------------------- lab02
def lab02(rng):
    ref = _ref("lab02")
    cases = {}
    for name, (T, B, D, H, V) in {"main": (5, 3, 4, 6, 7), "single_step": (1, 2, 3, 4, 5),
                                  "batch1": (4, 1, 3, 5, 6)}.items():
        c = dict(x=_normal(rng, (T, B, D)), h0=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (H, D), 0.5), W_hh=_normal(rng, (H, H), 0.4),
                 b=_normal(rng, H, 0.5))
        c["h"], _ = ref.rnn_forward(**c)
        c["W_hy"], c["b_y"] = _normal(rng, (V, H), 0.5), _normal(rng, V, 0.5)
        c["scores"], _ = ref.temporal_affine_forward(c["h"], c["W_hy"], c["b_y"])
        c["y"] = rng.integers(0, V, size=(T, B))
        mask = np.ones((T, B))
        if T > 1:
            mask[T // 2:, 0] = 0          # a shorter first sequence: padding at its end
        c["mask"] = mask
        c["loss"] = np.array(ref.temporal_softmax_loss(c["scores"], c["y"], mask)[0])
        c["dh_last"] = _normal(rng, (B, H))
        c["norms"] = ref.hidden_grad_norms(c["x"], c["h0"], c["W_ih"], c["W_hh"], c["b"],
                                           c["dh_last"])
        cases[name] = c
    return cases


# --------------------------------------------------------------------------- lab03, lab04
STEP_SHAPES = {"step_main": (3, 4, 5), "step_batch1": (1, 3, 4)}                  # B, D, H
SEQ_SHAPES = {"seq_main": (5, 3, 4, 5), "seq_single_step": (1, 2, 3, 4), "seq_batch1": (4, 1, 3, 5)}


def lab03(rng):
    ref = _ref("lab03")
    cases = {}
    for name, (B, D, H) in STEP_SHAPES.items():
        c = dict(x=_normal(rng, (B, D)), h_prev=_normal(rng, (B, H)), c_prev=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (4 * H, D), 0.5), W_hh=_normal(rng, (4 * H, H), 0.5),
                 b=_normal(rng, 4 * H, 0.5))
        c["h"], c["c"], _ = ref.lstm_step_forward(**c)
        cases[name] = c
    for name, (T, B, D, H) in SEQ_SHAPES.items():
        c = dict(x=_normal(rng, (T, B, D)), h0=_normal(rng, (B, H)), c0=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (4 * H, D), 0.5), W_hh=_normal(rng, (4 * H, H), 0.5),
                 b=_normal(rng, 4 * H, 0.5))
        c["h"], _ = ref.lstm_forward(**c)
        cases[name] = c
    return cases


def lab04(rng):
    ref = _ref("lab04")
    cases = {}
    for name, (B, D, H) in STEP_SHAPES.items():
        c = dict(x=_normal(rng, (B, D)), h_prev=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (3 * H, D), 0.5), W_hh=_normal(rng, (3 * H, H), 0.5),
                 b_ih=_normal(rng, 3 * H, 0.5), b_hh=_normal(rng, 3 * H, 0.5))
        c["h"], _ = ref.gru_step_forward(**c)
        cases[name] = c
    for name, (T, B, D, H) in SEQ_SHAPES.items():
        c = dict(x=_normal(rng, (T, B, D)), h0=_normal(rng, (B, H)),
                 W_ih=_normal(rng, (3 * H, D), 0.5), W_hh=_normal(rng, (3 * H, H), 0.5),
                 b_ih=_normal(rng, 3 * H, 0.5), b_hh=_normal(rng, 3 * H, 0.5))
        c["h"], _ = ref.gru_forward(**c)
        cases[name] = c
    return cases


# --------------------------------------------------------------------------- lab05
def lab05(rng):
    ref = _ref("lab05")
    w = _normal(rng, (3, 4))
    adam = {"w0": w, "learning_rate": np.array(1e-2)}
    config = {"learning_rate": 1e-2}
    for step in range(1, 4):
        dw = _normal(rng, (3, 4))
        w, config = ref.adam_update(w, dw, config)
        adam[f"dw{step}"], adam[f"w{step}"] = dw, w
    V, E, H, T, B = 6, 3, 4, 5, 2
    model = ref.CharModel(V, E, H, dtype=np.float64, seed=5)
    for p in model.parameters():            # away from the init, so that every term matters
        p.data[...] = _normal(rng, p.data.shape, 0.5)
    ids = rng.integers(0, V, size=(T, B))
    h0, c0 = _normal(rng, (1, B, H)), _normal(rng, (1, B, H))
    logits, _ = model.forward(ids, (h0, c0))
    charmodel = {f"param.{k}": v for k, v in model.state_dict().items()}
    charmodel.update(ids=ids, h0=h0, c0=c0, logits=logits, vocab_size=np.array(V),
                     embed_dim=np.array(E), hidden_size=np.array(H))
    return {"adam": adam, "charmodel": charmodel}


# --------------------------------------------------------------------------- lab06
def _scaled_params(ref, rng, D, H, C, bidirectional):
    params = ref.init_params(D, H, C, bidirectional, rng)
    return {k: _normal(rng, v.shape, 0.6) for k, v in params.items()}   # non-zero b_cls too


def lab06(rng):
    ref = _ref("lab06")
    T, B, H = 5, 4, 3
    h, lengths = _normal(rng, (T, B, H)), np.array([5, 2, 0, 3])
    pool = dict(h=h, lengths=lengths, mask=ref.length_mask(lengths, T))
    pool["last"], _ = ref.last_state_forward(h, lengths)
    pool["mean"], _ = ref.masked_mean_forward(h, pool["mask"])
    pool["reversed"] = ref.reverse_within_length(h, lengths)
    cases = {"pool": pool}
    x, lengths = _normal(rng, (T, 3, 2)), np.array([5, 2, 3])
    params = _scaled_params(ref, rng, 2, H, 4, True)
    birnn = dict(x=x, lengths=lengths, **{f"param.{k}": v for k, v in params.items()
                                         if k.startswith(("weight", "bias"))})
    birnn["out"], _ = ref.birnn_forward(x, lengths, params)
    cases["birnn"] = birnn
    for bi in (False, True):
        for how in ("last", "mean"):
            params = _scaled_params(ref, rng, 2, H, 4, bi)
            c = dict(x=x, lengths=lengths, **{f"param.{k}": v for k, v in params.items()})
            c["logits"], _ = ref.classify_forward(x, lengths, params, how)
            cases[f"classify_{'bi' if bi else 'uni'}_{how}"] = c
    return cases


# --------------------------------------------------------------------------- lab07
ATTENTION_SHAPES = {"attn_full": ((3, 2, 4, 3, 4, 5), None),                # T, B, S, Q, K, A
                    "attn_ragged": ((4, 3, 5, 3, 4, 5), [5, 1, 3]),
                    "attn_one_query": ((1, 2, 6, 4, 3, 2), [6, 3])}


def lab07(rng):
    ref = _ref("lab07")
    cases = {}
    for name, lengths in {"softmax_full": None, "softmax_ragged": [5, 2, 4]}.items():
        c = dict(scores=_normal(rng, (3, 3, 5), 2.0))
        if lengths is not None:
            c["lengths"] = np.array(lengths)
        c["weights"], _ = ref.masked_softmax(c["scores"], c.get("lengths"))
        cases[name] = c
    for name, ((T, B, S, Q, K, A), lengths) in ATTENTION_SHAPES.items():
        c = dict(queries=_normal(rng, (T, B, Q)), keys=_normal(rng, (S, B, K)),
                 W_q=_normal(rng, (A, Q), 0.5), W_k=_normal(rng, (A, K), 0.5),
                 b=_normal(rng, A, 0.5), v=_normal(rng, A))
        if lengths is not None:
            c["lengths"] = np.array(lengths)
        c["context"], c["weights"], _ = ref.additive_attention_forward(**c)
        cases[name] = c
    return cases


BUILDERS = {"lab01": lab01, "lab02": lab02, "lab03": lab03, "lab04": lab04, "lab05": lab05,
            "lab06": lab06, "lab07": lab07}


def build(lab):
    """{case: {array name: array}} for one lab, from a seed fixed per lab."""
    rng = np.random.default_rng(1000 + int(lab[3:]))
    return BUILDERS[lab](rng)


def write(lab, cases):
    path = LABS_DIR / LABS[lab][0] / "fixtures.npz"
    flat = {f"{case}/{k}": np.asarray(v) for case, arrays in cases.items() for k, v in arrays.items()}
    np.savez_compressed(path, **flat)
    return path, len(flat)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("labs", nargs="*", help="lab ids (default: all): " + ", ".join(BUILDERS))
    args = p.parse_args(argv)
    for lab in args.labs or list(BUILDERS):
        if lab not in BUILDERS:
            p.error(f"unknown lab {lab!r}; choose from {', '.join(BUILDERS)}")
        path, n = write(lab, build(lab))
        print(f"{lab}: wrote {n} arrays to {path.relative_to(LABS_DIR.parent)}")


if __name__ == "__main__":
    main()

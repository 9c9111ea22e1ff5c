"""``python -m scratchrnn.bench`` runs and reports every section, at a tiny size.

Only that the benchmark works is tested: no number it measures is compared with a
threshold (timings on a shared machine are not test material).
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from scratchrnn.cli import bench
from scratchrnn.cli._common import UsageError
from scratchrnn import kernels as K
from scratchrnn.kernels import lstm as lstm_kernels


def test_quick_json_run_has_every_section_and_model(capsys):
    bench.main(["--quick", "--json"])
    res = json.loads(capsys.readouterr().out)
    results = res["results"]
    assert {r["section"] for r in results} == set(bench.SECTIONS)
    assert {r["model"] for r in results} == set(bench.MODELS)
    with_torch = bool(res["meta"]["torch"])
    for r in results:
        if r["section"] in ("train", "eval", "gen"):
            assert r["scratchrnn"]["per_s"] > 0 and r["scratchrnn"]["n"] >= 1
            if with_torch:
                assert r["torch"]["per_s"] > 0 and r["ratio"] > 0 and r["ratio_paired"] > 0
        if r["section"] == "eval" and with_torch:
            assert r["loss_diff"] < 1e-4 and np.isfinite(r["loss"])    # the same weights, same loss
        if r["section"] == "gen":
            assert r["scratchrnn"]["us_per_token"] > 0 and r["modules"]["us_per_token"] > 0
            if with_torch:
                assert r["ratio_modules"] > 0
        if r["section"] == "charlm":
            assert r["folded"]["per_s"] > 0 and r["unfolded"]["per_s"] > 0
            assert r["fold_speedup"] > 0 and isinstance(r["rule_folds"], bool)
            if with_torch:
                assert r["ratio"] > 0 and r["ratio_unfolded"] > 0
        if r["section"] == "memory":
            ours = r["scratchrnn"]
            assert ours["peak_bytes"] >= ours["at_start_bytes"] >= ours["persistent_bytes"] > 0
            if with_torch:
                assert r["torch"]["peak_bytes"] >= r["torch"]["persistent_bytes"] > 0
        if r["section"] == "profile":
            assert 0 < r["matmul_fraction"] <= 1 and r["flops"] > 0 and r["gemm_rate"] > 0
            assert r["matmul_calls"] >= 2 * r["T"]       # at least one product per step each way
            assert r["floor_s"] > 0 and r["replay_s"] > 0


def test_table_report_without_torch(capsys):
    bench.main(["--quick", "--no-torch", "--models", "gru", "--sections", "train,eval,gen,charlm,profile"])
    out = capsys.readouterr().out
    for heading in ("Training step", "Forward-only evaluation", "Generation at B=1",
                    "CharLM training step", "Where our training step goes"):
        assert heading in out
    assert "gru" in out


def test_module_entry_point_runs():
    cmd = [sys.executable, "-m", "scratchrnn.bench", "--quick", "--no-torch", "--models", "rnn",
           "--sections", "train", "--config", "2,3,4,5,1", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout)
    assert res["results"][0]["config"] == "B2 T3 E4 H5 L1"


@pytest.mark.parametrize("argv", [["--config", "1,2"], ["--config", "a,b,c,d,e"], ["--models", "transformer"],
                                  ["--sections", "speed"], ["--repeats", "0"], ["--gen", "1,2"]])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(UsageError):
        bench.parse_args(argv)
    assert bench.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_matmul_recorder_counts_flops_and_restores_numpy():
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    rec = bench._MatmulRecorder()
    with rec.installed():
        assert lstm_kernels.np is not np
        K.linear_forward(x, W)
    assert lstm_kernels.np is np
    assert rec.flops == 2 * 5 * 3 * 4 and len(rec.calls) == 1 and rec.seconds > 0
    assert bench.replay_seconds(rec.calls, repeats=1) > 0


def test_instrumented_step_computes_the_same_loss():
    """Profiling swaps np inside the kernels; it must not change what is computed."""
    cfg = bench.Config(3, 4, 5, 6, 2)
    x, y = bench.make_batch(cfg)
    plain, timed = bench.Ours("lstm", 5, 6, 2), bench.Ours("lstm", 5, 6, 2)
    rec = bench._MatmulRecorder()
    with rec.installed():
        loss_timed = [timed.train_step(x, y) for _ in range(2)]
    assert [plain.train_step(x, y) for _ in range(2)] == loss_timed

"""Data-parallel training over MPI (scratchrnn/distributed.py): N ranks compute what one
process computes, rank 0 alone speaks and writes, bad splits and dead ranks end cleanly.

The end-to-end tests start ``mpiexec -n 2 python -m scratchrnn.train`` on a tiny model and a
small text (seconds each) and compare its save dir with a one-process run of the same flags;
they are skipped when mpi4py or mpiexec is missing (``pip install 'scratchrnn[mpi]'``). The
first tests need neither: the single-process stand-in and the row-share generator.
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchrnn.checkpoint import load_checkpoint
from scratchrnn.distributed import DataParallel, RowShareGenerator, data_parallel

FLAGS = ["--hidden_size", "16", "--embedding_dim", "8", "--num_layers", "2", "--batch_size", "4",
         "--seq_length", "8", "--sample_length", "5", "--dtype", "float64", "--eval_interval", "5",
         "--max_minutes", "0", "--lr", "0.01",
         "--lr_schedule", "constant", "--warmup_steps", "0"]   # resumed to a longer budget below
LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMI_FD", "PMI_PORT", "OMPI_COMM_WORLD_SIZE",
                 "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMIX_SIZE", "SLURM_PROCID",
                 "SLURM_STEP_NUM_TASKS", "MPI_LOCALNRANKS", "MPI_LOCALRANKID")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", **extra)
    return env


# ------------------------------------------------------------------ without MPI
def test_without_a_launcher_it_is_one_process_and_mpi_is_never_imported():
    code = ("import sys; from scratchrnn.distributed import data_parallel; dp = data_parallel(); "
            "assert (dp.rank, dp.size, dp.is_root, dp.comm) == (0, 1, True, None), dp; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env(), timeout=60)


def test_the_single_process_stand_in_is_the_identity():
    dp = DataParallel(None)
    assert dp.rows(6) == slice(0, 6)
    state = (np.ones((2, 6, 3)), np.zeros((2, 6, 3)))
    assert dp.take_rows(state) is state and dp.gather_rows(state) is state
    assert dp.allreduce_gradients([], 1.25, 24) == 1.25 and dp.mean(0.5) == 0.5
    assert dp.agree(3.0) == 3.0
    dp.check_replicas([], 1)


def test_started_by_a_launcher_without_mpi4py_is_a_clear_error():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from scratchrnn.distributed import data_parallel\n"
            "from scratchrnn.training import ConfigError\n"
            "try:\n    data_parallel()\nexcept ConfigError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=clean_env(PMI_RANK="0", PMI_SIZE="2"), check=True).stdout
    assert "mpi4py is not installed: pip install 'scratchrnn[mpi]'" in out


@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.MT19937], ids=["skips", "draws-all"])
@pytest.mark.parametrize("draw", [(5, 2, 3), (2,), (2, 1)], ids=["dropout", "teacher", "sample"])
def test_row_share_draws_are_the_global_draws_rows(draw, bits):
    """Rank r of N draws exactly the numbers one process draws for the global batch's rows
    r*B/N...(r+1)*B/N, and leaves the generator where one process would (PCG64 by skipping
    the other ranks' numbers, other generators by drawing them)."""
    global_shape = tuple(6 if d == 2 else d for d in draw)      # B = 6 global, 2 per rank
    axis = 1 if len(draw) == 3 else 0
    one = np.random.Generator(bits(11))
    want = [one.random(global_shape) for _ in range(2)]
    after = one.random(8)          # what one process draws next
    for r in range(3):
        shared = RowShareGenerator(np.random.Generator(bits(11)), slice(2 * r, 2 * r + 2), 6)
        assert shared.skips == (bits is np.random.PCG64)
        for w in want:
            got = shared.random(draw)
            np.testing.assert_array_equal(got, np.take(w, range(2 * r, 2 * r + 2), axis=axis))
        np.testing.assert_array_equal(shared.rng.random(8), after)


def test_row_share_refuses_a_draw_without_the_ranks_rows():
    shared = RowShareGenerator(np.random.default_rng(0), slice(0, 2), 4)
    with pytest.raises(RuntimeError, match=r"shape \(5, 3, 7\) does not have this rank's 2 batch rows"):
        shared.random((5, 3, 7))


# ------------------------------------------------------------------ with MPI
def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


mpi = pytest.mark.skipif(
    _mpiexec() is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs mpi4py and mpiexec: pip install 'scratchrnn[mpi]'")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = "the king is dead long live the queen and all her men went home to sleep".split()
    text = "\n".join(" ".join(rng.choice(words, size=rng.integers(3, 9))).capitalize() + "."
                     for _ in range(150))
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def train_cmd(ranks, *flags):
    cmd = [sys.executable, "-m", "scratchrnn.train", *flags]
    return ([_mpiexec(), "-n", str(ranks)] + cmd) if ranks else cmd


def train(cwd, ranks, corpus, *flags, timeout=120):
    """Run the trainer in ``cwd`` (save dir 'run' there, so the printed paths agree)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(train_cmd(ranks, "--data_file", str(corpus), "--save_dir", "run",
                                    *FLAGS, *map(str, flags)),
                          cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def assert_same_checkpoint(a, b, rel=1e-9):
    (xa, ma), (xb, mb) = load_checkpoint(a), load_checkpoint(b)
    assert sorted(xa) == sorted(xb)
    assert any(k.startswith("optim/") for k in xa) and any(k.startswith("hidden/") for k in xa)
    for k in xa:
        scale = max(np.abs(xa[k]).max(), 1e-30)
        assert np.abs(xa[k] - xb[k]).max() <= rel * scale, f"{k} differs"
    assert ma["rng"] == mb["rng"] and ma["stream"] == mb["stream"] and ma["step"] == mb["step"]
    val_a, val_b = ({step: v for step, _, v in m["history"]["val"]} for m in (ma, mb))
    assert set(val_a) <= set(val_b)     # a resumed run adds the validation where it stopped
    assert [val_b[s] for s in val_a] == pytest.approx(list(val_a.values()), rel=1e-9)


def not_progress(text):
    """The lines that must agree between runs (progress lines carry timings)."""
    return [line for line in text.splitlines() if "tok/s" not in line]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus):
    """One process, 12 steps, with dropout and with dropout plus scheduled sampling."""
    runs = {}
    for name, flags in (("dropout", ["--dropout", "0.3"]),
                        ("scheduled", ["--dropout", "0.2", "--teacher_forcing_ratio", "0.5"])):
        cwd = tmp_path_factory.mktemp(f"one-{name}")
        proc = train(cwd, 0, corpus, "--max_steps", 12, *flags)
        assert proc.returncode == 0, proc.stderr
        runs[name] = (cwd / "run", proc, flags)
    return runs


@mpi
@pytest.mark.parametrize("name", ["dropout", "scheduled"])
def test_two_ranks_compute_what_one_process_computes(tmp_path, corpus, reference, name):
    one_dir, one, flags = reference[name]
    two = train(tmp_path, 2, corpus, "--max_steps", 12, *flags)
    assert two.returncode == 0, two.stderr
    assert_same_checkpoint(one_dir / "last", tmp_path / "run" / "last")
    assert_same_checkpoint(one_dir / "best", tmp_path / "run" / "best")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == \
        sorted(p.name for p in one_dir.iterdir())
    # one copy of every line: the one-process output, after the line that tells the split
    lines = not_progress(two.stdout)
    assert lines[0] == "data parallel: 2 ranks x 2 sequences"
    assert lines[1:] == not_progress(one.stdout)
    assert two.stderr == one.stderr == ""


@mpi
def test_resume_with_any_number_of_ranks_continues_to_the_same_result(tmp_path, corpus, reference):
    """6 steps on 2 ranks, then 6 more on 2 or on 1; 6 steps on 1, then 6 more on 2: each
    equals 12 steps in one process."""
    one_dir, _, flags = reference["dropout"]
    for cwd, ranks in ((tmp_path / "a", 2), (tmp_path / "c", 0)):
        first = train(cwd, ranks, corpus, "--max_steps", 6, *flags)
        assert first.returncode == 0, first.stderr
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for cwd, ranks in ((tmp_path / "a", 2), (tmp_path / "b", 0), (tmp_path / "c", 2)):
        proc = train(cwd, ranks, corpus, "--max_steps", 12, "--resume", "run/last")
        assert proc.returncode == 0, proc.stderr
        assert "resumed from run/last at step 6" in proc.stdout
        assert_same_checkpoint(one_dir / "last", cwd / "run" / "last")


@mpi
def test_a_batch_that_does_not_split_is_refused_on_one_line(tmp_path, corpus):
    proc = train(tmp_path, 3, corpus, "--max_steps", 2, "--batch_size", 8, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == ("error: --batch_size 8 does not split into 3 equal shares, one per "
                           "rank: use a multiple of 3\n")
    assert proc.stdout == "" and not (tmp_path / "run").exists()


def _rank_pids(root_pid, rank):
    """PIDs of the processes under root_pid that MPI started as ``rank``."""
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        todo += [int(c) for c in children]
        if f"PMI_RANK={rank}".encode() in env and pid != root_pid:
            found.append(pid)
    return found


def _start_long_run(tmp_path, corpus):
    proc = subprocess.Popen(train_cmd(2, "--data_file", str(corpus), "--save_dir", "run", *FLAGS,
                                      "--max_steps", "1000000"),
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / "last.npz").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "no checkpoint written"
        time.sleep(0.2)
    time.sleep(0.5)         # in the middle of training, between checkpoints or inside one
    return proc


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@mpi
def test_a_killed_rank_ends_the_run_and_the_last_checkpoint_loads(tmp_path, corpus):
    proc = _start_long_run(tmp_path, corpus)
    try:
        victims = _rank_pids(proc.pid, 1)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        proc.communicate(timeout=60)          # within a minute, never a hang
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    arrays, meta = load_checkpoint(tmp_path / "run" / "last")
    assert meta["step"] > 0 and "model/decoder.weight" in arrays


@mpi
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_on_mpiexec_stops_every_rank_like_one_process(tmp_path, corpus, sig):
    """mpiexec forwards the signal to every rank; they agree on the step to stop at, rank 0
    saves last there (as one process does), one message, exit 130."""
    proc = _start_long_run(tmp_path, corpus)
    try:
        proc.send_signal(getattr(signal, sig))    # SIGINT: what Ctrl-C in the terminal sends
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "MPI Abort" not in err, err
    stopped = [line for line in out.splitlines() if line.startswith(f"{sig}: stopped at step")]
    assert len(stopped) == 1, out[-2000:]
    _, meta = load_checkpoint(tmp_path / "run" / "last")
    assert stopped[0].startswith(f"{sig}: stopped at step {meta['step']};")
    assert (tmp_path / "run" / "history.csv").exists()


@mpi
def test_what_rank_0_alone_refuses_stops_every_rank(tmp_path, corpus):
    """Rank 0 alone checks and writes the save dir: its refusal must reach the other rank, which
    would otherwise wait for rank 0 in the first step forever."""
    (tmp_path / "run" / "last.npz").mkdir(parents=True)
    (tmp_path / "run" / "last.npz" / "keep").write_text("a directory in the way")
    t0 = time.monotonic()
    proc = train(tmp_path, 2, corpus, "--max_steps", 20, timeout=90)
    assert proc.returncode == 2 and time.monotonic() - t0 < 60
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "last.npz is a folder" in proc.stderr


@mpi
def test_bench_mpi_reports_one_and_two_ranks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scratchrnn.bench", "--mpi", "2", "--quick",
                           "--json"], cwd=tmp_path, env=clean_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json
    rows = json.loads(proc.stdout)["results"]
    assert [(r["ranks"], r["rows_per_rank"]) for r in rows] == [(1, 4), (2, 2)]
    from scratchrnn.models import CharLM
    model = CharLM(65, "lstm", 8, 12, 2)          # --quick: B4 T6 E8 H12 L2, vocabulary 65
    assert all(r["gradient_bytes"] == sum(p.data.nbytes for p in model.parameters()) for r in rows)
    for r in rows:
        assert r["tokens_per_s"] > 0 and 0 <= r["allreduce_s"] < r["step_s"]


ON_ROOT = """
import sys
from scratchrnn.distributed import data_parallel
from scratchrnn.training import ConfigError
dp = data_parallel()
def write():
    raise ConfigError("disk full")
try:
    dp.on_root(write)
except ConfigError as e:
    print(f"rank {dp.rank}: {e}", flush=True)
with dp.abort_on_error(collective=(ConfigError,), wait=1.0):
    if dp.rank == 0:
        raise ConfigError("only rank 0 saw this")
    dp.comm.Barrier()        # rank 1 waits here for rank 0, which never comes
"""


@mpi
def test_on_root_raises_everywhere_and_a_lone_collective_error_aborts(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-c", ON_ROOT], env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    # (mpiexec merges the ranks' output: their lines may interleave)
    assert proc.stdout.count("disk full") == 2
    assert proc.stdout.count("rank 0: disk full") == proc.stdout.count("rank 1: disk full") == 1
    assert proc.returncode != 0 and "error: only rank 0 saw this" in proc.stderr
    assert "MPI Abort" in proc.stderr and time.monotonic() - t0 < 30

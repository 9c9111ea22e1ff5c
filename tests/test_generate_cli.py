"""``python -m scratchrnn.generate``: output, reproducibility, checkpoint paths, and every kind
of bad input ending in one ``error:`` line and exit status 2 (never a traceback)."""
import subprocess
import sys

import numpy as np
import pytest

from scratchrnn.checkpoint import save_checkpoint
from scratchrnn.cli.generate import main
from test_sampling import save_tiny_checkpoint, tiny_checkpoint  # noqa: F401 (a fixture)


def run(capsys, *argv):
    """main(argv) -> (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_prime_plus_length_characters(capsys, tiny_checkpoint):
    code, out, err = run(capsys, "--checkpoint", tiny_checkpoint, "--length", 40,
                         "--prime", "hel", "--seed", 1)
    assert code == 0 and err == ""
    assert out.endswith("\n") and out.startswith("hel") and len(out) == 3 + 40 + 1


def test_same_seed_same_text(capsys, tiny_checkpoint):
    texts = [run(capsys, "--checkpoint", tiny_checkpoint, "--length", 60, "--seed", s,
                 "--top_k", 5, "--top_p", 0.95, "--temperature", 1.1)[1] for s in (3, 3, 4)]
    assert texts[0] == texts[1] != texts[2]


def test_prime_file_and_decoders(capsys, tiny_checkpoint, tmp_path):
    (tmp_path / "prime.txt").write_text("hello w", encoding="utf-8")
    by_file = run(capsys, "--checkpoint", tiny_checkpoint, "--prime_file", tmp_path / "prime.txt",
                  "--length", 20, "--greedy")[1]
    by_flag = run(capsys, "--checkpoint", tiny_checkpoint, "--prime", "hello w", "--length", 20,
                  "--temperature", 0)[1]
    beam1 = run(capsys, "--checkpoint", tiny_checkpoint, "--prime", "hello w", "--length", 20,
                "--beam_size", 1)[1]
    assert by_file == by_flag == beam1 and len(by_file) == 7 + 20 + 1
    code, out, _ = run(capsys, "--checkpoint", tiny_checkpoint, "--length", 20, "--beam_size", 3)
    assert code == 0 and len(out) == 21


@pytest.mark.parametrize("suffix", ["", ".npz", ".json"])
def test_checkpoint_may_be_named_with_or_without_suffix(capsys, tiny_checkpoint, suffix):
    code, out, _ = run(capsys, "--checkpoint", tiny_checkpoint + suffix, "--length", 5, "--seed", 0)
    assert code == 0 and len(out) == 6


def test_default_checkpoint_is_the_trainers_best(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "--length", 5)
    assert code == 2 and out == ""
    assert "python -m scratchrnn.train --clip 5" in err and "--checkpoint" in err
    save_tiny_checkpoint(tmp_path / "runs" / "shakespeare" / "best")
    code, out, err = run(capsys, "--length", 5)
    assert code == 0 and len(out) == 6


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for flag in ("--checkpoint", "--length", "--temperature", "--top_k", "--top_p", "--beam_size",
                 "--prime", "--prime_file", "--seed", "--greedy"):
        assert flag in out


# --------------------------------------------------------------------------- bad input

def make_bad_checkpoint(kind, tmp_path):
    """Write a broken checkpoint of the given kind and return its path (str)."""
    path = tmp_path / f"{kind}.npz"
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    elif kind == "foreign":
        np.savez(path, weights=np.ones(3))
    elif kind == "not_a_model":
        save_checkpoint(path, {"x": np.ones(2)}, {"what": "optimiser only"})
    elif kind == "wrong_shapes":
        model, vocab = save_tiny_checkpoint(tmp_path / "ok")
        config = dict(model.config(), hidden_size=17)     # arrays are for 16 units
        save_checkpoint(path, {"model/" + k: a for k, a in model.state_dict().items()},
                        {"model": config, "vocab": vocab.to_dict()})
    return str(path)


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("corrupt", "is damaged or not a scratchrnn checkpoint"),
    ("foreign", "is not a scratchrnn checkpoint"),
    ("not_a_model", "not a language model"),
    ("wrong_shapes", "the model needs"),
])
def test_bad_checkpoints_give_one_line_errors(capsys, tmp_path, kind, message):
    path = str(tmp_path / "missing") if kind == "missing" else make_bad_checkpoint(kind, tmp_path)
    assert_one_line_error(run(capsys, "--checkpoint", path), message)


@pytest.mark.parametrize("args, message", [
    (["--top_k", 10], r"top_k=10 is larger than the vocabulary (9 tokens)"),
    (["--top_k", 0], "--top_k: must be >= 1"),
    (["--top_k", "many"], "--top_k: expected an integer"),
    (["--top_p", 0], "top_p must be in (0, 1]"),
    (["--top_p", 1.5], "top_p must be in (0, 1]"),
    (["--top_p", "nan"], "top_p must be in (0, 1]"),
    (["--temperature", -1], "temperature must be a finite number >= 0"),
    (["--temperature", "inf"], "temperature must be a finite number >= 0"),
    (["--length", -5], "--length/--max_length: must be >= 0"),
    (["--beam_size", 0], "--beam_size: must be >= 1"),
    (["--seed", -1], "--seed: must be >= 0"),
    (["--prime", "hezQz"], "the prime text has characters not in the vocabulary: 'z', 'Q'"),
    (["--prime", "he", "--prime_file", "p.txt"], "--prime_file: not allowed with argument --prime"),
    (["--prime_file", "no-such-file.txt"], "cannot read --prime_file no-such-file.txt"),
    (["--beam_size", 3, "--top_k", 2], "--beam_size does not sample, so --top_k would be ignored"),
    (["--greedy", "--temperature", 0.5], "--greedy does not sample, so --temperature"),
    (["--greedy", "--beam_size", 2], "--greedy and --beam_size are different decoders"),
    (["--lenght", 5], "unrecognized arguments: --lenght"),
])
def test_bad_flags_give_one_line_errors(capsys, tiny_checkpoint, tmp_path, monkeypatch,
                                        args, message):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run(capsys, "--checkpoint", tiny_checkpoint, *args), message)


def test_prime_file_that_is_not_utf8(capsys, tiny_checkpoint, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("héllo".encode("latin-1"))
    assert_one_line_error(run(capsys, "--checkpoint", tiny_checkpoint,
                              "--prime_file", tmp_path / "latin1.txt"), "codec can't decode")


def assert_one_line_error(result, message):
    code, out, err = result
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err and "Traceback" not in err


# --------------------------------------------------------------------------- entry point

def test_module_entry_point(capsys, tiny_checkpoint):
    argv = ["--checkpoint", tiny_checkpoint, "--length", "30", "--prime", "wor", "--seed", "7"]
    done = subprocess.run([sys.executable, "-m", "scratchrnn.generate", *argv],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run(capsys, *argv)[1] and len(done.stdout) == 34
    bad = subprocess.run([sys.executable, "-m", "scratchrnn.generate", *argv, "--top_p", "2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: top_p")


def test_max_length_is_an_alias_of_length(capsys, tiny_checkpoint):
    by_alias = run(capsys, "--checkpoint", tiny_checkpoint, "--max_length", 25, "--seed", 2)
    by_name = run(capsys, "--checkpoint", tiny_checkpoint, "--length", 25, "--seed", 2)
    assert by_alias == by_name and by_alias[0] == 0 and len(by_alias[1]) == 26


def test_help_shows_real_defaults_not_none(capsys):
    from scratchrnn.cli.generate import build_parser
    text = build_parser().format_help()
    assert "None" not in text
    for default in ("default 500", "default 0.8", "default: all", "default: sampling"):
        assert default in " ".join(text.split()), default


@pytest.mark.parametrize("kind", ["renamed_npy", "directory", "bomb", "bad_header"])
def test_hostile_checkpoints_give_one_line_errors(capsys, tmp_path, kind):
    """The reproductions of issue 12: each is one line and exit status 2, never a traceback
    and never NumPy's advice to load the file with allow_pickle."""
    import io
    import zipfile
    path = tmp_path / "ck"
    if kind == "renamed_npy":
        np.save(tmp_path / "x.npy", np.zeros(3))
        (tmp_path / "x.npy").rename(tmp_path / "ck.npz")
    elif kind == "directory":
        (tmp_path / "ck.npz").mkdir()
    else:
        save_tiny_checkpoint(tmp_path / "good")
        with zipfile.ZipFile(tmp_path / "good.npz") as src, \
                zipfile.ZipFile(tmp_path / "ck.npz", "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if kind == "bad_header" and info.filename.startswith("model/decoder.weight"):
                    end = data.index(b"}")      # the header dict left open: NumPy's parser
                    data = data[:end] + b" " + data[end + 1:]     # raised tokenize.TokenError
                dst.writestr(info.filename, data)
            if kind == "bomb":
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    buf, {"descr": "<f4", "fortran_order": False, "shape": (25 << 20,)})
                dst.writestr("model/extra.npy", buf.getvalue() + bytes(100 << 20))
    code, out, err = run(capsys, "--checkpoint", path, "--length", 5)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "ck.npz" in err and "allow_pickle" not in err

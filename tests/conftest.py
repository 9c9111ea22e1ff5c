"""Shared test set-up: float64 checks, the shared corpus, an optional torch reference."""
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Tests never download: they read the team's copy of the corpus when it is there.
if SHARED_DATA.is_dir():
    os.environ.setdefault("SCRATCHRNN_DATA_DIR", str(SHARED_DATA))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    """The torch module with float64 as its default dtype for this test (restored after),
    or skip the test when torch is not installed."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)

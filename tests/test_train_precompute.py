"""fit uses a process model's precompute hook (CLM5: what the fixed parameters decide, once).

The hook must not change training: the same fit with and without it gives the same history and
weights. (CLM5Cache itself is tested against the plain model in test_clm5_cache.py.)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, MOST_INFLUENTIAL
from binn_lite.data import make_synthetic
from binn_lite.heads.sciren import make_head
from binn_lite.train import fit


class PlainCLM5(CLM5):
    """CLM5 without the precompute hook: every step rebuilds the whole system."""

    precompute = None


def _kan_fit(model: CLM5, data, seed: int = 0):
    torch.manual_seed(seed)
    binn = BINN(make_head("kan", len(data.feature_names), 4, seed=seed), model, learn=MOST_INFLUENTIAL)
    result = fit(binn, data, np.arange(60), np.arange(60, 80), epochs=3, batch_size=32, lr=1e-2,
                 progress=False, dtype=torch.float64)
    return binn, result


def test_a_short_kan_fit_is_the_same_with_and_without_the_cache():
    data = make_synthetic(80, seed=7)
    cached, with_cache = _kan_fit(CLM5(), data)
    plain, without = _kan_fit(PlainCLM5(), data)
    columns = ["train_loss", "val_loss", "val_nse"]
    pd.testing.assert_frame_equal(with_cache.history[columns], without.history[columns], rtol=1e-9, atol=0)
    for (name, a), (_, b) in zip(cached.head.state_dict().items(), plain.head.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12, msg=name)

"""ScIReN's recipe: the head it builds and fit_and_prune (sparse stage, pruning, L-BFGS screening and a
Levenberg-Marquardt refit)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.dataset import SiteDataset
from binn_lite.heads import HardSigmoid, KANHead, MLPHead
from binn_lite.heads.sciren import EDGE_THRESHOLDS, KAN_SETTINGS, REFIT_SMOOTH, REFIT_STAGE, fit_and_prune, make_head
from binn_lite.metrics import recovery_table
from binn_factory import efolding_dataset, small_binn


@pytest.fixture(scope="module")
def data() -> SiteDataset:
    return efolding_dataset()


def test_make_head_builds_the_mlp_or_sciren_kan():
    mlp, kan = make_head("mlp", 10, 4, seed=1), make_head("kan", 10, 4, seed=1)
    assert isinstance(mlp, MLPHead) and mlp.hidden == (128, 128, 128)
    assert isinstance(kan, KANHead) and isinstance(kan.constraint, HardSigmoid)
    assert (kan.lamb_l1, kan.lamb_entropy, kan.lamb_smooth) == tuple(
        KAN_SETTINGS[k] for k in ("lamb_l1", "lamb_entropy", "lamb_smooth"))
    with pytest.raises(ValueError, match="head must be 'mlp' or 'kan'"):
        make_head("cnn", 10, 4)


def sparse_kan_binn(seed: int = 0) -> BINN:
    head = KANHead(10, 1, grid=10, constraint="hard_sigmoid", lamb_l1=3e-3, lamb_entropy=3e-3, lamb_smooth=1e-4,
                   seed=seed)
    return BINN(head, CLM5(), learn=["efolding"])


def test_fit_and_prune_keeps_the_driver_and_recovers_efolding(data):
    # efolding depends on bio1 alone: the sparse stage must leave that edge, pruning drop most others
    train, test = np.arange(100), np.arange(100, 120)
    binn = sparse_kan_binn()
    torch.set_num_threads(2)
    try:
        result = fit_and_prune(binn, data, train, sparse=dict(epochs=40, batch_size=32),
                               screening=dict(epochs=3), progress=False)
        assert torch.get_num_threads() == 2  # each stage trains on one thread and restores the setting
    finally:
        torch.set_num_threads(1)
    mask = binn.head.kan.act_fun[0].mask[:, 0]
    bio1 = list(data.feature_names).index("bio1")
    # default: two prune-and-refit rounds, each at least as strict as the one before
    assert result.thresholds == EDGE_THRESHOLDS and len(result.refits) == 2 and len(result.edges) == 3
    assert result.edges_before == 10 and mask[bio1] == 1 and result.edges_after <= 4
    assert result.edges[0] >= result.edges[1] >= result.edges[2]
    assert binn.head.lamb_l1 == 0 and binn.head.lamb_entropy == 0
    assert binn.head.lamb_smooth == REFIT_SMOOTH  # the last refit's smoothing
    assert len(result.sparse.history) == 40 and result.sparse.best_epoch == 40  # no early stop, last weights
    assert result.refit is result.refits[-1] and result.refit.monitor == result.monitor == "val_loss"
    # the first round is a short L-BFGS screening refit; the last one runs Levenberg-Marquardt until
    # no step lowers the loss, well before its limit
    assert len(result.refits[0].history) == 3
    assert 1 < len(result.refit.history) < REFIT_STAGE.epochs and result.refit.stopped_early
    assert list(result.history["stage"].unique()) == ["sparse", "refit 1", "refit 2"]
    assert result.history["epoch"].is_monotonic_increasing
    for refit in result.refits:
        np.testing.assert_array_equal(result.sparse.val_idx, refit.val_idx)
    held_out = data.subset(test)
    params, _ = binn.predict_dataset(held_out)
    assert recovery_table(params[["efolding"]], held_out.truth.params).loc["efolding", "r2"] > 0.9


def test_fit_and_prune_one_round_keeps_the_heads_smoothing(data):
    binn = sparse_kan_binn()
    result = fit_and_prune(binn, data, np.arange(60), edge_threshold=0.03, refit_smooth=None,
                           sparse=dict(epochs=5, batch_size=32), refit=dict(epochs=1), progress=False)
    assert result.thresholds == (0.03,) and len(result.refits) == 1 and len(result.edges) == 2
    assert binn.head.lamb_smooth == 1e-4
    assert list(result.history["stage"].unique()) == ["sparse", "refit"]
    assert len(result.history) == 6
    changed = fit_and_prune(sparse_kan_binn(), data, np.arange(60), edge_threshold=0.03,
                            sparse=dict(epochs=2, batch_size=32, monitor="val_nse"),
                            refit=dict(epochs=1, monitor="val_nse"), progress=False)
    assert changed.monitor == "val_nse"  # what plot_history(result.history, monitor=...) should mark


def test_fit_and_prune_rejects_what_it_cannot_use(data):
    with pytest.raises(ValueError, match="needs a BINN with a KANHead"):
        fit_and_prune(small_binn(), data, progress=False)
    plain = BINN(KANHead(10, 1, grid=5), CLM5(), learn=["efolding"])
    with pytest.raises(ValueError, match="sparsity penalties are off"):
        fit_and_prune(plain, data, progress=False)
    with pytest.raises(ValueError, match="set val_idx as arguments of fit_and_prune"):
        fit_and_prune(sparse_kan_binn(), data, sparse=dict(val_idx=[0]), progress=False)
    with pytest.raises(ValueError, match="set refit_normalizer as arguments of fit_and_prune"):
        fit_and_prune(sparse_kan_binn(), data, refit=dict(refit_normalizer=True), progress=False)
    with pytest.raises(ValueError, match="set seed as arguments of fit_and_prune, not in screening="):
        fit_and_prune(sparse_kan_binn(), data, screening=dict(seed=1), progress=False)
    with pytest.raises(TypeError, match="unknown fit setting"):  # before any training
        fit_and_prune(sparse_kan_binn(), data, refit=dict(epoch=3), progress=False)
    for bad in ((), (0.02, -1.0), 0.0, "0.02"):
        with pytest.raises(ValueError, match="edge_threshold must be a number > 0"):
            fit_and_prune(sparse_kan_binn(), data, edge_threshold=bad, progress=False)
    with pytest.raises(ValueError, match="refit_smooth must be >= 0"):
        fit_and_prune(sparse_kan_binn(), data, refit_smooth=-1.0, progress=False)

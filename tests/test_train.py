"""Training: the loss goes down, an easy parameter is recovered, splits, seeds, NaN and input errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.dataset import SiteDataset
from binn_lite.heads import MLPHead
from binn_lite.metrics import nse, recovery_table
from binn_lite.train import FitSettings, fit
from binn_lite.two_pool import TwoPoolSoilCarbon
from binn_factory import efolding_dataset, small_binn


@pytest.fixture(scope="module")
def data() -> SiteDataset:
    return efolding_dataset()


def test_short_fit_lowers_loss_and_recovers_efolding(data):
    train, test = np.arange(100), np.arange(100, 120)
    binn = small_binn()
    result = fit(binn, data, train, epochs=30, batch_size=32, lr=1e-2, patience=30, progress=False)
    history = result.history
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "val_nse", "time"]
    assert len(history) == 30 and history["time"].is_monotonic_increasing
    assert history["train_loss"].iloc[-5:].mean() < 0.05 * history["train_loss"].iloc[0]
    assert result.best_val_nse > 0.99
    held_out = data.subset(test)
    params, pred = binn.predict_dataset(held_out)
    assert nse(pred, held_out.targets) > 0.98
    table = recovery_table(params[["efolding"]], held_out.truth.params)
    assert table.loc["efolding", "r2"] > 0.9
    # the restored weights are those of the best epoch
    assert result.best_val_nse == pytest.approx(history["val_nse"].max())
    assert result.best_epoch == int(history.loc[history["val_nse"].idxmax(), "epoch"])
    assert not binn.training


def test_validation_split_normalizer_and_restored_best(data):
    binn = small_binn()
    result = fit(binn, data, np.arange(60), epochs=2, batch_size=64, progress=False, seed=1)
    assert len(result.val_idx) == 6 and len(result.train_idx) == 54  # 10 % held out
    assert np.intersect1d(result.val_idx, result.train_idx).size == 0
    assert set(result.val_idx) | set(result.train_idx) == set(range(60))
    expected = data.sites.iloc[result.train_idx][list(data.feature_names)].mean()
    np.testing.assert_allclose(binn.normalizer.mean.to_numpy(), expected.to_numpy())
    # the validation NSE of the returned model is the best one
    val = data.subset(result.val_idx)
    _, pred = binn.predict_dataset(val)
    assert nse(pred, val.targets) == pytest.approx(result.best_val_nse, rel=1e-5)


def test_same_seed_same_history(data):
    runs = []
    for _ in range(2):
        binn = small_binn()
        result = fit(binn, data, np.arange(48), epochs=3, batch_size=16, progress=False, seed=7)
        runs.append(result.history[["train_loss", "val_loss", "val_nse"]].to_numpy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_nse_loss_trains(data):
    binn = small_binn()
    result = fit(binn, data, np.arange(80), epochs=15, batch_size=40, lr=1e-2, loss="nse", progress=False)
    history = result.history
    assert history["train_loss"].iloc[-1] < 0.2 * history["train_loss"].iloc[0]
    # for a full validation batch, 1 - loss is the NSE up to the variance estimate of the training data
    assert result.best_val_nse > 0.9


def test_log_loss_needs_positive_observations(data):
    bad = data.subset(np.arange(30))
    bad.targets[0, 0] = 0.0
    with pytest.raises(ValueError, match="loss='log' needs positive observations.*use loss='nse'"):
        fit(small_binn(), bad, np.arange(20), progress=False)


def test_nonfinite_loss_names_epoch_and_causes(data):
    # a fixed turnover time far outside its range overflows float32
    model = TwoPoolSoilCarbon()
    model.allow_out_of_range = True  # a turnover time far outside its range, on purpose
    binn = BINN(MLPHead(10, 1, hidden=(8,)), model, learn=["efolding"], fixed={"tau_slow": 1e38})
    with pytest.raises(RuntimeError, match="epoch 1") as error:
        fit(binn, data, np.arange(40), epochs=2, progress=False)
    message = str(error.value)
    assert "learning rate" in message and "tau_slow=1e+38" in message and "float64" in message


def test_bad_inputs(data):
    result = fit(small_binn(), data, val_idx=np.arange(100, 120), epochs=1, progress=False)
    np.testing.assert_array_equal(result.train_idx, np.arange(100))
    with pytest.raises(ValueError, match="both train_idx and val_idx"):
        fit(small_binn(), data, np.arange(10), np.arange(5, 15), progress=False)
    with pytest.raises(ValueError, match="takes 3 inputs"):
        fit(small_binn(n_inputs=3), data, np.arange(10), progress=False)
    with pytest.raises(ValueError, match="unknown loss"):
        fit(small_binn(), data, np.arange(10), loss="mae", progress=False)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(small_binn(), data, epochs=0, progress=False)


def test_batch_norm_head_with_a_trailing_single_site_batch(data):
    # 34 training sites in batches of 11: the last site joins the third batch (batch norm needs >= 2)
    binn = BINN(MLPHead(10, 1, hidden=(8,), batch_norm=True), CLM5(), learn=["efolding"])
    result = fit(binn, data, np.arange(34), np.arange(40, 50), epochs=2, batch_size=11, progress=False)
    assert len(result.history) == 2 and np.isfinite(result.history["val_nse"]).all()


def test_num_threads_is_restored_and_progress_bar_shows_the_loss(data, capsys):
    torch.set_num_threads(2)
    try:
        fit(small_binn(), data, np.arange(20), epochs=1, num_threads=1, progress=True)
        assert "loss=" in capsys.readouterr().err
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    with pytest.raises(ValueError, match="num_threads"):
        fit(small_binn(), data, np.arange(20), epochs=1, num_threads=0, progress=False)


def test_fit_trains_on_one_thread_by_default_and_restores_the_callers_setting(data):
    # two OpenMP threads spin-wait for each other when another process keeps a core busy
    binn, seen = small_binn(), []
    binn.head.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    torch.set_num_threads(2)
    try:
        fit(binn, data, np.arange(20), epochs=1, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert FitSettings().num_threads == 1 and set(seen) == {1}


def test_monitor_val_loss_keeps_the_lowest_validation_loss(data):
    binn = small_binn()
    result = fit(binn, data, np.arange(100), epochs=12, batch_size=32, lr=1e-2, patience=12,
                 monitor="val_loss", progress=False)
    history = result.history
    assert result.monitor == "val_loss"
    assert result.best_val_loss == pytest.approx(history["val_loss"].min())
    assert result.best_epoch == int(history.loc[history["val_loss"].idxmin(), "epoch"])
    val = data.subset(result.val_idx)
    _, pred = binn.predict_dataset(val)  # the restored weights give the recorded validation NSE
    assert nse(pred, val.targets) == pytest.approx(result.best_val_nse, rel=1e-5)


def test_restore_best_false_keeps_the_last_epoch(data):
    binn = small_binn()
    result = fit(binn, data, np.arange(100), epochs=6, batch_size=32, lr=1e-2, patience=6,
                 restore_best=False, progress=False)
    assert result.best_epoch == 6 and result.best_val_loss == pytest.approx(result.history["val_loss"].iloc[-1])
    val = data.subset(result.val_idx)
    _, pred = binn.predict_dataset(val)
    assert nse(pred, val.targets) == pytest.approx(result.history["val_nse"].iloc[-1], rel=1e-5)


def test_lbfgs_trains_full_batch_and_recovers_efolding(data):
    train, test = np.arange(100), np.arange(100, 120)
    binn = small_binn()
    result = fit(binn, data, train, optimizer="lbfgs", epochs=8, lbfgs_iterations=20, patience=8,
                 monitor="val_loss", progress=False)
    history = result.history
    assert len(history) == 8
    assert history["train_loss"].iloc[-1] < 0.01 * history["train_loss"].iloc[0]
    held_out = data.subset(test)
    params, _ = binn.predict_dataset(held_out)
    assert recovery_table(params[["efolding"]], held_out.truth.params).loc["efolding", "r2"] > 0.9


@pytest.mark.parametrize("option, value, message", [
    ("monitor", "nse", "unknown monitor 'nse'"),
    ("optimizer", "sgd", "unknown optimizer 'sgd'"),
    ("lbfgs_iterations", 0, "lbfgs_iterations must be >= 1"),
])
def test_bad_monitor_and_optimizer(data, option, value, message):
    with pytest.raises(ValueError, match=message):
        fit(small_binn(), data, np.arange(100), epochs=1, progress=False, **{option: value})


def test_settings_by_keyword_or_object_give_the_same_run(data):
    runs = []
    for kwargs in (dict(epochs=3, batch_size=16, seed=7, progress=False),
                   dict(settings=FitSettings(epochs=3, batch_size=16, seed=7, progress=False)),
                   dict(settings=FitSettings(epochs=9, seed=7, progress=False), epochs=3, batch_size=16)):
        result = fit(small_binn(), data, np.arange(48), **kwargs)
        runs.append(result.history[["train_loss", "val_loss", "val_nse"]].to_numpy())
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_fit_settings_defaults_checks_and_replace():
    settings = FitSettings()
    assert settings.learning_rates() == (3e-3, 3e-2)
    assert FitSettings(optimizer="lbfgs").learning_rates() == (1.0, 10.0)
    assert FitSettings(lr=1e-2, global_lr=5e-2).learning_rates() == (1e-2, 5e-2)
    assert settings.device == torch.device("cpu")
    changed = settings.replace(epochs=5.0, monitor="val_loss")
    assert changed.epochs == 5 and isinstance(changed.epochs, int) and settings.epochs == 300
    with pytest.raises(TypeError, match="unknown fit setting.*learning_rate"):
        settings.replace(learning_rate=1e-3)
    with pytest.raises(ValueError, match="lr must be > 0"):
        FitSettings(lr=0.0)
    for bad in (0, 2.5, True):  # the same rule as binn_lite.threads.torch_threads: nothing truncated
        with pytest.raises(ValueError, match=rf"num_threads must be a whole number >= 1 or None, got {bad!r}$"):
            FitSettings(num_threads=bad)
    for whole in (np.int64(2), 2.0):
        assert FitSettings(num_threads=whole).num_threads == 2 and type(FitSettings(num_threads=whole).num_threads) is int
    assert FitSettings(num_threads=None).num_threads is None


def test_nonfinite_message_lists_the_process_models_hints(data):
    class HintedTwoPool(TwoPoolSoilCarbon):
        nonfinite_hints = ("a hint only this model knows",)

    model = HintedTwoPool()
    model.allow_out_of_range = True
    binn = BINN(MLPHead(10, 1, hidden=(8,)), model, learn=["efolding"], fixed={"tau_slow": 1e38})
    with pytest.raises(RuntimeError, match="a hint only this model knows"):
        fit(binn, data, np.arange(40), epochs=2, progress=False)

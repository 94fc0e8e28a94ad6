"""Checkpoint and resume: an interrupted fit continues to the result of an uninterrupted one."""
from __future__ import annotations

import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError, CheckpointError
from binn_lite.heads import MLPHead
from binn_lite.train import _Trainer, fit

SETTINGS = dict(epochs=6, batch_size=16, lr=3e-3, patience=100, progress=False, seed=4)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(48, seed=2)


def fresh() -> BINN:
    return BINN(MLPHead(10, 4, hidden=(16, 16), dropout=0.1, seed=1), CLM5(), learn="most_influential")


def same_weights(a: BINN, b: BINN) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_interrupted_run_resumes_to_the_uninterrupted_result(data, tmp_path, monkeypatch):
    whole = fresh()
    reference = fit(whole, data, **SETTINGS)

    state = tmp_path / "train_state.pt"
    evaluate = _Trainer.evaluate

    def disconnect(self, epoch):  # the Colab tab closes during epoch 4
        if epoch == 4:
            raise KeyboardInterrupt
        return evaluate(self, epoch)

    monkeypatch.setattr(_Trainer, "evaluate", disconnect)
    with pytest.raises(KeyboardInterrupt):
        fit(fresh(), data, checkpoint=state, checkpoint_every=1, **SETTINGS)
    monkeypatch.setattr(_Trainer, "evaluate", evaluate)
    assert state.is_file()

    resumed = fresh()
    result = fit(resumed, data, checkpoint=state, **SETTINGS)
    assert same_weights(resumed, whole)
    assert result.history["epoch"].tolist() == list(range(1, 7))
    assert result.history["train_loss"].tolist() == reference.history["train_loss"].tolist()
    assert result.best_epoch == reference.best_epoch

    again = fresh()  # a finished run returns its result at once
    assert fit(again, data, checkpoint=state, **SETTINGS).best_epoch == reference.best_epoch
    assert same_weights(again, whole)


def test_a_different_run_is_refused(data, tmp_path):
    state = tmp_path / "train_state.pt"
    fit(fresh(), data, checkpoint=state, **{**SETTINGS, "epochs": 1})
    with pytest.raises(BinnInputError, match="lr: 0.003 -> 0.01"):
        fit(fresh(), data, checkpoint=state, **{**SETTINGS, "lr": 1e-2})
    with pytest.raises(BinnInputError, match="training or validation sites"):
        fit(fresh(), data.subset(slice(0, 40)), checkpoint=state, **SETTINGS)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        fit(fresh(), data, checkpoint=tmp_path / "junk.pt", **SETTINGS)


def test_a_run_that_ran_out_of_epochs_goes_on_when_asked_for_more(data, tmp_path):
    path = tmp_path / "state.pt"
    settings = {**SETTINGS, "checkpoint": path}
    short = fit(fresh(), data, **{**settings, "epochs": 2})
    longer = fit(fresh(), data, **{**settings, "epochs": 4})
    assert len(short.history) == 2 and len(longer.history) == 4
    again = fit(fresh(), data, **{**settings, "epochs": 4})  # finished: the result at once
    assert len(again.history) == 4


def test_a_binn_built_differently_is_refused(data, tmp_path):
    path = tmp_path / "state.pt"
    fit(fresh(), data, **{**SETTINGS, "epochs": 1, "checkpoint": path})
    other = BINN(MLPHead(10, 4, hidden=(16, 16), dropout=0.1, seed=1), CLM5(), learn="most_influential",
                 fixed={"q10": 2.0})
    with pytest.raises(BinnInputError, match="the BINN's fixed values"):
        fit(other, data, **{**SETTINGS, "epochs": 1, "checkpoint": path})

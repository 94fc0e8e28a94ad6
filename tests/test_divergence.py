"""fit detects divergence: NaN head outputs, exploding losses, saturated heads, runs far off the data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from binn_factory import efolding_dataset, small_binn
from binn_lite.baselines import global_binn
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, MOST_INFLUENTIAL
from binn_lite.divergence import (DIVERGED_EPOCHS, LOSS_EXPLOSION_FACTOR, NSE_FLOOR, SATURATED_SHARE,
                                  DivergenceWatch, saturated_share)
from binn_lite.errors import TrainingDiverged
from binn_lite.train import fit


@pytest.fixture(scope="module")
def data():
    return efolding_dataset()


def head_weights(binn: BINN) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in binn.head.state_dict().items()}


def test_a_huge_learning_rate_pins_the_head_and_fit_says_so(data):
    binn = small_binn(learn=MOST_INFLUENTIAL)
    before = head_weights(binn)
    with pytest.raises(TrainingDiverged, match=r"epoch 10: .*100% of the head's outputs.*bounds.*lr=10\b.*"
                                               r"try lr=1 or lower \(fit's default is 0.003\).*float64.*forcing"):
        fit(binn, data, np.arange(100), lr=10.0, progress=False)
    after = head_weights(binn)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the weights from before fit are back
    result = fit(binn, data, np.arange(100), epochs=3, progress=False)  # so the same BINN trains again
    assert np.isfinite(result.history["val_nse"]).all()


def test_a_saturated_head_that_stopped_learning_is_caught_even_when_the_nse_is_positive(data):
    with pytest.raises(TrainingDiverged, match="bounds.*stopped changing"):
        fit(small_binn(), data, np.arange(100), lr=10.0, progress=False)


def test_a_nan_head_output_is_caught_before_the_process_model_sees_it(data):
    with pytest.raises(TrainingDiverged, match="the head's output became NaN or infinite.*lr=1e\\+06") as error:
        fit(small_binn(), data, np.arange(100), lr=1e6, epochs=20, progress=False)
    assert not isinstance(error.value, ValueError) and isinstance(error.value, RuntimeError)

    class NaNHead(nn.Module):
        n_outputs = 1

        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return torch.full((x.shape[0], 1), float("nan")) * self.scale

    with pytest.raises(TrainingDiverged, match="head's output became NaN or infinite at epoch 1.*lr=0.003"):
        fit(BINN(NaNHead(), CLM5(), learn=["efolding"]), data, np.arange(40), epochs=2, progress=False)


def test_a_nan_global_parameter_is_caught_too(data):
    binn = global_binn(learn=["efolding"])
    with torch.no_grad():
        binn.global_logits.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="a global parameter became NaN or infinite at epoch 1"):
        fit(binn, data, np.arange(40), epochs=2, progress=False)


def test_the_watch_rules():
    binn = small_binn()

    def watch():
        return DivergenceWatch(binn, lr=0.5, dtype=torch.float32, default_lr=3e-3)

    exploding = watch()
    exploding.update(1, 2.0, 0.5, 0.0)
    exploding.update(2, 0.9 * LOSS_EXPLOSION_FACTOR * 2.0, 0.5, 0.0)
    with pytest.raises(TrainingDiverged, match="epoch 3: the training loss grew from 2 .* to 4200.*lr=0.5"):
        exploding.update(3, 2.1 * LOSS_EXPLOSION_FACTOR * 2.0, 0.5, 0.0)

    far_off = watch()
    for epoch in range(1, DIVERGED_EPOCHS):
        far_off.update(epoch, 1.0, 10 * NSE_FLOOR, 0.0)
    far_off.update(DIVERGED_EPOCHS, 1.0, 0.3, 0.0)  # one good epoch starts the count again
    for epoch in range(DIVERGED_EPOCHS + 1, 2 * DIVERGED_EPOCHS):
        far_off.update(epoch, 1.0, 10 * NSE_FLOOR, 0.0)
    with pytest.raises(TrainingDiverged, match=f"epoch {2 * DIVERGED_EPOCHS}: .*NSE was below -100"):
        far_off.update(2 * DIVERGED_EPOCHS, 1.0, 10 * NSE_FLOOR, 0.0)

    pinned = watch()
    for epoch in range(1, DIVERGED_EPOCHS):
        pinned.update(epoch, 1.0, -0.5 - epoch, 1.0)
    with pytest.raises(TrainingDiverged, match="bounds.*stayed below 0"):
        pinned.update(DIVERGED_EPOCHS, 1.0, -0.2, SATURATED_SHARE)

    # a parameter that truly sits at its bound, in a model that fits and still learns: no alarm
    at_bound = watch()
    for epoch in range(1, 10 * DIVERGED_EPOCHS):
        at_bound.update(epoch, 1.0 / epoch, 0.9 + 1e-3 * np.log(epoch), 1.0)


def test_saturated_share():
    assert saturated_share(torch.tensor([[0.0, 0.5], [1.0, 0.99995]])) == pytest.approx(0.75)
    assert saturated_share(torch.zeros(5, 0)) == 0.0


def test_an_ordinary_bump_after_a_tiny_first_loss_and_a_good_fit_at_a_bound_are_not_divergence():
    from binn_lite.divergence import DivergenceWatch

    watch = DivergenceWatch(binn=None, lr=1e-3, dtype=torch.float32)
    watch.update(1, 1e-6, 0.99, 0.0)
    watch.update(2, 5e-3, 0.98, 0.0)  # 5,000 x the first loss, but a small loss: no explosion
    for epoch in range(3, 20):  # every output at a bound, the NSE good and constant: converged, not stuck
        watch.update(epoch, 5e-3, 0.97, 1.0)

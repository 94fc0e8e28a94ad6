"""Levenberg-Marquardt (fit(optimizer="lm")): its derivatives against autograd, its curvature against the
dense Gauss-Newton matrix, convergence to the minimum L-BFGS approaches, resuming, and what it refuses."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
import copy

from binn_lite.divergence import likely_causes
from binn_lite.errors import BinnInputError
from binn_lite.heads import KANHead, MLPHead
from binn_lite.levenberg_marquardt import LevenbergMarquardt
from binn_lite import levenberg_marquardt
from binn_lite.levenberg_marquardt import gauss_newton_curvature
from binn_lite.losses import MaskedLoss
from binn_lite.train import _Trainer, fit
from binn_factory import efolding_dataset


@pytest.fixture(autouse=True)
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.fixture(scope="module")
def data():
    return efolding_dataset(n_sites=60)


def kan_binn(seed: int = 0, lamb_bound: float = 1.0) -> BINN:
    head = KANHead(10, 1, grid=5, constraint="hard_sigmoid", lamb_l1=0.0, lamb_entropy=0.0, lamb_smooth=1e-3,
                   lamb_bound=lamb_bound, seed=seed).double()
    return BINN(head, CLM5(), learn=["efolding"]).double()


def flat_weights(head) -> list[torch.Tensor]:
    return [p for _, p in head.second_order_parameters()]


def test_masked_loss_is_the_mean_square_of_its_residuals():
    target = torch.tensor([[2.0, float("nan")], [4.0, 8.0]])
    pred = torch.tensor([[1.0, 5.0], [4.0, 2.0]])
    for kind in ("log", "nse"):
        loss = MaskedLoss(kind, target)
        r = loss.residuals(pred, target)
        assert r[0, 1] == 0  # the missing observation
        assert float(loss(pred, target)) == pytest.approx(float(r.pow(2).sum()) / 3 / loss.scale)


@pytest.mark.parametrize("make_head", [
    lambda: KANHead(10, 2, grid=5, constraint="hard_sigmoid", seed=1).double(),
    lambda: MLPHead(10, 2, hidden=(8,), seed=1).double(),
])
def test_preactivation_jacobian_is_each_sites_gradient(make_head):
    head = make_head()
    x = torch.randn(7, 10, generator=torch.Generator().manual_seed(0))
    J = head.preactivation_jacobian(x)
    weights = flat_weights(head)
    assert J.shape == (7, 2, sum(w.numel() for w in weights))
    for i in (0, 6):
        for k in range(2):
            rows = torch.autograd.grad(head.preactivation(x[i:i + 1])[0, k], weights, allow_unused=True)
            row = torch.cat([(g if g is not None else torch.zeros_like(w)).reshape(-1) for g, w in zip(rows, weights)])
            torch.testing.assert_close(J[i, k], row, rtol=1e-10, atol=1e-12)


def test_the_kan_leaves_its_redundant_spline_scale_out():
    head = KANHead(3, 1, grid=5, seed=0)
    names = [name for name, _ in head.second_order_parameters()]
    assert not any(name.endswith("scale_sp") for name in names) and any(name.endswith("coef") for name in names)


def test_own_penalty_hessian_is_the_smoothness_hessian():
    head = KANHead(3, 1, grid=5, lamb_smooth=1e-2, seed=0).double()
    with torch.no_grad():
        head.kan.act_fun[0].scale_sp.mul_(torch.tensor([[0.5], [2.0], [1.5]]))
    weights = flat_weights(head)
    gradient = torch.autograd.grad(head.weighted_smoothness(), weights, create_graph=True, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(w)).reshape(-1) for g, w in zip(gradient, weights)])
    rows = []
    for j in range(flat.numel()):
        if not flat[j].requires_grad:  # a weight the smoothness does not see (scale_base)
            rows.append(torch.zeros(flat.numel()))
            continue
        parts = torch.autograd.grad(flat[j], weights, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(p if p is not None else torch.zeros_like(w)).reshape(-1) for p, w in zip(parts, weights)]))
    torch.testing.assert_close(head.own_penalty_hessian(), torch.stack(rows), rtol=1e-9, atol=1e-12)


def test_curvature_is_the_dense_gauss_newton_matrix(data, monkeypatch):
    """H = 2/(n s) J_r^T J_r + Hessian(w * penalty) with J_r the residuals' dense Jacobian (autograd, M
    backward passes). The KAN's pre-activations are linear in its second-order weights, so the
    penalty's Hessian is exact; some sites are pushed beyond the hard sigmoid's band so that both the
    clipping and the bound penalty count."""
    binn = kan_binn()
    head = binn.head
    with torch.no_grad():
        head.kan.act_fun[0].scale_base[0, 0] = 4.0  # bio1 drives u beyond +-3 at the extreme sites
    sites = np.arange(20)
    binn.normalizer = data.fit_normalizer(sites)
    x = binn.features(data)[sites]
    forcing, coords, y = data.forcing[sites], data.coords[sites], data.targets[sites]
    u = head.preactivation(x)
    assert bool((u.abs() > 3).any()) and bool((u.abs() < 3).any())
    objective, weight = MaskedLoss("log", y), 0.7
    H = gauss_newton_curvature(binn, x, forcing, coords, y, objective, weight)

    f, flat = head._flat_call("preactivation")
    smoothness, _ = head._flat_call("weighted_smoothness")

    def residuals(w):
        unit = head.constraint(f(w, x))
        pred = binn.process_model.predict(binn.parameters_from_unit(unit), forcing, coords)
        return objective.residuals(pred, y).reshape(-1)

    def penalty(w):
        u = f(w, x)
        return weight * (head.lamb_bound * head.constraint.penalty(u) + smoothness(w))

    J = torch.autograd.functional.jacobian(residuals, flat)
    count = int(torch.isfinite(y).sum())
    reference = 2.0 / count * J.T @ J + torch.autograd.functional.hessian(penalty, flat)
    assert float(reference.abs().max()) > 0
    torch.testing.assert_close(H, reference, rtol=1e-5, atol=1e-6 * float(reference.abs().max()))
    monkeypatch.setattr(levenberg_marquardt, "SITES_PER_CHUNK", 7)  # the same, summed over blocks of sites
    torch.testing.assert_close(gauss_newton_curvature(binn, x, forcing, coords, y, objective, weight), H,
                               rtol=1e-12, atol=1e-14 * float(H.abs().max()))


def objective_of(binn, data, sites) -> torch.Tensor:
    """The training objective (data loss + penalty) at the BINN's weights on ``sites``."""
    x = binn.features(data)[sites]
    pred = binn.process_model.predict(binn.parameters_from(x), data.forcing[sites], data.coords[sites])
    return MaskedLoss("log", data.targets[sites])(pred, data.targets[sites]) + binn.penalty()


def gradient_norm(binn, data, sites) -> float:
    weights = flat_weights(binn.head)
    gradient = torch.autograd.grad(objective_of(binn, data, sites), weights, allow_unused=True)
    return float(torch.cat([g.reshape(-1) for g in gradient if g is not None]).norm())


def test_lm_converges_to_the_minimum_lbfgs_creeps_towards(data):
    settings = dict(epochs=40, patience=40, monitor="val_loss", restore_best=False, dtype=torch.float64,
                    progress=False)
    lm, lbfgs = kan_binn(), kan_binn()
    lm_fit = fit(lm, data, np.arange(50), optimizer="lm", **settings)
    lbfgs_fit = fit(lbfgs, data, np.arange(50), optimizer="lbfgs", lbfgs_iterations=10, **settings)
    assert lm_fit.stopped_early and len(lm_fit.history) < 15  # converged: no step lowered the loss
    sites = lm_fit.train_idx
    lm_value, lbfgs_value = (float(objective_of(b, data, sites).detach()) for b in (lm, lbfgs))
    assert lm_value <= lbfgs_value * (1 + 1e-6)  # as low as 400 L-BFGS iterations get, or lower
    start = kan_binn()
    start.normalizer = lm.normalizer
    assert lm_value < 0.01 * float(objective_of(start, data, sites).detach())
    assert gradient_norm(lm, data, sites) < 1e-4 * gradient_norm(start, data, sites)  # a stationary point


def test_an_interrupted_lm_run_resumes_to_the_same_weights(data, tmp_path, monkeypatch):
    settings = dict(optimizer="lm", epochs=4, patience=4, dtype=torch.float64, progress=False, seed=1)
    whole = kan_binn()
    reference = fit(whole, data, np.arange(50), **settings)
    evaluate = _Trainer.evaluate

    def disconnect(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return evaluate(self, epoch)

    state = tmp_path / "state.pt"
    monkeypatch.setattr(_Trainer, "evaluate", disconnect)
    with pytest.raises(KeyboardInterrupt):
        fit(kan_binn(), data, np.arange(50), checkpoint=state, **settings)
    monkeypatch.setattr(_Trainer, "evaluate", evaluate)
    resumed = kan_binn()
    result = fit(resumed, data, np.arange(50), checkpoint=state, **settings)
    assert result.history["train_loss"].tolist() == reference.history["train_loss"].tolist()
    for a, b in zip(resumed.state_dict().values(), whole.state_dict().values()):
        assert torch.equal(a, b)


def test_lm_trains_a_small_mlp_too(data):
    binn = BINN(MLPHead(10, 1, hidden=(8,), seed=0), CLM5(), learn=["efolding"]).double()
    result = fit(binn, data, np.arange(50), optimizer="lm", epochs=6, patience=6, dtype=torch.float64,
                 progress=False)
    history = result.history
    assert history["train_loss"].iloc[-1] < 0.05 * history["train_loss"].iloc[0]


def test_lm_refuses_what_it_cannot_train(data):
    head = KANHead(10, 1, grid=5, seed=0)
    with_global = BINN(head, CLM5(), learn=["efolding"], global_params=["tau_s3"])
    with pytest.raises(ValueError, match="optimizer='lm' trains the head's weights alone and needs no global "
                                         "parameters \\(this BINN has tau_s3\\); use optimizer='lbfgs'"):
        fit(with_global, data, np.arange(50), optimizer="lm", epochs=1, progress=False)


def test_lm_trains_in_float32_too(data):
    binn = kan_binn()
    result = fit(binn, data, np.arange(50), optimizer="lm", epochs=30, patience=30, dtype=torch.float32,
                 progress=False)
    assert binn.head.kan.act_fun[0].coef.dtype == torch.float32
    assert result.stopped_early and len(result.history) < 30
    assert result.history["train_loss"].iloc[-1] < 0.01 * result.history["train_loss"].iloc[0]


def test_lm_stops_at_the_noise_floor_of_an_exact_fit(data):
    # noise-free data and no penalty: the loss heads for zero, and rounding soon hides any decrease
    binn = kan_binn()
    result = fit(binn, data, np.arange(50), optimizer="lm", epochs=60, patience=60, penalty_weight=0.0,
                 dtype=torch.float64, progress=False)
    assert result.stopped_early and len(result.history) < 40
    assert result.history["train_loss"].iloc[-1] < 1e-6


def test_a_rejected_step_leaves_the_weights_exactly_as_they_were():
    w = torch.nn.Parameter(torch.tensor([0.1, -3.0], dtype=torch.float32))
    start = w.detach().clone()
    lm = LevenbergMarquardt([w])

    def value_and_gradient():
        value = (w ** 2).sum()
        value.backward()
        return value

    # a misleading curvature (far too small) and an objective that never falls: every trial fails
    stepped = lm.step(value_and_gradient, lambda: torch.eye(2, dtype=torch.float64) * 1e-12,
                      lambda: (w.detach() ** 2).sum() + 1.0)
    assert not stepped and lm.converged
    assert torch.equal(w.detach(), start)
    assert lm.damping <= LevenbergMarquardt.MAX_DAMPING


def test_a_converged_lm_run_resumes_as_finished(data, tmp_path):
    settings = dict(optimizer="lm", epochs=40, patience=40, dtype=torch.float64, progress=False)
    first = fit(kan_binn(), data, np.arange(50), checkpoint=tmp_path / "state.pt", **settings)
    assert first.stopped_early
    again = fit(kan_binn(), data, np.arange(50), checkpoint=tmp_path / "state.pt", **settings)
    assert again.history["epoch"].tolist() == first.history["epoch"].tolist()


def test_the_kan_keeps_no_transformed_tensors_after_its_jacobian():
    head = KANHead(10, 2, grid=5, lamb_l1=1e-3, lamb_entropy=1e-3, seed=0).double()
    x = torch.randn(6, 10, dtype=torch.float64)
    head(x)
    cached = head.kan.cache_data
    head.preactivation_jacobian(x)
    assert head.kan.cache_data is cached  # pykan's caches are those of the last real pass
    copy.deepcopy(head)  # would fail on a tensor that escaped torch.func


def test_lm_refuses_a_head_too_big_for_a_dense_solve(data):
    big = BINN(MLPHead(10, 1, seed=0), CLM5(), learn=["efolding"])  # the BINN paper's 3 x 128: ~35,000 weights
    with pytest.raises(ValueError, match="needs a small head: each step solves a dense system over its weights, "
                                         "and this head has 34,"):
        fit(big, data, np.arange(50), optimizer="lm", epochs=1, progress=False)


def test_lm_divergence_advice_names_no_learning_rate(data):
    causes = likely_causes(kan_binn(), None, torch.float64)
    assert causes and not any("learning rate" in cause for cause in causes)


def test_nothing_to_move_is_convergence():
    w = torch.nn.Parameter(torch.zeros(3))
    lm = LevenbergMarquardt([w])

    def value_and_gradient():  # F does not depend on w
        w.grad = torch.zeros(3)
        return torch.tensor(1.0)

    assert not lm.step(value_and_gradient, lambda: torch.zeros(3, 3, dtype=torch.float64), lambda: torch.tensor(1.0))
    assert lm.converged and torch.equal(w.detach(), torch.zeros(3))

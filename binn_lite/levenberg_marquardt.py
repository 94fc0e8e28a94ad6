"""Levenberg-Marquardt: full-batch steps for a small head, with Gauss-Newton curvature.

``fit(optimizer="lm")`` minimises the training objective of :mod:`binn_lite.train`,

    F(theta) = (1 / (n s)) sum_obs r^2  +  w penalty(theta),

``r = log y_hat - log y`` (``loss="log"``, ``s = 1``) or ``y_hat - y`` (``loss="nse"``,
``s = var(y_train)``), ``n`` the number of observations, ``w`` the ``penalty_weight``, over the
head's weights ``theta``. Each step solves

    (H + lambda diag(H)) delta = -g

with ``g`` the exact gradient (autograd) and ``H`` the Gauss-Newton approximation of the Hessian
(Levenberg 1944, Marquardt 1963; Nocedal & Wright 2006, section 10.3). The step is taken when it lowers F, and the damping
``lambda`` follows the ratio of the actual to the predicted decrease (Nielsen 1999): small
``lambda`` is a Gauss-Newton step, large ``lambda`` a short gradient step.

Why it pays here: the loss of the CLM5 parameters has a long, flat valley (its Hessian's
eigenvalues span about three orders of magnitude, ``bench/identifiability.py``). L-BFGS learns that
curvature from its past steps and creeps along the valley for a hundred or more evaluations;
Gauss-Newton computes it, and a pruned KAN has few enough weights (~100) to solve with it exactly.

The curvature, built from pieces that are cheap in a BINN
-----------------------------------------------------------
Sites are independent: site ``i``'s SOC depends on the weights only through its own head outputs.
With ``u_i`` the head's pre-activations (``head.preactivation``), ``p_i = constraint(u_i)`` the unit
parameters and ``J_i = du_i / dtheta`` (:meth:`~binn_lite.heads.base.Head.preactivation_jacobian`),

    H = sum_i J_i^T C_i J_i  +  w * Hessian of the head's own penalty (KAN smoothness),
    C_i = (2 / (n s)) D_i G_i^T G_i D_i  +  w * d2 (lamb_bound * bound penalty) / du_i^2,

* ``G_i = dr_i / dp_i`` -- the residuals' sensitivity to the site's few unit parameters, by forward
  differences: one extra process-model pass (no gradient) per learned parameter, all sites at once.
  The step on ``p`` goes inwards from the nearer bound and has the size ``sqrt(eps)`` of the dtype.
* ``D_i = diag(dp_i / du_i)``, the constraint's slope (0 where a hard sigmoid is clipped).
* The bound penalty's second derivative is taken element by element (the built-in constraints'
  penalties are sums over elements); the head's own penalty's Hessian is exact (``torch.func``).
  Sparsity penalties computed from the last forward pass (the KAN's L1 and entropy) contribute to
  the gradient only: LM is for smooth objectives such as the refit of a pruned KAN.

The curvature only sets the step; the gradient is exact, so LM converges to the same minimum as
any other method. Cost of a step: one forward and backward pass for the gradient (its prediction
is reused), one forward pass per learned parameter for ``G``, the head's Jacobian, and one forward pass per trial step. The
dense ``H`` and its eigendecomposition grow with the cube of the number of weights: ``fit`` refuses
more than :data:`MAX_WEIGHTS`.

Limits (checked by ``fit``): the head must be a :class:`~binn_lite.heads.base.Head` whose
pre-activation ``torch.func`` can differentiate site by site; the BINN must have no global
parameters and the process model no trainable weights; one process (no ``torchrun``). The head
runs in eval mode (dropout off): every trial step must be judged on the same function.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import BinnInputError
from .losses import MaskedLoss

__all__ = ["LevenbergMarquardt", "gauss_newton_curvature"]

#: the most second-order weights ``fit(optimizer="lm")`` accepts (measured on 2 cores: 1,441 weights
#: took 2.6 s per step, 4,929 took 35 s; a pruned KAN has ~100 live ones)
MAX_WEIGHTS = 3000
#: sites per block of the head's Jacobian (a block of 2,048 sites x 4 outputs x 1,500 weights is 100 MB)
SITES_PER_CHUNK = 2048


def _residual_sensitivity(binn: Any, unit: Tensor, forcing: Any, coords: Tensor, target: Tensor,
                          objective: MaskedLoss, residual: Tensor) -> Tensor:
    """``G`` [sites, max_obs, n_learned]: d residual / d unit parameter by forward differences."""
    step = math.sqrt(torch.finfo(unit.dtype).eps)
    columns = []
    with torch.no_grad():
        for k in range(unit.shape[1]):
            h = torch.where(unit[:, k] < 0.5, step, -step)  # inwards, so p stays in [0, 1]
            moved = unit.clone()
            moved[:, k] = unit[:, k] + h
            pred = binn.process_model.predict(binn.parameters_from_unit(moved), forcing, coords)
            columns.append((objective.residuals(pred, target) - residual) / h[:, None])
    return torch.stack(columns, dim=-1)


def _sandwich(J: Tensor, C: Tensor) -> Tensor:
    """``sum_i J_i^T C_i J_i`` [P, P] over the weights the outputs depend on (the columns of ``J``
    that are not all zero, e.g. not those of masked KAN edges); zeros elsewhere."""
    live = (J.abs().sum(dim=(0, 1)) > 0).nonzero()[:, 0]
    J_live = J[:, :, live]
    H = J.new_zeros(J.shape[2], J.shape[2])
    H[live[:, None], live[None, :]] = J_live.flatten(0, 1).T @ (C @ J_live).flatten(0, 1)
    return H


def gauss_newton_curvature(binn: Any, x: Tensor, forcing: Any, coords: Tensor, target: Tensor,
                           objective: MaskedLoss, penalty_weight: float, pred: Tensor | None = None) -> Tensor:
    """The Gauss-Newton matrix ``H`` [n_weights, n_weights] of the training objective at the
    current weights, over ``binn.head.second_order_parameters()`` flattened in that order (float64;
    see the module docstring for the formula). ``pred``: the prediction at ``coords`` at these
    weights, if already at hand (the gradient pass made it); computed otherwise."""
    head = binn.head
    with torch.no_grad():
        u = head.preactivation(x)
    u = u.detach().requires_grad_(True)
    unit = head.constraint(u)
    slope, = torch.autograd.grad(unit.sum(), u, retain_graph=False)  # elementwise constraint: dp/du
    unit = unit.detach()
    with torch.no_grad():
        if pred is None:
            pred = binn.process_model.predict(binn.parameters_from_unit(unit), forcing, coords)
        residual = objective.residuals(pred, target)
    count = int(torch.isfinite(target).sum())
    G = _residual_sensitivity(binn, unit, forcing, coords, target, objective, residual).double()
    scale = 2.0 / (count * objective.scale)
    C = scale * torch.einsum("nok,nol->nkl", G, G)  # [sites, k, k] in unit space
    D = slope.double()
    C = C * D[:, :, None] * D[:, None, :]
    if penalty_weight and head.lamb_bound:
        u2 = u.detach().requires_grad_(True)
        bound = head.constraint.penalty(u2)
        first, = torch.autograd.grad(bound, u2, create_graph=True) if bound.requires_grad else (None,)
        if first is not None and first.requires_grad:  # its second derivative, element by element
            second, = torch.autograd.grad(first.sum(), u2)
            C = C + torch.diag_embed(penalty_weight * head.lamb_bound * second.double())
    H = None
    for start in range(0, x.shape[0], SITES_PER_CHUNK):  # J of all sites at once could be GBs
        chunk = slice(start, start + SITES_PER_CHUNK)
        J = head.preactivation_jacobian(x[chunk]).detach().double()  # [sites, k, P]
        part = _sandwich(J, C[chunk])
        H = part if H is None else H + part
    if penalty_weight:
        H = H + penalty_weight * head.own_penalty_hessian().double()
    return H.detach()


class LevenbergMarquardt:
    """Damped Gauss-Newton steps on a list of tensors (the head's weights).

    Holds the damping ``lambda`` between steps (``state_dict`` saves it for resumed runs). Looks
    like a torch optimiser to :func:`~binn_lite.train.fit` (``state_dict``, ``load_state_dict``)
    but steps with :meth:`step`.
    """

    #: trial steps per call before giving up (the weights stay where they were)
    MAX_TRIALS = 12
    #: the smallest and the largest damping (relative to the scaled curvature, whose diagonal is 1)
    MIN_DAMPING, MAX_DAMPING = 1e-9, 1e9

    def __init__(self, params: list[Tensor], damping: float = 1e-2) -> None:
        self.params = list(params)
        if not self.params:
            raise BinnInputError("Levenberg-Marquardt has no weights to train")
        self.damping = float(damping)
        self.growth = 2.0  # Nielsen's nu: how fast lambda grows after a rejected step
        self.converged = False  # set when a step could not lower F by more than its precision

    def state_dict(self) -> dict[str, float]:
        return {"damping": self.damping, "growth": self.growth, "converged": self.converged}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.damping, self.growth = float(state["damping"]), float(state["growth"])
        self.converged = bool(state["converged"])

    def _flat_gradient(self) -> Tensor:
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.params])

    def _add(self, delta: Tensor) -> None:
        offset = 0
        with torch.no_grad():
            for p in self.params:
                n = p.numel()
                p.add_(delta[offset:offset + n].view_as(p).to(p.dtype))
                offset += n

    def _restore(self, saved: list[Tensor]) -> None:
        with torch.no_grad():
            for p, value in zip(self.params, saved):
                p.copy_(value)

    def step(self, value_and_gradient: Callable[[], Tensor], curvature: Callable[[], Tensor],
             value: Callable[[], Tensor]) -> bool:
        """One accepted step: ``value_and_gradient()`` returns F and fills the ``.grad`` of the
        parameters, ``curvature()`` the matrix ``H``, ``value()`` F at the current weights (no
        gradient). Returns False, with the weights unchanged and ``converged`` set, when no step
        can lower F any more: the decrease the model predicts is below what F resolves, or
        ``MAX_TRIALS`` ever shorter steps all failed -- with an exact gradient, a short enough
        step always lowers F unless rounding hides the decrease."""
        current = float(value_and_gradient().detach())
        saved = [p.detach().clone() for p in self.params]
        self.growth = 2.0
        g = self._flat_gradient().double()
        H = curvature()
        live = (H.abs().sum(dim=0) > 0) | (g != 0)  # weights F depends on (masked KAN edges do not count)
        if not bool(live.any()):  # nothing to move (e.g. every KAN edge pruned)
            self.converged = True
            return False
        g, H = g[live], H[live][:, live]
        # Marquardt's scaling: solve in units where diag(H) is 1, so (H + lambda diag H) becomes
        # (H_s + lambda I); one eigendecomposition serves every trial lambda of this step
        diagonal = H.diagonal().clamp_min(1e-12 * float(H.diagonal().max().clamp_min(1e-300)))
        scale = diagonal.rsqrt()
        curvatures, axes = torch.linalg.eigh(H * scale[:, None] * scale[None, :])
        curvatures = curvatures.clamp_min(0.0)
        g_axes = axes.T @ (g * scale)
        resolution = 10 * torch.finfo(self.params[0].dtype).eps * abs(current)  # what F can tell apart
        for _ in range(self.MAX_TRIALS):
            delta_live = -scale * (axes @ (g_axes / (curvatures + self.damping)))
            predicted = -float(g @ delta_live + 0.5 * delta_live @ (H @ delta_live))
            if predicted < resolution:  # nothing left to gain at this precision
                self.converged = True
                return False
            delta = g.new_zeros(live.shape[0])
            delta[live] = delta_live
            self._add(delta)
            trial = float(value())
            ratio = (current - trial) / predicted if predicted > 0 else -1.0
            if math.isfinite(trial) and trial < current and ratio > 0:
                self.damping = max(self.damping * max(1 / 3, 1 - (2 * ratio - 1) ** 3), self.MIN_DAMPING)
                return True
            self._restore(saved)  # exactly: p + delta - delta need not be p
            self.damping = min(self.damping * self.growth, self.MAX_DAMPING)
            self.growth *= 2.0
        self.converged = True
        return False

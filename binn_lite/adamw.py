"""AdamW for :func:`~binn_lite.train.fit`: torch's own update, without torch's optimiser base class.

The update is torch's, unchanged: every step calls torch's functional AdamW,
``torch.optim.adamw.adamw`` (Loshchilov & Hutter 2019: Adam's moments, weight decay applied to the
weights directly), the same computation as ``torch.optim.AdamW(foreach=True).step``. The weights
after any number of steps are the same, bit for bit, as with ``torch.optim.AdamW(groups, lr=lr,
foreach=True)``; ``tests/test_adamw.py`` checks it. :meth:`AdamW.state_dict` has the layout of
torch's, so either loads the other's.

Why not ``torch.optim.AdamW`` itself: the constructor of ``torch.optim.Optimizer`` imports
``torch._dynamo``, the machinery of ``torch.compile`` (its methods are wrapped to keep the compiler
out). binn_lite never compiles, and that import costs about 0.9 s on a 2-core machine, once per
process: in every tutorial that trains and at every start of ``binn-lite fit``. L-BFGS (the refits
of :func:`~binn_lite.heads.sciren.fit_and_prune`) still uses ``torch.optim.LBFGS``.

What is left out: amsgrad, maximize, fused and capturable steps, sparse gradients, hooks and
``add_param_group`` -- nothing :func:`~binn_lite.train.fit` uses.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor
from torch.optim.adamw import adamw

from .errors import BinnInputError

__all__ = ["AdamW"]

#: the settings of a group of ``torch.optim.AdamW`` that this class has fixed, saved with each group
#: so that torch, loading the state, steps the same way
TORCH_FLAGS = {"amsgrad": False, "maximize": False, "foreach": True, "capturable": False, "differentiable": False,
               "fused": None, "decoupled_weight_decay": True}


class AdamW:
    """AdamW over groups of tensors, each group with its own ``lr`` and ``weight_decay``.

    Parameters
    ----------
    groups : dicts with ``"params"`` (tensors) and optionally ``"lr"``, ``"weight_decay"``,
        ``"betas"``, ``"eps"`` that override the defaults below for that group (torch's layout).
    lr : learning rate. weight_decay : each step shrinks the weights by the factor ``1 - lr * weight_decay``.
    betas : decay rates of the first and second moment. eps : added to the root of the second moment.
    """

    def __init__(self, groups: Iterable[dict[str, Any]], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        self.param_groups = [{**defaults, **group, "params": list(group["params"])} for group in groups]
        every = [p for group in self.param_groups for p in group["params"]]
        if len({id(p) for p in every}) != len(every):
            raise BinnInputError("a tensor appears more than once in the optimiser's groups; it would be stepped twice")
        self.state: dict[Tensor, dict[str, Tensor]] = {}  # per tensor: step, exp_avg, exp_avg_sq

    def _moments(self, p: Tensor) -> dict[str, Tensor]:
        """``p``'s step count and moments, created at zero on its first step (as torch does)."""
        if p not in self.state:
            scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
            self.state[p] = {"step": torch.tensor(0.0, dtype=scalar),  # counted on the CPU, as torch does
                             "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                             "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        return self.state[p]

    @torch.no_grad()
    def step(self) -> None:
        """One update of every tensor that has a gradient."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            moments = [self._moments(p) for p in params]
            beta1, beta2 = group["betas"]
            adamw(params, [p.grad for p in params], [m["exp_avg"] for m in moments],
                  [m["exp_avg_sq"] for m in moments], [], [m["step"] for m in moments], foreach=True,
                  amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                  eps=group["eps"], maximize=False)

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: moments}, "param_groups": [settings, "params": [indices]]}``: tensors
        numbered across the groups in order, as in ``torch.optim.Optimizer.state_dict``."""
        index = {p: i for i, p in enumerate(p for group in self.param_groups for p in group["params"])}
        return {"state": {index[p]: dict(moments) for p, moments in self.state.items()},
                "param_groups": [{**group, **TORCH_FLAGS, "params": [index[p] for p in group["params"]]}
                                 for group in self.param_groups]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the moments and the groups' settings saved by :meth:`state_dict` (or by
        ``torch.optim.AdamW``) for the same tensors in the same order."""
        saved = state["param_groups"]
        sizes, expected = [len(g["params"]) for g in saved], [len(g["params"]) for g in self.param_groups]
        if sizes != expected:
            raise BinnInputError(f"the saved optimiser state has groups of {sizes} tensors; this one has {expected}")
        tensors = {}
        for group, saved_group in zip(self.param_groups, saved):
            tensors.update(zip(saved_group["params"], group["params"]))
            group.update({key: saved_group[key] for key in ("lr", "betas", "eps", "weight_decay")})
        self.state = {}
        for i, moments in state["state"].items():
            p = tensors[int(i)]  # copies: the step count as saved, the moments in the tensor's dtype and device
            self.state[p] = {key: value.clone() if key == "step" else value.to(dtype=p.dtype, device=p.device, copy=True)
                             for key, value in moments.items()}

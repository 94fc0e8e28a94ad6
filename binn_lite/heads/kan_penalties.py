"""The KAN's regularisers: sparsity (L1 and entropy of the edges) and spline smoothness.

:class:`~binn_lite.heads.kan.KANHead` adds them to its penalty with the weights it was built with:

* ``lamb_l1``      x  :func:`sparsity` L1: sum over edges of ``|phi_ij| := std_batch(phi_ij) /
  (std_batch(x_i) + 0.1)``, the KAN paper's L1 norm of an activation (Liu et al. 2024, eq. 2.17;
  pykan's ``edge_forward_spline_n``).
* ``lamb_entropy`` x  :func:`sparsity` entropy: row + column entropy of those edge norms
  (eq. 2.19), which favours few strong edges.
* ``lamb_smooth``  x  :func:`roughness`: mean over edges of ``sum_m (Delta^2 c_m / h^2)^2 h``,
  with ``c`` the spline coefficients times their scale ``w^s`` and ``h`` the grid spacing -- the
  second-difference (P-spline, Eilers & Marx 1996) roughness, a discrete integral of phi''(x)^2.

All are unweighted here; the head applies the weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["sparsity", "roughness"]


def sparsity(edge_scales: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Unweighted (L1, entropy) of a forward pass's edge norms (Liu et al. 2024, eqs. 2.17-2.20).

    ``edge_scales``: one Tensor[n_out, n_in] of edge norms ``|phi_ij|`` per KAN layer (pykan's
    ``acts_scale_spline`` of that pass, still attached to the graph so the terms are differentiable).
    """
    l1 = entropy = edge_scales[0].new_zeros(())
    for scale in edge_scales:  # [out, in] per layer
        l1 = l1 + scale.sum()
        p_row = scale / (scale.sum(dim=1, keepdim=True) + 1.0)
        p_col = scale / (scale.sum(dim=0, keepdim=True) + 1.0)
        entropy = entropy - (p_row * torch.log2(p_row + 1e-4)).sum(dim=1).mean()
        entropy = entropy - (p_col * torch.log2(p_col + 1e-4)).sum(dim=0).mean()
    return l1, entropy


def roughness(layers: nn.ModuleList) -> Tensor:
    """Unweighted second-difference roughness of every spline of pykan's ``act_fun`` layers."""
    total = layers[0].coef.new_zeros(())
    for layer in layers:
        coef = layer.coef * (layer.scale_sp * layer.mask)[:, :, None]  # [in, out, n_basis]
        h = (layer.grid[:, 1] - layer.grid[:, 0]).detach()[:, None, None]  # [in, 1, 1]
        second = torch.diff(coef, n=2, dim=-1) / h**2
        total = total + (second.pow(2) * h).sum(dim=-1).mean()
    return total

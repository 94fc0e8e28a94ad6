"""The plug-in interface every process model implements.

A BINN composes ``head -> parameters -> process model -> predictions``. The process model is any
differentiable :class:`torch.nn.Module` that says

1. which parameters it has (a :class:`~binn_lite.parameters.ParameterTable` with ranges and units),
2. how physical parameters and a site's forcing become a prediction on the model's own grid
   (:meth:`ProcessModel.forward`), and
3. how that prediction meets the observations (:meth:`ProcessModel.observe`): observations come
   as NaN-padded coordinates ``[batch, n_obs]`` (depths, times, ...), and ``observe`` returns the
   prediction at those coordinates with NaN kept where the coordinate is NaN.

CLM5 (:class:`binn_lite.clm5.CLM5`), the Q10 respiration model (:mod:`binn_lite.models`) and the
two-pool soil model (:mod:`binn_lite.two_pool`, the template to copy) all implement it, so BINN,
training, metrics and interpretation work on each unchanged. The forcing object is the model's own business; the training loop only needs
``len(forcing)``, ``forcing[site_index]`` and ``forcing.to(device=..., dtype=...)``.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from .parameters import ParameterTable

__all__ = ["ProcessModel", "site_index"]


def site_index(index: Any, device: torch.device) -> Any:
    """Normalise a site selection for ``forcing[index]``: an int becomes a one-site list, lists and
    arrays become index tensors on ``device``; slices and boolean masks pass through."""
    if isinstance(index, int):
        index = [index]
    if isinstance(index, (list, tuple, np.ndarray)):
        index = torch.as_tensor(np.asarray(index))
    if isinstance(index, torch.Tensor):
        index = index.to(device)
    return index


class ProcessModel(torch.nn.Module):
    """Base class of a differentiable process model (see the module docstring)."""

    parameter_table: ClassVar[ParameterTable]
    #: names learned by ``BINN(..., learn="most_influential")``; ``None``: the model has no preset
    most_influential: ClassVar[tuple[str, ...] | None] = None

    def forward(self, params: torch.Tensor, forcing: Any) -> torch.Tensor:
        """Prediction ``[batch, ...]`` from physical parameters ``[batch, n_params]``."""
        raise NotImplementedError

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Prediction at observation coordinates ``[batch, n_obs]`` (NaN in, NaN out)."""
        raise NotImplementedError

    def predict(self, params: torch.Tensor, forcing: Any, coords: torch.Tensor) -> torch.Tensor:
        """``observe(forward(params, forcing), coords)``."""
        return self.observe(self(params, forcing), coords)

    def check_params(self, params: torch.Tensor) -> None:
        """Raise a clear error when ``params`` is not ``[batch, n_params]``."""
        n = len(self.parameter_table)
        if params.ndim != 2 or params.shape[1] != n:
            raise ValueError(
                f"{type(self).__name__} expects physical parameters of shape [batch, {n}] "
                f"({', '.join(self.parameter_table.names)}); got {tuple(params.shape)}"
            )

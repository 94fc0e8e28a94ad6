"""Pruning and grid refinement: the operations that rebuild a KAN head's network in place.

Both call pykan, which builds a *new* KAN; :meth:`KANPruning._adopt` installs it with the head's
settings restored (no auto-saving, no activation saving, the head's dtype). The KAN's parameter
tensors are replaced, so an optimiser built before must be built again (the trainer does that on
every :func:`~binn_lite.train.fit`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import BinnInputError
from .base import quiet, seeded

__all__ = ["KANPruning"]


class KANPruning:
    """Mixin of :class:`~binn_lite.heads.kan.KANHead`: :meth:`prune` and :meth:`refine`.

    Uses the head's ``kan`` (the pykan network), ``verbose``, ``grid`` and ``_prepare(x)``
    (input check and clamping), and clears its per-pass caches ``_last_u`` and
    ``_last_edge_scales``.
    """

    def _adopt(self, model) -> None:
        """Install a KAN that pykan built internally, with our settings restored."""
        model.auto_save = False
        model.symbolic_enabled = self.kan.symbolic_enabled
        model.save_act = False
        model.grid_eps = self.kan.grid_eps
        model.grid_range = self.kan.grid_range
        nn.Module.to(model, dtype=self.kan.act_fun[0].coef.dtype)  # pykan builds float32 models
        self.kan = model

    def _forget_last_pass(self) -> None:
        self._last_u = None
        self._last_edge_scales = None

    def prune(self, x: Tensor, node_th: float = 1e-2, edge_th: float = 3e-2):
        """Prune in place: remove hidden nodes (two-layer KAN) whose attribution is below
        ``node_th``, then mask edges whose attribution score is below ``edge_th``.

        Scores come from pykan's ``attribute`` on the covariates ``x``. Inputs and outputs are
        kept, so ``n_inputs``/``n_outputs`` do not change. The KAN's parameter tensors are
        replaced: build a new optimiser afterwards. Returns ``self``.
        """
        x = self._prepare(x)
        with quiet(self.verbose), torch.no_grad():
            self.kan.get_act(x)
            self.kan.attribute()
            if self.kan.depth > 1:
                for layer, scores in enumerate(self.kan.node_scores[1:-1], start=1):
                    if not bool((scores > node_th).any()):
                        raise BinnInputError(
                            f"KANHead.prune: node_th={node_th} would remove every node of hidden layer "
                            f"{layer} (largest score {float(scores.max()):.3g}); use a smaller node_th"
                        )
                with seeded(0):  # pykan's constructor re-seeds the global RNG
                    pruned = self.kan.prune_node(node_th, log_history=False)
                self._adopt(pruned)
                self.kan.get_act(x)
                self.kan.attribute()
            self.kan.prune_edge(edge_th, log_history=False)
        self._forget_last_pass()
        return self

    def refine(self, x: Tensor, grid: int):
        """Grid refinement in place: re-express the splines on ``grid`` intervals, fitted on
        ``x`` (pykan's ``refine``). Parameters are replaced: build a new optimiser. Returns self."""
        if int(grid) < 1:
            raise BinnInputError(f"refine: grid must be >= 1, got {grid}")
        x = self._prepare(x).float()
        dtype = self.kan.act_fun[0].coef.dtype
        nn.Module.to(self.kan, dtype=torch.float32)  # pykan's refine only works in float32
        with quiet(self.verbose), torch.no_grad():
            self.kan.get_act(x)
            self.kan.save_act = True  # refine re-runs the old KAN and reads its activations
            try:
                with seeded(0):
                    refined = self.kan.refine(int(grid))
            finally:
                self.kan.save_act = False
                nn.Module.to(self.kan, dtype=dtype)
        self._adopt(refined)
        self.grid = int(grid)
        self._forget_last_pass()
        return self

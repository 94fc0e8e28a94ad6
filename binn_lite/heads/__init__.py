"""Network heads: site covariates -> *unit* parameters in [0, 1], the learnable half of a BINN.

==================  ================================================================================
module              what it holds
==================  ================================================================================
``base``            the head contract and :class:`Head`, its base class
``constraints``     output constraints: :class:`Sigmoid`, ScIReN's :class:`HardSigmoid`
``mlp``             :class:`MLPHead`, the BINN network of Xu et al. (2025): three hidden layers of 128
``kan``             :class:`KANHead`, a Kolmogorov-Arnold network (Liu et al. 2024, pykan) as in ScIReN
``kan_penalties``   the KAN's sparsity (L1, entropy) and smoothness regularisers
``kan_pruning``     pruning and grid refinement of a KAN head
``kan_symbolic``    closed-form formulas for a KAN head's edges
``sciren``          ScIReN's recipe: its KAN settings, :func:`~binn_lite.heads.sciren.make_head` and
                    :func:`~binn_lite.heads.sciren.fit_and_prune` (sparse training, pruning, refit)
==================  ================================================================================

The names below are the package's public face (``from binn_lite.heads import KANHead``); the
ScIReN recipe is imported from its module, ``binn_lite.heads.sciren``, as it trains BINNs.
"""
from .base import Head
from .constraints import Constraint, HardSigmoid, Sigmoid, make_constraint
from .kan import KANHead
from .kan_symbolic import round_floats
from .mlp import MLPHead

__all__ = [
    "Constraint",
    "Sigmoid",
    "HardSigmoid",
    "make_constraint",
    "Head",
    "MLPHead",
    "KANHead",
    "round_floats",
]

"""The Biogeochemistry-Informed Neural Network: ``covariates -> head -> parameters -> process model``.

A :class:`BINN` chains three pieces (Xu et al. 2025; Fan et al. 2025 with a KAN head):

1. a *head* maps z-scored site covariates ``x`` [batch, n_covariates] to unit values
   ``u`` [batch, n_learned] in [0, 1] (:mod:`binn_lite.heads`);
2. the unit values become physical parameters ``theta = low + u (high - low)`` with the ranges of
   the process model's :class:`~binn_lite.parameters.ParameterTable`; parameters that are not
   learned keep fixed physical values, and *global* parameters are single learnable scalars
   shared by all sites, ``theta_g = low + sigmoid(w_g) (high - low)``;
3. the differentiable process model turns the full parameter vector and the site forcing into
   predictions, read out at the observation coordinates (:mod:`binn_lite.process`).

Which parameters are learned is a choice: ``learn="all"`` (every parameter the head can reach),
``learn="most_influential"`` (the preset of the process model, for CLM5 ``efolding, tau_s3,
fs1s3, w_scaling``) or any list of names. ``global_params=["q10"]`` makes ``q10`` one learnable
number instead of a head output (the Q10 respiration hybrid, :mod:`binn_lite.q10`).

A BINN also carries the :class:`~binn_lite.dataset.Normalizer` fitted on its training sites
(set by :func:`binn_lite.train.fit`), so a saved BINN can predict for new sites from their raw
covariates: :meth:`BINN.predict_dataset`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from . import checkpoint
from .errors import BinnInputError, CheckpointError
from .parameters import ParameterTable
from .threads import DEFAULT_THREADS, with_num_threads
from .process import ProcessModel

__all__ = ["BINN", "preset_parameters"]


def preset_parameters(process_model: ProcessModel, preset: str) -> tuple[str, ...]:
    """Names of a named parameter preset of ``process_model``.

    ``"all"``: every parameter of the table. ``"most_influential"``: the model's
    ``most_influential`` attribute (:class:`~binn_lite.process.ProcessModel`; for CLM5
    :data:`binn_lite.clm5.MOST_INFLUENTIAL`).
    """
    table = process_model.parameter_table
    if preset == "all":
        return table.names
    if preset == "most_influential":
        names = process_model.most_influential
        if names is None:
            raise BinnInputError(
                f"{type(process_model).__name__} defines no 'most_influential' parameters; "
                f"pass a list of names from {', '.join(table.names)}"
            )
        return tuple(names)
    raise BinnInputError(f"unknown parameter preset {preset!r}; use 'all', 'most_influential' or a list of names")


def _check_names(names: Sequence[str], table: ParameterTable, what: str) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise BinnInputError(f"{what}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(table.names)}")
    if len(set(names)) != len(names):
        raise BinnInputError(f"{what}: duplicate names in {list(names)}")
    return names


class BINN(nn.Module):
    """A head and a process model trained end to end (see the module docstring).

    Parameters
    ----------
    head : a head with ``n_outputs == len(learned)`` (e.g. ``MLPHead(10, 4)``).
    process_model : a :class:`~binn_lite.process.ProcessModel` (``CLM5()``, ...).
    learn : ``"all"`` (default: every parameter that is not global), ``"most_influential"`` or
        a list of parameter names, in the order of the head's outputs.
    fixed : physical values ``{name: value}`` for parameters that are not learned (default: the
        table's default, the middle of the range). For a global parameter the value is its
        starting point. Values outside a table range are accepted if the process model accepts them.
    global_params : names of parameters learned as one scalar shared by all sites.
    normalizer : a fitted :class:`~binn_lite.dataset.Normalizer` (``fit`` sets it).

    Attributes
    ----------
    learned, global_names, fixed_names : tuple[str] -- who is what; ``learned + global_names +
        fixed_names`` covers the table.
    fixed_values : float64 Tensor [n_params] -- physical value of every parameter when not learned.
    global_logits : nn.Parameter [n_global] -- ``w_g`` with ``theta_g = low + sigmoid(w_g)(high - low)``.
    """

    def __init__(
        self,
        head: nn.Module,
        process_model: ProcessModel,
        learn: str | Sequence[str] = "all",
        *,
        fixed: Mapping[str, float] | None = None,
        global_params: Sequence[str] = (),
        normalizer: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(process_model, ProcessModel):
            raise BinnInputError(f"process_model must be a binn_lite ProcessModel; got {type(process_model).__name__}")
        table = process_model.parameter_table
        global_names = _check_names(global_params, table, "global_params")
        if isinstance(learn, str):
            learned = tuple(n for n in preset_parameters(process_model, learn) if n not in global_names)
        else:
            learned = _check_names(learn, table, "learn")
            both = [n for n in learned if n in global_names]
            if both:
                raise BinnInputError(f"parameter(s) {', '.join(both)} cannot be both head outputs (learn) and global")
        n_outputs = getattr(head, "n_outputs", None)
        if n_outputs is not None and int(n_outputs) != len(learned):
            raise BinnInputError(
                f"the head has n_outputs={n_outputs} but the BINN learns {len(learned)} parameter(s) "
                f"({', '.join(learned) or 'none'}); build the head with n_outputs={len(learned)}"
            )
        values = table.default.clone()
        for name, value in dict(fixed or {}).items():
            if name not in table:
                raise BinnInputError(f"fixed: unknown parameter {name!r}; known: {', '.join(table.names)}")
            if name in learned:
                raise BinnInputError(f"fixed: parameter {name!r} is learned by the head; "
                                     "remove it from learn or from fixed")
            value = float(value)
            if not torch.isfinite(torch.tensor(value)):
                raise BinnInputError(f"fixed: parameter {name!r} must be finite, got {value}")
            values[table.index(name)] = value
        for name in global_names:
            p = table[name]
            start = float(values[table.index(name)])
            if not p.low < start < p.high:
                raise BinnInputError(
                    f"global parameter {name!r}: starting value {start} must lie strictly inside its range "
                    f"({p.low}, {p.high})"
                )

        self.head = head
        self.process_model = process_model
        self.table = table
        self.learned = learned
        self.global_names = global_names
        self.fixed_names = tuple(n for n in table.names if n not in learned and n not in global_names)
        self.fixed_values = values  # float64, plain attribute: .to(dtype) must not round it
        self.normalizer = normalizer
        self._learned_index = torch.tensor([table.index(n) for n in learned], dtype=torch.long)
        self._global_index = torch.tensor([table.index(n) for n in global_names], dtype=torch.long)
        self._learned_table = table.subset(learned) if learned else None
        self._global_table = table.subset(global_names) if global_names else None
        start_unit = (
            self._global_table.to_unit(values[self._global_index]) if global_names else torch.zeros(0, dtype=torch.float64)
        )
        self.global_logits = nn.Parameter(torch.logit(start_unit).to(torch.get_default_dtype()))

    # -- bookkeeping -----------------------------------------------------------------------------
    @property
    def parameter_names(self) -> tuple[str, ...]:
        """All parameter names, in the column order of :meth:`parameters_from`."""
        return self.table.names

    @property
    def dtype(self) -> torch.dtype:
        return self.global_logits.dtype

    @property
    def device(self) -> torch.device:
        return self.global_logits.device

    def extra_repr(self) -> str:
        return (f"learned=({', '.join(self.learned)}), global=({', '.join(self.global_names)}), "
                f"fixed={len(self.fixed_names)}")

    def global_values(self) -> dict[str, float]:
        """Current physical values of the global parameters ``{name: value}``."""
        if not self.global_names:
            return {}
        values = self._global_table.to_physical(torch.sigmoid(self.global_logits.detach().double().cpu()))
        return {n: float(v) for n, v in zip(self.global_names, values)}

    def set_global(self, name: str, value: float) -> None:
        """Set global parameter ``name`` to the physical ``value`` (strictly inside its range)."""
        if name not in self.global_names:
            raise BinnInputError(f"{name!r} is not a global parameter; "
                                 f"global: {', '.join(self.global_names) or 'none'}")
        p = self.table[name]
        if not p.low < value < p.high:
            raise BinnInputError(f"global parameter {name!r}: value {value} must lie strictly inside "
                                 f"({p.low}, {p.high})")
        unit = (value - p.low) / (p.high - p.low)
        with torch.no_grad():
            self.global_logits[self.global_names.index(name)] = float(torch.logit(torch.tensor(unit, dtype=torch.float64)))

    # -- the forward chain -----------------------------------------------------------------------
    def parameters_from(self, x: Tensor) -> Tensor:
        """Physical parameters ``[batch, n_params]`` (table order) from z-scored covariates ``x``.

        Columns of learned parameters come from the head, global ones from their scalars, the
        rest are the fixed values. The result has the head's dtype and device.
        """
        return self.parameters_from_unit(self.unit_outputs(x))

    def unit_outputs(self, x: Tensor) -> Tensor:
        """The head's unit values ``[batch, n_learned]`` in [0, 1] (``[batch, 0]`` when nothing is learned)."""
        return self.head(x) if self.learned else x.new_zeros(x.shape[0], 0)

    def parameters_from_unit(self, unit: Tensor) -> Tensor:
        """Physical parameters ``[batch, n_params]`` from the head's unit values ``unit`` [batch, n_learned]:
        ``low + u (high - low)`` for the learned columns, the global and fixed values elsewhere."""
        batch, dtype, device = unit.shape[0], unit.dtype, unit.device
        full = self.fixed_values.to(device=device, dtype=dtype).expand(batch, -1).clone()
        if self.learned:
            full[:, self._learned_index.to(device)] = self._learned_table.to_physical(unit)
        if self.global_names:
            global_unit = torch.sigmoid(self.global_logits).to(device=device, dtype=dtype)
            full[:, self._global_index.to(device)] = self._global_table.to_physical(global_unit).expand(batch, -1)
        return full

    def forward(self, x: Tensor, forcing: Any) -> Tensor:
        """Process-model prediction on its own grid, e.g. SOC at the 20 CLM5 nodes ``[batch, 20]``."""
        return self.process_model(self.parameters_from(x), forcing)

    def predict(self, x: Tensor, forcing: Any, coords: Tensor) -> Tensor:
        """Prediction at the observation coordinates ``[batch, n_obs]`` (NaN where coords is NaN)."""
        return self.process_model.predict(self.parameters_from(x), forcing, coords)

    def penalty(self) -> Tensor:
        """The head's regulariser from its last forward pass (0 for heads without one)."""
        penalty = getattr(self.head, "penalty", None)
        return penalty() if penalty is not None else self.global_logits.new_zeros(())

    # -- whole data sets ---------------------------------------------------------------------------
    def features(self, data: Any) -> Tensor:
        """z-scored covariates ``[n_sites, n_covariates]`` of a SiteDataset or covariate DataFrame."""
        if self.normalizer is None:
            raise BinnInputError(
                "this BINN has no normalizer: train it with binn_lite.train.fit, or set "
                "binn.normalizer = dataset.fit_normalizer(train_idx)"
            )
        return self.normalizer.transform(data)

    @torch.no_grad()
    @with_num_threads
    def predict_dataset(self, dataset: Any, batch_size: int = 1024, *,
                        num_threads: int | None = DEFAULT_THREADS) -> tuple[pd.DataFrame, Tensor]:
        """Parameters and predictions for every site of a :class:`~binn_lite.dataset.SiteDataset`.

        Runs in eval mode without gradients, ``batch_size`` sites at a time, on the BINN's device
        and dtype (the mode is restored afterwards).
        ``num_threads``: torch CPU threads, restored afterwards (None: torch's setting;
        :mod:`binn_lite.threads`).

        Returns
        -------
        params : DataFrame indexed by site id, one column per parameter (physical units).
        predictions : Tensor [n_sites, max_obs] at ``dataset.coords`` (NaN padding kept), on CPU.
        """
        if batch_size < 1:
            raise BinnInputError(f"batch_size must be >= 1, got {batch_size}")
        was_training = self.training
        self.eval()
        try:
            x_all = self.features(dataset).to(device=self.device, dtype=self.dtype)
            params, predictions = [], []
            for start in range(0, len(dataset), batch_size):
                index = torch.arange(start, min(start + batch_size, len(dataset)))
                forcing = dataset.forcing[index].to(device=self.device, dtype=self.dtype)
                coords = dataset.coords[index].to(device=self.device, dtype=self.dtype)
                theta = self.parameters_from(x_all[index.to(self.device)])
                predictions.append(self.process_model.predict(theta, forcing, coords).cpu())
                params.append(theta.double().cpu())
        finally:
            self.train(was_training)
        frame = pd.DataFrame(torch.cat(params).numpy(), index=dataset.site_ids, columns=list(self.table.names))
        return frame, torch.cat(predictions)

    # -- saving and loading --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the BINN to one file (:mod:`binn_lite.checkpoint`: versioned, hashed); returns the path.

        Stored: the head's class, ``config()`` (the head contract, :mod:`binn_lite.heads.base`) and
        weights, the process model's class, ``config()`` and state (:mod:`binn_lite.process`,
        section 5), learned/global/fixed parameters and the normalizer. Raises ``FileExistsError``
        if ``path`` exists and ``overwrite`` is false.
        """
        payload = {
            "head_class": checkpoint.qualified_name(self.head),
            "head_config": checkpoint.head_config(self.head),
            "head_state": {k: v.detach().cpu() for k, v in self.head.state_dict().items()},
            "process_model_class": checkpoint.qualified_name(self.process_model),
            "process_model_config": checkpoint.process_model_config(self.process_model),
            "process_model_state": {k: v.detach().cpu() for k, v in self.process_model.state_dict().items()},
            "parameter_names": list(self.table.names),
            "learned": list(self.learned),
            "global_params": list(self.global_names),
            "fixed_values": self.fixed_values.clone(),
            "global_logits": self.global_logits.detach().cpu().clone(),
            "dtype": str(self.dtype).replace("torch.", ""),
            "normalizer": None if self.normalizer is None else self.normalizer.to_dict(),
        }
        return checkpoint.write(path, payload, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, process_model: ProcessModel | type | None = None,
             head: nn.Module | None = None, map_location: str | torch.device = "cpu") -> "BINN":
        """Rebuild a BINN written by :meth:`save` (in eval mode).

        ``process_model``: needed when the saved model is not a ``binn_lite`` class (your own
        model): its class, rebuilt as ``cls(**config)`` from the saved ``config()``, or an instance.
        It must have the same parameter names; its ``state_dict`` is loaded from the file.
        ``head``: a fresh instance of the same architecture when the saved head cannot be rebuilt
        from the file. The file is read with ``torch.load(weights_only=True)``: plain data only,
        no code in the file runs, and only ``binn_lite`` classes are rebuilt by name.

        Raises ``FileNotFoundError`` for a missing file and a :class:`~binn_lite.errors.CheckpointError`
        naming the file when it is damaged, of another format or version, or does not fit the
        ``head`` or ``process_model`` given (the message says what differs).
        """
        checkpoint.check_load_arguments(process_model, head)
        path = Path(path)
        payload = checkpoint.read(path, map_location)
        try:
            return cls._from_payload(payload, process_model, head)
        except CheckpointError as error:
            raise CheckpointError(f"{path}: {error}") from None
        except Exception as error:  # an intact file that still does not load: say which
            raise CheckpointError(f"{path}: the saved BINN cannot be rebuilt: {type(error).__name__}: "
                                  f"{error}") from error

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], process_model: Any, head: nn.Module | None) -> "BINN":
        """The BINN a checked payload describes (see :meth:`load`)."""
        _check_payload(payload)
        model = checkpoint.build_process_model(process_model, payload)
        names = payload["parameter_names"]
        if list(model.parameter_table.names) != names:
            saved = payload["process_model_class"].rpartition(".")[2]
            raise CheckpointError(
                f"the saved parameters (of {saved}: {', '.join(names)}) differ from those of "
                f"{type(model).__name__} ({', '.join(model.parameter_table.names)})"
            )
        checkpoint.load_state(model, payload["process_model_state"], "process model",
                              checkpoint.described(payload["process_model_class"], payload["process_model_config"]))
        saved_head = checkpoint.described(payload["head_class"], payload["head_config"])
        head = checkpoint.build_head(payload) if head is None else head
        n_outputs, learned = getattr(head, "n_outputs", None), payload["learned"]
        if n_outputs is not None and int(n_outputs) != len(learned):
            raise CheckpointError(
                f"the saved BINN learns {len(learned)} parameter(s) with its head ({', '.join(learned) or 'none'}; "
                f"saved head {saved_head}), but {type(head).__name__} has n_outputs={n_outputs}"
            )
        checkpoint.load_state(head, payload["head_state"], "head", saved_head)
        normalizer = None
        if payload["normalizer"] is not None:
            from .dataset import Normalizer

            normalizer = Normalizer.from_dict(payload["normalizer"])
        fixed_values = payload["fixed_values"]
        fixed = {n: float(v) for n, v in zip(names, fixed_values) if n not in learned}
        binn = cls(head, model, learn=learned, global_params=payload["global_params"],
                   fixed={n: v for n, v in fixed.items() if n not in payload["global_params"]},
                   normalizer=normalizer)
        binn.fixed_values = fixed_values.to(torch.float64).clone()
        binn.to(dtype=getattr(torch, payload["dtype"]))
        with torch.no_grad():
            binn.global_logits.copy_(payload["global_logits"])
        binn.eval()
        return binn


#: what a saved BINN's payload holds: key -> the type(s) its value must have
_PAYLOAD_TYPES: dict[str, tuple[type, ...]] = {
    "head_class": (str,), "head_config": (dict, type(None)), "head_state": (dict,),
    "process_model_class": (str,), "process_model_config": (dict,), "process_model_state": (dict,),
    "parameter_names": (list,), "learned": (list,), "global_params": (list,),
    "fixed_values": (Tensor,), "global_logits": (Tensor,), "dtype": (str,), "normalizer": (dict, type(None)),
}
#: the precisions a BINN is saved in
_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _check_payload(payload: Mapping[str, Any]) -> None:
    """Raise a CheckpointError unless ``payload`` has every key of a saved BINN, of the right type
    and consistent sizes."""
    missing = [key for key in _PAYLOAD_TYPES if key not in payload]
    if missing:
        raise CheckpointError(f"the file lacks {', '.join(map(repr, missing))} (not written by BINN.save?)")
    for key, types in _PAYLOAD_TYPES.items():
        if not isinstance(payload[key], types):
            raise CheckpointError(f"the saved {key!r} is a {type(payload[key]).__name__}, not a "
                                  f"{' or '.join(t.__name__ for t in types)}")
    names = payload["parameter_names"]
    if payload["dtype"] not in _DTYPES:
        raise CheckpointError(f"the saved dtype {payload['dtype']!r} is not one of {', '.join(_DTYPES)}")
    if tuple(payload["fixed_values"].shape) != (len(names),):
        raise CheckpointError(f"the saved fixed values have shape {list(payload['fixed_values'].shape)}; "
                              f"expected [{len(names)}] for the {len(names)} parameters")
    if tuple(payload["global_logits"].shape) != (len(payload["global_params"]),):
        raise CheckpointError(f"the saved global logits have shape {list(payload['global_logits'].shape)}; "
                              f"expected [{len(payload['global_params'])}] for {payload['global_params']}")

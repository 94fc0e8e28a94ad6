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

import importlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from .parameters import ParameterTable
from .process import ProcessModel

__all__ = ["BINN", "preset_parameters"]

_FORMAT = "binn_lite.BINN"
_FORMAT_VERSION = 1


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
            raise ValueError(
                f"{type(process_model).__name__} defines no 'most_influential' parameters; "
                f"pass a list of names from {', '.join(table.names)}"
            )
        return tuple(names)
    raise ValueError(f"unknown parameter preset {preset!r}; use 'all', 'most_influential' or a list of names")


def _check_names(names: Sequence[str], table: ParameterTable, what: str) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"{what}: unknown parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(table.names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: duplicate names in {list(names)}")
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
            raise TypeError(f"process_model must be a binn_lite ProcessModel; got {type(process_model).__name__}")
        table = process_model.parameter_table
        global_names = _check_names(global_params, table, "global_params")
        if isinstance(learn, str):
            learned = tuple(n for n in preset_parameters(process_model, learn) if n not in global_names)
        else:
            learned = _check_names(learn, table, "learn")
            both = [n for n in learned if n in global_names]
            if both:
                raise ValueError(f"parameter(s) {', '.join(both)} cannot be both head outputs (learn) and global")
        n_outputs = getattr(head, "n_outputs", None)
        if n_outputs is not None and int(n_outputs) != len(learned):
            raise ValueError(
                f"the head has n_outputs={n_outputs} but the BINN learns {len(learned)} parameter(s) "
                f"({', '.join(learned) or 'none'}); build the head with n_outputs={len(learned)}"
            )
        values = table.default.clone()
        for name, value in dict(fixed or {}).items():
            if name not in table:
                raise ValueError(f"fixed: unknown parameter {name!r}; known: {', '.join(table.names)}")
            if name in learned:
                raise ValueError(f"fixed: parameter {name!r} is learned by the head; remove it from learn or from fixed")
            value = float(value)
            if not torch.isfinite(torch.tensor(value)):
                raise ValueError(f"fixed: parameter {name!r} must be finite, got {value}")
            values[table.index(name)] = value
        for name in global_names:
            p = table[name]
            start = float(values[table.index(name)])
            if not p.low < start < p.high:
                raise ValueError(
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
            raise ValueError(f"{name!r} is not a global parameter; global: {', '.join(self.global_names) or 'none'}")
        p = self.table[name]
        if not p.low < value < p.high:
            raise ValueError(f"global parameter {name!r}: value {value} must lie strictly inside ({p.low}, {p.high})")
        unit = (value - p.low) / (p.high - p.low)
        with torch.no_grad():
            self.global_logits[self.global_names.index(name)] = float(torch.logit(torch.tensor(unit, dtype=torch.float64)))

    # -- the forward chain -----------------------------------------------------------------------
    def parameters_from(self, x: Tensor) -> Tensor:
        """Physical parameters ``[batch, n_params]`` (table order) from z-scored covariates ``x``.

        Columns of learned parameters come from the head, global ones from their scalars, the
        rest are the fixed values. The result has the head's dtype and device.
        """
        batch = x.shape[0]
        if self.learned:
            unit = self.head(x)
            learned = self._learned_table.to_physical(unit)
            dtype, device = learned.dtype, learned.device
        else:
            dtype, device = x.dtype, x.device
        full = self.fixed_values.to(device=device, dtype=dtype).expand(batch, -1).clone()
        if self.learned:
            full[:, self._learned_index.to(device)] = learned
        if self.global_names:
            unit = torch.sigmoid(self.global_logits).to(device=device, dtype=dtype)
            full[:, self._global_index.to(device)] = self._global_table.to_physical(unit).expand(batch, -1)
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
            raise ValueError(
                "this BINN has no normalizer: train it with binn_lite.train.fit, or set "
                "binn.normalizer = dataset.fit_normalizer(train_idx)"
            )
        return self.normalizer.transform(data)

    @torch.no_grad()
    def predict_dataset(self, dataset: Any, batch_size: int = 1024) -> tuple[pd.DataFrame, Tensor]:
        """Parameters and predictions for every site of a :class:`~binn_lite.dataset.SiteDataset`.

        Runs in eval mode without gradients, ``batch_size`` sites at a time, on the BINN's device
        and dtype (the mode is restored afterwards).

        Returns
        -------
        params : DataFrame indexed by site id, one column per parameter (physical units).
        predictions : Tensor [n_sites, max_obs] at ``dataset.coords`` (NaN padding kept), on CPU.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
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
        """Write the BINN to one file (``torch.save`` of plain data); returns the path.

        Stored: the head's class and constructor arguments and weights, the process model's class,
        ``config()`` and state (:mod:`binn_lite.process`, section 5), learned/global/fixed
        parameters and the normalizer. Raises ``FileExistsError``
        if ``path`` exists and ``overwrite`` is false.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        payload = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "head_class": f"{type(self.head).__module__}.{type(self.head).__qualname__}",
            "head_kwargs": _head_config(self.head),
            "head_state": {k: v.detach().cpu() for k, v in self.head.state_dict().items()},
            "process_model_class": f"{type(self.process_model).__module__}.{type(self.process_model).__qualname__}",
            "process_model_kwargs": _process_model_config(self.process_model),
            "process_model_state": {k: v.detach().cpu() for k, v in self.process_model.state_dict().items()},
            "parameter_names": list(self.table.names),
            "learned": list(self.learned),
            "global_params": list(self.global_names),
            "fixed_values": self.fixed_values.clone(),
            "global_logits": self.global_logits.detach().cpu().clone(),
            "dtype": str(self.dtype).replace("torch.", ""),
            "normalizer": None if self.normalizer is None else self.normalizer.to_dict(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)
        return path

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
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved BINN at {path}")
        payload = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved binn_lite BINN")
        process_model = _process_model_from(process_model, payload, path)
        if list(process_model.parameter_table.names) != payload["parameter_names"]:
            raise ValueError(
                f"{path}: saved parameters ({', '.join(payload['parameter_names'])}) differ from those of "
                f"{type(process_model).__name__} ({', '.join(process_model.parameter_table.names)})"
            )
        process_model.load_state_dict(payload["process_model_state"])
        if head is None:
            if payload["head_kwargs"] is None:
                raise ValueError(
                    f"{path}: the saved head ({payload['head_class']}) cannot be rebuilt from the file; "
                    "pass a fresh instance of the same architecture: BINN.load(path, head=...)"
                )
            head = _build(payload["head_class"], payload["head_kwargs"], "head")
        head.load_state_dict(payload["head_state"])
        names = payload["parameter_names"]
        fixed = {n: float(v) for n, v in zip(names, payload["fixed_values"]) if n not in payload["learned"]}
        normalizer = None
        if payload["normalizer"] is not None:
            from .dataset import Normalizer

            normalizer = Normalizer.from_dict(payload["normalizer"])
        binn = cls(head, process_model, learn=payload["learned"], global_params=payload["global_params"],
                   fixed={n: v for n, v in fixed.items() if n not in payload["global_params"]},
                   normalizer=normalizer)
        binn.fixed_values = payload["fixed_values"].to(torch.float64).clone()
        dtype = getattr(torch, payload.get("dtype", "float32"))
        binn.to(dtype=dtype)
        with torch.no_grad():
            binn.global_logits.copy_(payload["global_logits"])
        binn.eval()
        return binn


# -------------------------------------------------------------------------------------------------
# How heads and process models are rebuilt
# -------------------------------------------------------------------------------------------------
def _constraint_config(constraint: Any) -> Any:
    from .heads import HardSigmoid, Sigmoid

    if isinstance(constraint, Sigmoid):
        return {"name": "sigmoid", "temperature": float(constraint.temperature)}
    if isinstance(constraint, HardSigmoid):
        return {"name": "hard_sigmoid"}
    raise ValueError(f"cannot save a head with the custom output constraint {constraint!r}")


def _head_config(head: nn.Module) -> dict[str, Any] | None:
    """Constructor arguments that rebuild ``head`` (weights come from its state_dict).

    A head with a ``config()`` method (like a process model, :mod:`binn_lite.process` section 5)
    is rebuilt from it; MLPHead and KANHead are read from their public attributes; for any other
    head ``None`` (load then needs ``head=``).
    """
    from .heads import KANHead, MLPHead

    if callable(getattr(head, "config", None)):
        config = dict(head.config())
        if "constraint" in config and not isinstance(config["constraint"], (str, dict)):
            config["constraint"] = _constraint_config(config["constraint"])
        return config
    if isinstance(head, MLPHead):
        slopes = [m.negative_slope for m in head.net if isinstance(m, nn.LeakyReLU)]
        dropouts = [m.p for m in head.net if isinstance(m, nn.Dropout)]
        return {
            "n_inputs": head.n_inputs, "n_outputs": head.n_outputs, "hidden": list(head.hidden),
            "batch_norm": head.batch_norm, "negative_slope": float(slopes[0]) if slopes else 0.01,
            "dropout": float(dropouts[0]) if dropouts else 0.0,
            "constraint": _constraint_config(head.constraint), "lamb_bound": head.lamb_bound,
        }
    if isinstance(head, KANHead):
        if head.kan.symbolic_enabled:
            raise ValueError(
                "cannot save a KAN head after auto_symbolic (its symbolic functions are not plain data); "
                "save a copy taken before auto_symbolic"
            )
        hidden = None if head.depth == 1 else int(head.kan.act_fun[0].out_dim)  # pruning can shrink it
        return {
            "n_inputs": head.n_inputs, "n_outputs": head.n_outputs, "hidden": hidden, "grid": head.grid,
            "k": head.k, "grid_range": list(head.grid_range), "base_fun": head.base_fun,
            "clamp_inputs": head.clamp_inputs, "constraint": _constraint_config(head.constraint),
            "lamb_l1": head.lamb_l1, "lamb_entropy": head.lamb_entropy, "lamb_smooth": head.lamb_smooth,
            "lamb_bound": head.lamb_bound,
        }
    return None  # unknown head: BINN.load needs head=... (a fresh instance of the same architecture)


def _process_model_config(model: ProcessModel) -> dict[str, Any]:
    """``model.config()`` (the contract's section 5, :mod:`binn_lite.process`), checked to be a dict."""
    config = model.config()
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__}.config() must return a dict; got {type(config).__name__}")
    return dict(config)


def _process_model_from(given: Any, payload: Mapping[str, Any], path: Path) -> ProcessModel:
    """The process model to load into: ``given`` (an instance or a ProcessModel class) or the saved class."""
    if isinstance(given, ProcessModel):
        return given
    config = payload["process_model_kwargs"]
    if isinstance(given, type) and issubclass(given, ProcessModel):
        try:
            return given(**config)
        except TypeError as error:
            raise TypeError(
                f"{path}: cannot rebuild {given.__name__} from its saved config {config}: {error}. "
                f"Make {given.__name__}.config() return its constructor arguments, or pass an instance"
            ) from None
    if given is not None:
        raise TypeError(f"process_model must be a ProcessModel instance or class; got {type(given).__name__}")
    return _build(payload["process_model_class"], config, "process model")


def _build(qualified: str, kwargs: dict[str, Any], what: str) -> Any:
    module_name, _, class_name = qualified.rpartition(".")
    if not module_name.startswith("binn_lite"):
        argument = "process_model" if what == "process model" else "head"
        raise ValueError(
            f"the saved {what} is {qualified}, not a binn_lite class, and a saved file never names code "
            f"to import; pass it yourself: BINN.load(path, {argument}=...)"
        )
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(kwargs)
    constraint = kwargs.get("constraint")
    if isinstance(constraint, dict):
        from .heads import HardSigmoid, Sigmoid

        kwargs["constraint"] = (Sigmoid(constraint["temperature"]) if constraint["name"] == "sigmoid"
                                else HardSigmoid())
    for key in ("hidden", "grid_range"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return cls(**kwargs)

"""A run described by one YAML file: data, process model, head, learned parameters, training, outputs.

``binn-lite train run.yaml`` (:mod:`binn_lite.cli`) reads the file with :func:`load_config`,
builds everything from it and trains; the file, with its paths made absolute, is saved as
``config.yaml`` in the output folder next to the training state and the saved BINN, so
``binn-lite train <output folder>/config.yaml`` repeats the run (or resumes it, if it was
interrupted: :mod:`binn_lite.resume`). :data:`EXAMPLE_CONFIG` (``binn-lite config``) shows every
section::

    data:              # where the sites come from: one of example / synthetic / files
      example: true                     # the bundled example (1,500 sites)
      # synthetic: {n_sites: 500, seed: 0, scenario: sciren4, noise: 0.1}
      # sites: my/sites.csv             # covariates, lon, lat; index site_id
      # observations: my/observations.csv   # or a WoSIS-like table with profiles: {...}
      # forcing: my/forcing.npz         # or a CLM5 history file my/history.nc (read at lon/lat)
      # features: [bio1, bio12, ...]    # default: the ten ScIReN covariates
    process_model: {name: clm5}         # or a dotted class path, with options: {...}
    head: {kind: mlp, hidden: [128, 128, 128], seed: 0}   # or kind: kan; other keys go to the head
    parameters: {learn: most_influential, global: [], fixed: {}}
    training: {epochs: 300, batch_size: 256, seed: 0, device: cpu, dtype: float32, checkpoint_every: 1}
    outputs: {dir: runs/example}

Relative paths are relative to the YAML file. Every key is checked: an unknown section or key, a
wrong type or a missing file raises a :class:`~binn_lite.errors.BinnInputError` that names the
file and the key.
"""
from __future__ import annotations

import copy
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import BinnInputError, MissingFileError

__all__ = ["RunConfig", "load_config", "EXAMPLE_CONFIG", "SECTIONS", "PROCESS_MODELS", "HEADS"]

#: the sections of a run file and the keys each may hold (training: any FitSettings field)
SECTIONS: dict[str, tuple[str, ...] | None] = {
    "data": ("example", "synthetic", "sites", "observations", "forcing", "features", "profiles",
             "forcing_variables"),
    "process_model": ("name", "options"),
    "head": None,          # kind, seed and the head's own arguments
    "parameters": ("learn", "global", "fixed"),
    "training": None,      # FitSettings fields
    "outputs": ("dir", "predictions"),
}
#: process-model names -> classes (any other name is read as a dotted path ``package.module.Class``)
PROCESS_MODELS = {"clm5": "binn_lite.clm5.CLM5", "q10": "binn_lite.q10.Q10Respiration",
                  "two_pool": "binn_lite.two_pool.TwoPoolSoilCarbon"}
#: head kinds -> classes
HEADS = {"mlp": "binn_lite.heads.MLPHead", "kan": "binn_lite.heads.KANHead"}
#: keys of ``data`` that are paths
_PATHS = ("sites", "observations", "forcing")

EXAMPLE_CONFIG = """\
# binn-lite run file: binn-lite train run.yaml   (under torchrun: torchrun ... -m binn_lite train run.yaml)
data:
  example: true                 # the bundled example; or synthetic: {n_sites: 500, seed: 0}
  # sites: my/sites.csv         # your own: covariates with lon, lat (index site_id)
  # observations: my/observations.csv
  # profiles: {columns: {}, depth_unit: cm, soc_unit: g/kg}   # observations is a WoSIS-like table
  # forcing: my/forcing.npz     # or a CLM5 history file: my/history.nc, read at the sites' lon/lat
  # features: [bio1, bio12, clay, sand, bulk_density, wilting_point, ph, cec, npp, veg_carbon]
process_model:
  name: clm5
head:
  kind: mlp                     # or kan
  hidden: [128, 128, 128]
  seed: 0
parameters:
  learn: most_influential       # or all, or a list of names
  global: []
  fixed: {}
training:                       # any field of binn_lite.train.FitSettings
  epochs: 300
  batch_size: 256               # the global batch: under torchrun each process takes its share
  lr: 0.003
  seed: 0
  device: cpu                   # cuda: under torchrun each process takes GPU LOCAL_RANK
  dtype: float32
  checkpoint_every: 1           # epochs between checkpoints (outputs.dir/train_state.pt)
outputs:
  dir: runs/example             # config.yaml, train_state.pt, binn.pt, history.csv, predictions.nc
  predictions: true             # predict every site to predictions.nc at the end
"""


def _import(dotted: str, what: str) -> type:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise BinnInputError(f"{what}: cannot import {dotted!r}") from None


@dataclass
class RunConfig:
    """A checked run file (see the module docstring); ``sections`` holds its plain data."""

    sections: dict[str, Any]
    source: Path | None = None

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections.get(section) or {}

    @property
    def label(self) -> str:
        return self.source.name if self.source else "config"

    # -- the pieces --------------------------------------------------------------------------------
    def dataset(self) -> Any:
        """The SiteDataset the ``data`` section describes."""
        from .data import load_example, make_synthetic, read_dataset

        data = self["data"]
        features = data.get("features")
        if data.get("example"):
            return load_example()
        if data.get("synthetic") is not None:
            return make_synthetic(**dict(data["synthetic"] or {}))
        for key in ("sites", "observations", "forcing"):
            if key not in data:
                raise BinnInputError(f"{self.label}: data needs example, synthetic, or sites + observations + forcing; "
                                     f"{key!r} is missing")
        sites, observations, forcing = data["sites"], data["observations"], data["forcing"]
        if data.get("profiles") is not None:
            from .data.wosis import read_profiles

            _, observations = read_profiles(observations, **dict(data["profiles"] or {}))
        if str(forcing).endswith((".nc", ".nc4")):
            forcing = self._netcdf_forcing(sites, forcing, data.get("forcing_variables"))
        kwargs = {"feature_names": features} if features is not None else {}
        return read_dataset(sites, observations, forcing, **kwargs)

    def _netcdf_forcing(self, sites: Any, path: Any, variables: Any) -> dict[str, Any]:
        """Forcing arrays (with site ids) read from a CLM5 history file at the sites' lon/lat."""
        from .data.files import read_table
        from .data.netcdf import CLM5History

        table = read_table(sites, "sites")
        for column in ("site_id", "lon", "lat"):
            if column not in table.columns:
                raise BinnInputError(f"{self.label}: to read forcing from {Path(path).name} the sites need a "
                                     f"{column!r} column")
        with CLM5History(path, variables) as history:
            arrays = history.at(table["lon"].astype(float), table["lat"].astype(float)).to_numpy()
        return {**arrays, "site_id": table["site_id"].astype(str).to_numpy()}

    def process_model(self) -> Any:
        section = self["process_model"]
        name = str(section.get("name", "clm5"))
        cls = _import(PROCESS_MODELS.get(name.lower(), name), f"{self.label}: process_model.name")
        return cls(**dict(section.get("options") or {}))

    def binn(self, n_inputs: int) -> Any:
        """A fresh BINN: the head (``head``) on the process model, learning ``parameters``."""
        from .binn import BINN, preset_parameters

        model = self.process_model()
        p = self["parameters"]
        learn, global_params = p.get("learn", "most_influential"), list(p.get("global") or [])
        names = preset_parameters(model, learn) if isinstance(learn, str) else list(learn)
        n_outputs = len([n for n in names if n not in global_params])
        options = dict(self["head"])
        kind = str(options.pop("kind", "mlp"))
        if kind not in HEADS:
            raise BinnInputError(f"{self.label}: head.kind must be one of {', '.join(HEADS)}; got {kind!r}")
        if kind == "kan":
            from .heads.sciren import KAN_SETTINGS

            options = {**KAN_SETTINGS, **options}
        head = _import(HEADS[kind], "head")(n_inputs, n_outputs, **options)
        return BINN(head, model, learn=learn, global_params=global_params, fixed=p.get("fixed") or {})

    def fit_settings(self, checkpoint: Path | None = None, device: Any = None) -> Any:
        """The FitSettings of ``training`` (dtype by name), with the checkpoint file and device."""
        from .train import FitSettings

        values = dict(self["training"])
        if "dtype" in values:
            dtype = getattr(torch, str(values["dtype"]), None)
            if not isinstance(dtype, torch.dtype):
                raise BinnInputError(f"{self.label}: training.dtype {values['dtype']!r} is not a torch dtype "
                                     "(float32, float64)")
            values["dtype"] = dtype
        if checkpoint is not None:
            values["checkpoint"] = str(checkpoint)
        if device is not None:
            values["device"] = device
        return FitSettings().replace(**values)

    def output_dir(self) -> Path:
        return Path(self["outputs"].get("dir", "runs/binn"))

    # -- files -------------------------------------------------------------------------------------
    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.sections, sort_keys=False, default_flow_style=None)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# written by binn-lite; repeat the run with: binn-lite train " + path.name + "\n"
                        + self.to_yaml())
        return path


def load_config(source: str | os.PathLike | Mapping[str, Any]) -> RunConfig:
    """Read and check a run file (a YAML path, or the same as a dict); paths become absolute."""
    import yaml

    if isinstance(source, Mapping):
        sections, base, path = copy.deepcopy(dict(source)), Path.cwd(), None
    else:
        path = Path(source)
        if not path.is_file():
            raise MissingFileError(f"run file: no such file {str(path)!r}")
        try:
            sections = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise BinnInputError(f"{path.name}: not valid YAML: {error}") from None
        base = path.resolve().parent
    label = path.name if path else "config"
    if not isinstance(sections, dict):
        raise BinnInputError(f"{label}: a run file is a mapping of sections ({', '.join(SECTIONS)})")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise BinnInputError(f"{label}: unknown section(s) {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}")
    for name, keys in SECTIONS.items():
        section = sections.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise BinnInputError(f"{label}: section {name!r} must be a mapping of keys; got {type(section).__name__}")
        bad = sorted(set(section) - set(keys)) if keys is not None else []
        if bad:
            raise BinnInputError(f"{label}: unknown key(s) {', '.join(f'{name}.{k}' for k in bad)}; "
                                 f"{name} takes {', '.join(keys)}")
    data = sections.get("data") or {}
    for key in _PATHS:
        if key in data:
            data[key] = str((base / str(data[key])).resolve())
    outputs = sections.setdefault("outputs", {}) or {}
    outputs["dir"] = str((base / str(outputs.get("dir", "runs/binn"))).resolve())
    sections["outputs"] = outputs
    config = RunConfig(sections, path)
    config.fit_settings()  # check the training section now, not after the data are read
    return config

"""The file a saved BINN lives in: a versioned, hashed envelope, read without running code.

:meth:`binn_lite.binn.BINN.save` hands :func:`write` a *payload* of plain data (strings,
numbers, lists, dicts, tensors); :meth:`~binn_lite.binn.BINN.load` gets it back from :func:`read`
and rebuilds the head and the process model with :func:`build_head` and
:func:`build_process_model`. This module is the file format and its checks; what the payload
holds is the BINN's business.

The file
--------
``torch.save`` of an *envelope*::

    {"format": "binn_lite.BINN", "version": 2,
     "sha256": hex digest of payload_bytes, "payload": payload_bytes}

where ``payload_bytes`` is ``torch.save(payload)``. Reading checks, in order: the file exists
(``FileNotFoundError`` otherwise); it loads with ``torch.load(weights_only=True)`` (plain data
only: no code in a file ever runs); it is a binn_lite envelope of this :data:`VERSION`; the
SHA-256 of the payload bytes matches the stored digest (so a flipped, zeroed or lost byte anywhere
in the weights is caught, never loaded as changed weights); and the payload loads, again with
``weights_only=True``. Anything that fails raises :class:`~binn_lite.errors.CheckpointError`
naming the file and what is wrong. The hash guards against damage, not against a forger: a file
from an untrusted source is still only *read* as plain data, and only binn_lite classes are
rebuilt by name (:func:`resolve_class`).

Writing never replaces an existing file unless asked (``overwrite=True``), and goes through a
temporary file in the same folder, so an interrupted save leaves the old file intact.

Heads and process models describe themselves
--------------------------------------------
Both are rebuilt as ``cls(**config)`` from their ``config()``: process models by the contract of
:mod:`binn_lite.process` (section 5), heads by that of :mod:`binn_lite.heads.base`. A head whose
``config()`` is missing or returns ``None`` is saved without one; loading it then needs a fresh
instance of the same architecture, ``BINN.load(path, head=...)``.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .errors import BinnInputError, CheckpointError
from .process import ProcessModel

__all__ = ["FORMAT", "VERSION", "write", "read", "head_config", "process_model_config", "qualified_name",
           "check_load_arguments", "build_head", "build_process_model", "resolve_class", "load_state", "describe", "described"]

#: the ``format`` field of every saved BINN
FORMAT = "binn_lite.BINN"
#: the envelope version this binn_lite writes and reads. 1: no integrity hash (no longer read);
#: 2: the payload's SHA-256 is stored with it
VERSION = 2


# -------------------------------------------------------------------------------------------------
# The envelope
# -------------------------------------------------------------------------------------------------
def write(path: str | os.PathLike, payload: Mapping[str, Any], overwrite: bool = False) -> Path:
    """Write ``payload`` (plain data) to ``path`` in a hashed envelope; returns the path.

    Raises ``FileExistsError`` if ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    data = buffer.getvalue()
    envelope = {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(data).hexdigest(), "payload": data}
    return save_atomically(envelope, path)


def save_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to a temporary file beside ``path``, then rename it over ``path``.

    An interrupted save (a full disk, a killed process) leaves the old file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before it takes the old file's place
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a saved model is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _reason(error: BaseException) -> str:
    """The first line of an error message, shortened: torch's unpickling errors run to paragraphs."""
    first = (str(error).strip().splitlines() or [""])[0]
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def read(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of a file written by :func:`write`, checked (see the module docstring).

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError`, naming the file,
    for anything else that is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved BINN at {path}")
    damaged = f"{path} is not a readable saved BINN (damaged, truncated, or another kind of file)"
    try:
        with warnings.catch_warnings():  # a damaged pickle header makes torch warn before it fails
            warnings.simplefilter("ignore")
            envelope = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{damaged}: {_reason(error)}") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        kind = (f"a dict with keys {sorted(map(str, envelope))[:6]}" if isinstance(envelope, dict)
                else f"a {type(envelope).__name__}")
        raise CheckpointError(f"{path} is not a saved binn_lite BINN (or is damaged): it holds {kind}, "
                              "not a BINN.save file")
    version = envelope.get("version")
    if version != VERSION:
        raise CheckpointError(
            f"{path} is a saved BINN of format version {version!r}; this binn_lite reads version {VERSION} "
            + ("only (version 1 files carry no integrity hash): load it with the binn_lite that wrote it "
               "and save it again" if isinstance(version, int) and version < VERSION
               else "(is the file damaged, or from a newer binn_lite?)")
        )
    data, digest = envelope.get("payload"), envelope.get("sha256")
    if not isinstance(data, bytes) or not isinstance(digest, str):
        raise CheckpointError(f"{damaged}: its payload or hash is missing")
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the SHA-256 hash saved with them, so the "
            "weights cannot be trusted. Restore the file from a copy, or train and save again"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{damaged}: {_reason(error)}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{damaged}: its payload is a {type(payload).__name__}, not a dict")
    return payload


# -------------------------------------------------------------------------------------------------
# Rebuilding heads and process models by name
# -------------------------------------------------------------------------------------------------
def qualified_name(obj: Any) -> str:
    """``module.QualName`` of ``obj``'s class, as stored in a file."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def head_config(head: nn.Module) -> dict[str, Any] | None:
    """``head.config()`` (the head contract, :mod:`binn_lite.heads.base`); None without one."""
    config = getattr(head, "config", None)
    if not callable(config):
        return None
    config = config()
    if config is not None and not isinstance(config, dict):
        raise BinnInputError(f"{type(head).__name__}.config() must return a dict or None; got {type(config).__name__}")
    return config


def process_model_config(model: ProcessModel) -> dict[str, Any]:
    """``model.config()`` (the contract's section 5, :mod:`binn_lite.process`), checked to be a dict."""
    config = model.config()
    if not isinstance(config, dict):
        raise BinnInputError(f"{type(model).__name__}.config() must return a dict; got {type(config).__name__}")
    return dict(config)


def resolve_class(qualified: str, base: type, what: str, argument: str) -> type:
    """The binn_lite class named ``qualified`` (a subclass of ``base``), imported by name.

    Only classes defined in binn_lite are looked up, so a file can never name other code to run;
    anything else raises a :class:`CheckpointError` that says to pass ``argument=`` to ``BINN.load``.
    """
    module_name, _, class_name = str(qualified).rpartition(".")
    pass_it = f"pass it yourself: BINN.load(path, {argument}=...)"
    if not (module_name == "binn_lite" or module_name.startswith("binn_lite.")):
        raise CheckpointError(f"the saved {what} is {qualified}, not a binn_lite class, and a saved file never "
                              f"names code to import; {pass_it}")
    try:
        cls = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, base) and cls.__module__.startswith("binn_lite")):
        raise CheckpointError(f"the saved {what} class {qualified} is not a {base.__name__} of this binn_lite; "
                              f"{pass_it}")
    return cls


def _rebuild(cls: type, config: Any, what: str, argument: str) -> Any:
    if not isinstance(config, dict):
        raise CheckpointError(f"the saved {what} config is a {type(config).__name__}, not a dict")
    try:
        return cls(**config)
    except Exception as error:
        raise CheckpointError(
            f"cannot rebuild the {what} {cls.__name__} from its saved config {config}: {_reason(error)}. "
            f"Make {cls.__name__}.config() return its constructor arguments, or pass a fresh instance: "
            f"BINN.load(path, {argument}=...)"
        ) from None


def build_head(payload: Mapping[str, Any]) -> nn.Module:
    """A fresh head of the saved class, rebuilt from its saved ``config()``."""
    if payload["head_config"] is None:
        raise CheckpointError(
            f"the saved head ({payload['head_class']}) cannot be rebuilt from the file (its config() is "
            "missing or None); pass a fresh instance of the same architecture: BINN.load(path, head=...)"
        )
    cls = resolve_class(payload["head_class"], nn.Module, "head", "head")
    return _rebuild(cls, payload["head_config"], "head", "head")


def check_load_arguments(process_model: Any, head: Any) -> None:
    """Raise a :class:`BinnInputError` unless ``process_model`` is None, a ProcessModel instance or
    class, and ``head`` None or a module (the arguments of ``BINN.load``)."""
    if not (process_model is None or isinstance(process_model, ProcessModel)
            or (isinstance(process_model, type) and issubclass(process_model, ProcessModel))):
        raise BinnInputError(f"process_model must be a ProcessModel instance or class; "
                             f"got {type(process_model).__name__}")
    if head is not None and not isinstance(head, nn.Module):
        raise BinnInputError(f"head must be a torch.nn.Module (a fresh head); got {type(head).__name__}")


def build_process_model(given: Any, payload: Mapping[str, Any]) -> ProcessModel:
    """The process model to load into: ``given`` (an instance, or a ProcessModel class rebuilt from
    the saved ``config()``) or, when ``given`` is None, the saved binn_lite class."""
    if isinstance(given, ProcessModel):
        return given
    if given is not None:
        return _rebuild(given, payload["process_model_config"], "process model", "process_model")
    cls = resolve_class(payload["process_model_class"], ProcessModel, "process model", "process_model")
    return _rebuild(cls, payload["process_model_config"], "process model", "process_model")


def load_state(module: nn.Module, state: Mapping[str, Any], what: str, saved: str) -> None:
    """``module.load_state_dict(state)``, or a :class:`CheckpointError` that lists what differs
    (missing and unexpected entries, shapes) between the saved ``what`` (described by ``saved``)
    and ``module``."""
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"the saved {what} state is not a dict of tensors")
    own = module.state_dict()
    differences = [f"{key}: saved {list(state[key].shape)}, this {what} {list(own[key].shape)}"
                   for key in own if key in state and state[key].shape != own[key].shape]
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing:
        differences.append(f"not in the file: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        differences.append(f"only in the file: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if differences:
        raise CheckpointError(
            f"the saved {what} does not fit the one it is loaded into. Saved: {saved}; this one: "
            f"{describe(module)}. Differences: " + "; ".join(differences[:8])
        )
    module.load_state_dict(state)


def describe(module: nn.Module) -> str:
    """``ClassName(config)`` of a head or process model, for messages."""
    try:
        config = module.config() if isinstance(module, ProcessModel) else head_config(module)
    except Exception:  # e.g. a symbolic KAN, which cannot describe itself as plain data
        config = None
    return described(qualified_name(module), config)


def described(qualified: str, config: Any) -> str:
    """``ClassName(key=value, ...)`` from a stored class name and config."""
    arguments = ", ".join(f"{k}={v!r}" for k, v in config.items()) if isinstance(config, dict) else "..."
    return f"{str(qualified).rpartition('.')[2]}({arguments})"

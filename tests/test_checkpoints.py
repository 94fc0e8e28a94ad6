"""Saved BINNs: round trips, damaged files fail loudly, mismatches say what differs, no code runs."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from binn_lite import checkpoint
from binn_lite.baselines import NoHead
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError, CheckpointError
from binn_lite.heads import Constraint, KANHead, MLPHead
from binn_lite.two_pool import TwoPoolSoilCarbon


@pytest.fixture(scope="module")
def data():
    return make_synthetic(24, seed=5)


def trained_like(head: nn.Module, data, seed: int = 0) -> BINN:
    """A BINN with a global parameter, a fixed value, a normalizer and weights moved off their init."""
    binn = BINN(head, CLM5(), learn="most_influential", fixed={"beta": 0.8}, global_params=["q10"])
    binn.normalizer = data.fit_normalizer(np.arange(12))
    binn.set_global("q10", 1.7)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in binn.head.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=generator))
    return binn


def assert_same_binn(loaded: BINN, binn: BINN) -> None:
    """Every saved number came back exactly."""
    saved, back = binn.state_dict(), loaded.state_dict()
    assert saved.keys() == back.keys()
    for key in saved:
        assert torch.equal(saved[key], back[key]), key
    assert torch.equal(loaded.fixed_values, binn.fixed_values)
    assert loaded.learned == binn.learned and loaded.global_names == binn.global_names
    assert loaded.normalizer.to_dict() == binn.normalizer.to_dict()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data):
    """(a saved BINN's file bytes, the BINN)."""
    binn = trained_like(MLPHead(10, 4, hidden=(16, 8)), data)
    path = binn.save(tmp_path_factory.mktemp("saved") / "binn.pt")
    return path.read_bytes(), binn


# -------------------------------------------------------------------------------------------------
# Round trips and overwriting
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_head", [
    lambda: MLPHead(10, 4, hidden=(16, 8), negative_slope=0.1, constraint="hard_sigmoid", seed=3),
    lambda: MLPHead(10, 4, hidden=(8,), batch_norm=True, dropout=0.2, constraint={"name": "sigmoid",
                                                                                   "temperature": 2.0}),
    lambda: KANHead(10, 4, grid=5, constraint="hard_sigmoid", lamb_smooth=0.1, seed=3),
    lambda: KANHead(10, 4, hidden=3, grid=4, seed=3),
], ids=["mlp", "mlp-batch-norm", "kan", "kan2"])
def test_save_load_round_trip(tmp_path, data, make_head):
    binn = trained_like(make_head(), data)
    params, pred = binn.predict_dataset(data)
    path = binn.save(tmp_path / "sub" / "binn.pt")
    loaded = BINN.load(path)
    assert type(loaded.head) is type(binn.head) and not loaded.training
    assert loaded.head.config() == binn.head.config()
    assert loaded.global_values()["q10"] == pytest.approx(1.7)
    assert_same_binn(loaded, binn)
    params2, pred2 = loaded.predict_dataset(data)
    torch.testing.assert_close(pred2, pred, equal_nan=True)
    np.testing.assert_allclose(params2.to_numpy(), params.to_numpy())
    assert params2["beta"].iloc[0] == pytest.approx(0.8)


def test_nothing_saved_is_overwritten_without_asking(tmp_path, data):
    first = trained_like(MLPHead(10, 4, hidden=(4,)), data, seed=1)
    second = trained_like(MLPHead(10, 4, hidden=(4,)), data, seed=2)
    path = first.save(tmp_path / "binn.pt")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="binn.pt.*overwrite=True"):
        second.save(path)
    assert path.read_bytes() == before
    second.save(path, overwrite=True)
    assert_same_binn(BINN.load(path), second)
    assert [p.name for p in tmp_path.iterdir()] == ["binn.pt"]  # no temporary file left behind


def test_heads_describe_themselves():
    for head in (MLPHead(3, 2, hidden=(5, 4), dropout=0.1, constraint="hard_sigmoid"),
                 KANHead(3, 2, grid=4, lamb_l1=1e-3), KANHead(3, 2, hidden=4, grid=3), NoHead()):
        config = head.config()
        rebuilt = type(head)(**config)
        assert rebuilt.config() == config
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
            k: v.shape for k, v in head.state_dict().items()}

    class Halved(Constraint):
        def __call__(self, u):
            return torch.sigmoid(u) / 2

    assert MLPHead(3, 2, constraint=Halved()).config() is None  # load then needs head=...


# -------------------------------------------------------------------------------------------------
# Damaged files: a CheckpointError naming the file, never changed weights
# -------------------------------------------------------------------------------------------------
def load_or_error(path) -> BINN | None:
    """The loaded BINN, or None after checking that the error is a CheckpointError naming the file."""
    try:
        return BINN.load(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        return None


def test_flipped_bytes_never_load_as_changed_weights(tmp_path, saved):
    raw, binn = saved
    size = len(raw)
    positions = sorted(set(np.linspace(0, size - 1, 500).astype(int)) | set(range(64)) | set(range(size - 64, size)))
    loaded_intact = 0
    for k, position in enumerate(positions):
        damaged = bytearray(raw)
        damaged[position] ^= 0xFF if k % 2 else 0x01
        path = tmp_path / f"flip-{position}.pt"
        path.write_bytes(bytes(damaged))
        loaded = load_or_error(path)
        if loaded is not None:  # the byte was not part of the data (zip padding, a comment)
            assert_same_binn(loaded, binn)
            loaded_intact += 1
        path.unlink()
    assert loaded_intact < len(positions) // 2  # most flips hit the data and are caught


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0.0, 1.0), mask=st.integers(1, 255), width=st.integers(1, 4))
def test_any_damaged_bytes_fail_loudly_or_load_unchanged(tmp_path, saved, where, mask, width):
    raw, binn = saved
    start = min(int(where * len(raw)), len(raw) - width)
    damaged = bytearray(raw)
    for position in range(start, start + width):
        damaged[position] ^= mask
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(damaged))
    loaded = load_or_error(path)
    if loaded is not None:
        assert_same_binn(loaded, binn)


@pytest.mark.parametrize("fraction", [0.0, 1e-4, 0.01, 0.25, 0.5, 0.9, 0.999])
def test_truncated_files_raise_checkpoint_errors(tmp_path, saved, fraction):
    raw, _ = saved
    for length in {int(fraction * len(raw)), max(len(raw) - 1 - int(fraction * 100), 1)}:
        path = tmp_path / f"cut-{length}.pt"
        path.write_bytes(raw[:length])
        with pytest.raises(CheckpointError, match=path.name):
            BINN.load(path)


def write_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a BINN")


@pytest.mark.parametrize("write, message", [
    (lambda path, raw: path.write_bytes(bytes(len(raw))), "not a readable saved BINN"),
    (lambda path, raw: path.write_bytes(raw[:300] + bytes(200) + raw[500:]), "damaged|not a readable"),
    (lambda path, raw: path.write_text("efolding,tau_s3\n0.5,100\n"), "not a readable saved BINN"),
    (lambda path, raw: path.write_bytes(np.random.default_rng(0).bytes(len(raw))), "not a readable"),
    (lambda path, raw: write_zip(path), "not a readable saved BINN"),
    (lambda path, raw: torch.save(torch.zeros(3), path), "not a saved binn_lite BINN.*Tensor"),
    (lambda path, raw: torch.save([1, 2], path), "not a saved binn_lite BINN.*list"),
    (lambda path, raw: torch.save({"something": 1}, path), "not a saved binn_lite BINN.*something"),
    (lambda path, raw: torch.save({"format": checkpoint.FORMAT, "version": 1, "head_state": {}}, path),
     "format version 1.*reads version 2.*save it again"),
    (lambda path, raw: torch.save({"format": checkpoint.FORMAT, "version": 3}, path), "version 3.*newer"),
    (lambda path, raw: torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                                   "sha256": "0" * 64, "payload": b"binn"}, path), "damaged.*SHA-256"),
], ids=["zeroed", "zeroed-range", "text", "random", "zip", "tensor", "list", "dict", "version-1", "version-3",
        "wrong-hash"])
def test_other_damaged_files_raise_checkpoint_errors(tmp_path, saved, write, message):
    path = tmp_path / "broken.pt"
    write(path, saved[0])
    with pytest.raises(CheckpointError, match=message) as error:
        BINN.load(path)
    assert str(path) in str(error.value)


def test_missing_file_and_bad_arguments(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        BINN.load(tmp_path / "missing.pt")
    path = tmp_path / "binn.pt"
    path.write_bytes(saved[0])
    with pytest.raises(BinnInputError, match="process_model must be"):
        BINN.load(path, process_model="CLM5")
    with pytest.raises(BinnInputError, match="head must be"):
        BINN.load(path, head="mlp")


# -------------------------------------------------------------------------------------------------
# Intact files that do not fit: the message says what differs
# -------------------------------------------------------------------------------------------------
def test_loading_into_another_head_says_what_differs(tmp_path, saved):
    path = tmp_path / "binn.pt"
    path.write_bytes(saved[0])
    assert_same_binn(BINN.load(path, head=MLPHead(10, 4, hidden=(16, 8))), saved[1])
    with pytest.raises(CheckpointError, match=r"binn.pt.*MLPHead\(.*hidden=\[16, 8\].*net.0.weight: saved "
                                              r"\[16, 10\], this head \[32, 10\]"):
        BINN.load(path, head=MLPHead(10, 4, hidden=(32, 8)))
    with pytest.raises(CheckpointError, match="Saved: MLPHead.*this one: KANHead.*only in the file: net.0.weight"):
        BINN.load(path, head=KANHead(10, 4, grid=3))
    with pytest.raises(CheckpointError, match="learns 4 parameter.*efolding, tau_s3.*MLPHead has n_outputs=3"):
        BINN.load(path, head=MLPHead(10, 3, hidden=(16, 8)))


def test_loading_into_another_process_model_says_what_differs(tmp_path):
    binn = BINN(MLPHead(3, 1, hidden=(4,)), TwoPoolSoilCarbon(), learn=["efolding"])
    path = binn.save(tmp_path / "two_pool.pt")
    assert BINN.load(path).process_model.parameter_table.names == TwoPoolSoilCarbon.parameter_table.names
    assert BINN.load(path, process_model=TwoPoolSoilCarbon).learned == ("efolding",)
    with pytest.raises(CheckpointError, match="two_pool.pt.*parameters \\(of TwoPoolSoilCarbon.*differ.*CLM5"):
        BINN.load(path, process_model=CLM5())


class OwnHead(nn.Module):
    """A head outside binn_lite, without config()."""

    n_outputs = 1

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


def test_a_head_without_config_saves_and_loads_with_head_given(tmp_path):
    binn = BINN(OwnHead(), TwoPoolSoilCarbon(), learn=["efolding"])
    path = binn.save(tmp_path / "own.pt")
    with pytest.raises(CheckpointError, match="own.pt.*OwnHead.*cannot be rebuilt.*head=\\.\\.\\."):
        BINN.load(path)
    assert torch.equal(BINN.load(path, head=OwnHead()).head.linear.weight, binn.head.linear.weight)


# -------------------------------------------------------------------------------------------------
# Forged payloads (a valid hash over wrong contents): clear errors, and no code ever runs
# -------------------------------------------------------------------------------------------------
def forge(tmp_path, raw, **changes):
    original = tmp_path / "original.pt"
    original.write_bytes(raw)
    payload = checkpoint.read(original)
    payload.update(changes)
    for key in [key for key, value in changes.items() if value is ...]:
        del payload[key]
    return checkpoint.write(tmp_path / "forged.pt", payload, overwrite=True)


@pytest.mark.parametrize("changes, message", [
    (dict(head_state=...), "lacks 'head_state'"),
    (dict(normalizer=..., learned=...), "lacks 'learned', 'normalizer'"),
    (dict(parameter_names="efolding"), "'parameter_names' is a str, not a list"),
    (dict(dtype="save"), "dtype 'save' is not one of"),
    (dict(fixed_values=torch.zeros(3)), "fixed values have shape \\[3\\]"),
    (dict(head_state={"net.0.weight": torch.zeros(16, 10)}), "not in the file: net.0.bias"),
    (dict(head_config={"n_inputs": 10}), "cannot rebuild the head MLPHead"),
], ids=["no-head-state", "two-missing", "names-type", "dtype", "fixed-shape", "head-state", "head-config"])
def test_forged_payloads_raise_checkpoint_errors(tmp_path, saved, changes, message):
    path = forge(tmp_path, saved[0], **changes)
    with pytest.raises(CheckpointError, match=message) as error:
        BINN.load(path)
    assert "forged.pt" in str(error.value)


@pytest.mark.parametrize("key, name", [
    ("head_class", "os.system"),
    ("head_class", "builtins.eval"),
    ("head_class", "binn_lite_evil.Head"),
    ("head_class", "binn_lite.quickstart.main"),
    ("head_class", "binn_lite.binn.importlib"),
    ("process_model_class", "binn_lite.heads.mlp.MLPHead"),
])
def test_a_file_never_names_code_to_run(tmp_path, saved, monkeypatch, key, name):
    import binn_lite.quickstart

    calls = []
    monkeypatch.setattr(binn_lite.quickstart, "main", lambda *args, **kwargs: calls.append(args))
    path = forge(tmp_path, saved[0], **{key: name})
    with pytest.raises(CheckpointError, match="forged.pt.*(not a binn_lite class|is not a .* of this binn_lite)"):
        BINN.load(path)
    assert not calls

"""The bundled example: bit-for-bit regeneration, the command line, fast loading (binn_lite.data.example)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from binn_lite.data import SCIREN_COVARIATES, make_synthetic, save_dataset
from binn_lite.data import example as example_module
from binn_lite.data.example import EXAMPLE_SETTINGS, example_dir, load_example, main
from binn_lite.data.files import DATASET_FILES


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture(scope="module")
def generated():
    return make_synthetic(**EXAMPLE_SETTINGS)


def test_regeneration_is_bit_for_bit(generated, tmp_path):
    # regenerate_example(out) is make_synthetic(**EXAMPLE_SETTINGS) written by save_dataset
    written = save_dataset(generated, tmp_path, settings=EXAMPLE_SETTINGS)
    assert sorted(written) == sorted(DATASET_FILES)
    for name in DATASET_FILES:
        assert (tmp_path / name).read_bytes() == (example_dir() / name).read_bytes(), name


def test_regenerate_command(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(example_module, "make_synthetic", lambda **kw: calls.append(kw) or make_synthetic(12, seed=1))
    main(["--regenerate", "--out", str(tmp_path)])
    assert calls == [EXAMPLE_SETTINGS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATASET_FILES)
    assert "forcing.npz" in capsys.readouterr().out


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "binn_lite.data", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--regenerate" in done.stdout


def test_load_example_fast_small_and_equal_to_generator(example, generated):
    start = time.perf_counter()
    loaded = load_example()
    assert time.perf_counter() - start < 2.0
    total = sum((example_dir() / name).stat().st_size for name in DATASET_FILES)
    assert total < 15e6
    assert len(loaded) == 1500 and loaded.feature_names == SCIREN_COVARIATES
    pd.testing.assert_frame_equal(loaded.sites, generated.sites)
    pd.testing.assert_frame_equal(loaded.observations, generated.observations)
    pd.testing.assert_frame_equal(loaded.truth.params, generated.truth.params)
    assert loaded.truth.to_dict() == generated.truth.to_dict()
    for name, array in generated.forcing.to_numpy().items():
        np.testing.assert_array_equal(loaded.forcing.to_numpy()[name], array)

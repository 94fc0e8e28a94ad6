"""The command line and run files: train from YAML, repeat from the saved config, predict a map."""
from __future__ import annotations

import runpy
import sys

import numpy as np
import pytest
import torch
import xarray
import yaml

from binn_lite.binn import BINN
from binn_lite.cli import main
from binn_lite.config import EXAMPLE_CONFIG, load_config
from binn_lite.data import SCIREN_COVARIATES, make_synthetic, save_dataset
from binn_lite.data.netcdf import ENGINE, write_clm5_forcing
from binn_lite.errors import BinnInputError

TRAINING = {"epochs": 2, "batch_size": 16, "seed": 0, "progress": False, "num_threads": 1}


def _run_file(tmp_path, data, name="run.yaml", **changes):
    sections = {"data": data, "process_model": {"name": "clm5"}, "head": {"kind": "mlp", "hidden": [8], "seed": 0},
                "parameters": {"learn": "most_influential"}, "training": TRAINING, "outputs": {"dir": "out"},
                **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(sections))
    return path


def test_the_example_run_file_is_valid(tmp_path, capsys):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert text == EXAMPLE_CONFIG
    (tmp_path / "run.yaml").write_text(text)
    config = load_config(tmp_path / "run.yaml")
    assert config.output_dir() == (tmp_path / "runs" / "example").resolve()
    assert config.fit_settings().batch_size == 256


def test_train_saves_the_config_and_repeats_from_it(tmp_path, capsys):
    run = _run_file(tmp_path, {"synthetic": {"n_sites": 30, "seed": 1}})
    assert main(["train", str(run)]) == 0
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "train_state.pt", "binn.pt", "history.csv",
                                               "predictions.nc"}
    saved = load_config(out / "config.yaml")
    assert saved.sections == load_config(run).sections and saved["outputs"]["dir"] == str(out)
    first = BINN.load(out / "binn.pt")
    assert main(["train", str(out / "config.yaml")]) == 0  # the run is finished: same result
    again = BINN.load(out / "binn.pt")
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    with xarray.open_dataset(out / "predictions.nc", engine=ENGINE) as predictions:
        assert predictions.sizes["site"] == 30

    other = _run_file(tmp_path, {"synthetic": {"n_sites": 30, "seed": 2}}, name="other.yaml")
    assert main(["train", str(other)]) == 2
    assert "holds another run" in capsys.readouterr().err


def test_own_files_with_netcdf_forcing_then_predict_a_map(tmp_path):
    data = make_synthetic(24, seed=4)
    save_dataset(data, tmp_path / "files")
    lat, lon = data.sites["lat"].to_numpy(), data.sites["lon"].to_numpy()
    write_clm5_forcing(tmp_path / "files" / "history.nc", data.forcing, lat, lon, points=True)
    run = _run_file(tmp_path, {"sites": "files/sites.csv", "observations": "files/observations.csv",
                               "forcing": "files/history.nc", "features": list(SCIREN_COVARIATES)})
    assert main(["train", str(run)]) == 0

    grid_lat, grid_lon = np.array([30.0, 31.0]), np.array([-100.0, -99.0, -98.0])
    cells = data.subset(slice(0, 6))
    write_clm5_forcing(tmp_path / "grid.nc", cells.forcing, grid_lat, grid_lon)
    xarray.Dataset({n: (("lat", "lon"), cells.sites[n].to_numpy().reshape(2, 3)) for n in SCIREN_COVARIATES},
                   coords={"lat": grid_lat, "lon": grid_lon}).to_netcdf(tmp_path / "covariates.nc", engine=ENGINE)
    model = str(tmp_path / "out" / "binn.pt")
    assert main(["predict", model, model, "--covariates", str(tmp_path / "covariates.nc"), "--forcing",
                 str(tmp_path / "grid.nc"), "--out", str(tmp_path / "map.nc"), "--chunk-size", "3"]) == 0
    with xarray.open_dataset(tmp_path / "map.nc", engine=ENGINE) as prediction:
        assert prediction["soc"].shape == (20, 2, 3) and "tau_s3_sd" in prediction
        assert np.isfinite(prediction["soc_stock"].values).all()


def test_bad_run_files_are_named(tmp_path, capsys):
    with pytest.raises(BinnInputError, match=r"run.yaml: unknown section\(s\) trainig"):
        load_config(_run_file(tmp_path, {"example": True}, trainig={}))
    with pytest.raises(BinnInputError, match=r"unknown key\(s\) outputs.folder"):
        load_config(_run_file(tmp_path, {"example": True}, outputs={"folder": "x"}))
    with pytest.raises(BinnInputError, match="unknown fit setting"):
        load_config(_run_file(tmp_path, {"example": True}, training={"epoch": 3}))
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_python_dash_m(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["binn_lite", "config"])
    with pytest.raises(SystemExit) as exit_status:
        runpy.run_module("binn_lite", run_name="__main__")
    assert exit_status.value.code == 0 and "process_model:" in capsys.readouterr().out

"""Learned localizers (the shipped U-Net) and the map metrics (Dice, MTF, FRC) from
Python give what the `ulm` command gives; non-finite arrays are refused by name."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import ulm
from conftest import REPO, run_cli


def same_table(py: pd.DataFrame, csv_path):
    cli = pd.read_csv(csv_path)
    assert list(py.columns) == list(cli.columns)
    assert len(py) == len(cli)
    for c in cli.columns:
        a, b = py[c].to_numpy(), cli[c].to_numpy()
        if a.dtype == np.float32:
            b = b.astype(np.float32)
        np.testing.assert_array_equal(a, b, err_msg=f"column {c}")


@pytest.fixture(scope="module")
def few_frames(cli_sim, tmp_path_factory):
    """The first 3 envelope frames of the shared simulation, as a file with its meta.json."""
    d = tmp_path_factory.mktemp("few")
    env = np.ascontiguousarray(np.load(cli_sim / "envelope.npy")[:3])
    np.save(d / "env.npy", env)
    shutil.copy(cli_sim / "meta.json", d / "meta.json")
    return d, env


def test_shipped_unet_equals_cli(few_frames, tmp_path):
    d, env = few_frames
    out = tmp_path / "unet.csv"
    run_cli("localize", d / "env.npy", "--method", "unet", "--out", out)
    # Default weights: the shipped models/unet, found from the package's folder upwards.
    locs = ulm.localize(env, d / "meta.json", method="unet")
    same_table(locs, out)
    assert locs.attrs["ulm"]["localizer"] == "unet"
    assert "unet" in ulm.LOCALIZATION_METHODS and "de-detr" in ulm.LOCALIZATION_METHODS
    # An explicit folder and threshold: the CLI's --weights / --score-threshold.
    out9 = tmp_path / "unet9.csv"
    run_cli("localize", d / "env.npy", "--method", "unet", "--weights", REPO / "models" / "unet",
            "--score-threshold", 0.9, "--out", out9)
    strict = ulm.localize(env, d / "meta.json", method="unet", weights=REPO / "models" / "unet", score_threshold=0.9)
    same_table(strict, out9)
    assert locs.attrs["ulm"]["config"]["score_threshold"] < 0.9
    assert strict.attrs["ulm"]["config"]["score_threshold"] == float(np.float32(0.9))
    assert (strict["score"] >= 0.9).all() and len(strict) <= len(locs)


def test_shipped_de_detr_pitch_options_equal_cli(few_frames, tmp_path):
    d, env = few_frames
    # Default: resampled to the pitch the shipped model was trained at (recorded in attrs).
    out = tmp_path / "detr.csv"
    run_cli("localize", d / "env.npy", "--method", "de-detr", "--out", out)
    locs = ulm.localize(env, d / "meta.json", method="de-detr")
    same_table(locs, out)
    trained = locs.attrs["ulm"]["config"]["inference"]["pixel_pitch_wavelengths"]
    assert trained is not None and 0.05 <= trained <= 2.0
    # --pixel-pitch / --native-pitch.
    for py_opts, cli_opts in [({"pixel_pitch": 0.4}, ["--pixel-pitch", 0.4]), ({"native_pitch": True}, ["--native-pitch"])]:
        out = tmp_path / "detr-opt.csv"
        run_cli("localize", d / "env.npy", "--method", "de-detr", *cli_opts, "--out", out)
        other = ulm.localize(env, d / "meta.json", method="de-detr", **py_opts)
        same_table(other, out)
        assert other.attrs["ulm"]["config"]["inference"]["pixel_pitch_wavelengths"] == py_opts.get("pixel_pitch")
    with pytest.raises(ulm.UlmError, match="not unet"):
        ulm.localize(env, d / "meta.json", method="unet", pixel_pitch=0.3)
    with pytest.raises(ulm.UlmError, match="apply to the learned methods"):
        ulm.localize(env, d / "meta.json", method="radial", native_pitch=True)


def test_learned_method_without_a_model_is_a_clear_error(few_frames, tmp_path):
    d, env = few_frames
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ulm.UlmError) as e:
        ulm.localize(env, d / "meta.json", method="de-detr", weights=empty)
    assert f"loading the de-detr model folder {empty}" in str(e.value) and "model.safetensors" in str(e.value)
    with pytest.raises(ulm.UlmError, match=f"loading the unet model folder {empty}"):
        ulm.localize(env, d / "meta.json", method="unet", weights=empty)
    with pytest.raises(ulm.UlmError, match="apply to the learned methods"):
        ulm.localize(env, d / "meta.json", method="radial", score_threshold=0.5)


def test_non_finite_arrays_are_refused_by_name(few_frames):
    d, env = few_frames
    bad = env.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ulm.UlmError, match=r"^frames: sample \[frame 1, z 2, x 3\] is NaN"):
        ulm.localize(bad, d / "meta.json")
    iq = env.astype(np.complex64)
    iq[2, 0, 1] = complex(0, np.inf)
    with pytest.raises(ulm.UlmError, match=r"^iq: sample \[frame 2, z 0, x 1\]"):
        ulm.svd_filter(iq)
    m = np.ones((4, 4), np.float32)
    m[0, 0] = np.inf
    with pytest.raises(ulm.UlmError, match=r"^gt: pixel \[z 0, x 0\] is inf"):
        ulm.dice(np.ones((4, 4)), m)


def test_map_metrics_equal_cli(cli_sim, tmp_path):
    meta = cli_sim / "meta.json"
    run_cli("localize", cli_sim / "iq.npy", "--out", tmp_path / "locs.csv")
    locs = pd.read_csv(tmp_path / "locs.csv")
    gt = pd.read_csv(cli_sim / "gt.csv")
    maps = tmp_path / "maps"
    run_cli("render", "--locs", tmp_path / "locs.csv", "--meta", meta, "--out-dir", maps, "--prefix", "p_")
    run_cli("render", "--locs", cli_sim / "gt.csv", "--meta", meta, "--out-dir", maps, "--prefix", "g_")
    pred_map, gt_map = np.load(maps / "p_loc_density.npy"), np.load(maps / "g_loc_density.npy")
    np.testing.assert_allclose(ulm.render(locs, meta), pred_map, atol=1e-6)
    np.testing.assert_allclose(ulm.render(gt, meta), gt_map, atol=1e-6)
    # A lateral line through the depth of highest localization density.
    _, (x_lo, x_hi, _, z_lo) = ulm.render(locs, meta, return_extent=True)
    z = z_lo + (np.argmax(pred_map.sum(axis=1)) + 0.5) * (x_hi - x_lo) / pred_map.shape[1]
    line = (x_lo + 0.1, float(z), x_hi - 0.1, float(z))
    run_cli(
        "eval", "--map", maps / "p_loc_density.npy", "--gt-map", maps / "g_loc_density.npy", "--dice-rule", "frac",
        "--dice-level", 0.1, "--mtf-line=" + ",".join(map(str, line)), "--frc-locs", tmp_path / "locs.csv",
        "--frc-meta", meta, "--curves-dir", tmp_path, "--maps-json", tmp_path / "maps.json",
    )
    cli = json.loads((tmp_path / "maps.json").read_text())

    d = ulm.dice(pred_map, gt_map, rule="frac", level=0.1)
    assert d == cli["dice"]
    assert 0.0 < d["score"]["dice"] < 1.0

    m = ulm.mtf(pred_map, meta, line)
    curve = pd.read_csv(tmp_path / "mtf.csv")
    np.testing.assert_allclose(m["freq_per_mm"], curve["freq_per_mm"], rtol=1e-12)
    np.testing.assert_allclose(m["mtf"], curve["mtf"], rtol=1e-12)
    assert m["samples"] == cli["mtf"]["samples"]

    f = ulm.frc(locs, meta)
    for k in ("resolution_mm", "resolution_wavelengths", "halves", "pixel_mm", "grid", "split"):
        assert f[k] == cli["frc"][k], k
    np.testing.assert_allclose(f["frc"], pd.read_csv(tmp_path / "frc.csv")["frc"], rtol=1e-12)

"""The Python verbs give what the `ulm` command gives on the same input: the same
arrays, the same CSV rows, the same maps (to 1e-6), the same evaluation report."""

import json

import numpy as np
import pandas as pd
import pytest

import ulm
from conftest import SIM, run_cli


def assert_same_table(py: pd.DataFrame, csv_path, float32_cols=("score",), atol=None):
    """Same columns, same rows: integers and float64 exactly (ulm writes shortest
    round-trip floats), float32 columns after the CLI's text is read back as float32;
    columns named in `atol` within that absolute tolerance (tracks CSVs are rounded)."""
    cli = pd.read_csv(csv_path)
    assert list(py.columns) == list(cli.columns)
    assert len(py) == len(cli) > 0
    for c in cli.columns:
        a, b = py[c].to_numpy(), cli[c].to_numpy()
        if c in float32_cols:
            assert a.dtype == np.float32
            b = b.astype(np.float32)
        if atol and c in atol:
            np.testing.assert_allclose(a, b, rtol=0, atol=atol[c], err_msg=f"column {c}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"column {c}")


@pytest.fixture(scope="module")
def py_sim():
    s = dict(SIM)
    return ulm.simulate(s.pop("preset"), s.pop("frames"), s.pop("seed"), **s)


def test_simulate_equals_cli(py_sim, cli_sim):
    np.testing.assert_array_equal(py_sim["iq"], np.load(cli_sim / "iq.npy"))
    assert py_sim["iq"].dtype == np.complex64 and py_sim["iq"].shape == (150, 96, 80)
    assert py_sim["meta"] == json.loads((cli_sim / "meta.json").read_text())
    assert py_sim["config"] == json.loads((cli_sim / "config.json").read_text())
    assert_same_table(py_sim["gt"], cli_sim / "gt.csv")


def test_read_returns_the_files_frames_and_meta(cli_sim):
    frames, meta = ulm.read(cli_sim / "envelope.npy")
    np.testing.assert_array_equal(frames, np.load(cli_sim / "envelope.npy"))
    assert meta == json.loads((cli_sim / "meta.json").read_text())
    # PALA's MATLAB layout [z, x, t]: the same stack, stored transposed.
    zxt = tmp = cli_sim / "zxt"
    tmp.mkdir(exist_ok=True)
    np.save(zxt / "iq.npy", np.ascontiguousarray(np.load(cli_sim / "iq.npy").transpose(1, 2, 0)))
    (zxt / "meta.json").write_text((cli_sim / "meta.json").read_text())
    frames, _ = ulm.read(zxt / "iq.npy", axis_order="zxt")
    np.testing.assert_array_equal(frames, np.load(cli_sim / "iq.npy"))


@pytest.mark.parametrize(
    "method, py_opts, cli_opts",
    [
        ("radial", {}, []),
        ("gaussian", {"patch": 7, "threshold_rel": 0.2, "max_per_frame": 4}, ["--patch", 7, "--threshold-rel", 0.2, "--max-per-frame", 4]),
        ("interp", {"upsample": 4, "noise_factor": 0.0}, ["--upsample", 4, "--noise-factor", 0]),
        ("radial", {"noise_factor": 3.0, "temporal_support": 2, "max_speed": 40.0},
         ["--noise-factor", 3, "--temporal-support", 2, "--max-speed", 40]),
    ],
)
def test_localize_equals_cli(py_sim, cli_sim, tmp_path, method, py_opts, cli_opts):
    out = tmp_path / "locs.csv"
    run_cli("localize", cli_sim / "iq.npy", "--method", method, *cli_opts, "--out", out)
    locs = ulm.localize(py_sim["iq"], py_sim["meta"], method=method, **py_opts)
    assert_same_table(locs, out)
    assert locs.attrs["ulm"]["localizer"] == method
    ts = locs.attrs["ulm"]["temporal_support"]
    if "temporal_support" in py_opts:
        assert (ts["frames"], ts["max_speed_mm_s"]) == (2, 40.0)
        # Rows were dropped: the same call without the filter finds more.
        plain = ulm.localize(py_sim["iq"], py_sim["meta"], method=method, noise_factor=3.0)
        assert locs.attrs["ulm"]["n_before_temporal_support"] == len(plain) > len(locs)
    else:
        assert ts is None


def test_localize_envelope_in_place_equals_cli(cli_sim, tmp_path):
    """Real float32 frames take the zero-copy path; a Fortran-ordered view too."""
    out = tmp_path / "locs.csv"
    run_cli("localize", cli_sim / "envelope.npy", "--out", out, "--block-frames", 64)
    env = np.load(cli_sim / "envelope.npy")
    meta = cli_sim / "meta.json"
    assert_same_table(ulm.localize(env, meta, block_frames=64), out)
    assert_same_table(ulm.localize(np.asfortranarray(env), meta), out)


@pytest.fixture(scope="module")
def cli_tables(cli_sim, tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    run_cli("localize", cli_sim / "iq.npy", "--out", d / "locs.csv")
    run_cli("track", d / "locs.csv", "--meta", cli_sim / "meta.json", "--out", d / "tracks.csv")
    run_cli("render", "--locs", d / "locs.csv", "--tracks", d / "tracks.csv", "--meta", cli_sim / "meta.json", "--out-dir", d / "maps")
    run_cli("eval", "--pred", d / "locs.csv", "--gt", cli_sim / "gt.csv", "--meta", cli_sim / "meta.json", "--json", d / "eval.json")
    return d


def test_track_equals_cli(py_sim, cli_tables):
    locs = ulm.localize(py_sim["iq"], py_sim["meta"])
    tracks = ulm.track(locs, py_sim["meta"])
    # The tracks CSV rounds positions to 1e-6 mm and velocities to 1e-4 mm/s.
    rounded = {"x_mm": 5.1e-7, "z_mm": 5.1e-7, "vx_mm_s": 5.1e-5, "vz_mm_s": 5.1e-5}
    assert_same_table(tracks, cli_tables / "tracks.csv", float32_cols=(), atol=rounded)
    # Options reach the linker: no speed rejection, Kalman, memory 1 gives other tracks.
    other = ulm.track(locs, py_sim["meta"], predictor="kalman", memory=1, max_speed_ratio=None)
    assert not other.equals(tracks)


def test_render_equals_cli_to_1e6(cli_sim, cli_tables):
    locs = pd.read_csv(cli_tables / "locs.csv")
    tracks = pd.read_csv(cli_tables / "tracks.csv")
    meta = json.loads((cli_sim / "meta.json").read_text())
    for name, table in [("loc_density", locs), ("track_density", tracks), ("speed", tracks), ("direction", tracks)]:
        want = np.load(cli_tables / "maps" / f"{name}.npy")
        got = ulm.render(table, meta, map=name)
        assert got.shape == want.shape and got.dtype == np.float32
        assert want.max() > 0, name
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=name)
    img, (x0, x1, z1, z0) = ulm.render(locs, meta, return_extent=True)
    # The extent spans the acquisition's field of view: cols × pixel pitch.
    assert x1 - x0 == pytest.approx(SIM["cols"] * meta["pixel_size_x_mm"], rel=1e-2)
    assert z1 - z0 == pytest.approx(SIM["rows"] * meta["pixel_size_z_mm"], rel=1e-2)


def test_evaluate_equals_cli(py_sim, cli_tables):
    report = ulm.evaluate(pd.read_csv(cli_tables / "locs.csv"), py_sim["gt"], py_sim["meta"])
    assert report == json.loads((cli_tables / "eval.json").read_text())["report"]
    assert 0.5 < report["overall"]["f1"] <= 1.0


def test_svd_filter_equals_cli(tmp_path):
    sim_dir = tmp_path / "tissue"
    run_cli("simulate", "--preset", "tissue", "--frames", 80, "--seed", 5, "--rows", 48, "--cols", 40, "--out", sim_dir)
    iq = np.load(sim_dir / "iq.npy")
    for py_cutoff, cli_opts in [("auto", []), ((3, 60), ["--svd-low", 3, "--svd-high", 60])]:
        out = tmp_path / "f.npy"
        run_cli("filter", sim_dir / "iq.npy", *cli_opts, "--block-frames", 40, "--out", out)
        want = np.load(out)
        got = ulm.svd_filter(iq, py_cutoff, block_frames=40)
        assert got.dtype == np.complex64
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())
        # The filter removed the tissue: far less energy than the input.
        assert np.abs(got).mean() < 0.2 * np.abs(iq).mean()


def test_bandpass_equals_cli(cli_sim, tmp_path):
    out = tmp_path / "bp.npy"
    run_cli("filter", cli_sim / "iq.npy", "--no-svd", "--bandpass-low-hz", 50, "--bandpass-high-hz", 300, "--out", out)
    want = np.load(out)
    got = ulm.bandpass(np.load(cli_sim / "iq.npy"), cli_sim / "meta.json", 50, 300)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())
    with pytest.raises(ulm.UlmError, match="nothing to do"):
        ulm.bandpass(want, cli_sim / "meta.json")

"""Library errors become Python exceptions carrying the message the CLI prints."""

import json

import numpy as np
import pandas as pd
import pytest

import ulm
from conftest import run_cli


def cli_error(*args):
    """The CLI's error line (without `error: `); asserts exit code 1 (a user error)."""
    proc = run_cli(*args, check=False)
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    return line[len("error: "):]


def test_ulm_error_is_a_value_error():
    assert issubclass(ulm.UlmError, ValueError)


def test_missing_file_is_file_not_found_with_the_cli_message(tmp_path):
    missing = tmp_path / "nope.npy"
    with pytest.raises(FileNotFoundError) as e:
        ulm.read(missing)
    assert str(missing) in str(e.value)
    # The CLI prints its own context ("cannot read frames: ") before the same message.
    assert cli_error("info", missing).endswith(str(e.value))


def test_bad_meta_names_the_file_and_the_key(cli_sim, tmp_path):
    meta = json.loads((cli_sim / "meta.json").read_text())
    meta["wavelenght_mm"] = meta.pop("wavelength_mm")  # misspelt
    meta.pop("center_frequency_hz")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    locs = pd.read_csv(cli_sim / "gt.csv")
    with pytest.raises(ulm.UlmError) as e:
        ulm.track(locs, tmp_path / "meta.json")
    msg = str(e.value)
    assert "missing key `wavelength_mm`" in msg and "wavelenght_mm" in msg and str(tmp_path / "meta.json") in msg
    assert cli_error("track", cli_sim / "gt.csv", "--meta", tmp_path / "meta.json", "--out", tmp_path / "t.csv").endswith(msg)
    # The same dict given in memory names "meta" instead of a file.
    with pytest.raises(ulm.UlmError, match="^meta: missing key `wavelength_mm`"):
        ulm.track(locs, meta)


def test_bad_option_has_the_library_message(cli_sim, tmp_path):
    env = np.load(cli_sim / "envelope.npy")
    with pytest.raises(ulm.UlmError) as e:
        ulm.localize(env, cli_sim / "meta.json", patch=4)
    assert "patch must be odd and >= 3, got 4" in str(e.value)
    assert cli_error("localize", cli_sim / "envelope.npy", "--patch", 4, "--out", tmp_path / "l.csv") == str(e.value)
    with pytest.raises(ulm.UlmError, match="temporal support: max_speed_mm_s must be finite and >= 0, got -1"):
        ulm.localize(env, cli_sim / "meta.json", temporal_support=2, max_speed=-1.0)


def test_unknown_method_lists_the_known_ones(cli_sim):
    env = np.load(cli_sim / "envelope.npy")[:2]
    with pytest.raises(ValueError, match="unknown localization method `detr-xl`: use one of de-detr, detr, no-shift, centroid"):
        ulm.localize(env, cli_sim / "meta.json", method="detr-xl")
    assert "radial" in ulm.LOCALIZATION_METHODS


def test_bad_tables_and_arrays(cli_sim):
    meta = cli_sim / "meta.json"
    with pytest.raises(ulm.UlmError, match="localizations: missing column `z_mm`"):
        ulm.track(pd.DataFrame({"frame": [0], "x_mm": [1.0]}), meta)
    with pytest.raises(ulm.UlmError, match="frame -1 is not a frame index"):
        ulm.track(pd.DataFrame({"frame": [-1], "x_mm": [1.0], "z_mm": [2.0]}), meta)
    with pytest.raises(ulm.UlmError, match=r"\[frames, z, x\]"):
        ulm.localize(np.zeros((2, 2, 2, 2), np.float32), meta)
    with pytest.raises(ulm.UlmError, match="unknown map `heat`"):
        ulm.render(pd.read_csv(cli_sim / "gt.csv"), meta, map="heat")
    with pytest.raises(ulm.UlmError, match="the pairing gate must be > 0"):
        gt = pd.read_csv(cli_sim / "gt.csv")
        ulm.evaluate(gt, gt, meta, gate_mm=0.0)

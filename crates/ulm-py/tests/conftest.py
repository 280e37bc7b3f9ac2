"""Shared fixtures: the `ulm` binary of this checkout and one small simulated acquisition
written by it, which the Python results are compared against."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def ulm_bin() -> Path:
    """target/debug/ulm of this checkout (built by `cargo build -p ulm-cli`), or $ULM_BIN."""
    p = Path(os.environ.get("ULM_BIN", REPO / "target" / "debug" / "ulm"))
    if not p.is_file():
        pytest.fail(f"{p} not found: build it with `cargo build -p ulm-cli` (or set ULM_BIN)")
    return p


def run_cli(*args, check=True):
    """Runs `ulm -q ARGS…`; returns the completed process (text output)."""
    proc = subprocess.run([str(ulm_bin()), "-q", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"ulm {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
    return proc


# Small enough for a fast suite, large enough for hundreds of localizations and tracks.
SIM = dict(preset="sparse", frames=150, seed=3, rows=96, cols=80)


@pytest.fixture(scope="session")
def cli_sim(tmp_path_factory):
    """`ulm simulate` output folder for SIM."""
    out = tmp_path_factory.mktemp("sim")
    run_cli(
        "simulate", "--preset", SIM["preset"], "--frames", SIM["frames"], "--seed", SIM["seed"],
        "--rows", SIM["rows"], "--cols", SIM["cols"], "--out", out,
    )
    return out

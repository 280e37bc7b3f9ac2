"""The Dask example on a 2-worker LocalCluster gives what the same run gives serially."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="needs dask[distributed] (pip install 'dask[distributed]')")
from dask.distributed import Client, LocalCluster  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dask_many_acquisitions.py"


def load_example():
    spec = importlib.util.spec_from_file_location("dask_many_acquisitions", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_dask_local_cluster_equals_serial():
    ex = load_example()
    seeds = [0, 1, 2, 3]
    opts = dict(frames=60, preset="tissue", rows=64, cols=48)
    serial = ex.run(seeds, None, **opts)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            client.upload_file(str(EXAMPLE))  # the workers import the example's functions by name
            dist = ex.run(seeds, client, timeout=120, **opts)
    assert list(dist["locs"]["acquisition"].unique()) == seeds
    assert len(dist["locs"]) > 0 and len(dist["tracks"]) > 0
    assert dist["locs"].equals(serial["locs"])
    assert dist["tracks"].equals(serial["tracks"])
    np.testing.assert_allclose(dist["density"], serial["density"], rtol=0, atol=1e-6)
    # The summed map counts every acquisition's localizations (a unit Gaussian each,
    # minus what falls off the grid).
    assert dist["density"].sum() == pytest.approx(len(dist["locs"]), rel=0.05)

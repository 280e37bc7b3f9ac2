"""Many acquisitions in parallel on Dask: simulate -> SVD filter -> localize -> track ->
render, one task per acquisition, then gather the tables and sum the density maps.

Each acquisition (or block of a long acquisition) is independent up to tracking, so the
natural scale-out is one Dask task per acquisition. The same script runs on one machine
(``LocalCluster``, the default) or on a cluster through any Dask scheduler:
``--scheduler tcp://host:8786`` connects to a running one (e.g. started by
``dask-jobqueue``'s ``SLURMCluster``; see the README's Python section).

    python dask_many_acquisitions.py --acquisitions 8 --frames 400 --workers 2 --compare-serial

Real data: replace ``simulate`` in :func:`process_acquisition` by ``ulm.read(path)`` on
one file per task (the paths are the task arguments); everything else stays.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

import ulm


def process_acquisition(
    seed: int, frames: int = 400, preset: str = "tissue", rows: int = 128, cols: int = 104
) -> Dict[str, Any]:
    """One acquisition through the pipeline. Returns its localizations and tracks
    (with an ``acquisition`` column), its localization density map and its scores."""
    sim = ulm.simulate(preset, frames, seed, rows=rows, cols=cols)
    meta = sim["meta"]
    iq = ulm.svd_filter(sim["iq"]) if preset == "tissue" else sim["iq"]
    locs = ulm.localize(iq, meta, method="radial")
    tracks = ulm.track(locs, meta)
    density = ulm.render(locs, meta, "loc_density")  # same grid for every seed: meta's rows x cols
    scores = ulm.evaluate(locs, sim["gt"], meta)["overall"]
    locs.insert(0, "acquisition", seed)
    tracks.insert(0, "acquisition", seed)
    return {"locs": locs, "tracks": tracks, "density": density, "f1": scores["f1"]}


def combine(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """All tables concatenated (acquisition order) and the density maps summed."""
    return {
        "locs": pd.concat([r["locs"] for r in results], ignore_index=True),
        "tracks": pd.concat([r["tracks"] for r in results], ignore_index=True),
        "density": np.sum([r["density"] for r in results], axis=0),
        "f1": [r["f1"] for r in results],
    }


def run(
    seeds: Sequence[int], client: Optional[Any] = None, timeout: Optional[float] = None, **options: Any
) -> Dict[str, Any]:
    """Processes the acquisitions ``seeds`` on the Dask ``client`` (one task each), or
    serially in this process when ``client`` is None. ``timeout`` (s) bounds the wait."""
    if client is None:
        results: List[Dict[str, Any]] = [process_acquisition(s, **options) for s in seeds]
    else:
        from dask.distributed import wait

        futures = client.map(process_acquisition, list(seeds), **options)
        wait(futures, timeout=timeout)
        results = client.gather(futures)
    return combine(results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--acquisitions", type=int, default=8, help="number of acquisitions (seeds 0..N-1)")
    p.add_argument("--frames", type=int, default=400, help="frames per acquisition")
    p.add_argument("--preset", default="tissue", help="simulation preset (tissue: with clutter, SVD-filtered)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--threads-per-worker", type=int, default=1)
    p.add_argument("--scheduler", help="address of a running Dask scheduler (instead of a LocalCluster)")
    p.add_argument("--compare-serial", action="store_true", help="also run serially here and compare")
    p.add_argument("--out", help="write locs/tracks (.csv) and the summed density (.npy) with this prefix")
    a = p.parse_args()

    from dask.distributed import Client, LocalCluster

    seeds = range(a.acquisitions)
    opts = dict(frames=a.frames, preset=a.preset)
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=a.threads_per_worker, processes=True)
        client = Client(cluster)
    client.run(lambda: __import__("ulm"))  # import ulm in every worker before timing
    t0 = time.perf_counter()
    out = run(seeds, client, **opts)
    t_dask = time.perf_counter() - t0
    print(
        f"dask ({len(client.scheduler_info()['workers'])} workers): {len(out['locs'])} localizations, "
        f"{out['tracks'].groupby(['acquisition', 'track_id']).ngroups} tracks, "
        f"mean F1 {np.mean(out['f1']):.3f}, {t_dask:.2f} s"
    )
    if a.compare_serial:
        t0 = time.perf_counter()
        serial = run(seeds, None, **opts)
        t_serial = time.perf_counter() - t0
        same = serial["locs"].equals(out["locs"]) and serial["tracks"].equals(out["tracks"])
        same = same and np.allclose(serial["density"], out["density"], rtol=0, atol=1e-6)
        print(f"serial (this process): {t_serial:.2f} s; speed-up {t_serial / t_dask:.2f}x; identical: {same}")
    if a.out:
        out["locs"].to_csv(f"{a.out}locs.csv", index=False)
        out["tracks"].to_csv(f"{a.out}tracks.csv", index=False)
        np.save(f"{a.out}density.npy", out["density"])
    client.close()


if __name__ == "__main__":
    main()

"""ulm from Python: simulate -> SVD filter -> localize -> track -> render -> evaluate.

    pip install ./crates/ulm-py matplotlib
    python crates/ulm-py/examples/quickstart.py --out quickstart.png

Every step is one call on NumPy arrays / pandas DataFrames with the CLI's defaults
(``help(ulm.localize)`` lists the options with their units).
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import ulm  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="quickstart.png", help="figure file")
    a = p.parse_args()

    # 1. A simulated acquisition with moving tissue 40 dB above the bubbles, and its truth.
    sim = ulm.simulate("tissue", frames=a.frames, seed=a.seed)
    iq, meta, gt = sim["iq"], sim["meta"], sim["gt"]
    print(f"simulated {iq.shape} {iq.dtype}, {len(gt)} ground-truth rows, wavelength {meta['wavelength_mm']} mm")

    # 2. SVD clutter filter: the cut-off is found at the elbow of the singular values.
    filtered, reports = ulm.svd_filter(iq, "auto", return_reports=True)
    print("kept singular components from", [r["kept_low"] for r in reports])

    # 3. Localization (radial symmetry, as PALA) -> DataFrame frame, x_mm, z_mm, score.
    locs = ulm.localize(filtered, meta, method="radial")
    # 4. Tracking -> DataFrame track_id, frame, x_mm, z_mm, vx_mm_s, vz_mm_s.
    tracks = ulm.track(locs, meta)
    # 5. Maps on a lambda/10 grid.
    density, extent = ulm.render(locs, meta, return_extent=True)
    speed = ulm.render(tracks, meta, map="speed")
    # 6. Scores against the ground truth at lambda/2.
    report = ulm.evaluate(locs, gt, meta)
    o = report["overall"]
    print(f"{len(locs)} localizations, {tracks.track_id.nunique()} tracks; "
          f"precision {o['precision']:.3f}, recall {o['recall']:.3f}, RMSE {o['rmse_wavelengths']:.3f} lambda")

    fig, ax = plt.subplots(1, 3, figsize=(13, 4.5), constrained_layout=True)
    first = 20 * np.log10(np.abs(filtered[0]) / np.abs(filtered[0]).max() + 1e-6)
    im = ax[0].imshow(first, cmap="gray", vmin=-40, vmax=0, extent=extent)
    fig.colorbar(im, ax=ax[0], label="dB")
    ax[0].set_title("filtered frame 0")
    im = ax[1].imshow(density ** (1 / 3), cmap="hot", extent=extent)
    fig.colorbar(im, ax=ax[1], label="(localizations / pixel)$^{1/3}$")
    ax[1].set_title("localization density")
    im = ax[2].imshow(np.ma.masked_equal(speed, 0), cmap="viridis", extent=extent)
    fig.colorbar(im, ax=ax[2], label="mean speed (mm/s)")
    ax[2].set_title("speed")
    for x in ax:
        x.set_xlabel("x (mm)")
        x.set_ylabel("z (mm)")
    fig.savefig(a.out, dpi=120)
    print("wrote", a.out)


if __name__ == "__main__":
    main()

"""ulm: Ultrasound Localization Microscopy on NumPy arrays and pandas DataFrames.

The verbs of the ``ulm`` command line, with the same defaults and units, computed by
the same Rust library:

>>> import ulm
>>> sim = ulm.simulate("sparse", frames=200, seed=1)      # dict: iq, meta, gt, ...
>>> locs = ulm.localize(sim["iq"], sim["meta"])           # DataFrame frame, x_mm, z_mm, score
>>> tracks = ulm.track(locs, sim["meta"])                 # DataFrame track_id, frame, x_mm, ...
>>> density = ulm.render(locs, sim["meta"])               # ndarray [z, x] on a lambda/10 grid
>>> ulm.evaluate(locs, sim["gt"], sim["meta"])["overall"]["f1"]

Conventions (as everywhere in ulm): frame stacks are ``[frames, z (depth rows),
x (lateral cols)]``; positions in mm, velocities in mm/s (``vz`` positive towards
depth), frame rate in Hz, wavelength in mm. Pixel centres sit at integer indices:
``x_mm = x0_mm + col * pixel_size_x_mm``. The acquisition geometry is a *meta* dict with
the keys of ``meta.json`` (``frame_rate_hz``, ``pixel_size_x_mm``, ``pixel_size_z_mm``,
``x0_mm``, ``z0_mm``, ``wavelength_mm``), or the path of a ``meta.json``.

Tables are DataFrames with the column names of ulm's CSV files, so a table written by
the CLI (``pandas.read_csv``) and one returned here are interchangeable. Heavy calls
release the GIL: threads (and Dask's threaded workers) run them in parallel.

Errors raised by the library are :class:`UlmError` (a ``ValueError``), or ``OSError`` /
``FileNotFoundError`` when the operating system refused; the message is the library's.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _ulm
from ._ulm import LOCALIZATION_METHODS, UlmError, __version__

__all__ = [
    "LOCALIZATION_METHODS",
    "UlmError",
    "__version__",
    "bandpass",
    "dice",
    "evaluate",
    "frc",
    "localize",
    "mtf",
    "read",
    "render",
    "simulate",
    "svd_filter",
    "track",
]

PathLike = Union[str, "os.PathLike[str]"]
Meta = Union[Dict[str, Any], PathLike]


# ----------------------------------------------------------------------------- helpers


def _meta_arg(meta: Meta) -> Tuple[str, str]:
    """(meta.json text, name for error messages) of a meta dict or a meta.json path."""
    if isinstance(meta, dict):
        return json.dumps(meta), "meta"
    if isinstance(meta, (str, os.PathLike)):
        path = os.fspath(meta)
        return _ulm.read_meta(path), path
    raise TypeError(f"meta must be a dict (the keys of meta.json) or the path of a meta.json, not {type(meta).__name__}")


def _frames(frames: Any) -> np.ndarray:
    """A [frames, z, x] float32 or complex64 array (copied only when the dtype differs)."""
    a = np.asarray(frames)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3:
        raise UlmError(f"frames must be a [frames, z, x] array (or one [z, x] frame), got shape {a.shape}")
    if np.iscomplexobj(a):
        return a.astype(np.complex64, copy=False)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise UlmError(f"frames must be numeric, got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def _column(table: Any, name: str, dtype: Any, which: str) -> np.ndarray:
    try:
        col = table[name]
    except (KeyError, IndexError):
        cols = list(getattr(table, "columns", getattr(table, "keys", lambda: [])()))
        raise UlmError(f"{which}: missing column `{name}` (columns: {', '.join(map(str, cols))})") from None
    a = np.asarray(col)
    if np.dtype(dtype).kind == "i" and a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise UlmError(f"{which}: column `{name}` must hold integers")
    return np.ascontiguousarray(a, dtype=dtype)


def _has(table: Any, name: str) -> bool:
    cols = getattr(table, "columns", None)
    return name in (cols if cols is not None else table)


def _loc_columns(table: Any, which: str) -> Dict[str, np.ndarray]:
    d = {
        "frame": _column(table, "frame", np.int64, which),
        "x_mm": _column(table, "x_mm", np.float64, which),
        "z_mm": _column(table, "z_mm", np.float64, which),
    }
    if _has(table, "score"):
        d["score"] = _column(table, "score", np.float32, which)
    return d


def _track_columns(table: Any) -> Dict[str, np.ndarray]:
    which = "tracks"
    d = {
        "track_id": _column(table, "track_id", np.int64, which),
        "frame": _column(table, "frame", np.int64, which),
        "x_mm": _column(table, "x_mm", np.float64, which),
        "z_mm": _column(table, "z_mm", np.float64, which),
    }
    n = len(d["frame"])
    for v in ("vx_mm_s", "vz_mm_s"):
        d[v] = _column(table, v, np.float64, which) if _has(table, v) else np.full(n, np.nan)
    return d


def _frame(pairs: List[Tuple[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(dict(pairs))


# ----------------------------------------------------------------------------- verbs


def read(
    path: PathLike,
    dataset: Optional[str] = None,
    axis_order: str = "tzx",
    *,
    meta: Optional[PathLike] = None,
    allow_non_finite: bool = False,
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Read a frame file and its geometry, like every ``ulm`` command does.

    Parameters
    ----------
    path : str or path-like
        Frame file: ``.npy`` (float32/64, complex64/128, int16; C or Fortran order),
        ``.mat`` (v5 or v7.3), ``.h5``, ``.png``/``.tif``, or a folder of PNG/TIFF frames.
    dataset : str, optional
        Variable / dataset inside a ``.mat`` or ``.h5`` file (``"IQ"``, ``"group/IQ"``).
        Default: the file's only 2-D/3-D numeric variable, else ``IQ``.
    axis_order : str, default "tzx"
        Meaning of the stored axes in NumPy ``shape`` / MATLAB ``size()`` order:
        ``t`` frames, ``z`` depth rows, ``x`` lateral columns. ulm's own files are
        ``"tzx"``; MATLAB stacks such as PALA's ``IQ`` are ``"zxt"``.
    meta : str or path-like, optional
        Geometry sidecar. Default: ``meta.json`` next to the frame file.
    allow_non_finite : bool, default False
        Accept NaN / Inf samples instead of raising.

    Returns
    -------
    frames : numpy.ndarray
        ``[frames, z, x]``, complex64 for IQ data, float32 otherwise.
    meta : dict
        The sidecar (``frame_rate_hz`` [Hz], ``pixel_size_x_mm``, ``pixel_size_z_mm``,
        ``x0_mm``, ``z0_mm``, ``wavelength_mm`` [mm], and every other key it holds).

    Raises
    ------
    FileNotFoundError
        The frame file or the sidecar does not exist.
    UlmError
        The file is not a readable frame stack, or the sidecar lacks a geometry key.
    """
    frames, meta_text = _ulm.read(
        os.fspath(path), dataset, axis_order, None if meta is None else os.fspath(meta), allow_non_finite
    )
    return frames, json.loads(meta_text)


def simulate(
    preset: str = "sparse",
    frames: int = 1000,
    seed: int = 0,
    *,
    rows: Optional[int] = None,
    cols: Optional[int] = None,
    bubbles_per_frame: Optional[float] = None,
    snr_db: Optional[float] = None,
    frame_rate_hz: Optional[float] = None,
    psf: Optional[str] = None,
    config: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Simulate a ULM acquisition with ground truth (``ulm simulate``).

    Parameters
    ----------
    preset : {"sparse", "dense", "tissue", "deep", "cortex"}, default "sparse"
        ``sparse``: ~5 bubbles per frame, no tissue; ``dense``: ~100 per frame;
        ``tissue``: moving speckle 40 dB above the bubbles (needs :func:`svd_filter`);
        ``deep``: strong depth variation; ``cortex``: rodent-brain-like vascular bed.
    frames : int, default 1000
        Number of frames.
    seed : int, default 0
        Random seed: the same seed and options give the same acquisition.
    rows, cols : int, optional
        Image size in pixels (lambda/2 each); default from the preset (256 x 208).
    bubbles_per_frame : float, optional
        Expected visible bubbles per frame; default from the preset.
    snr_db : float, optional
        Mean bubble amplitude over noise RMS at the top of the image, dB.
    frame_rate_hz : float, optional
        Frame rate in Hz; default 1000.
    psf : {"gaussian", "physical"}, optional
        Point-spread function; default from the preset (gaussian).
    config : dict, optional
        A full simulation config (the ``config`` of an earlier result, or a
        ``config.json`` of ``ulm simulate``); replaces the preset.

    Returns
    -------
    dict
        ``iq``: complex64 ndarray ``[frames, z, x]``; ``meta``: the geometry dict (what
        ``ulm simulate`` writes to ``meta.json``); ``gt``: ground-truth DataFrame
        (``frame, x_mm, z_mm, score, track_id, x_px, z_px, vx_mm_s, vz_mm_s``; mm, mm/s);
        ``config``: the full simulation config; ``vessels``: the vessel network;
        ``n_bubbles``: bubbles in the network.
    """
    out = _ulm.simulate(
        preset,
        frames,
        seed,
        rows,
        cols,
        bubbles_per_frame,
        snr_db,
        frame_rate_hz,
        psf,
        None if config is None else json.dumps(config),
    )
    return {
        "iq": out["iq"],
        "meta": json.loads(out["meta"]),
        "gt": _frame(out["gt"]),
        "config": json.loads(out["config"]),
        "vessels": json.loads(out["vessels"]),
        "n_bubbles": out["n_bubbles"],
    }


def svd_filter(
    iq: np.ndarray,
    cutoff: Union[str, int, Tuple[int, Optional[int]]] = "auto",
    *,
    block_frames: int = 1000,
    return_reports: bool = False,
) -> Union[np.ndarray, Tuple[np.ndarray, List[Dict[str, Any]]]]:
    """Remove tissue clutter with the SVD of the space x time matrix (``ulm filter``).

    Parameters
    ----------
    iq : array_like
        ``[frames, z, x]`` IQ (complex) or real frames.
    cutoff : "auto", int or (int, int or None), default "auto"
        Kept singular components, 1-based and inclusive, by decreasing singular value
        (PALA's ``SVDfilter(IQ, low:high)``): ``(low, high)``; ``low`` alone keeps up to
        the last; ``"auto"`` finds ``low`` at the elbow of the singular-value curve.
        ``("auto", high)`` combines both.
    block_frames : int, default 1000
        Frames per SVD block (each block has its own SVD; a short trailing block is
        merged into the previous one). Memory grows with pixels x block.
    return_reports : bool, default False
        Also return one dict per block: ``start_frame``, ``n_frames``, ``kept_low``,
        ``kept_high``, ``singular_values``.

    Returns
    -------
    numpy.ndarray
        The filtered frames: complex64 for complex input, float32 otherwise.
    """
    if isinstance(cutoff, str):
        if cutoff != "auto":
            raise UlmError(f"cutoff must be 'auto', an int or (low, high), got {cutoff!r}")
        low, high = None, None
    elif isinstance(cutoff, (tuple, list)):
        if len(cutoff) != 2:
            raise UlmError(f"cutoff must be (low, high), got {cutoff!r}")
        low = None if cutoff[0] == "auto" else cutoff[0]
        high = cutoff[1]
    else:
        low, high = int(cutoff), None
    out, reports = _ulm.svd_filter(_frames(iq), low, high, block_frames)
    return (out, reports) if return_reports else out


def bandpass(
    frames: np.ndarray,
    meta: Meta,
    low_hz: Optional[float] = None,
    high_hz: Optional[float] = None,
    *,
    order: int = 4,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along time (``ulm filter --bandpass-…``).

    Parameters
    ----------
    frames : array_like
        ``[frames, z, x]`` IQ or real frames.
    meta : dict or path
        Geometry; its ``frame_rate_hz`` [Hz] sets the filter.
    low_hz, high_hz : float, optional
        High-pass and low-pass cut-offs in Hz (-3 dB of one pass); at least one.
    order : int, default 4
        Butterworth order of each side.

    Returns
    -------
    numpy.ndarray
        The filtered frames, same dtype as the (converted) input.
    """
    return _ulm.bandpass(_frames(frames), _meta_arg(meta), low_hz, high_hz, order)


def localize(
    frames: np.ndarray,
    meta: Meta,
    method: str = "radial",
    *,
    patch: int = 5,
    threshold_rel: float = 0.1,
    threshold_abs: Optional[float] = None,
    noise_factor: float = 4.0,
    max_per_frame: Optional[int] = None,
    min_separation_px: float = 0.0,
    border_margin_px: int = 0,
    max_maxima_in_patch: int = 3,
    crowd_level: float = 0.25,
    max_shift_px: Optional[float] = None,
    upsample: int = 10,
    morph_level: float = 0.5,
    block_frames: Optional[int] = None,
    weights: Optional[PathLike] = None,
    score_threshold: Optional[float] = None,
    pixel_pitch: Optional[float] = None,
    native_pitch: bool = False,
    temporal_support: int = 0,
    max_speed: float = 50.0,
) -> pd.DataFrame:
    """Localize microbubbles in every frame (``ulm localize``).

    Classical methods: candidates are regional maxima of the envelope that pass the
    thresholds; each is refined to sub-pixel precision by ``method`` on a ``patch`` x
    ``patch`` window. Learned methods (``de-detr``, ``detr``, ``unet``) run the model of a
    model folder on overlapping tiles of each frame; the classical options do not apply.

    Parameters
    ----------
    frames : array_like
        ``[frames, z, x]`` (or one ``[z, x]`` frame): IQ (complex, localized on its
        envelope ``|iq|``) or envelope (real). float32 / complex64 input is read in place.
    meta : dict or path
        Geometry (pixel sizes and origin in mm place the localizations).
    method : str, default "radial"
        Sub-pixel estimator, one of :data:`LOCALIZATION_METHODS`: ``no-shift`` (the
        maximum's pixel), ``centroid`` (background-subtracted intensity centroid),
        ``gaussian`` (least-squares 2-D Gaussian), ``radial`` (radial symmetry centre,
        Parthasarathy, as in PALA), ``interp`` (Lanczos-3 upsampling by ``upsample``,
        then the maximum), ``morph`` (threshold at ``morph_level``, connected component,
        centroid); learned: ``de-detr`` (Deformable DETR), ``detr`` (DETR), ``unet``
        (Deep-ULM U-Net), each loaded from ``weights``.
    patch : int, default 5
        Patch side in pixels (odd, >= 3).
    threshold_rel : float, default 0.1
        Keep maxima >= this fraction of the frame's maximum (0.1 = -20 dB).
    threshold_abs : float, optional
        Keep maxima >= this absolute envelope value.
    noise_factor : float, default 4.0
        Keep maxima >= K x the median envelope of their row (a noise floor that follows
        depth); 0 disables.
    max_per_frame : int, optional
        Keep at most this many of the brightest maxima per frame.
    min_separation_px : float, default 0.0
        Minimum distance between candidates in pixels (the brighter wins); 0 = off.
    border_margin_px : int, default 0
        Extra border margin in pixels beyond half the patch.
    max_maxima_in_patch : int, default 3
        Reject a candidate whose patch holds more regional maxima (PALA's NLocalMax);
        0 disables.
    crowd_level : float, default 0.25
        Only maxima >= this fraction of the candidate's value count as crowding.
    max_shift_px : float, optional
        Discard localizations further than this from their candidate pixel, per axis,
        in pixels. Default: half the patch.
    upsample : int, default 10
        ``interp``: upsampling factor (grid step 1/N px).
    morph_level : float, default 0.5
        ``morph``: threshold as a fraction between the patch minimum and maximum.
    block_frames : int, optional
        Frames localized at a time (bounds the envelope buffer of IQ input). Default:
        1000, or 32 for the learned methods (as ``ulm localize``).
    weights : path, optional
        Learned methods: the model folder (``runs/NAME/best`` of ``ulm train``, or a
        packaged folder with ``model.safetensors``, ``config.json``,
        ``calibration.json``). Default: the shipped ``models/<method>`` of the
        repository (looked up from the working directory and from this package's
        folder upwards); an error says where it looked when there is none.
    score_threshold : float, optional
        Learned methods: keep detections scoring at least this. Default: the threshold
        calibrated on validation data (the folder's ``calibration.json``, or its
        ``inference.json``).
    pixel_pitch : float, optional
        ``de-detr``/``detr``: resample the frames to this pixel pitch, in wavelengths,
        before the network sees them (positions still come back in mm). Default: the
        folder's (its ``inference.json``, else the pitch of its training patches).
    native_pitch : bool, default False
        ``de-detr``/``detr``: use the frames as given, without resampling.
    temporal_support : int, default 0
        Any method: keep a localization only if another lies near it in at least one of
        the ``temporal_support`` frames before or after it (within λ/2 plus the distance
        a bubble covers at ``max_speed``); drops isolated false detections such as noise
        peaks. 0 = off (``ulm localize --temporal-support``).
    max_speed : float, default 50.0
        With ``temporal_support``: the fastest bubble expected, mm/s.

    Returns
    -------
    pandas.DataFrame
        One row per localization, sorted by frame: ``frame`` (0-based), ``x_mm``
        (lateral, mm), ``z_mm`` (depth, mm), ``score`` (classical: envelope at the
        candidate pixel; learned: the model's confidence in [0, 1]); ``de-detr``/``detr``
        add their box size ``w_mm``, ``h_mm``. ``DataFrame.attrs["ulm"]`` holds the
        localizer's config.

    Raises
    ------
    ValueError
        An unknown ``method`` (the message lists the known ones).
    UlmError
        An invalid option or geometry, non-finite frames, a learned method without a
        model folder, or ``weights``/``score_threshold``/``pixel_pitch``/``native_pitch``
        given to a classical method.

    See Also
    --------
    track : link the localizations into tracks.
    render : the localization density map.
    evaluate : precision, recall and RMSE against ground truth.
    """
    pairs, config = _ulm.localize(
        _frames(frames),
        _meta_arg(meta),
        method,
        patch,
        threshold_rel,
        threshold_abs,
        noise_factor,
        max_per_frame,
        min_separation_px,
        border_margin_px,
        max_maxima_in_patch,
        crowd_level,
        max_shift_px,
        upsample,
        morph_level,
        block_frames,
        None if weights is None else os.fspath(weights),
        score_threshold,
        [os.path.dirname(os.path.abspath(__file__))],
        pixel_pitch,
        native_pitch,
        temporal_support,
        max_speed,
    )
    df = _frame(pairs)
    df.attrs["ulm"] = json.loads(config)
    return df


def track(
    locs: pd.DataFrame,
    meta: Meta,
    *,
    search_range_mm: Optional[float] = None,
    memory: int = 0,
    min_length: int = 3,
    predictor: str = "velocity",
    max_speed_ratio: Optional[float] = 3.0,
    min_rejectable_step_mm: Optional[float] = None,
    index: Optional[str] = None,
) -> pd.DataFrame:
    """Link localizations into tracks, with velocities in mm/s (``ulm track``).

    Parameters
    ----------
    locs : pandas.DataFrame
        Localizations with ``frame``, ``x_mm``, ``z_mm`` (other columns are ignored).
    meta : dict or path
        Geometry: ``frame_rate_hz`` [Hz] for velocities, ``wavelength_mm`` for defaults.
    search_range_mm : float, optional
        Largest distance in mm from a track's predicted position to a candidate in the
        next frame. Default: one wavelength.
    memory : int, default 0
        Frames a bubble may vanish and still be linked (trackpy's ``memory``).
    min_length : int, default 3
        Drop tracks with fewer points.
    predictor : {"none", "velocity", "kalman"}, default "velocity"
        Where to search: around the last position; last position plus the track's last
        velocity; or a constant-velocity Kalman filter.
    max_speed_ratio : float or None, default 3.0
        Drop a step faster than this multiple of the track's previous speed; ``None``
        disables velocity rejection.
    min_rejectable_step_mm : float, optional
        Steps up to this length (mm per frame) are never rejected. Default: wavelength / 4.
    index : {"kdtree", "grid"}, optional
        Spatial index (identical tracks, different speed). Default: the library's.

    Returns
    -------
    pandas.DataFrame
        ``track_id, frame, x_mm, z_mm, vx_mm_s, vz_mm_s``: one row per track point,
        tracks in increasing id, points by frame; velocities in mm/s (``vz`` positive
        towards depth, NaN where undefined).
    """
    pairs = _ulm.track(
        _loc_columns(locs, "localizations"),
        _meta_arg(meta),
        search_range_mm,
        memory,
        min_length,
        predictor,
        max_speed_ratio,
        min_rejectable_step_mm,
        index,
    )
    return _frame(pairs)


def render(
    table: pd.DataFrame,
    meta: Meta,
    map: str = "loc_density",
    *,
    pixel_mm: Optional[float] = None,
    fov_mm: Optional[Sequence[float]] = None,
    sigma_px: float = 1.0,
    step_px: float = 0.5,
    return_extent: bool = False,
) -> Union[np.ndarray, Tuple[np.ndarray, Tuple[float, float, float, float]]]:
    """Render a super-resolved map (``ulm render``; the same numbers as its ``.npy``).

    Parameters
    ----------
    table : pandas.DataFrame
        Localizations (``frame, x_mm, z_mm``) for ``loc_density``; tracks
        (``track_id, frame, x_mm, z_mm[, vx_mm_s, vz_mm_s]``) for the track maps.
    meta : dict or path
        Geometry. Its grid (``rows``/``cols``, or a simulation's) fixes the field of
        view; otherwise the data's bounding box does.
    map : {"loc_density", "track_density", "speed", "direction"}, default "loc_density"
        ``loc_density``: a Gaussian of ``sigma_px`` per localization (localizations /
        pixel); ``track_density``: tracks through each pixel; ``speed``: mean speed in
        mm/s; ``direction``: mean sign of the axial velocity (+1 down, -1 up).
    pixel_mm : float, optional
        Map pixel size in mm. Default: wavelength / 10.
    fov_mm : (x_min, x_max, z_min, z_max), optional
        Field of view in mm.
    sigma_px : float, default 1.0
        Gaussian sigma per localization, in map pixels.
    step_px : float, default 0.5
        Track interpolation step, in map pixels.
    return_extent : bool, default False
        Also return ``(x_min, x_max, z_max, z_min)`` in mm, for ``imshow(extent=…)``.

    Returns
    -------
    numpy.ndarray
        float32 ``[z, x]`` map.
    """
    if map == "loc_density":
        cols = _loc_columns(table, "localizations")
    else:
        cols = _track_columns(table)
    fov = None if fov_mm is None else [float(v) for v in fov_mm]
    image, extent = _ulm.render(cols, _meta_arg(meta), map, pixel_mm, fov, sigma_px, step_px)
    return (image, extent) if return_extent else image


def evaluate(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    meta: Meta,
    *,
    gate_wavelengths: float = 0.5,
    gate_mm: Optional[float] = None,
    bands: int = 3,
) -> Dict[str, Any]:
    """Score localizations against ground truth (``ulm eval --pred --gt``).

    Predictions and ground-truth points of the same frame are paired optimally
    (Hungarian) within the gate; unpaired ones are false positives / negatives.

    Parameters
    ----------
    pred, gt : pandas.DataFrame
        Tables with ``frame``, ``x_mm``, ``z_mm``.
    meta : dict or path
        Geometry: ``wavelength_mm`` for the gate and RMSE in wavelengths; the image
        depth (grid rows) for the depth bands.
    gate_wavelengths : float, default 0.5
        Pairing gate in wavelengths (the paper uses 0.5, PALA 0.25).
    gate_mm : float, optional
        Pairing gate in mm (overrides ``gate_wavelengths``).
    bands : int, default 3
        Equal depth bands.

    Returns
    -------
    dict
        The report of ``ulm eval --json``: ``overall`` and per-band ``bands`` scores
        (``tp, fp, fn, precision, recall, f1, jaccard, rmse_mm, rmse_wavelengths,
        rmse_x_mm, rmse_z_mm``; ratios None when undefined), ``n_pred``, ``n_gt``,
        ``n_frames``, ``config``.
    """
    text = _ulm.evaluate(
        _loc_columns(pred, "predictions"),
        _loc_columns(gt, "ground truth"),
        _meta_arg(meta),
        gate_wavelengths,
        gate_mm,
        bands,
    )
    return json.loads(text)


# ----------------------------------------------------------------------------- map metrics


def _map(a: Any, name: str) -> np.ndarray:
    m = np.asarray(a)
    if m.ndim != 2 or not (np.issubdtype(m.dtype, np.number) or m.dtype == np.bool_) or np.iscomplexobj(m):
        raise UlmError(f"{name} must be a real 2-D map [z, x], got shape {m.shape} of {m.dtype}")
    return m.astype(np.float32, copy=False)


def dice(pred: np.ndarray, gt: np.ndarray, *, rule: str = "positive", level: Optional[float] = None) -> Dict[str, Any]:
    """Dice coefficient of two maps on the same grid (``ulm eval --map --gt-map``).

    Parameters
    ----------
    pred, gt : numpy.ndarray
        ``[z, x]`` maps (e.g. from :func:`render`), same shape, finite.
    rule : {"positive", "above", "frac"}, default "positive"
        How both maps are binarized: ``value > 0``, ``value > level`` (map units), or
        ``value > level * max`` (``level`` in [0, 1)).
    level : float, optional
        The threshold of ``above`` / ``frac``.

    Returns
    -------
    dict
        ``{"rule": ..., "score": {"dice", "pred_pixels", "gt_pixels", "overlap"}}``;
        Dice ``2 |A n B| / (|A| + |B|)`` in [0, 1].
    """
    return json.loads(_ulm.dice(_map(pred, "pred"), _map(gt, "gt"), rule, level))


def mtf(
    map: np.ndarray,
    meta: Meta,
    line_mm: Sequence[float],
    *,
    pixel_mm: Optional[float] = None,
    fov_mm: Optional[Sequence[float]] = None,
    smooth_sigma: float = 1.0,
    norm: str = "dc",
) -> Dict[str, Any]:
    """Modulation transfer function of a map along a line (``ulm eval --mtf-line``).

    Parameters
    ----------
    map : numpy.ndarray
        A ``[z, x]`` map rendered by :func:`render` with the same ``meta``, ``pixel_mm``
        and ``fov_mm`` (its grid is recomputed from them).
    meta : dict or path
        Geometry of the acquisition.
    line_mm : (x0, z0, x1, z1)
        The segment, mm; sampled every map pixel, bilinearly.
    pixel_mm, fov_mm : optional
        As in :func:`render` (default pixel: wavelength / 10; field of view: the image's).
    smooth_sigma : float, default 1.0
        Gaussian smoothing of the profile, samples.
    norm : {"dc", "max"}, default "dc"
        Normalise by the windowed profile's DC (the paper's) or the curve's maximum.

    Returns
    -------
    dict
        ``freq_per_mm`` (cycles/mm), ``mtf``, and the settings (``line_mm``,
        ``samples``, ``sample_mm``, ``norm``, ``smooth_sigma``).
    """
    fov = None if fov_mm is None else [float(v) for v in fov_mm]
    line = [float(v) for v in line_mm]
    return json.loads(_ulm.mtf(_map(map, "map"), _meta_arg(meta), line, pixel_mm, fov, smooth_sigma, norm))


def frc(
    locs: pd.DataFrame,
    meta: Meta,
    *,
    split: str = "frames",
    block: int = 100,
    seed: int = 0,
    pixel_mm: Optional[float] = None,
    sigma_px: float = 1.0,
) -> Dict[str, Any]:
    """Fourier ring correlation of two halves of a localization table (``ulm eval
    --frc-locs``): each half rendered as a Gaussian density map, the resolution where
    the correlation first drops below 1/7.

    Parameters
    ----------
    locs : pandas.DataFrame
        Localizations (``frame``, ``x_mm``, ``z_mm``).
    meta : dict or path
        Geometry (wavelength for the default pixel).
    split : {"frames", "random"}, default "frames"
        Alternating blocks of ``block`` frames (blocks should outlast a bubble's
        transit), or per localization by a seeded hash.
    block : int, default 100
        Frames per block of ``split="frames"``.
    seed : int, default 0
        Seed of ``split="random"``.
    pixel_mm : float, optional
        Map pixel, mm. Default: wavelength / 10.
    sigma_px : float, default 1.0
        Gaussian per localization, pixels.

    Returns
    -------
    dict
        ``resolution_mm`` and ``resolution_wavelengths`` (None when the curve stays
        above 1/7), ``freq_per_mm``, ``frc``, ``halves``, ``pixel_mm``, ``grid``.
    """
    return json.loads(_ulm.frc(_loc_columns(locs, "localizations"), _meta_arg(meta), split, block, seed, pixel_mm, sigma_px))

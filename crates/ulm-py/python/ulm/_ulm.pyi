"""Type stubs of the native module ``ulm._ulm`` (Rust, PyO3). Use the ``ulm`` package:
its functions wrap these with DataFrames, dtype conversion and documentation.

``meta`` arguments are ``(meta.json text, name used in error messages)``; tables go in
as dicts of NumPy columns and come out as lists of ``(column name, column)`` pairs.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

MetaArg = Tuple[str, str]
Columns = List[Tuple[str, Any]]

__version__: str
LOCALIZATION_METHODS: List[str]

class UlmError(ValueError): ...

def read_meta(path: str) -> str: ...
def read(
    path: str,
    dataset: Optional[str] = None,
    axis_order: str = "tzx",
    meta: Optional[str] = None,
    allow_non_finite: bool = False,
) -> Tuple[npt.NDArray[Any], str]: ...
def simulate(
    preset: str = "sparse",
    frames: int = 1000,
    seed: int = 0,
    rows: Optional[int] = None,
    cols: Optional[int] = None,
    bubbles_per_frame: Optional[float] = None,
    snr_db: Optional[float] = None,
    frame_rate_hz: Optional[float] = None,
    psf: Optional[str] = None,
    config: Optional[str] = None,
) -> Dict[str, Any]: ...
def svd_filter(
    frames: npt.NDArray[Any],
    low: Optional[int] = None,
    high: Optional[int] = None,
    block_frames: int = 1000,
) -> Tuple[npt.NDArray[Any], List[Dict[str, Any]]]: ...
def bandpass(
    frames: npt.NDArray[Any],
    meta: MetaArg,
    low_hz: Optional[float] = None,
    high_hz: Optional[float] = None,
    order: int = 4,
) -> npt.NDArray[Any]: ...
def localize(
    frames: npt.NDArray[Any],
    meta: MetaArg,
    method: str = "radial",
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
    weights: Optional[str] = None,
    score_threshold: Optional[float] = None,
    search_dirs: List[str] = ...,
    pixel_pitch: Optional[float] = None,
    native_pitch: bool = False,
    temporal_support: int = 0,
    max_speed: float = 50.0,
) -> Tuple[Columns, str]: ...
def track(
    locs: Dict[str, npt.NDArray[Any]],
    meta: MetaArg,
    search_range_mm: Optional[float] = None,
    memory: int = 0,
    min_length: int = 3,
    predictor: str = "velocity",
    max_speed_ratio: Optional[float] = 3.0,
    min_rejectable_step_mm: Optional[float] = None,
    index: Optional[str] = None,
) -> Columns: ...
def render(
    table: Dict[str, npt.NDArray[Any]],
    meta: MetaArg,
    map: str = "loc_density",
    pixel_mm: Optional[float] = None,
    fov_mm: Optional[Sequence[float]] = None,
    sigma_px: float = 1.0,
    step_px: float = 0.5,
) -> Tuple[npt.NDArray[np.float32], Tuple[float, float, float, float]]: ...
def evaluate(
    pred: Dict[str, npt.NDArray[Any]],
    gt: Dict[str, npt.NDArray[Any]],
    meta: MetaArg,
    gate_wavelengths: float = 0.5,
    gate_mm: Optional[float] = None,
    bands: int = 3,
) -> str: ...
def dice(
    pred: npt.NDArray[np.float32],
    gt: npt.NDArray[np.float32],
    rule: str = "positive",
    level: Optional[float] = None,
) -> str: ...
def mtf(
    map: npt.NDArray[np.float32],
    meta: MetaArg,
    line_mm: Sequence[float],
    pixel_mm: Optional[float] = None,
    fov_mm: Optional[Sequence[float]] = None,
    smooth_sigma: float = 1.0,
    norm: str = "dc",
) -> str: ...
def frc(
    locs: Dict[str, npt.NDArray[Any]],
    meta: MetaArg,
    split: str = "frames",
    block: int = 100,
    seed: int = 0,
    pixel_mm: Optional[float] = None,
    sigma_px: float = 1.0,
) -> str: ...

//! Simulation parameters: one documented struct per part of the model, with defaults and
//! named presets.

use serde::{Deserialize, Serialize};

use crate::SimError;
pub use crate::preset::Preset;

mod bed;
mod probe;
pub use bed::{CortexConfig, VascularBed};
pub use probe::{Apodization, ProbeConfig, PsfModel};

/// Pixel grid, probe and frame rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GridConfig {
    /// Rows (depth samples). Default 256 (12.6 mm at λ/2).
    pub rows: usize,
    /// Columns (lateral samples). Default 208 (10.2 mm at λ/2), centred on x = 0.
    pub cols: usize,
    /// Depth of the centre of row 0, mm. Default 3.0.
    pub z0_mm: f64,
    /// Transmit centre frequency, Hz. Default 15.625 MHz (λ ≈ 0.0986 mm, like PALA).
    pub center_frequency_hz: f64,
    /// Speed of sound, m/s. Default 1540.
    pub speed_of_sound_m_s: f64,
    /// Pixel pitch in wavelengths (both axes). Default 0.5 (λ/2).
    pub pixel_size_wavelengths: f64,
    /// Frame rate, Hz. Default 1000.
    pub frame_rate_hz: f64,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            rows: 256,
            cols: 208,
            z0_mm: 3.0,
            center_frequency_hz: 15.625e6,
            speed_of_sound_m_s: 1540.0,
            pixel_size_wavelengths: 0.5,
            frame_rate_hz: 1000.0,
        }
    }
}

/// Random branching vessel trees (see [`crate::vessels`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VesselConfig {
    /// The kind of network: `random` trees (default) or a `cortex`-like bed.
    pub bed: VascularBed,
    /// Geometry of the cortex bed (used when `bed` is `cortex`).
    pub cortex: CortexConfig,
    /// Number of random trees merged into the network (with the cortex bed: the trees below
    /// the cortex; 0 allowed there). Default 12.
    pub n_trees: usize,
    /// Fraction of trees whose flow converges towards the root (venous); the others diverge
    /// from it (arterial). Default 0.5.
    pub venous_fraction: f64,
    /// Root radius range `[min, max]`, µm. Default `[50, 100]`.
    pub root_radius_um: [f64; 2],
    /// Radius below which a branch ends (leaves the imaging plane), µm. Default 4.
    pub min_radius_um: f64,
    /// Probability that a segment ends in a bifurcation (before the density modulation).
    /// Default 0.35.
    pub bifurcation_prob: f64,
    /// Probability that a segment is the last of its branch (the vessel dives out of the
    /// plane). Default 0.02.
    pub termination_prob: f64,
    /// Segment length = `segment_length_mm * (0.2 + 4 r_mm) * U(0.5, 1.5)`, mm. Default 1.0.
    pub segment_length_mm: f64,
    /// Standard deviation of the direction change between consecutive segments, degrees.
    /// Default 15.
    pub tortuosity_deg: f64,
    /// Jitter added to Murray's optimal bifurcation angles, degrees (s.d.). Default 10.
    pub branch_angle_jitter_deg: f64,
    /// Smallest radius ratio `r_small / r_large` of the two daughters. Default 0.5.
    pub min_asymmetry: f64,
    /// Number of Gaussian "density regions" modulating the bifurcation probability.
    /// Default 4.
    pub density_regions: usize,
    /// Spread of the elevation (out-of-plane) position of tree roots, mm (s.d.). Default 0.2.
    pub elevation_spread_mm: f64,
    /// Elevation random-walk step per segment, mm (s.d.). Default 0.08.
    pub elevation_step_mm: f64,
    /// Margin around the field of view in which vessels still grow, mm. Default 1.0.
    pub margin_mm: f64,
    /// Cap on segments per tree. Default 800.
    pub max_segments_per_tree: usize,
}

impl Default for VesselConfig {
    fn default() -> Self {
        Self {
            bed: VascularBed::Random,
            cortex: CortexConfig::default(),
            n_trees: 12,
            venous_fraction: 0.5,
            root_radius_um: [50.0, 100.0],
            min_radius_um: 4.0,
            bifurcation_prob: 0.35,
            termination_prob: 0.02,
            segment_length_mm: 1.0,
            tortuosity_deg: 15.0,
            branch_angle_jitter_deg: 10.0,
            min_asymmetry: 0.5,
            density_regions: 4,
            elevation_spread_mm: 0.2,
            elevation_step_mm: 0.08,
            margin_mm: 1.0,
            max_segments_per_tree: 800,
        }
    }
}

/// Hagen–Poiseuille flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowConfig {
    /// Peak (centre-line) speed in a root of the largest radius, mm/s. Roots get
    /// `max_peak_speed_mm_s * r / r_max`; daughters share the flow in proportion to `r³`
    /// (Murray), so peak speed scales with radius down the tree. Default 50.
    pub max_peak_speed_mm_s: f64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self { max_peak_speed_mm_s: 50.0 }
    }
}

/// Microbubbles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BubbleConfig {
    /// Expected number of visible bubbles per frame (ground-truth rows per frame).
    /// Default 30.
    pub per_frame: f64,
    /// Spread of the bubbles' mean echo amplitude (log-normal s.d.; mean amplitude 1).
    /// Default 0.3.
    pub amplitude_spread: f64,
    /// Frame-to-frame fluctuation of each bubble's echo (log-normal s.d.). Default 0.3.
    pub fluctuation: f64,
    /// Frame-to-frame correlation of that fluctuation (AR(1) coefficient). Default 0.5.
    pub fluctuation_correlation: f64,
    /// Bubble radius, µm: bubble centres stay this far from the vessel wall, so no bubble
    /// is stuck at zero speed. Default 1.5.
    pub radius_um: f64,
    /// Elevation beam width (FWHM of the amplitude profile across the imaging plane), mm.
    /// Default 0.6.
    pub elevation_fwhm_mm: f64,
    /// A bubble is in the ground truth when its elevation gain (amplitude factor of the
    /// elevation profile, 1 in the plane) is at least this. Fainter bubbles are still
    /// rendered. Default 0.25 (−12 dB).
    pub visibility_threshold: f64,
    /// Spread of bubble sizes: log-normal s.d. of the radius around its mean. Default 0.3
    /// (commercial agents span ≈ 0.5–5 µm).
    pub size_spread: f64,
    /// Echo amplitude ∝ (radius / mean radius)^this, normalised to mean 1: 1 for bubbles
    /// above resonance (geometric scattering), up to 3 well below it (Rayleigh). Default 1.
    pub size_amplitude_exponent: f64,
    /// Per-frame probability that an echoing bubble goes dark (blinking: its echo and its
    /// ground-truth row vanish until it comes back). Default 0.02.
    pub blink_off_prob: f64,
    /// Per-frame probability that a dark bubble echoes again. Default 0.5.
    pub blink_on_prob: f64,
    /// Destruction rate by the insonification, 1/s: a destroyed bubble disappears for good
    /// (its track ends) and a new one enters an inlet, so the concentration holds.
    /// Default 0 (low mechanical index).
    pub destruction_rate_hz: f64,
}

impl Default for BubbleConfig {
    fn default() -> Self {
        Self {
            per_frame: 30.0,
            amplitude_spread: 0.3,
            fluctuation: 0.3,
            fluctuation_correlation: 0.5,
            radius_um: 1.5,
            elevation_fwhm_mm: 0.6,
            visibility_threshold: 0.25,
            size_spread: 0.3,
            size_amplitude_exponent: 1.0,
            blink_off_prob: 0.02,
            blink_on_prob: 0.5,
            destruction_rate_hz: 0.0,
        }
    }
}

/// Point-spread function, attenuation and noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagingConfig {
    /// PSF model: `gaussian` (the parameters below) or `physical` (the probe in
    /// [`SimConfig::probe`]). Default gaussian.
    pub psf: PsfModel,
    /// Depth of the reference bubble, mm: an in-plane bubble of mean amplitude there has
    /// peak echo 1 (physical PSF: on the axis) and the noise RMS there is
    /// `10^(−snr_db/20)`; deeper echoes lose the uncompensated attenuation and the noise
    /// grows with the compensated part. `null` (default): the top of the field of view.
    pub reference_depth_mm: Option<f64>,
    /// Effective aperture width, mm: the F-number at depth z is `max(f_number_min, z /
    /// aperture_mm)`. Default 8.
    pub aperture_mm: f64,
    /// Smallest F-number. Default 1.5.
    pub f_number_min: f64,
    /// Lateral FWHM of the PSF = `lateral_factor * λ * F#(z)`, mm. Default 1.0.
    pub lateral_factor: f64,
    /// Pulse length in cycles; axial FWHM of the PSF = `pulse_cycles * λ / 2`. Default 1.5.
    pub pulse_cycles: f64,
    /// Level of the lateral side lobes (one on each side, at ±1.8 lateral FWHM, like the
    /// first side lobes of a two-way beam), dB relative to the main lobe; −∞ (or ≤ −200) for none.
    /// Default −30.
    pub lateral_sidelobe_db: f64,
    /// PSF evaluated within this many standard deviations of the bubble. Default 3.5.
    pub psf_window_sigmas: f64,
    /// Attenuation, dB/cm/MHz (one way). Default 0.3.
    pub attenuation_db_cm_mhz: f64,
    /// Fraction (in dB) of the round-trip attenuation that time-gain compensation undoes:
    /// echoes keep `(1 - tgc_compensation)` of it, noise is amplified by the rest. Default 0.9.
    pub tgc_compensation: f64,
    /// Mean bubble echo amplitude over noise RMS at the reference depth
    /// ([`ImagingConfig::reference_depth_mm`], default the top of the field of view), dB.
    /// Default 25.
    pub snr_db: f64,
}

impl Default for ImagingConfig {
    fn default() -> Self {
        Self {
            psf: PsfModel::Gaussian,
            reference_depth_mm: None,
            aperture_mm: 8.0,
            f_number_min: 1.5,
            lateral_factor: 1.0,
            pulse_cycles: 1.5,
            lateral_sidelobe_db: -30.0,
            psf_window_sigmas: 3.5,
            attenuation_db_cm_mhz: 0.3,
            tgc_compensation: 0.9,
            snr_db: 25.0,
        }
    }
}

/// Tissue clutter: a speckle field that moves slowly and decorrelates slowly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TissueConfig {
    /// Whether tissue clutter is added. Default false.
    pub enabled: bool,
    /// Tissue speckle RMS over mean bubble amplitude, dB. Default 40.
    pub clutter_db: f64,
    /// Amplitude of the periodic tissue motion `[lateral, axial]`, mm. Default
    /// `[0.01, 0.02]`.
    pub motion_amplitude_mm: [f64; 2],
    /// Frequency of that motion (breathing / heartbeat), Hz. Default 2.
    pub motion_frequency_hz: f64,
    /// Constant drift `[lateral, axial]`, mm/s. Default `[0.05, 0.02]`.
    pub drift_mm_s: [f64; 2],
    /// Speckle decorrelation rate, rad/s of the mixing angle between two independent
    /// speckle fields. Default 1.0.
    pub decorrelation_rad_s: f64,
    /// Contrast of smooth echogenicity regions (0 = uniform). Default 0.5.
    pub echogenicity_contrast: f64,
}

impl Default for TissueConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            clutter_db: 40.0,
            motion_amplitude_mm: [0.01, 0.02],
            motion_frequency_hz: 2.0,
            drift_mm_s: [0.05, 0.02],
            decorrelation_rad_s: 1.0,
            echogenicity_contrast: 0.5,
        }
    }
}

/// Everything the simulator needs besides the number of frames and the seed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Pixel grid, probe, frame rate.
    pub grid: GridConfig,
    /// Vessel network.
    pub vessels: VesselConfig,
    /// Flow.
    pub flow: FlowConfig,
    /// Microbubbles.
    pub bubbles: BubbleConfig,
    /// PSF, attenuation and noise.
    pub imaging: ImagingConfig,
    /// Tissue clutter.
    pub tissue: TissueConfig,
    /// Probe and beamformer of the physical PSF (used when `imaging.psf` is `physical`).
    pub probe: ProbeConfig,
}

impl SimConfig {
    /// The parameters of a named preset on the default grid (256 × 208 pixels at λ/2,
    /// ≈ 12.6 mm deep × 10.2 mm wide, from 3 mm depth, 1 kHz).
    pub fn preset(p: Preset) -> Self {
        let mut c = SimConfig::default();
        match p {
            Preset::Sparse => {
                c.bubbles.per_frame = 5.0;
                c.imaging.snr_db = 30.0;
            }
            Preset::Dense => {
                c.bubbles.per_frame = 100.0;
            }
            Preset::Tissue => {
                c.bubbles.per_frame = 30.0;
                c.tissue.enabled = true;
            }
            Preset::Deep => {
                c.grid.z0_mm = 6.0;
                c.grid.rows = 320;
                c.bubbles.per_frame = 30.0;
                c.imaging.aperture_mm = 4.0;
                c.imaging.f_number_min = 1.5;
                c.imaging.attenuation_db_cm_mhz = 0.4;
                c.imaging.tgc_compensation = 0.7;
                c.imaging.snr_db = 30.0;
            }
            Preset::Cortex => {
                c.vessels.bed = VascularBed::Cortex;
                c.vessels.n_trees = 4;
                c.bubbles.per_frame = 40.0;
                c.imaging.snr_db = 30.0;
            }
        }
        c
    }

    /// A preset on a small `rows × cols` grid (for fast tests and examples); the vessel
    /// network shrinks with the field of view and the concentration scales with its area.
    pub fn small(p: Preset, rows: usize, cols: usize) -> Self {
        let mut c = Self::preset(p);
        let area = (rows * cols) as f64 / (c.grid.rows * c.grid.cols) as f64;
        c.grid.rows = rows;
        c.grid.cols = cols;
        c.bubbles.per_frame = (c.bubbles.per_frame * area).max(2.0);
        let min_trees = if c.vessels.bed == VascularBed::Cortex { 1 } else { 3 };
        c.vessels.n_trees = ((c.vessels.n_trees as f64 * area.sqrt()).round() as usize).max(min_trees);
        c.vessels.margin_mm = 0.5;
        c
    }

    /// Wavelength in mm.
    pub fn wavelength_mm(&self) -> f64 {
        self.grid.speed_of_sound_m_s / self.grid.center_frequency_hz * 1e3
    }

    /// Pixel pitch in mm (both axes).
    pub fn pixel_size_mm(&self) -> f64 {
        self.wavelength_mm() * self.grid.pixel_size_wavelengths
    }

    /// The imaging geometry: λ-based pitch, columns centred on x = 0, row 0 at `z0_mm`.
    pub fn geometry(&self) -> Result<ulm_core::Geometry, SimError> {
        let px = self.pixel_size_mm();
        let x0 = -(self.grid.cols.saturating_sub(1) as f64) * px / 2.0;
        Ok(ulm_core::Geometry::new(px, px, x0, self.grid.z0_mm, self.wavelength_mm(), self.grid.frame_rate_hz)?)
    }

    /// Checks every parameter's range; the error names the offending field.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |name: &str, v: f64, what: &str| Err(SimError::Config(format!("{name} must be {what}, got {v}")));
        let pos = [
            ("grid.center_frequency_hz", self.grid.center_frequency_hz),
            ("grid.speed_of_sound_m_s", self.grid.speed_of_sound_m_s),
            ("grid.pixel_size_wavelengths", self.grid.pixel_size_wavelengths),
            ("grid.frame_rate_hz", self.grid.frame_rate_hz),
            ("vessels.min_radius_um", self.vessels.min_radius_um),
            ("vessels.segment_length_mm", self.vessels.segment_length_mm),
            ("flow.max_peak_speed_mm_s", self.flow.max_peak_speed_mm_s),
            ("bubbles.elevation_fwhm_mm", self.bubbles.elevation_fwhm_mm),
            ("imaging.aperture_mm", self.imaging.aperture_mm),
            ("imaging.f_number_min", self.imaging.f_number_min),
            ("imaging.lateral_factor", self.imaging.lateral_factor),
            ("imaging.pulse_cycles", self.imaging.pulse_cycles),
            ("imaging.psf_window_sigmas", self.imaging.psf_window_sigmas),
        ];
        for (name, v) in pos {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, v, "finite and > 0");
            }
        }
        let nonneg = [
            ("grid.z0_mm", self.grid.z0_mm),
            ("vessels.elevation_spread_mm", self.vessels.elevation_spread_mm),
            ("vessels.elevation_step_mm", self.vessels.elevation_step_mm),
            ("vessels.margin_mm", self.vessels.margin_mm),
            ("vessels.tortuosity_deg", self.vessels.tortuosity_deg),
            ("vessels.branch_angle_jitter_deg", self.vessels.branch_angle_jitter_deg),
            ("bubbles.per_frame", self.bubbles.per_frame),
            ("bubbles.radius_um", self.bubbles.radius_um),
            ("bubbles.amplitude_spread", self.bubbles.amplitude_spread),
            ("bubbles.fluctuation", self.bubbles.fluctuation),
            ("bubbles.size_spread", self.bubbles.size_spread),
            ("bubbles.size_amplitude_exponent", self.bubbles.size_amplitude_exponent),
            ("bubbles.destruction_rate_hz", self.bubbles.destruction_rate_hz),
            ("imaging.attenuation_db_cm_mhz", self.imaging.attenuation_db_cm_mhz),
            ("tissue.motion_frequency_hz", self.tissue.motion_frequency_hz),
            ("tissue.decorrelation_rad_s", self.tissue.decorrelation_rad_s),
            ("tissue.echogenicity_contrast", self.tissue.echogenicity_contrast),
        ];
        for (name, v) in nonneg {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, v, "finite and >= 0");
            }
        }
        let unit = [
            ("vessels.venous_fraction", self.vessels.venous_fraction),
            ("vessels.bifurcation_prob", self.vessels.bifurcation_prob),
            ("vessels.termination_prob", self.vessels.termination_prob),
            ("vessels.min_asymmetry", self.vessels.min_asymmetry),
            ("bubbles.fluctuation_correlation", self.bubbles.fluctuation_correlation),
            ("bubbles.visibility_threshold", self.bubbles.visibility_threshold),
            ("bubbles.blink_off_prob", self.bubbles.blink_off_prob),
            ("imaging.tgc_compensation", self.imaging.tgc_compensation),
        ];
        for (name, v) in unit {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(name, v, "in [0, 1]");
            }
        }
        for (name, v) in [
            ("imaging.snr_db", self.imaging.snr_db),
            ("imaging.lateral_sidelobe_db (use -200 for none)", self.imaging.lateral_sidelobe_db.max(-200.0)),
            ("tissue.clutter_db", self.tissue.clutter_db),
            ("tissue.motion_amplitude_mm[0]", self.tissue.motion_amplitude_mm[0]),
            ("tissue.motion_amplitude_mm[1]", self.tissue.motion_amplitude_mm[1]),
            ("tissue.drift_mm_s[0]", self.tissue.drift_mm_s[0]),
            ("tissue.drift_mm_s[1]", self.tissue.drift_mm_s[1]),
        ] {
            if !v.is_finite() {
                return bad(name, v, "finite");
            }
        }
        let [r0, r1] = self.vessels.root_radius_um;
        if !(r0.is_finite() && r1.is_finite() && r0 > 0.0 && r0 <= r1) {
            return Err(SimError::Config(format!(
                "vessels.root_radius_um must be [min, max] with 0 < min <= max, got [{r0}, {r1}]"
            )));
        }
        if self.vessels.min_radius_um > r1 {
            return Err(SimError::Config(format!(
                "vessels.min_radius_um ({}) exceeds the largest root radius ({r1})",
                self.vessels.min_radius_um
            )));
        }
        if self.grid.rows < 2 || self.grid.cols < 2 {
            return Err(SimError::Config(format!(
                "grid must be at least 2 × 2 pixels, got {} × {}",
                self.grid.rows, self.grid.cols
            )));
        }
        if self.bubbles.blink_off_prob > 0.0 && !(self.bubbles.blink_on_prob > 0.0 && self.bubbles.blink_on_prob <= 1.0)
        {
            return bad("bubbles.blink_on_prob (with blinking on)", self.bubbles.blink_on_prob, "in (0, 1]");
        }
        if self.vessels.n_trees == 0 && self.vessels.bed == VascularBed::Random {
            return Err(SimError::Config("vessels.n_trees must be >= 1 with the random bed".into()));
        }
        if self.vessels.n_trees > 10_000 {
            return Err(SimError::Config(format!("vessels.n_trees must be <= 10000, got {}", self.vessels.n_trees)));
        }
        self.vessels.cortex.validate()?;
        if let Some(z) = self.imaging.reference_depth_mm
            && !(z.is_finite() && z > 0.0)
        {
            return bad("imaging.reference_depth_mm", z, "finite and > 0 (or null)");
        }
        self.probe.validate()?;
        self.geometry()?;
        Ok(())
    }

    /// Depth of the reference bubble (see [`ImagingConfig::reference_depth_mm`]), mm.
    pub fn reference_depth_mm(&self) -> f64 {
        self.imaging.reference_depth_mm.unwrap_or(self.grid.z0_mm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
            SimConfig::preset(p).validate().unwrap();
            SimConfig::small(p, 64, 64).validate().unwrap();
        }
        assert!("Dense".parse::<Preset>().is_ok());
        assert!("foo".parse::<Preset>().unwrap_err().to_string().contains("foo"));
    }

    #[test]
    fn default_grid_is_half_wavelength_pala_like() {
        let c = SimConfig::preset(Preset::Sparse);
        let g = c.geometry().unwrap();
        assert!((g.wavelength_mm - 0.098_56).abs() < 1e-9);
        assert!((g.pixel_size_x_mm - g.wavelength_mm / 2.0).abs() < 1e-12);
        // Centred laterally.
        let (a, b) = g.x_range_mm(c.grid.cols);
        assert!((a + b).abs() < 1e-9);
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut c = SimConfig::default();
        c.imaging.tgc_compensation = 1.5;
        assert!(c.validate().unwrap_err().to_string().contains("imaging.tgc_compensation"));
        let mut c = SimConfig::default();
        c.grid.frame_rate_hz = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("frame_rate_hz"));
    }
}

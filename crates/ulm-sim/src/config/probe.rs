//! Parameters of the physical (pulse-echo) PSF: the linear array, its pulse, the
//! plane-wave sequence and the receive beamformer.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Which point-spread function renders the echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PsfModel {
    /// Separable Gaussian envelope with weak side lobes (fast, idealised; see
    /// [`crate::psf::GaussianPsf`]). The default.
    #[default]
    Gaussian,
    /// Pulse-echo response of a linear array with plane-wave compounding and a delay-and-sum
    /// receive beamformer, computed from the probe in [`ProbeConfig`] (see
    /// [`crate::psf::PhysicalPsf`]).
    Physical,
}

impl PsfModel {
    /// Both models, in documentation order.
    pub const ALL: [PsfModel; 2] = [PsfModel::Gaussian, PsfModel::Physical];

    /// The lowercase name (`gaussian`, `physical`).
    pub fn name(self) -> &'static str {
        match self {
            PsfModel::Gaussian => "gaussian",
            PsfModel::Physical => "physical",
        }
    }
}

impl std::fmt::Display for PsfModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PsfModel {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gaussian" => Ok(PsfModel::Gaussian),
            "physical" => Ok(PsfModel::Physical),
            other => Err(SimError::Config(format!("unknown PSF model `{other}` (expected gaussian or physical)"))),
        }
    }
}

/// Receive apodisation across the active aperture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Apodization {
    /// Uniform weights: narrowest main lobe, first side lobe −13.3 dB (one way).
    Rectangular,
    /// Hann window `½(1 + cos 2πu)`: main lobe ≈ 1.65× wider, first side lobe −31.5 dB.
    #[default]
    Hanning,
    /// Hamming window `0.54 + 0.46 cos 2πu`: first side lobe ≈ −43 dB.
    Hamming,
}

impl Apodization {
    /// Weight at relative aperture position `u ∈ [−½, ½]` (0 outside).
    pub fn weight(self, u: f64) -> f64 {
        if u.abs() > 0.5 {
            return 0.0;
        }
        self.weight_of_cos((std::f64::consts::TAU * u).cos())
    }

    /// The weight at a position `u` inside the aperture (`|u| ≤ ½`) given `cos 2πu`.
    pub(crate) fn weight_of_cos(self, c: f64) -> f64 {
        match self {
            Apodization::Rectangular => 1.0,
            Apodization::Hanning => 0.5 * (1.0 + c),
            Apodization::Hamming => 0.54 + 0.46 * c,
        }
    }
}

/// The probe and beamformer of the physical PSF ([`PsfModel::Physical`]). The transmit
/// (and IQ demodulation) frequency is [`crate::GridConfig::center_frequency_hz`] and the
/// attenuation [`crate::ImagingConfig::attenuation_db_cm_mhz`]. Defaults: a 128-element,
/// 0.1 mm pitch linear array at 15.625 MHz (like PALA's L22-14v), three plane waves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeConfig {
    /// Number of elements. Default 128.
    pub elements: usize,
    /// Element pitch, mm. Default 0.10. The array is centred on x = 0.
    pub pitch_mm: f64,
    /// Element width, mm (its far-field directivity `sinc(w sin φ / λ) cos φ`). Default 0.08.
    pub element_width_mm: f64,
    /// Two-way (pulse-echo) fractional bandwidth of the transducer at −6 dB. Default 0.67.
    pub fractional_bandwidth: f64,
    /// Cycles of the transmit burst at the centre frequency; 0 for an impulse. Default 1.
    pub cycles: f64,
    /// Plane-wave steering angles, degrees; their echoes are summed coherently
    /// (compounding). Default `[-5, 0, 5]`.
    pub angles_deg: Vec<f64>,
    /// Receive F-number: the active aperture at depth z is `z / f_number` wide, centred on
    /// the pixel and clipped by the array. Default 1.0.
    pub receive_f_number: f64,
    /// Receive apodisation over the active aperture. Default Hanning.
    pub apodization: Apodization,
    /// The PSF is tabulated on offsets `±template_half_width_wavelengths` λ laterally (its
    /// side lobes beyond that are dropped). Default 8.
    pub template_half_width_wavelengths: f64,
    /// Sampling step of the tabulated PSF, wavelengths (both axes; bilinear in between).
    /// Default 0.125.
    pub template_step_wavelengths: f64,
    /// Depth step between tabulated PSFs, mm (linear interpolation in between). Default 1.0.
    pub depth_step_mm: f64,
    /// Lateral step between tabulated PSFs, mm (nearest; the PSF changes laterally only
    /// where the array clips the aperture). Default 1.0.
    pub lateral_step_mm: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            elements: 128,
            pitch_mm: 0.1,
            element_width_mm: 0.08,
            fractional_bandwidth: 0.67,
            cycles: 1.0,
            angles_deg: vec![-5.0, 0.0, 5.0],
            receive_f_number: 1.0,
            apodization: Apodization::Hanning,
            template_half_width_wavelengths: 8.0,
            template_step_wavelengths: 0.125,
            depth_step_mm: 1.0,
            lateral_step_mm: 1.0,
        }
    }
}

impl ProbeConfig {
    /// Checks every parameter's range; the error names the field.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad =
            |name: &str, v: f64, what: &str| Err(SimError::Config(format!("probe.{name} must be {what}, got {v}")));
        for (name, v) in [
            ("pitch_mm", self.pitch_mm),
            ("element_width_mm", self.element_width_mm),
            ("fractional_bandwidth", self.fractional_bandwidth),
            ("receive_f_number", self.receive_f_number),
            ("template_half_width_wavelengths", self.template_half_width_wavelengths),
            ("template_step_wavelengths", self.template_step_wavelengths),
            ("depth_step_mm", self.depth_step_mm),
            ("lateral_step_mm", self.lateral_step_mm),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, v, "finite and > 0");
            }
        }
        if !(self.cycles.is_finite() && (0.0..=64.0).contains(&self.cycles)) {
            return bad("cycles", self.cycles, "in [0, 64]");
        }
        if self.fractional_bandwidth > 4.0 {
            return bad("fractional_bandwidth", self.fractional_bandwidth, "<= 4");
        }
        if self.template_step_wavelengths > 0.5 {
            return bad("template_step_wavelengths", self.template_step_wavelengths, "<= 0.5");
        }
        if self.template_half_width_wavelengths / self.template_step_wavelengths > 2000.0 {
            return Err(SimError::Config("probe: the PSF template would exceed 4000 samples per row".into()));
        }
        if !(1..=4096).contains(&self.elements) {
            return bad("elements", self.elements as f64, "in [1, 4096]");
        }
        if self.angles_deg.is_empty() || self.angles_deg.len() > 256 {
            return Err(SimError::Config(format!(
                "probe.angles_deg must hold 1 to 256 angles, got {}",
                self.angles_deg.len()
            )));
        }
        for &a in &self.angles_deg {
            if !(a.is_finite() && a.abs() < 60.0) {
                return bad("angles_deg", a, "finite and within ±60°");
            }
        }
        Ok(())
    }

    /// Width of the array (first to last element centre plus one pitch), mm.
    pub fn array_width_mm(&self) -> f64 {
        self.elements as f64 * self.pitch_mm
    }
}

//! Where will a bubble be in the next frame? The [`Predictor`] trait and three
//! implementations: none (Brownian), the paper's recent-velocity predictor (Eq. 6) and a
//! constant-velocity Kalman filter.
//!
//! A predictor keeps a small state per track ([`Predictor::State`]); the linker calls
//! [`Predictor::start`] when a track is born, [`Predictor::observe`] for every point
//! linked to it and [`Predictor::predict`] before searching candidates. Positions are in
//! mm, time in frames.

/// Per-track motion model used to search candidates around a predicted position.
pub trait Predictor {
    /// What the predictor remembers about one track.
    type State: Clone;
    /// State of a track born at `frame` at `pos`.
    fn start(&self, frame: u32, pos: [f64; 2]) -> Self::State;
    /// Updates a track's state with a new point.
    fn observe(&self, state: &mut Self::State, frame: u32, pos: [f64; 2]);
    /// Predicted position at `frame` (later than the last observed frame).
    fn predict(&self, state: &Self::State, frame: u32) -> [f64; 2];
}

/// No motion model: the bubble is searched around its last position (Brownian, the
/// paper's Eq. 5; trackpy's default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPredictor;

impl Predictor for NoPredictor {
    type State = [f64; 2];
    fn start(&self, _frame: u32, pos: [f64; 2]) -> [f64; 2] {
        pos
    }
    fn observe(&self, state: &mut [f64; 2], _frame: u32, pos: [f64; 2]) {
        *state = pos;
    }
    fn predict(&self, state: &[f64; 2], _frame: u32) -> [f64; 2] {
        *state
    }
}

/// The paper's Eq. 6 (trackpy's recent-velocity predictor, per particle):
/// `P = x(t0) + (x(t0) − x(t−1)) / (t0 − t−1) · (t1 − t0)`, from the track's own last
/// step; a track with one point is predicted to stay where it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct VelocityPredictor;

/// State of [`VelocityPredictor`]: the last two points of a track.
#[derive(Debug, Clone, Copy)]
pub struct VelocityState {
    last: (u32, [f64; 2]),
    prev: Option<(u32, [f64; 2])>,
}

impl Predictor for VelocityPredictor {
    type State = VelocityState;
    fn start(&self, frame: u32, pos: [f64; 2]) -> VelocityState {
        VelocityState { last: (frame, pos), prev: None }
    }
    fn observe(&self, s: &mut VelocityState, frame: u32, pos: [f64; 2]) {
        s.prev = Some(s.last);
        s.last = (frame, pos);
    }
    fn predict(&self, s: &VelocityState, frame: u32) -> [f64; 2] {
        let (t0, x0) = s.last;
        match s.prev {
            None => x0,
            Some((tm1, xm1)) => {
                let k = (frame as f64 - t0 as f64) / (t0 as f64 - tm1 as f64);
                [x0[0] + (x0[0] - xm1[0]) * k, x0[1] + (x0[1] - xm1[1]) * k]
            }
        }
    }
}

/// Constant-velocity Kalman filter, the same model on both axes: state `(position,
/// velocity)` per axis, white-acceleration process noise and isotropic measurement noise.
#[derive(Debug, Clone, Copy)]
pub struct KalmanPredictor {
    /// Process noise: acceleration spectral density `q` in mm² / frame³.
    pub process_noise: f64,
    /// Measurement noise variance in mm².
    pub measurement_var: f64,
    /// Variance of the unknown initial velocity in (mm / frame)².
    pub initial_velocity_var: f64,
}

impl KalmanPredictor {
    /// A filter tuned from the search range `r` (mm): measurement σ = r/10, initial
    /// velocity σ = r per frame, acceleration noise `q = (r/10)²` per frame³.
    pub fn from_search_range(r: f64) -> Self {
        Self { process_noise: (0.1 * r).powi(2), measurement_var: (0.1 * r).powi(2), initial_velocity_var: r * r }
    }
}

/// State of [`KalmanPredictor`]: means per axis and the shared 2 × 2 covariance
/// `[[p_xx, p_xv], [p_xv, p_vv]]` (identical on both axes because the model is).
#[derive(Debug, Clone, Copy)]
pub struct KalmanState {
    frame: u32,
    pos: [f64; 2],
    vel: [f64; 2],
    cov: [f64; 3],
}

impl KalmanPredictor {
    /// Propagates `(vel, cov)` by `dt` frames; returns the predicted state.
    fn propagate(&self, s: &KalmanState, dt: f64) -> ([f64; 2], [f64; 3]) {
        let [pxx, pxv, pvv] = s.cov;
        let q = self.process_noise;
        let pos = [s.pos[0] + s.vel[0] * dt, s.pos[1] + s.vel[1] * dt];
        let cov = [
            pxx + 2.0 * dt * pxv + dt * dt * pvv + q * dt.powi(3) / 3.0,
            pxv + dt * pvv + q * dt * dt / 2.0,
            pvv + q * dt,
        ];
        (pos, cov)
    }
}

impl Predictor for KalmanPredictor {
    type State = KalmanState;
    fn start(&self, frame: u32, pos: [f64; 2]) -> KalmanState {
        KalmanState { frame, pos, vel: [0.0; 2], cov: [self.measurement_var, 0.0, self.initial_velocity_var] }
    }
    fn observe(&self, s: &mut KalmanState, frame: u32, z: [f64; 2]) {
        let dt = frame as f64 - s.frame as f64;
        let (pos, [pxx, pxv, pvv]) = self.propagate(s, dt);
        let innov_var = pxx + self.measurement_var;
        let (kx, kv) = (pxx / innov_var, pxv / innov_var);
        for a in 0..2 {
            let r = z[a] - pos[a];
            s.pos[a] = pos[a] + kx * r;
            s.vel[a] += kv * r;
        }
        s.cov = [(1.0 - kx) * pxx, (1.0 - kx) * pxv, pvv - kv * pxv];
        s.frame = frame;
    }
    fn predict(&self, s: &KalmanState, frame: u32) -> [f64; 2] {
        let dt = frame as f64 - s.frame as f64;
        [s.pos[0] + s.vel[0] * dt, s.pos[1] + s.vel[1] * dt]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_predictor_is_eq6() {
        let p = VelocityPredictor;
        let mut s = p.start(3, [1.0, 2.0]);
        assert_eq!(p.predict(&s, 4), [1.0, 2.0]);
        p.observe(&mut s, 5, [1.4, 1.8]);
        // Velocity (0.2, -0.1) per frame over the 2-frame step; predict 3 frames ahead.
        let q = p.predict(&s, 8);
        assert!((q[0] - 2.0).abs() < 1e-12 && (q[1] - 1.5).abs() < 1e-12, "{q:?}");
    }

    #[test]
    fn kalman_learns_constant_velocity() {
        let p = KalmanPredictor::from_search_range(0.2);
        let mut s = p.start(0, [0.0, 0.0]);
        for t in 1..20 {
            p.observe(&mut s, t, [0.05 * t as f64, -0.02 * t as f64]);
        }
        let q = p.predict(&s, 21);
        assert!((q[0] - 1.05).abs() < 1e-3 && (q[1] + 0.42).abs() < 1e-3, "{q:?}");
    }
}

//! `SIGKILL` during `ulm filter`, `ulm localize` and `ulm track` never damages the previous
//! results: every output is written to a temporary file in the destination folder and
//! renamed over the destination only once complete (`ulm_io::atomic_write`,
//! `NpyStreamWriter`).
//!
//! Each test writes a previous output (a run on a small input), measures one uninterrupted
//! run on a large input (the reference new output), then starts the same run again and
//! kills it — at fixed fractions of the reference duration and as soon as the temporary
//! output file appears (mid-write). After each kill every file of the output folder holds
//! either its previous bytes or, for a run that got to its rename, the complete new output.
//!
//! **Temporary files.** A killed process cannot clean up: its temporary file stays in the
//! output folder under a hidden name, `.<destination name>.<random>.tmp` (e.g.
//! `.tracks.csv.a1B2c3.tmp`), never at the destination name; deleting such files is safe
//! whenever no `ulm` is running. The tests check that nothing else is left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Deterministic pseudo-random numbers in [0, 1) (an LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write_meta(dir: &Path) {
    let meta = r#"{"frame_rate_hz": 1000.0, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0.0, "z0_mm": 0.0, "wavelength_mm": 0.2}"#;
    std::fs::write(dir.join("meta.json"), meta).unwrap();
}

/// A C-order `.npy` of `[frames, 64, 64]` frames holding `spots` Gaussian spots each on a
/// weak noise floor; complex64 (random phase) or float32 (envelope).
fn write_frames(path: &Path, frames: usize, spots: usize, complex: bool, seed: u64) {
    const N: usize = 64;
    let mut rng = Lcg(seed);
    let mut env = vec![0f32; frames * N * N];
    for f in 0..frames {
        let frame = &mut env[f * N * N..(f + 1) * N * N];
        for v in frame.iter_mut() {
            *v = 0.01 * rng.next() as f32;
        }
        for _ in 0..spots {
            let (r0, c0) = (4.0 + rng.next() * (N as f64 - 8.0), 4.0 + rng.next() * (N as f64 - 8.0));
            for r in (r0 as usize - 3)..=(r0 as usize + 3) {
                for c in (c0 as usize - 3)..=(c0 as usize + 3) {
                    let d2 = (r as f64 - r0).powi(2) + (c as f64 - c0).powi(2);
                    frame[r * N + c] += (-d2 / 2.0).exp() as f32;
                }
            }
        }
    }
    let (descr, bytes): (&str, Vec<u8>) = if complex {
        let mut b = Vec::with_capacity(env.len() * 8);
        for v in &env {
            let phase = rng.next() * std::f64::consts::TAU;
            b.extend_from_slice(&(v * phase.cos() as f32).to_le_bytes());
            b.extend_from_slice(&(v * phase.sin() as f32).to_le_bytes());
        }
        ("<c8", b)
    } else {
        ("<f4", env.iter().flat_map(|v| v.to_le_bytes()).collect())
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({frames}, {N}, {N}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes);
    std::fs::write(path, out).unwrap();
}

/// A localization CSV of `per_frame` bubbles moving on straight lines for `frames` frames.
fn write_locs(path: &Path, frames: u32, per_frame: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let mut pos: Vec<(f64, f64, f64, f64)> =
        (0..per_frame).map(|_| (rng.next() * 20.0, rng.next() * 20.0, rng.next() * 0.1, rng.next() * 0.1)).collect();
    let mut text = String::from("frame,x_mm,z_mm\n");
    for f in 0..frames {
        for p in &mut pos {
            text.push_str(&format!("{f},{},{}\n", p.0, p.1));
            p.0 = (p.0 + p.2) % 20.0;
            p.1 = (p.1 + p.3) % 20.0;
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Every file of a folder with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Whether `name` is a temporary file of one of the `outputs` (`.<output>.<random>.tmp`).
fn temp_of(name: &str, outputs: &BTreeMap<String, Vec<u8>>) -> bool {
    name.ends_with(".tmp") && outputs.keys().any(|o| name.starts_with(&format!(".{o}.")))
}

/// One crash-safety scenario: `args(input, out)` builds the command line.
struct Scenario {
    /// Folder of the outputs.
    out_dir: PathBuf,
    /// The main output (the destination that a killed run must not damage).
    out: PathBuf,
    small: PathBuf,
    large: PathBuf,
    args: fn(&Path, &Path) -> Vec<String>,
}

fn ulm(args: &[String]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("ulm"));
    c.arg("-q").args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

impl Scenario {
    fn run(&self) {
        // Previous results, from the small input.
        assert!(ulm(&(self.args)(&self.small, &self.out)).status().unwrap().success());
        let old = snapshot(&self.out_dir);
        let out_name = self.out.file_name().unwrap().to_string_lossy().into_owned();
        assert!(old.contains_key(&out_name));

        // The complete new output and how long it takes.
        let ref_dir = self.out_dir.parent().unwrap().join("reference");
        std::fs::create_dir_all(&ref_dir).unwrap();
        let ref_out = ref_dir.join(&out_name);
        let t0 = Instant::now();
        assert!(ulm(&(self.args)(&self.large, &ref_out)).status().unwrap().success());
        let full = t0.elapsed();
        let new = std::fs::read(&ref_out).unwrap();
        assert_ne!(new, old[&out_name], "the large run must change the output");

        // Kill at fixed fractions of the run, and as soon as the temporary output appears.
        let mut kills_mid_write = 0;
        for stop in [Some(0.0), Some(0.3), Some(0.6), Some(0.9), None, None] {
            let mut child = ulm(&(self.args)(&self.large, &self.out)).spawn().unwrap();
            let start = Instant::now();
            match stop {
                Some(frac) => std::thread::sleep(full.mul_f64(frac)),
                None => {
                    // Poll for `.<out>.*.tmp`; give up after twice the full run.
                    let prefix = format!(".{out_name}.");
                    while start.elapsed() < 2 * full {
                        let seen = std::fs::read_dir(&self.out_dir).unwrap().any(|e| {
                            let n = e.unwrap().file_name().to_string_lossy().into_owned();
                            n.starts_with(&prefix) && n.ends_with(".tmp")
                        });
                        if seen {
                            kills_mid_write += 1;
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();

            let now = snapshot(&self.out_dir);
            for (name, bytes) in &now {
                if let Some(before) = old.get(name) {
                    // The destination: previous bytes, or the complete new output.
                    // Sidecars (config, meta): previous bytes or a complete JSON document.
                    let ok = bytes == before
                        || (name == &out_name && bytes == &new)
                        || (name != &out_name && serde_json::from_slice::<serde_json::Value>(bytes).is_ok());
                    assert!(ok, "{name}: neither the previous content nor a complete new one (stop {stop:?})");
                } else {
                    assert!(temp_of(name, &old), "unexpected file {name} after a kill (stop {stop:?})");
                    std::fs::remove_file(self.out_dir.join(name)).unwrap();
                }
            }
            for name in old.keys() {
                assert!(now.contains_key(name), "{name} vanished (stop {stop:?})");
            }
            // Back to the previous results for the next round.
            for (name, bytes) in &old {
                std::fs::write(self.out_dir.join(name), bytes).unwrap();
            }
        }
        assert!(kills_mid_write >= 1, "never caught a temporary output file");
    }
}

fn scenario(dir: &Path, small: PathBuf, large: PathBuf, out: &str, args: fn(&Path, &Path) -> Vec<String>) -> Scenario {
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    Scenario { out: out_dir.join(out), out_dir, small, large, args }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn killed_filter_leaves_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path());
    let (small, large) = (dir.path().join("small.npy"), dir.path().join("large.npy"));
    write_frames(&small, 40, 5, true, 1);
    write_frames(&large, 400, 5, true, 2);
    let args = |input: &Path, out: &Path| {
        vec!["filter".into(), s(input), "--out".into(), s(out), "--block-frames".into(), "40".into()]
    };
    scenario(dir.path(), small, large, "iqf.npy", args).run();
}

#[test]
fn killed_localize_leaves_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path());
    let (small, large) = (dir.path().join("small.npy"), dir.path().join("large.npy"));
    write_frames(&small, 20, 10, false, 3);
    write_frames(&large, 1500, 10, false, 4);
    let args = |input: &Path, out: &Path| vec!["localize".into(), s(input), "--out".into(), s(out)];
    scenario(dir.path(), small, large, "locs.csv", args).run();
}

#[test]
fn killed_track_leaves_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path());
    let (small, large) = (dir.path().join("small.csv"), dir.path().join("large.csv"));
    write_locs(&small, 20, 10, 5);
    write_locs(&large, 1000, 150, 6);
    let args = |input: &Path, out: &Path| {
        let meta = input.with_file_name("meta.json");
        vec!["track".into(), s(input), "--meta".into(), s(&meta), "--out".into(), s(out)]
    };
    scenario(dir.path(), small, large, "tracks.csv", args).run();
}

//! `ulm filter` on a small `tissue` simulation.

use assert_cmd::Command;
use predicates::str::contains;

fn read_npy_c64_energy(path: &std::path::Path) -> (Vec<usize>, f64) {
    // Header: magic, version 1.0, little-endian u16 header length.
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<c8'"), "{header}");
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> =
        shape_txt.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data = &bytes[10 + hlen..];
    let e = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).map(|v| v * v).sum();
    (shape, e)
}

/// A small `tissue` simulation (iq.npy, meta.json, …) in a fresh temporary folder.
fn simulate_tissue(frames: usize, rows: usize, cols: usize, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "simulate", "--preset", "tissue"])
        .args(["--frames", &frames.to_string(), "--rows", &rows.to_string(), "--cols", &cols.to_string()])
        .args(["--seed", &seed.to_string()])
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    dir
}

#[test]
fn removes_most_of_the_tissue_energy_and_writes_meta_and_config() {
    let dir = simulate_tissue(60, 48, 48, 2);
    let out_dir = dir.path().join("filtered");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("iqf.npy");
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "filter"])
        .arg(dir.path().join("iq.npy"))
        .arg("--out")
        .arg(&out)
        .args(["--block-frames", "30", "--bandpass-high-hz", "400"])
        .assert()
        .success();
    let (shape_in, e_in) = read_npy_c64_energy(&dir.path().join("iq.npy"));
    let (shape_out, e_out) = read_npy_c64_energy(&out);
    assert_eq!(shape_in, shape_out);
    // Tissue is ~40 dB above the bubbles per pixel: the filtered energy is a tiny fraction.
    let drop_db = 10.0 * (e_in / e_out).log10();
    assert!(drop_db > 30.0, "energy dropped only {drop_db:.1} dB");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("meta.json")).unwrap()).unwrap();
    assert!(meta["wavelength_mm"].as_f64().unwrap() > 0.0);
    assert!(meta.get("simulation").is_some(), "other sidecar keys kept");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("iqf.config.json")).unwrap()).unwrap();
    assert_eq!(cfg["blocks"].as_array().unwrap().len(), 2);
    assert!(cfg["blocks"][0]["kept_low"].as_u64().unwrap() >= 2);
    assert_eq!(cfg["bandpass"]["high_hz"], 400.0);
}

#[test]
fn bad_settings_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "simulate", "--preset", "sparse", "--frames", "10", "--rows", "32", "--cols", "32", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let run = |extra: &[&str]| {
        Command::cargo_bin("ulm")
            .unwrap()
            .args(["-q", "filter"])
            .arg(dir.path().join("iq.npy"))
            .arg("--out")
            .arg(dir.path().join("o.npy"))
            .args(extra)
            .assert()
    };
    run(&["--svd-low", "0"]).code(1).stderr(contains("from 1"));
    run(&["--svd-low", "50"]).code(1).stderr(contains("cannot keep components 50"));
    run(&["--bandpass-low-hz", "900"]).code(1).stderr(contains("half the frame rate"));
    assert!(!dir.path().join("o.npy").exists());
}

/// SVD-only filtering streams block by block (bounded memory); its output must equal the
/// in-memory library filter on the same frames, block for block.
#[test]
fn streamed_svd_equals_in_memory_filter() {
    let dir = simulate_tissue(70, 32, 40, 5);
    let out = dir.path().join("out").join("iqf.npy");
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "filter"])
        .arg(dir.path().join("iq.npy"))
        .arg("--out")
        .arg(&out)
        .args(["--block-frames", "25", "--svd-low", "4"])
        .assert()
        .success();
    let input = ulm_io::read_frames(&dir.path().join("iq.npy"), &ulm_io::ReadOptions::default()).unwrap();
    let cfg = ulm_clutter::SvdConfig { cutoff: ulm_clutter::Cutoff::Fixed { low: 4, high: None }, block_frames: 25 };
    let (expected, reports) = ulm_clutter::svd_filter(&input, &cfg, &ulm_core::NoProgress).unwrap();
    assert_eq!(reports.len(), 3, "70 frames in blocks of 25 → 25 + 25 + 20");
    let got = ulm_io::read_frames(&out, &ulm_io::ReadOptions::default()).unwrap();
    let (ulm_core::FrameData::Complex(a), ulm_core::FrameData::Complex(b)) = (got.data(), expected.data()) else {
        panic!("IQ in, IQ out");
    };
    assert_eq!(a.dim(), b.dim());
    let scale = b.iter().map(|c| c.norm()).fold(0.0f32, f32::max);
    let worst = a.iter().zip(b.iter()).map(|(x, y)| (x - y).norm()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-6 * scale, "streamed output differs by {worst} (scale {scale})");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out").join("iqf.config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["blocks"].as_array().unwrap().len(), 3);
}

/// MATLAB stacks stored `[z, x, t]` (PALA's `IQ`) are read with `--dataset` and
/// `--axis-order`, the same options as `ulm info`.
#[test]
fn reads_matlab_v73_with_dataset_and_axis_order() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ulm-io/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let run = |order: &str, name: &str| {
        let out = dir.path().join(name);
        Command::cargo_bin("ulm")
            .unwrap()
            .args(["-q", "filter"])
            .arg(fixtures.join("v73.mat"))
            .args(["--dataset", "IQ", "--axis-order", order, "--svd-low", "2", "--out"])
            .arg(&out)
            .arg("--meta")
            .arg(fixtures.join("meta.json"))
            .assert()
            .success();
        read_npy_c64_energy(&out).0
    };
    // Stored [z=4, x=3, t=5]: read as PALA's layout it is 5 frames of 4 × 3.
    assert_eq!(run("zxt", "zxt.npy"), vec![5, 4, 3]);
    // Taken as ulm's own [t, z, x] it would be 4 frames of 3 × 5.
    assert_eq!(run("tzx", "tzx.npy"), vec![4, 3, 5]);
}

//! `ulm simulate` end to end: files, formats, determinism and errors.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

fn ulm() -> Command {
    Command::cargo_bin("ulm").unwrap()
}

fn run(out: &Path, seed: &str) {
    ulm()
        .args(["-q", "simulate", "--preset", "dense", "--frames", "6", "--rows", "40", "--cols", "48"])
        .args(["--bubbles-per-frame", "8", "--seed", seed, "--out"])
        .arg(out)
        .assert()
        .success();
}

/// Shape and dtype from an NPY v1 header.
fn npy_header(path: &Path) -> String {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let n = u16::from_le_bytes([b[8], b[9]]) as usize;
    String::from_utf8(b[10..10 + n].to_vec()).unwrap()
}

#[test]
fn writes_every_output_in_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    run(&out, "3");
    let h = npy_header(&out.join("iq.npy"));
    assert!(h.contains("'descr': '<c8'") && h.contains("'shape': (6, 40, 48)"), "{h}");
    let h = npy_header(&out.join("envelope.npy"));
    assert!(h.contains("'descr': '<f4'") && h.contains("'shape': (6, 40, 48)"), "{h}");
    assert_eq!(std::fs::metadata(out.join("iq.npy")).unwrap().len() as usize % 8, 0);

    let meta = ulm_io::read_meta(&out.join("meta.json")).unwrap();
    let g = meta.geometry(&out.join("meta.json")).unwrap();
    assert!((g.wavelength_mm - 0.098_56).abs() < 1e-9);
    assert!((g.pixel_size_x_mm - g.wavelength_mm / 2.0).abs() < 1e-12);
    assert_eq!(g.frame_rate_hz, 1000.0);
    let sim = &meta.extra["simulation"];
    assert_eq!(sim["preset"], "dense");
    assert_eq!(sim["seed"], 3);
    assert_eq!(sim["config"]["bubbles"]["per_frame"], 8.0);

    let text = std::fs::read_to_string(out.join("gt.csv")).unwrap();
    assert!(text.starts_with("frame,x_mm,z_mm,score,track_id,x_px,z_px,vx_mm_s,vz_mm_s\n"), "{}", &text[..80]);
    let gt = ulm_io::read_localizations(&out.join("gt.csv")).unwrap();
    assert!(gt.len() > 6, "{} rows", gt.len());
    // x_px / z_px agree with x_mm / z_mm under the pixel-centre convention.
    let xp = gt.extra("x_px").unwrap().as_f64().unwrap();
    let zp = gt.extra("z_px").unwrap().as_f64().unwrap();
    for i in 0..gt.len() {
        let (c, r) = g.mm_to_px(gt.x_mm[i], gt.z_mm[i]);
        assert!((c - xp[i]).abs() < 1e-9 && (r - zp[i]).abs() < 1e-9);
        assert!((-0.5..47.5).contains(&c) && (-0.5..39.5).contains(&r));
        assert!(gt.frame[i] < 6);
    }

    let net: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("vessels.json")).unwrap()).unwrap();
    assert!(net["segments"].as_array().unwrap().len() > 3);
    assert!(net["nodes"][0]["x_mm"].is_number());
    let png = std::fs::read(out.join("gt_density.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // λ/10 grid: 5 × (40 rows, 48 cols); PNG IHDR holds width then height.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 240);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 200);
    assert!(out.join("config.json").exists());
}

#[test]
fn same_seed_same_files_and_config_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a, "9");
    run(&b, "9");
    for f in ["iq.npy", "gt.csv", "vessels.json"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    // Re-running from the written config.json reproduces the acquisition.
    let c = dir.path().join("c");
    ulm()
        .args(["-q", "simulate", "--frames", "6", "--seed", "9", "--config"])
        .arg(a.join("config.json"))
        .arg("--out")
        .arg(&c)
        .assert()
        .success();
    assert_eq!(std::fs::read(a.join("iq.npy")).unwrap(), std::fs::read(c.join("iq.npy")).unwrap());
}

#[test]
fn bad_options_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    ulm().args(["simulate", "--preset", "bogus", "--out"]).arg(&out).assert().code(1).stderr(contains("bogus"));
    ulm().args(["simulate", "--frames", "0", "--out"]).arg(&out).assert().code(1).stderr(contains("--frames"));
    ulm().args(["simulate", "--snr-db", "nan", "--out"]).arg(&out).assert().code(1).stderr(contains("imaging.snr_db"));
    let cfg = dir.path().join("bad.json");
    std::fs::write(&cfg, "{\"grid\": {\"rows\": \"many\"}}").unwrap();
    ulm().args(["simulate", "--config"]).arg(&cfg).arg("--out").arg(&out).assert().code(1).stderr(contains("bad.json"));
    assert!(!out.join("iq.npy").exists());
}

#[test]
fn user_vessels_from_a_graph_or_a_mask_with_either_psf() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    run(&a, "4");
    // The written vessels.json, fed back with the physical PSF: the same network, bubbles
    // in it, the PSF model recorded in the config.
    let b = dir.path().join("b");
    ulm()
        .args(["-q", "simulate", "--preset", "dense", "--frames", "4", "--rows", "40", "--cols", "48"])
        .args(["--bubbles-per-frame", "8", "--psf", "physical", "--vessels"])
        .arg(a.join("vessels.json"))
        .arg("--out")
        .arg(&b)
        .assert()
        .success();
    let net = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("vessels.json")).unwrap()).unwrap()
    };
    assert_eq!(net(&a), net(&b));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["imaging"]["psf"], "physical");
    assert!(ulm_io::read_localizations(&b.join("gt.csv")).unwrap().len() > 4);

    // A mask: a 5-pixel-wide horizontal vessel across the image at row 20, with a thinner
    // branch going down from column 24.
    let mut m = ndarray::Array2::<u8>::zeros((40, 48));
    for c in 0..48 {
        for r in 18..23 {
            m[[r, c]] = 255;
        }
    }
    for r in 22..40 {
        for c in 23..26 {
            m[[r, c]] = 255;
        }
    }
    let mask = dir.path().join("mask.png");
    ulm_io::write_png_gray8(&mask, &m).unwrap();
    let c = dir.path().join("c");
    ulm()
        .args(["-q", "simulate", "--frames", "10", "--rows", "40", "--cols", "48", "--bubbles-per-frame", "6"])
        .arg("--vessels")
        .arg(&mask)
        .arg("--out")
        .arg(&c)
        .assert()
        .success();
    // The mask spans the field of view: every ground-truth bubble lies on a mask pixel
    // (within the one-pixel discretisation of the skeleton radii).
    let meta = ulm_io::read_meta(&c.join("meta.json")).unwrap();
    let g = meta.geometry(&c.join("meta.json")).unwrap();
    let gt = ulm_io::read_localizations(&c.join("gt.csv")).unwrap();
    assert!(gt.len() > 20, "{}", gt.len());
    for i in 0..gt.len() {
        let (col, row) = g.mm_to_px(gt.x_mm[i], gt.z_mm[i]);
        let near = (-1..=1).any(|dr: isize| {
            (-1..=1).any(|dc: isize| {
                let (r, k) = (row.round() as isize + dr, col.round() as isize + dc);
                (0..40).contains(&r) && (0..48).contains(&k) && m[[r as usize, k as usize]] > 0
            })
        });
        assert!(near, "bubble at px ({col}, {row}) off the mask");
    }
    // An empty mask is a clean error naming the file.
    let black = dir.path().join("black.png");
    ulm_io::write_png_gray8(&black, &ndarray::Array2::<u8>::zeros((8, 8))).unwrap();
    ulm()
        .args(["simulate", "--vessels"])
        .arg(&black)
        .arg("--out")
        .arg(dir.path().join("d"))
        .assert()
        .code(1)
        .stderr(contains("black.png"));
}

//! `ulm bench`: its numbers equal those of the pipeline's own commands (`ulm simulate`,
//! `filter`, `localize`, `eval`, `track`, `render`, `eval --map`) run on the same seed;
//! methods without a model folder are skipped with the reason; bad method names fail.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;

fn ulm(args: &[&str]) {
    let out = Command::cargo_bin("ulm").unwrap().arg("-q").args(args).output().unwrap();
    assert!(out.status.success(), "ulm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `a` equals `b`: the same structure, integers equal, other numbers within 1e-9 relative.
/// (The CLI reads the geometry back from meta.json, where a pixel size derived from the
/// wavelength may differ from the in-memory one in the last bit; positions follow.)
fn assert_close(a: &Value, b: &Value, what: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300), "{what}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{what}: lengths");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                assert_close(u, v, &format!("{what}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{what}: keys");
            for (k, u) in x {
                assert_close(u, &y[k], &format!("{what}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{what}"),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The bench's row of `method` on `preset` against the same steps run one by one.
fn check_against_cli(bench: &Value, dir: &Path, preset: &str, method: &str, frames: &str, seed: &str) {
    let p = |n: &str| dir.join(format!("{preset}-{method}-{n}"));
    let sim = dir.join(format!("sim-{preset}"));
    if !sim.exists() {
        ulm(&["simulate", "--preset", preset, "--frames", frames, "--seed", seed, "--out", s(&sim)]);
    }
    let meta = sim.join("meta.json");
    let mut iq = sim.join("iq.npy");
    if preset == "tissue" {
        let f = dir.join("tissue-filtered.npy");
        ulm(&["filter", s(&iq), "--meta", s(&meta), "--out", s(&f)]);
        iq = f;
    }
    let locs = p("locs.csv");
    ulm(&["localize", s(&iq), "--meta", s(&meta), "--method", method, "--out", s(&locs)]);
    ulm(&[
        "eval",
        "--pred",
        s(&locs),
        "--gt",
        s(&sim.join("gt.csv")),
        "--meta",
        s(&meta),
        "--json",
        s(&p("eval.json")),
    ]);
    let tracks = p("tracks.csv");
    ulm(&["track", s(&locs), "--meta", s(&meta), "--out", s(&tracks)]);
    let maps = dir.join("maps");
    let pre = format!("{preset}-{method}-");
    ulm(&[
        "render",
        "--locs",
        s(&locs),
        "--tracks",
        s(&tracks),
        "--meta",
        s(&meta),
        "--out-dir",
        s(&maps),
        "--prefix",
        &pre,
    ]);
    let gt_pre = format!("gt-{preset}-");
    let gt = sim.join("gt.csv");
    ulm(&[
        "render",
        "--locs",
        s(&gt),
        "--tracks",
        s(&gt),
        "--meta",
        s(&meta),
        "--out-dir",
        s(&maps),
        "--prefix",
        &gt_pre,
    ]);
    let dice = |name: &str| {
        let out = p(&format!("{name}.json"));
        let map = maps.join(format!("{pre}{name}.npy"));
        let gt_map = maps.join(format!("{gt_pre}{name}.npy"));
        ulm(&["eval", "--map", s(&map), "--gt-map", s(&gt_map), "--maps-json", s(&out)]);
        json(&out)["dice"]["score"].clone()
    };

    let row = bench["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["preset"] == preset)
        .and_then(|p| p["methods"].as_array().unwrap().iter().find(|m| m["method"] == method))
        .unwrap_or_else(|| panic!("no {preset}/{method} row"));
    let scores = &row["scores"];
    assert_close(&scores["eval"], &json(&p("eval.json"))["report"], &format!("{preset}/{method}: eval"));
    assert_close(&scores["dice_gaussian"], &dice("loc_density"), &format!("{preset}/{method}: Dice of Gaussian maps"));
    assert_close(&scores["dice_tracks"], &dice("track_density"), &format!("{preset}/{method}: Dice of track maps"));
    let n_tracks = {
        let text = std::fs::read_to_string(&tracks).unwrap();
        let mut ids: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        ids.dedup();
        ids.len()
    };
    assert_eq!(scores["n_tracks"].as_u64().unwrap() as usize, n_tracks, "{preset}/{method}: tracks");
    let fps = scores["frames_per_s"].as_f64().unwrap();
    let secs = scores["localize_seconds"].as_f64().unwrap();
    assert!((fps * secs - frames.parse::<f64>().unwrap()).abs() < 1e-6, "{fps} frames/s × {secs} s");
    let ap = scores["coco"]["ap"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ap), "AP {ap}");
}

#[test]
fn bench_rows_equal_the_pipeline_commands_and_missing_models_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let empty = dir.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let (frames, seed) = ("6", "31");
    let o = Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "bench", "--preset", "sparse,tissue", "--frames", frames, "--seed", seed])
        .args(["--methods", "radial,no-shift,de-detr,unet", "--weights-dir", s(&empty), "--out", s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bench = json(&out.join("bench.json"));
    assert_eq!(bench["command"], "bench");
    let md = std::fs::read_to_string(out.join("bench.md")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), md);
    assert!(md.contains("| radial |") && md.contains("| no-shift |"), "{md}");
    // Skipped, with the folder it looked for, in the table's notes and in the JSON.
    let missing = empty.join("de-detr");
    assert!(md.contains(&format!("- de-detr: no model folder {}", missing.display())), "{md}");
    for p in bench["presets"].as_array().unwrap() {
        let unet = p["methods"].as_array().unwrap().iter().find(|m| m["method"] == "unet").unwrap();
        assert!(unet["skipped"].as_str().unwrap().contains("no model folder"), "{unet}");
        assert!(unet["scores"].is_null());
    }
    assert_eq!(bench["presets"][1]["svd_filtered"], true);
    assert_eq!(bench["presets"][0]["svd_filtered"], false);

    for (preset, method) in [("sparse", "radial"), ("sparse", "no-shift"), ("tissue", "radial")] {
        check_against_cli(&bench, dir.path(), preset, method, frames, seed);
    }
}

#[test]
fn unknown_methods_and_presets_fail_with_the_known_names() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["bench", "--frames", "2", "--methods", "radial,radiall", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("unknown localization method `radiall`: use one of de-detr, detr, no-shift"));
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["bench", "--preset", "sparce", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("sparce"));
    assert!(!dir.path().join("bench.json").exists());
}

/// `--temporal-support`: the bench scores what `ulm localize --temporal-support` writes.
#[test]
fn bench_with_temporal_support_scores_the_filtered_localizations() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let (frames, seed) = ("8", "32");
    ulm(&["bench", "--preset", "sparse", "--frames", frames, "--seed", seed, "--methods", "radial"]
        .into_iter()
        .chain(["--temporal-support", "1", "--max-speed", "60", "--out", s(&out)])
        .collect::<Vec<_>>());
    let bench = json(&out.join("bench.json"));
    assert_eq!(bench["config"]["temporal_support"]["frames"], 1);
    let md = std::fs::read_to_string(out.join("bench.md")).unwrap();
    assert!(md.contains("Temporal support on every method") && md.contains("60 mm/s"), "{md}");
    let sim = dir.path().join("sim");
    ulm(&["simulate", "--preset", "sparse", "--frames", frames, "--seed", seed, "--out", s(&sim)]);
    let (locs, eval) = (dir.path().join("locs.csv"), dir.path().join("eval.json"));
    let meta = sim.join("meta.json");
    ulm(&["localize", s(&sim.join("iq.npy")), "--meta", s(&meta), "--method", "radial", "--out", s(&locs)]
        .into_iter()
        .chain(["--temporal-support", "1", "--max-speed", "60"])
        .collect::<Vec<_>>());
    ulm(&["eval", "--pred", s(&locs), "--gt", s(&sim.join("gt.csv")), "--meta", s(&meta), "--json", s(&eval)]);
    let row = &bench["presets"][0]["methods"][0];
    assert_eq!(row["method"], "radial");
    assert_close(&row["scores"]["eval"], &json(&eval)["report"], "sparse/radial with temporal support");
    let n = std::fs::read_to_string(&locs).unwrap().lines().count() - 1;
    assert_eq!(row["scores"]["n_localizations"].as_u64().unwrap() as usize, n);
    // The filter dropped rows here, so the equality above tells filtered from unfiltered.
    let plain = dir.path().join("plain.csv");
    ulm(&["localize", s(&sim.join("iq.npy")), "--meta", s(&meta), "--method", "radial", "--out", s(&plain)]);
    assert!(std::fs::read_to_string(&plain).unwrap().lines().count() - 1 > n);
}

//! `ulm run`: a pipeline on a tiny simulation writes every output, its metrics are those
//! of `ulm eval` on the same files, its report is one file with its images inside; a bad
//! config names the file and the key.

use std::path::Path;

use assert_cmd::Command;

fn ulm() -> Command {
    Command::cargo_bin("ulm").unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

const PIPELINE: &str = r#"
[input.simulate]
preset = "sparse"
frames = 300
seed = 2
rows = 64
cols = 64
bubbles_per_frame = 8

[filter]
svd = false

[localize]
methods = ["radial", "centroid"]

[eval]
frc_block = 50
"#;

#[test]
fn pipeline_outputs_match_the_subcommands_and_the_report_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(&cfg, PIPELINE).unwrap();
    let out = dir.path().join("out");
    ulm().args(["-q", "run", "--config"]).arg(&cfg).arg("--out").arg(&out).assert().success();
    for f in [
        "pipeline.toml",
        "run.json",
        "report.html",
        "sim/iq.npy",
        "sim/gt.csv",
        "radial/locs.csv",
        "radial/tracks.csv",
        "radial/eval.json",
        "radial/map_eval.json",
        "radial/maps/loc_density.npy",
        "radial/maps/speed.png",
        "centroid/maps/direction.png",
        "gt/maps/loc_density.npy",
        "pr_by_depth.png",
        "frc.csv",
        "mtf.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let (meta, gt) = (out.join("sim/meta.json"), out.join("sim/gt.csv"));
    for m in ["radial", "centroid"] {
        let mdir = out.join(m);
        // Localization metrics: `ulm eval` on the files the pipeline wrote gives the same report.
        let eval_json = dir.path().join(format!("{m}-eval.json"));
        ulm()
            .args(["-q", "eval", "--pred"])
            .arg(mdir.join("locs.csv"))
            .arg("--gt")
            .arg(&gt)
            .arg("--meta")
            .arg(&meta)
            .arg("--json")
            .arg(&eval_json)
            .assert()
            .success();
        let cli = json(&eval_json)["report"].clone();
        let ours = json(&mdir.join("eval.json"))["report"].clone();
        assert_eq!(ours, cli, "{m}: pipeline and `ulm eval` disagree");
        let f1 = cli["overall"]["f1"].as_f64().unwrap();
        assert!(f1 > 0.5, "{m}: F1 {f1} on sparse data");
        // ... and the report shows those numbers.
        for key in ["precision", "recall", "f1"] {
            let cell = format!("<td>{:.4}</td>", cli["overall"][key].as_f64().unwrap());
            assert!(html.contains(&cell), "{m}: {key} {cell} not in the report");
        }
        // Map metrics: Dice against the ground-truth density and the FRC resolution, as
        // `ulm eval --map … --frc-locs …` computes them.
        let maps_json = dir.path().join(format!("{m}-maps.json"));
        ulm()
            .args(["-q", "eval", "--map"])
            .arg(mdir.join("maps/loc_density.npy"))
            .arg("--gt-map")
            .arg(out.join("gt/maps/loc_density.npy"))
            .arg("--frc-locs")
            .arg(mdir.join("locs.csv"))
            .arg("--frc-meta")
            .arg(&meta)
            .args(["--frc-block", "50", "--curves-dir"])
            .arg(dir.path())
            .arg("--maps-json")
            .arg(&maps_json)
            .assert()
            .success();
        let (cli, ours) = (json(&maps_json), json(&mdir.join("map_eval.json")));
        assert_eq!(ours["dice"]["score"], cli["dice"]["score"], "{m}: Dice");
        assert_eq!(ours["frc"]["resolution_mm"], cli["frc"]["resolution_mm"], "{m}: FRC");
        let dice = cli["dice"]["score"]["dice"].as_f64().unwrap();
        assert!(html.contains(&format!("<td>{dice:.4}</td>")), "{m}: Dice {dice} not in the report");
    }
    // One file: every image is a data: URI (4 maps × 2 methods, the ground truth's
    // density, P/R by depth, FRC, MTF), nothing is fetched.
    assert_eq!(html.matches("<img ").count(), html.matches("src=\"data:image/png;base64,").count());
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 12);
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("http"));
    // The exact command and the resolved config are in it; the config reruns.
    assert!(html.contains("ulm -q run --config") && html.contains("[localize]"));
    let resolved = out.join("pipeline.toml");
    let again = dir.path().join("again");
    ulm().args(["-q", "run", "--config"]).arg(&resolved).arg("--out").arg(&again).assert().success();
    assert_eq!(
        std::fs::read(again.join("radial/locs.csv")).unwrap(),
        std::fs::read(out.join("radial/locs.csv")).unwrap()
    );
}

#[test]
fn bad_config_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[input]\nframes = \"iq.npy\"\n[localize]\ntreshold_rel = 0.2\n", "treshold_rel"),
        ("[input]\nframes = \"iq.npy\"\n[filter]\nblock_frames = 1\n", "filter.block_frames"),
        ("[input.simulate]\npreset = \"sparce\"\nframes = 10\n", "sparce"),
        ("[input]\nframes = \"missing.npy\"\n", "missing.npy"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = ulm().arg("run").arg("--config").arg(&cfg).arg("--out").arg(dir.path().join("o")).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(key), "case {i}: {err}");
        if i < 3 {
            assert!(err.contains(&format!("bad{i}.toml")), "case {i}: {err}");
        }
    }
}

/// `[localize.temporal_support]`: the pipeline writes what `ulm localize
/// --temporal-support` writes on the same frames, and records how many rows it dropped.
#[test]
fn pipeline_temporal_support_equals_the_localize_command() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    let text = "[input.simulate]\npreset = \"sparse\"\nframes = 40\nseed = 4\nrows = 64\ncols = 64\n\
                [filter]\nsvd = false\n[localize]\nmethods = [\"radial\"]\nnoise_factor = 3.0\n\
                [localize.temporal_support]\nframes = 2\nmax_speed_mm_s = 40.0\n";
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("out");
    ulm().args(["-q", "run", "--config"]).arg(&cfg).arg("--out").arg(&out).assert().success();
    let cli = dir.path().join("cli.csv");
    ulm()
        .args(["-q", "localize"])
        .arg(out.join("sim/iq.npy"))
        .args(["--method", "radial", "--noise-factor", "3", "--temporal-support", "2", "--max-speed", "40", "--out"])
        .arg(&cli)
        .assert()
        .success();
    let ours = std::fs::read_to_string(out.join("radial/locs.csv")).unwrap();
    assert_eq!(ours, std::fs::read_to_string(&cli).unwrap());
    let record = json(&out.join("radial/locs.config.json"));
    let n = ours.lines().count() - 1;
    assert_eq!(record["n_localizations"].as_u64().unwrap() as usize, n);
    assert!(record["n_before_temporal_support"].as_u64().unwrap() as usize > n, "{record}");
    assert_eq!(record["temporal_support"]["max_speed_mm_s"], 40.0);
}

//! `SIGKILL` during `ulm train` never loses the run: checkpoints are folders written to
//! `checkpoint.tmp` and swapped in by renames, so after a kill at any moment `--resume`
//! continues from the last complete checkpoint, and `metrics.csv` holds each step once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[train]
name = "killed"
runs_dir = "runs"
seed = 3
steps = 100000
batch_size = 2
checkpoint_every = 1

[train.validation]
every = 0

[model]
kind = "deformable-detr"
preset = "tiny"
num_queries = 8

[data.train]
source = "sim"
preset = "sparse"
size = 32
simulations = 1
frames_per_simulation = 4
seed = 1
box_px = 4.0
dynamic_range_db = 30.0

[data.val]
source = "sim"
preset = "sparse"
size = 32
simulations = 1
frames_per_simulation = 2
seed = 2
box_px = 4.0
dynamic_range_db = 30.0
"#;

fn train(dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ulm"));
    c.current_dir(dir).args(["-q", "train", "--config", "train.toml"]).args(extra);
    c
}

/// The step of the checkpoint (`checkpoint/`, or `checkpoint.old/` when a kill fell
/// between the two renames of a swap).
fn checkpoint_step(run: &Path) -> Option<u64> {
    ["checkpoint", "checkpoint.old"].iter().find_map(|d| {
        let text = std::fs::read_to_string(run.join(d).join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["step"].as_u64()
    })
}

fn kill_after(mut child: Child, run: &Path, min_step: u64, extra_ms: u64) -> u64 {
    let t0 = Instant::now();
    while checkpoint_step(run).is_none_or(|s| s < min_step) {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint past step {min_step} within 120 s");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ulm train exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(extra_ms));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    checkpoint_step(run).expect("a checkpoint survives the kill")
}

#[test]
fn killed_training_resumes_from_its_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("train.toml"), CONFIG).unwrap();
    let run = dir.join("runs/killed");
    let quiet = |mut c: Command| c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();

    // Kill the first run, then each resumed one, at a few different moments.
    let mut step = kill_after(quiet(train(dir, &[])), &run, 1, 0);
    for extra_ms in [37, 5, 83] {
        let resumed = quiet(train(dir, &["--resume"]));
        let next = kill_after(resumed, &run, step + 1, extra_ms);
        assert!(next > step, "resume made no progress: {step} -> {next}");
        step = next;
    }
    // Finish two more steps cleanly: the run continues from the surviving checkpoint.
    let target = step + 2;
    let out = train(dir, &["--resume", "--steps", &target.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(checkpoint_step(&run), Some(target));
    assert!(!run.join("checkpoint.tmp").exists() && !run.join("checkpoint.old").exists());
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let steps: Vec<u64> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (1..=target).collect::<Vec<_>>(), "metrics.csv must hold each step once");
}

//! Mutation tests of the simulator's JSON config as `ulm simulate --config` reads it:
//! `serde_json` into `ulm_sim::SimConfig`, then `validate` and the geometry (see
//! `mutate/mod.rs`: no panic, no hang, allocation bounded by the file size). The CLI adds
//! the file name to every message (`cmd/simulate.rs`); here the path is added the same
//! way, so the name check only guards the test itself.

mod mutate;

use ulm_sim::{Preset, SimConfig};

use mutate::{Counting, Outcome, fuzz};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn fuzz_sim_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sim.json");
    let mut n = 0;
    for (preset, cases) in [(Preset::Tissue, 2000), (Preset::Deep, 1000)] {
        let seed = serde_json::to_vec_pretty(&SimConfig::small(preset, 32, 24)).unwrap();
        n += fuzz(
            &format!("sim config {preset:?}"),
            &seed,
            &p,
            cases,
            true,
            |l| 64 * l + (4 << 20),
            |p| {
                let r = std::fs::read(p).map_err(|e| e.to_string()).and_then(|b| {
                    let c: SimConfig = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
                    c.validate().map_err(|e| e.to_string())?;
                    c.geometry().map_err(|e| e.to_string())
                });
                match r {
                    Ok(_) => Outcome::Ok,
                    Err(e) => Outcome::Err(format!("{}: {e}", p.display())),
                }
            },
        );
    }
    eprintln!("simulation config JSON: {n} cases");
}

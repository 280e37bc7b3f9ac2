//! Samples per second of the randomised source (256² patches, fresh acquisitions) and of
//! the default augmentation, on however many threads rayon is given
//! (`RAYON_NUM_THREADS=2 cargo run -p ulm-data --example throughput`).

use std::time::Instant;

use ulm_data::{AugmentConfig, RandomizedConfig, RandomizedSource, SampleSource, augment};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(128);
    for presets in
        [vec![], vec!["sparse".to_string()], vec!["dense".into()], vec!["tissue".into()], vec!["deep".into()]]
    {
        let cfg = RandomizedConfig { samples: n, presets: presets.clone(), seed: 1, ..RandomizedConfig::default() };
        let src = RandomizedSource::new(cfg).expect("valid config");
        let t = Instant::now();
        let boxes: usize = (0..n).map(|i| src.sample(i, None).boxes.len()).sum();
        let s = t.elapsed().as_secs_f64();
        println!(
            "presets {:<8} {n} samples of 256²: {:.2} s → {:.1} samples/s ({:.1} boxes/sample)",
            if presets.is_empty() { "all".into() } else { presets.join(",") },
            s,
            n as f64 / s,
            boxes as f64 / n as f64
        );
    }
    let src = RandomizedSource::new(RandomizedConfig { samples: 16, ..RandomizedConfig::default() }).expect("valid");
    let s = src.sample(0, None);
    let cfg = AugmentConfig::default();
    let t = Instant::now();
    for seed in 0..200 {
        std::hint::black_box(augment(&s, &cfg, seed));
    }
    println!("augment (default config) of a 256² patch: {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / 200.0);
}

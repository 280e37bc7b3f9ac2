//! The pipeline streams: it never asks its source for more than a block of frames, and
//! its heap never grows by anything near the size of the stack. A counting allocator
//! records the peak heap of this test binary (one test, so nothing else allocates
//! meanwhile); a loop that collected the blocks (or read the stack whole) would add at
//! least the stack's size to it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Mutex;
use ulm_core::{BlockGuardSource, FrameSource, NoProgress};

use ulm_core::Progress;
use ulm_pipeline::{InputInfo, MethodName, PipelineConfig, RunOptions, Stages};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Records the peak heap growth of each stage (from its start to the next stage's).
struct PerStage {
    before: usize,
    current: Mutex<Option<String>>,
    peaks: Mutex<Vec<(String, usize)>>,
}

impl PerStage {
    fn close(&self) {
        if let Some(name) = self.current.lock().unwrap().take() {
            let growth = PEAK.load(Ordering::Relaxed).saturating_sub(self.before);
            self.peaks.lock().unwrap().push((name, growth));
        }
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Stages for PerStage {
    fn stage(&self, name: &str, _unit: &str) -> Box<dyn Progress + '_> {
        self.close();
        *self.current.lock().unwrap() = Some(name.to_string());
        Box::new(NoProgress)
    }
}

/// Runs the pipeline on `source` and returns the growth of the peak heap over the heap
/// in use before the run, in bytes, per stage (the last one includes the report).
fn peak_growth(
    cfg: &PipelineConfig,
    source: &mut dyn FrameSource,
    info: InputInfo,
    out: &std::path::Path,
) -> Vec<(String, usize)> {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let stages = PerStage { before, current: Mutex::new(None), peaks: Mutex::new(Vec::new()) };
    let summary = ulm_pipeline::run_source(cfg, source, info, &RunOptions::new(out, "test", &stages)).unwrap();
    stages.close();
    assert!(summary.report.is_file());
    stages.peaks.into_inner().unwrap()
}

#[test]
fn block_loops_never_hold_the_stack() {
    // 2,000 frames of 48 × 48 complex IQ (36.9 MB) with moving tissue and ground truth.
    let mut sim_cfg = ulm_sim::SimConfig::preset(ulm_sim::Preset::Tissue);
    (sim_cfg.grid.rows, sim_cfg.grid.cols) = (48, 48);
    sim_cfg.bubbles.per_frame = 4.0;
    let n = 2000;
    let sim = ulm_sim::simulate(&sim_cfg, n, 5, &NoProgress).unwrap();
    let stack_bytes = sim.iq.memory_bytes();
    assert_eq!(stack_bytes, n * 48 * 48 * 8);
    // The SVD's eigensolver (faer) keeps a workspace of ≈ 0.55 GB of address space after
    // its first call, whatever the block size (measured; little of it is touched, so it
    // barely shows in the resident set): made once here, before the heap is measured.
    let warm = ulm_core::FrameStack::from_complex(ndarray::Array3::zeros((40, 48, 48)), *sim.iq.geometry()).unwrap();
    let svd = ulm_clutter::SvdConfig { cutoff: ulm_clutter::Cutoff::Auto { high: None }, block_frames: 40 };
    ulm_clutter::svd_filter(&warm, &svd, &NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = "[input]\nframes = \"unused.npy\"\n[filter]\nblock_frames = 40\n[localize]\nmethods = [\"radial\"]\n\
                block_frames = 25\n[eval]\nfrc_block = 50\n";
    let mut cfg = PipelineConfig::from_toml(text, std::path::Path::new("p.toml")).unwrap();
    let info = || InputInfo {
        description: "simulated tissue".into(),
        ground_truth: Some(sim.truth.clone()),
        ..InputInfo::default()
    };

    // Filtered: the SVD reads blocks of 40 frames (the last block takes the 40-frame
    // tail: at most 1.5 × 40), each frame once; localization then reads the filtered file.
    let mut src = BlockGuardSource::new(sim.iq.clone(), 60);
    let growth = peak_growth(&cfg, &mut src, info(), &dir.path().join("filtered"));
    let growth = growth.iter().map(|g| g.1).max().unwrap();
    assert_eq!(src.frames_read(), n, "each frame read once");
    assert!(src.largest_read() <= 60, "read {} frames at once", src.largest_read());
    // Measured: 5.5 MB in the filter stage (one 40-frame block is 0.74 MB of IQ, 1.5 MB
    // as the f64 Casorati matrix, plus its filtered copy and the 1 MB write buffer),
    // 1.7–4.2 MB in the others (maps, figures): a fraction of the 36.9 MB stack, which a
    // loop collecting its blocks would add whole.
    assert!(growth < stack_bytes / 4, "heap grew by {growth} B for a {stack_bytes} B stack");
    assert!(dir.path().join("filtered/filtered/iq.npy").is_file());

    // Unfiltered, two methods: each reads the source itself, 25 frames at a time.
    cfg.filter.svd = false;
    cfg.localize.methods = vec![MethodName::Radial, MethodName::Centroid];
    let mut src = BlockGuardSource::new(sim.iq.clone(), 25);
    let growth = peak_growth(&cfg, &mut src, info(), &dir.path().join("raw"));
    let growth = growth.iter().map(|g| g.1).max().unwrap();
    assert_eq!((src.frames_read(), src.largest_read()), (2 * n, 25));
    assert!(growth < stack_bytes / 4, "heap grew by {growth} B for a {stack_bytes} B stack");
    for m in ["radial", "centroid"] {
        assert!(dir.path().join("raw").join(m).join("locs.csv").is_file());
    }
}

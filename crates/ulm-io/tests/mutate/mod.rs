//! Deterministic mutation testing of file readers (shared by the `fuzz_*` tests).
//!
//! Each case derives a hostile file from a valid seed file — truncations at many
//! offsets, bit flips, overwritten bytes, huge / negative / overflowing integers, NaN and
//! Inf, deleted and repeated spans, format-aware text edits, the empty file — writes it
//! under the seed's name and runs the reader on it, checking that
//! - it does not panic (each case runs under `catch_unwind`; the case is reported);
//! - it does not hang (every case must finish within [`CASE_SECONDS`]);
//! - it allocates no more than the caller's bound, which is a multiple of the file size
//!   (a counting global allocator measures the peak of live bytes during the case), so a
//!   lying header cannot make it allocate what the header announces;
//! - an error names the file.
//!
//! Cases are seeded (`ChaCha8Rng`), so a failure message names a case that reproduces.

#![allow(dead_code)] // each test binary uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A case that takes longer than this counts as a hang.
pub const CASE_SECONDS: f64 = 10.0;

/// Counts live heap bytes and their peak.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if n > l.size() {
            grew(n - l.size());
        } else {
            LIVE.fetch_sub(l.size() - n, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

/// One format's cases run at a time, so the peak belongs to the case being run.
static SERIAL: Mutex<()> = Mutex::new(());

/// What the reader did with one case.
pub enum Outcome {
    /// The file was accepted.
    Ok,
    /// Rejected with this message.
    Err(String),
}

/// Runs `read` on `n` mutants of `seed` written to `path`. `alloc_bound(len)` is the most
/// the reader may allocate for a file of `len` bytes. `text` adds text-aware edits (for
/// JSON, CSV and NPY headers). Returns how many cases ran.
pub fn fuzz(
    label: &str,
    seed: &[u8],
    path: &Path,
    n: usize,
    text: bool,
    alloc_bound: impl Fn(usize) -> usize,
    read: impl Fn(&Path) -> Outcome,
) -> usize {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = path.file_name().expect("file name").to_string_lossy().into_owned();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed ^ seed.len() as u64 ^ label.len() as u64);
    let (mut oks, mut errs, mut slowest, mut biggest) = (0usize, 0usize, Duration::ZERO, 0usize);
    for case in 0..n {
        let (bytes, how) = mutant(seed, case, n, text, &mut rng);
        std::fs::write(path, &bytes).expect("writing the mutant");
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| read(path)));
        let took = t.elapsed();
        let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        let context = || {
            // Keep the failing file for reproduction.
            let keep = std::env::temp_dir().join(format!("ulm-fuzz-case-{case}-{name}"));
            let _ = std::fs::write(&keep, &bytes);
            format!("{label} case {case} ({how}, {} bytes; saved as {})", bytes.len(), keep.display())
        };
        match r {
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{}: the reader panicked: {msg}", context());
            }
            Ok(Outcome::Ok) => oks += 1,
            Ok(Outcome::Err(e)) => {
                assert!(e.contains(&name), "{}: the error does not name {name}: {e}", context());
                errs += 1;
            }
        }
        if took.as_secs_f64() >= CASE_SECONDS {
            panic!("{}: took {took:?}", context());
        }
        let bound = alloc_bound(bytes.len());
        if used > bound {
            panic!("{}: allocated {used} bytes, more than {bound} for this file size", context());
        }
        slowest = slowest.max(took);
        biggest = biggest.max(used);
    }
    eprintln!(
        "{label}: {n} cases ({oks} accepted, {errs} rejected); slowest {:.1} ms; peak allocation {biggest} bytes",
        slowest.as_secs_f64() * 1e3
    );
    n
}

const INTS: [u64; 10] = [0, 1, u64::MAX, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 40, 1 << 62, 0xffff, 0x8000];
const TOKENS: [&str; 14] = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-1",
    "0",
    "1e400",
    "-1e400",
    "18446744073709551616",
    "4294967296",
    "99999999999",
    "\"x\"",
    "null",
];
const DTYPES: [&str; 8] = ["<i8", ">f4", "|b1", "<f2", "<U4", "|O", "<c8", "<f8"];

/// The `case`-th mutant of `seed` and a description of it. The first cases truncate at
/// evenly spread offsets (every offset for small files); the rest are random edits.
fn mutant(seed: &[u8], case: usize, n: usize, text: bool, rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let len = seed.len();
    let truncations = (n / 5).min(len + 1);
    if case == 0 {
        return (Vec::new(), "empty file".into());
    }
    if case < truncations {
        let at = case * len / truncations;
        return (seed[..at].to_vec(), format!("truncated at {at}"));
    }
    let mut b = seed.to_vec();
    let pos = |rng: &mut ChaCha8Rng, b: &[u8], w: usize| rng.random_range(0..b.len().saturating_sub(w).max(1));
    let kinds = if text { 10 } else { 7 };
    let how = match rng.random_range(0..kinds) {
        0 => {
            let k = rng.random_range(1..=4);
            for _ in 0..k {
                let i = pos(rng, &b, 0);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            format!("{k} bit flips")
        }
        1 => {
            let i = pos(rng, &b, 0);
            let v = [0u8, 0xff, 0x7f, 0x80, 0x01][rng.random_range(0..5)];
            b[i] = v;
            format!("byte {i} = {v:#x}")
        }
        2 => {
            let w = [2usize, 4, 8][rng.random_range(0..3)];
            if b.len() >= w {
                let i = pos(rng, &b, w);
                let v = INTS[rng.random_range(0..INTS.len())];
                let v = if rng.random_bool(0.5) { v } else { v.wrapping_neg() };
                b[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
                format!("{w} bytes at {i} = {v:#x}")
            } else {
                "unchanged (too short)".into()
            }
        }
        3 => {
            let vals: [&[u8]; 4] = [
                &f32::NAN.to_le_bytes(),
                &f32::INFINITY.to_le_bytes(),
                &f64::NAN.to_le_bytes(),
                &f64::NEG_INFINITY.to_le_bytes(),
            ];
            let v = vals[rng.random_range(0..4)];
            if b.len() >= v.len() {
                let i = pos(rng, &b, v.len());
                b[i..i + v.len()].copy_from_slice(v);
                format!("NaN/Inf ({} bytes) at {i}", v.len())
            } else {
                "unchanged (too short)".into()
            }
        }
        4 => {
            let i = pos(rng, &b, 0);
            let k = rng.random_range(1..=64.min(b.len() - i).max(1));
            b.drain(i..(i + k).min(b.len()));
            format!("{k} bytes deleted at {i}")
        }
        5 => {
            let i = pos(rng, &b, 0);
            let k = rng.random_range(1..=64.min(b.len() - i).max(1));
            let span: Vec<u8> = b[i..(i + k).min(b.len())].to_vec();
            b.splice(i..i, span);
            format!("{k} bytes repeated at {i}")
        }
        6 => {
            let i = pos(rng, &b, 0);
            let k = rng.random_range(1..=16.min(b.len() - i).max(1));
            for x in &mut b[i..(i + k).min(seed.len())] {
                *x = rng.random();
            }
            format!("{k} random bytes at {i}")
        }
        7 => replace_number(&mut b, rng),
        8 => {
            // A dtype string (NPY headers) or any quoted word replaced.
            let d = DTYPES[rng.random_range(0..DTYPES.len())];
            match find_all(&b, b"'<").into_iter().chain(find_all(&b, b"'|")).next() {
                Some(i) if b.len() >= i + 4 => {
                    let end = b[i + 1..].iter().position(|&c| c == b'\'').map_or(i + 4, |e| i + 1 + e);
                    b.splice(i + 1..end, d.bytes());
                    format!("dtype -> {d}")
                }
                _ => replace_number(&mut b, rng),
            }
        }
        _ => {
            // Duplicate or delete a line / split at a delimiter.
            let lines: Vec<usize> = find_all(&b, b"\n");
            if lines.len() >= 2 {
                let k = rng.random_range(0..lines.len() - 1);
                let (s, e) = (lines[k] + 1, lines[k + 1] + 1);
                if rng.random_bool(0.5) {
                    let line = b[s..e].to_vec();
                    b.splice(s..s, line);
                    format!("line {k} repeated")
                } else {
                    b.drain(s..e);
                    format!("line {k} deleted")
                }
            } else {
                replace_number(&mut b, rng)
            }
        }
    };
    (b, how)
}

fn find_all(b: &[u8], pat: &[u8]) -> Vec<usize> {
    b.windows(pat.len()).enumerate().filter(|(_, w)| *w == pat).map(|(i, _)| i).collect()
}

/// Replaces one number in a text file with a hostile token.
fn replace_number(b: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> String {
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')))
        .collect();
    if starts.is_empty() {
        return "unchanged (no number)".into();
    }
    let s = starts[rng.random_range(0..starts.len())];
    let e =
        s + b[s..].iter().position(|c| !(c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'-'))).unwrap_or(b.len() - s);
    let t = TOKENS[rng.random_range(0..TOKENS.len())];
    b.splice(s..e, t.bytes());
    format!("number at {s} -> {t}")
}

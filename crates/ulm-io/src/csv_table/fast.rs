//! The fast path of the CSV readers: the whole file in memory, cut into chunks on line
//! boundaries that are parsed in parallel, with hand-rolled number parsers. It handles the
//! files that `ulm` and pandas write (no quoting); a file with any `"` goes to the general
//! `csv`-crate reader instead, so both accept the same files and give the same errors.
//!
//! Rules kept from the `csv` crate (`flexible(false)`): empty lines are skipped, `\r\n` and
//! `\n` both end a line, every other line must have as many fields as the header, cells are
//! trimmed, a UTF-8 byte-order mark before the header is dropped.

use std::ops::Range;

use rayon::prelude::*;

/// Bytes per parallel chunk: large enough that scheduling costs nothing, small enough that
/// two cores share a 100k-row table evenly.
const CHUNK: usize = 1 << 18;

/// A whole file's bytes: read into memory, or memory-mapped.
pub(super) enum Bytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes::Owned(v)
    }
}

impl Bytes {
    /// The file memory-mapped when it is a non-empty regular file (no copy, no fresh pages
    /// to fault in and zero), else read.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path)?;
        if file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
            // SAFETY: read-only map; like every reader of memory-mapped files we rely on the
            // file not being truncated by another process while we read it.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                return Ok(Bytes::Mapped(map));
            }
        }
        let mut v = Vec::new();
        file.read_to_end(&mut v)?;
        Ok(Bytes::Owned(v))
    }

    /// The bytes as an owned vector.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m.to_vec(),
        }
    }
}

/// A CSV file read whole, its header split, ready for [`parse_chunks`].
pub(super) struct CsvText {
    bytes: Bytes,
    body: usize,
    /// Header cells, trimmed.
    pub headers: Vec<String>,
}

/// A problem on one line of a chunk; [`CsvText::message`] adds the absolute line number.
pub(super) struct RowError {
    /// 0-based line within the chunk.
    line: usize,
    /// Text before `line N`.
    prefix: &'static str,
    /// Text after `line N`.
    suffix: String,
}

impl RowError {
    /// `{prefix}line N{suffix}`.
    pub fn new(prefix: &'static str, suffix: String) -> Self {
        Self { line: 0, prefix, suffix }
    }

    /// The message for the error on (1-based) line `line` of the file.
    pub fn message(&self, line: u64) -> String {
        format!("{}line {line}{}", self.prefix, self.suffix)
    }
}

impl CsvText {
    /// Whether the fast path can read `bytes`: no `"` anywhere (quoted cells are the
    /// general reader's job).
    pub fn fits(bytes: &[u8]) -> bool {
        !bytes.contains(&b'"')
    }

    /// Splits off the header of a file that [`CsvText::fits`]; the error is an
    /// invalid-UTF-8 header.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, String> {
        let bytes = bytes.into();
        let start = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| start + p);
        let body = (end + 1).min(bytes.len());
        let line = &bytes[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let headers = match std::str::from_utf8(line) {
            Ok("") => Vec::new(),
            Ok(h) => h.split(',').map(|c| c.trim().to_string()).collect(),
            Err(_) => return Err("cannot read CSV header: invalid UTF-8".into()),
        };
        Ok(Self { bytes, body, headers })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Byte ranges of the body, each ending after a line break (or at the end of the file).
    fn chunks(&self) -> Vec<Range<usize>> {
        self.chunks_of(CHUNK)
    }

    /// [`CsvText::chunks`] of about `size` bytes.
    pub fn chunks_of(&self, size: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = self.body;
        while start < self.bytes.len() {
            let probe = (start + size).min(self.bytes.len());
            let end = self.bytes[probe..].iter().position(|&b| b == b'\n').map_or(self.bytes.len(), |p| probe + p + 1);
            out.push(start..end);
            start = end;
        }
        out
    }

    /// The error text of `e` raised in the chunk starting at byte `chunk_start`.
    pub fn message(&self, chunk_start: usize, e: &RowError) -> String {
        // Header line is 1; count the line breaks before the chunk (only on error).
        let before = self.bytes[..chunk_start].iter().filter(|&&b| b == b'\n').count();
        e.message((before + e.line + 1) as u64)
    }
}

/// A per-chunk accumulator of parsed rows.
pub(super) trait Rows: Send + Sized {
    /// Parses one row (`fields.len()` equals the header's). Errors carry no line number:
    /// the caller knows it.
    fn push(&mut self, fields: &[&[u8]]) -> Result<(), RowError>;
    /// Appends a later chunk's rows.
    fn append(&mut self, later: Self);
}

/// Parses the body into accumulators made by `new`, chunks in parallel; the first error in
/// file order wins.
pub(super) fn parse_chunks<R: Rows>(text: &CsvText, new: impl Fn() -> R + Sync) -> Result<R, String> {
    let chunks = text.chunks();
    let parsed: Vec<Result<R, (usize, RowError)>> =
        chunks.par_iter().map(|r| parse_range(text, r.clone(), new())).collect();
    let mut out: Option<R> = None;
    for p in parsed {
        let rows = p.map_err(|(start, e)| text.message(start, &e))?;
        match out.as_mut() {
            Some(o) => o.append(rows),
            None => out = Some(rows),
        }
    }
    Ok(out.unwrap_or_else(new))
}

/// Parses the lines of `range` (a chunk from [`CsvText::chunks_of`]) into `rows`; an error
/// comes with the chunk's start for [`CsvText::message`].
pub(super) fn parse_range<R: Rows>(text: &CsvText, range: Range<usize>, mut rows: R) -> Result<R, (usize, RowError)> {
    let n_fields = text.headers.len();
    let mut fields: Vec<&[u8]> = Vec::with_capacity(n_fields);
    for (line, bytes) in lines(&text.bytes[range.clone()]).enumerate() {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.is_empty() {
            continue;
        }
        fields.clear();
        split_fields(bytes, &mut fields);
        let res = if fields.len() == n_fields {
            rows.push(&fields)
        } else {
            Err(RowError::new("malformed CSV: ", format!(" has {} fields, the header has {n_fields}", fields.len())))
        };
        res.map_err(|e| (range.start, RowError { line, ..e }))?;
    }
    Ok(rows)
}

/// The lines of `bytes` split at `\n` (the break not included), as `bytes.split(|&b| b ==
/// b'\n')` gives them (a final empty piece after a trailing break included), with `memchr`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let s = start?;
        match memchr::memchr(b'\n', &bytes[s..]) {
            Some(k) => {
                start = Some(s + k + 1);
                Some(&bytes[s..s + k])
            }
            None => {
                start = None;
                Some(&bytes[s..])
            }
        }
    })
}

/// Appends the comma-separated cells of `line` to `out` (as `line.split(|&b| b == b',')`).
#[inline]
fn split_fields<'a>(line: &'a [u8], out: &mut Vec<&'a [u8]>) {
    let mut start = 0;
    for (i, &c) in line.iter().enumerate() {
        if c == b',' {
            out.push(&line[start..i]);
            start = i + 1;
        }
    }
    out.push(&line[start..]);
}

/// What [`scan_body`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyScan {
    /// A `"` somewhere in the body: the general reader's file.
    Quoted,
    /// No `"`, but the integers of the column decrease somewhere, or a line does not parse
    /// this simply (the full parser then sorts it out, errors included).
    Unsorted,
    /// No `"`, and the column's integers (trimmed as the row parser trims them) never
    /// decrease: the last one and the number of rows.
    Sorted { last: u64, rows: usize },
}

/// One pass over the body: does it hold a quote, and are the integers in field `col` in
/// non-decreasing order? Line ends and quotes are found together with `memchr2`.
pub(super) fn scan_body(text: &CsvText, col: usize) -> BodyScan {
    let b = &text.bytes[..];
    let (mut last, mut rows, mut pos) = (0u64, 0usize, text.body);
    let rest =
        |from: usize| if memchr::memchr(b'"', &b[from..]).is_some() { BodyScan::Quoted } else { BodyScan::Unsorted };
    let mut line_ok = |line: &[u8]| -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return true;
        }
        match nth_field(line, col).and_then(|c| parse_u64(c.trim_ascii())) {
            Some(v) if v >= last => {
                (last, rows) = (v, rows + 1);
                true
            }
            _ => false,
        }
    };
    for hit in memchr::memchr2_iter(b'\n', b'"', &b[text.body..]) {
        let end = text.body + hit;
        if b[end] == b'"' {
            return BodyScan::Quoted;
        }
        if !line_ok(&b[pos..end]) {
            return rest(end);
        }
        pos = end + 1;
    }
    if pos < b.len() && !line_ok(&b[pos..]) {
        return BodyScan::Unsorted; // the last line holds no quote: memchr2 would have seen it
    }
    BodyScan::Sorted { last, rows }
}

/// Cell `col` of `line` (as `line.split(|&b| b == b',').nth(col)`).
#[inline]
fn nth_field(line: &[u8], col: usize) -> Option<&[u8]> {
    let mut start = 0;
    let mut k = 0;
    for (i, &c) in line.iter().enumerate() {
        if c == b',' {
            if k == col {
                return Some(&line[start..i]);
            }
            k += 1;
            start = i + 1;
        }
    }
    (k == col).then(|| &line[start..])
}

/// Exact powers of ten (all representable in an `f64`).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Parses a trimmed decimal float exactly as `str::parse::<f64>` does. Fast path: a mantissa
/// of at most 2^53 and a decimal exponent within ±22, where one correctly rounded
/// multiplication or division gives the correctly rounded result (Clinger's fast path);
/// everything else (more digits, `NaN`, `inf`, errors) goes to the standard library.
pub(super) fn parse_f64(s: &[u8]) -> Option<f64> {
    match scan(s) {
        Some((neg, mant, e10)) if mant <= 1 << 53 && (-22..=22).contains(&e10) => {
            let v = mant as f64;
            let v = if e10 >= 0 { v * POW10[e10 as usize] } else { v / POW10[(-e10) as usize] };
            Some(if neg { -v } else { v })
        }
        // 17–19 digits with a fraction (what `%.17g` and shortest round-trip forms write):
        // Eisel–Lemire, or the exact quotient where it cannot decide.
        Some((neg, mant, e10)) if (-22..0).contains(&e10) => {
            match eisel_lemire(mant, e10).or_else(|| nearest_quotient(mant, (-e10) as usize)) {
                Some(v) => Some(if neg { -v } else { v }),
                None => std::str::from_utf8(s).ok()?.parse().ok(),
            }
        }
        _ => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

/// 5^q for q = −22 … −1 as 128-bit fractions (high, low words), the most significant bit
/// set: ⌊2^(z+127) / 5^−q⌋ + 1 with 2^z the least power of two ≥ 5^−q, the entries of the
/// `fast_float` / Rust `core::num::dec2flt` table for these exponents.
const POW5_NEG_128: [(u64, u64); 22] = [
    (0xF1C90080BAF72CB1, 0x5324C68B12DD6339), // 5^-22
    (0x971DA05074DA7BEE, 0xD3F6FC16EBCA5E04), // 5^-21
    (0xBCE5086492111AEA, 0x88F4BB1CA6BCF585), // 5^-20
    (0xEC1E4A7DB69561A5, 0x2B31E9E3D06C32E6), // 5^-19
    (0x9392EE8E921D5D07, 0x3AFF322E62439FD0), // 5^-18
    (0xB877AA3236A4B449, 0x09BEFEB9FAD487C3), // 5^-17
    (0xE69594BEC44DE15B, 0x4C2EBE687989A9B4), // 5^-16
    (0x901D7CF73AB0ACD9, 0x0F9D37014BF60A11), // 5^-15
    (0xB424DC35095CD80F, 0x538484C19EF38C95), // 5^-14
    (0xE12E13424BB40E13, 0x2865A5F206B06FBA), // 5^-13
    (0x8CBCCC096F5088CB, 0xF93F87B7442E45D4), // 5^-12
    (0xAFEBFF0BCB24AAFE, 0xF78F69A51539D749), // 5^-11
    (0xDBE6FECEBDEDD5BE, 0xB573440E5A884D1C), // 5^-10
    (0x89705F4136B4A597, 0x31680A88F8953031), // 5^-9
    (0xABCC77118461CEFC, 0xFDC20D2B36BA7C3E), // 5^-8
    (0xD6BF94D5E57A42BC, 0x3D32907604691B4D), // 5^-7
    (0x8637BD05AF6C69B5, 0xA63F9A49C2C1B110), // 5^-6
    (0xA7C5AC471B478423, 0x0FCF80DC33721D54), // 5^-5
    (0xD1B71758E219652B, 0xD3C36113404EA4A9), // 5^-4
    (0x83126E978D4FDF3B, 0x645A1CAC083126EA), // 5^-3
    (0xA3D70A3D70A3D70A, 0x3D70A3D70A3D70A4), // 5^-2
    (0xCCCCCCCCCCCCCCCC, 0xCCCCCCCCCCCCCCCD), // 5^-1
];

/// The double nearest to `w · 10^q` (ties to even) for `w > 0` and `q` in −22 … −1, by the
/// Eisel–Lemire algorithm (Lemire, "Number parsing at a gigabyte per second", 2021; as in
/// Rust's `core::num::dec2flt::lemire`): one or two 64×64-bit products with the truncated
/// 128-bit 5^q. `None` in the rare cases it cannot decide (the caller falls back).
fn eisel_lemire(w: u64, q: i32) -> Option<f64> {
    const MANTISSA_BITS: i32 = 52;
    debug_assert!(w != 0 && (-22..0).contains(&q));
    let lz = w.leading_zeros();
    let w = w << lz;
    let (hi5, lo5) = POW5_NEG_128[(q + 22) as usize];
    let mul = |a: u64, b: u64| {
        let r = u128::from(a) * u128::from(b);
        (r as u64, (r >> 64) as u64)
    };
    // Enough bits for the mantissa, the hidden bit, the rounding bit and a leading zero.
    let mask = u64::MAX >> (MANTISSA_BITS + 3);
    let (mut lo, mut hi) = mul(w, hi5);
    if hi & mask == mask {
        let (_, second_hi) = mul(w, lo5);
        lo = lo.wrapping_add(second_hi);
        if second_hi > lo {
            hi += 1;
        }
    }
    // `lo` all ones: the truncated power may have rounded across a halfway point; that
    // cannot happen for −27 ≤ q ≤ 55 (Lemire, section 9.1), which holds here.
    let upperbit = (hi >> 63) as i32;
    let mut mantissa = hi >> (upperbit + 64 - MANTISSA_BITS - 3);
    // floor(q · log2 10) + 63, then the exponent bias.
    let power2 = ((q.wrapping_mul(152_170 + 65_536) >> 16) + 63) + upperbit - lz as i32 + 1023;
    if power2 <= 0 {
        return None; // subnormal: not for these magnitudes (w ≥ 1, q ≥ −22)
    }
    // An exact tie (only when 5^−q fits in 64 bits, q ≥ −4 for doubles) rounds to even.
    if lo <= 1 && q >= -4 && mantissa & 3 == 1 && (mantissa << (upperbit + 64 - MANTISSA_BITS - 3)) == hi {
        mantissa &= !1;
    }
    mantissa += mantissa & 1;
    mantissa >>= 1;
    let mut power2 = power2;
    if mantissa >= 2 << MANTISSA_BITS {
        mantissa = 1 << MANTISSA_BITS;
        power2 += 1;
    }
    mantissa &= !(1 << MANTISSA_BITS);
    if power2 >= 0x7FF {
        return None;
    }
    Some(f64::from_bits(mantissa | ((power2 as u64) << MANTISSA_BITS)))
}

/// The double nearest to `m / 10^k` (ties to even), `m > 2^53`, `k ≤ 22`: the quotient in
/// floating point (within a few units in the last place), then corrected by exact integer
/// comparisons of `m / 10^k` with the midpoints to its neighbours, `m · 2^-F` against
/// `c · 10^k` in 128 bits. `None` when a product does not fit (the caller falls back).
fn nearest_quotient(m: u64, k: usize) -> Option<f64> {
    let p10 = 10u128.pow(k as u32);
    let mut v = m as f64 / POW10[k];
    for _ in 0..4 {
        let bits = v.to_bits();
        let (e, frac) = ((bits >> 52) as i32, bits & ((1 << 52) - 1));
        if e == 0 || e == 0x7ff {
            return None;
        }
        // v = M · 2^E; midpoints (2M ± 1) · 2^(E−1), the lower one (4M − 1) · 2^(E−2) when
        // M is a power of two (the spacing below halves).
        let big_m = u128::from(frac | (1 << 52));
        let e2 = e - 1075;
        let (lo_c, lo_f) = if frac == 0 { (4 * big_m - 1, e2 - 2) } else { (2 * big_m - 1, e2 - 1) };
        let (hi_c, hi_f) = (2 * big_m + 1, e2 - 1);
        // sign of m / 10^k − c · 2^f, for f < 0: m · 2^-f vs c · 10^k.
        let cmp = |c: u128, f: i32| -> Option<std::cmp::Ordering> {
            let shift = u32::try_from(-f).ok()?;
            let lhs = u128::from(m).checked_shl(shift).filter(|l| l >> shift == u128::from(m))?;
            Some(lhs.cmp(&c.checked_mul(p10)?))
        };
        let odd = frac & 1 == 1;
        let below = cmp(lo_c, lo_f)?;
        if below.is_lt() || (below.is_eq() && odd) {
            v = f64::from_bits(bits - 1);
            continue;
        }
        let above = cmp(hi_c, hi_f)?;
        if above.is_gt() || (above.is_eq() && odd) {
            v = f64::from_bits(bits + 1);
            continue;
        }
        return Some(v);
    }
    None
}

/// [`parse_f64`] for `f32` (mantissa ≤ 2^24, exponent within ±10), as `str::parse::<f32>`.
pub(super) fn parse_f32(s: &[u8]) -> Option<f32> {
    match scan(s) {
        Some((neg, mant, e10)) if mant <= 1 << 24 && (-10..=10).contains(&e10) => {
            let v = mant as f32;
            let p = POW10[e10.unsigned_abs() as usize] as f32;
            let v = if e10 >= 0 { v * p } else { v / p };
            Some(if neg { -v } else { v })
        }
        _ => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

/// Splits a plain decimal `[+-]digits[.digits][(e|E)[+-]digits]` with at most 19
/// significant digits into (negative, mantissa, decimal exponent); `None` otherwise.
fn scan(s: &[u8]) -> Option<(bool, u64, i32)> {
    let slow = || None;
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mut mant, mut sig, mut frac, mut i) = (0u64, 0u32, 0i32, 0usize);
    let int_start = i;
    if !digit_run(digits, &mut i, &mut mant, &mut sig) {
        return slow();
    }
    let mut any = i > int_start;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        if !digit_run(digits, &mut i, &mut mant, &mut sig) {
            return slow();
        }
        frac = (i - frac_start) as i32;
        any |= i > frac_start;
    }
    if !any {
        return slow();
    }
    let mut exp = 0i32;
    if matches!(digits.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match digits.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while let Some(&c) = digits.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start >= 4 {
                return slow();
            }
            exp = exp * 10 + i32::from(c - b'0');
            i += 1;
        }
        if i == start {
            return slow();
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != digits.len() {
        return slow();
    }
    Some((neg, mant, exp - frac))
}

/// Consumes the run of ASCII digits at `s[*i..]` into `mant` (`sig` significant digits so
/// far; leading zeros are not significant): eight at a time once the leading zeros are
/// behind and while they fit, else one by one. `false` past 19 significant digits.
#[inline(always)]
fn digit_run(s: &[u8], i: &mut usize, mant: &mut u64, sig: &mut u32) -> bool {
    loop {
        if *mant != 0
            && *sig <= 11
            && let Some(v) = eight_digits(s, *i)
        {
            *mant = *mant * 100_000_000 + v;
            *sig += 8;
            *i += 8;
            continue;
        }
        let Some(&c) = s.get(*i).filter(|c| c.is_ascii_digit()) else { return true };
        if *mant != 0 || c != b'0' {
            *sig += 1;
            if *sig > 19 {
                return false;
            }
            *mant = *mant * 10 + u64::from(c - b'0');
        }
        *i += 1;
    }
}

/// The eight ASCII digits at `s[i..i + 8]` as a number, `None` unless all eight are
/// digits (eight at once in a 64-bit word, as in the `fast_float` algorithm).
#[inline(always)]
fn eight_digits(s: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = s.get(i..i + 8)?.try_into().ok()?;
    let v = u64::from_le_bytes(chunk);
    let all_digits = ((v & 0xF0F0_F0F0_F0F0_F0F0)
        | ((v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4))
        == 0x3333_3333_3333_3333;
    if !all_digits {
        return None;
    }
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = v - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10) + (v >> 8);
    Some(((v & MASK).wrapping_mul(MUL1).wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2))) >> 32)
}

/// Parses a trimmed unsigned integer as `str::parse::<u64>` does (a leading `+` allowed).
pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    let mut v = 0u64;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random 64-bit words (an LCG's high bits).
    fn words(n: usize) -> impl Iterator<Item = u64> {
        let mut s = 11u64;
        (0..n).map(move |_| {
            let mut w = 0u64;
            for _ in 0..2 {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                w = (w << 32) | (s >> 32);
            }
            w
        })
    }

    /// The fast parser agrees with `str::parse` bit for bit, on accepted and refused input.
    #[test]
    fn float_parser_matches_std() {
        let fixed = [
            "0",
            "-0",
            "+1",
            "1.",
            ".5",
            ".",
            "",
            "-",
            "e5",
            "1e",
            "1e+",
            "1e-5",
            "1E5",
            "12.5e-3",
            "1_0",
            "0x10",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "1.2.3",
            "1e400",
            "1e-400",
            "9007199254740993",
            "9007199254740992",
            "123456789012345678901234",
            "0.000000000000000000000000001",
            "00012.3400",
            "1e22",
            "1e23",
            "4.9e-324",
            "1.7976931348623157e308",
            "3.0000000000000004",
            "1 2",
            "1e0001",
            "1e00001",
        ];
        let random = words(30_000).flat_map(|w| {
            let v = f64::from_bits(w);
            let mm = (w >> 11) as f64 / (1u64 << 53) as f64 * 25.0 - 5.0;
            [
                v.to_string(),
                format!("{v:e}"),
                mm.to_string(),
                format!("{mm:.17}"),
                format!("{mm:.6}"),
                format!("{:.3e}", mm),
                ((w % 1_000_000) as f64 / 1000.0).to_string(),
            ]
        });
        for s in fixed.iter().map(|s| s.to_string()).chain(random) {
            let want = s.parse::<f64>().ok();
            let got = parse_f64(s.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "`{s}`: {got:?} vs {want:?}");
            let want = s.parse::<f32>().ok();
            let got = parse_f32(s.as_bytes());
            assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "f32 `{s}`: {got:?} vs {want:?}");
        }
    }

    /// The 17–19-digit path answers itself (no fallback) for typical millimetre values, ties
    /// to even included (`float_parser_matches_std` checks it, fallbacks included, at scale).
    #[test]
    fn long_mantissas_take_the_exact_quotient() {
        for s in ["6.2538988773441234", "12.345678901234567", "0.10000000000000001", "9.999999999999999999"] {
            let (_, m, e10) = scan(s.as_bytes()).unwrap();
            assert!(m > 1 << 53, "{s}");
            assert_eq!(nearest_quotient(m, (-e10) as usize), Some(s.parse().unwrap()), "{s}");
        }
        // 2^53 + 1 is halfway between 2^53 and 2^53 + 2: ties go to the even mantissa.
        assert_eq!(nearest_quotient(90_071_992_547_409_930, 1), Some(9_007_199_254_740_992.0));
        assert_eq!(nearest_quotient(90_071_992_547_409_950, 1), Some(9_007_199_254_740_996.0));
    }

    /// Eisel–Lemire against the standard library on mantissas of every length and every
    /// exponent it serves, exact ties included; it may decline (then the exact quotient
    /// decides) but never answers wrongly.
    #[test]
    fn eisel_lemire_matches_std() {
        let (mut answered, mut total) = (0, 0);
        let ties = [(90_071_992_547_409_930u64, -1), (90_071_992_547_409_950, -1), (45, -1), (125, -3), (5, -1)];
        let random = words(40_000).map(|w| {
            let digits = 1 + (w % 19) as u32;
            let m = (w >> 5) % 10u64.pow(digits).max(1);
            (m.max(1), -1 - ((w >> 40) % 22) as i32)
        });
        for (m, q) in ties.into_iter().chain(random) {
            let want: f64 = format!("{m}e{q}").parse().unwrap();
            total += 1;
            if let Some(v) = eisel_lemire(m, q) {
                answered += 1;
                assert_eq!(v.to_bits(), want.to_bits(), "{m}e{q}");
            }
            assert_eq!(parse_f64(format!("{m}e{q}").as_bytes()), Some(want), "{m}e{q}");
        }
        assert!(answered * 100 > total * 99, "{answered} of {total} decided");
    }

    #[test]
    fn eight_digits_at_once() {
        for (s, want) in [("12345678", Some(12_345_678)), ("00000000", Some(0)), ("99999999", Some(99_999_999))] {
            assert_eq!(eight_digits(s.as_bytes(), 0), want, "{s}");
        }
        for s in ["1234567", "1234567.", "/2345678", ":2345678", "1234 678", "\u{b3}1234567"] {
            assert_eq!(eight_digits(s.as_bytes(), 0), None, "{s}");
        }
        for w in words(5000) {
            let s = format!("{:08}", w % 100_000_000);
            assert_eq!(eight_digits(s.as_bytes(), 0), Some(w % 100_000_000));
            assert_eq!(eight_digits(format!("x{s}").as_bytes(), 1), Some(w % 100_000_000));
        }
    }

    #[test]
    fn integer_parser_matches_std() {
        let fixed = ["0", "+7", "-1", "", "+", "18446744073709551615", "18446744073709551616", "1.0", " 1", "00042"];
        let random = words(2000).map(|w| (w >> (w % 64)).to_string());
        for s in fixed.iter().map(|s| s.to_string()).chain(random) {
            assert_eq!(parse_u64(s.as_bytes()), s.parse::<u64>().ok(), "`{s}`");
        }
    }

    /// The `memchr` line splitter and the cell splitters give the pieces of the standard
    /// library's `split`, on strings of commas, breaks and letters (empty pieces, breaks at
    /// both ends, runs of separators).
    #[test]
    fn splitters_match_slice_split() {
        let alphabet = b",\n\na,b1x";
        for (k, w) in words(3000).enumerate() {
            let mut fields = Vec::new();
            let len = k % 23;
            let s: Vec<u8> = (0..len).map(|i| alphabet[((w >> (3 * i)) & 7) as usize]).collect();
            let want: Vec<&[u8]> = s.split(|&b| b == b'\n').collect();
            assert_eq!(lines(&s).collect::<Vec<_>>(), want, "{s:?}");
            for line in want {
                let cells: Vec<&[u8]> = line.split(|&b| b == b',').collect();
                fields.clear();
                split_fields(line, &mut fields);
                assert_eq!(fields, cells, "{line:?}");
                for col in 0..cells.len() + 2 {
                    assert_eq!(nth_field(line, col), cells.get(col).copied(), "{line:?} {col}");
                }
            }
        }
    }

    struct Count(Vec<u64>);
    impl Rows for Count {
        fn push(&mut self, f: &[&[u8]]) -> Result<(), RowError> {
            let v = parse_u64(f[0].trim_ascii()).ok_or_else(|| RowError::new("", ": bad".into()))?;
            self.0.push(v);
            Ok(())
        }
        fn append(&mut self, later: Self) {
            self.0.extend(later.0);
        }
    }

    /// Rows across many chunks come back in order; line numbers in errors count every
    /// physical line (header, blank lines) across chunks.
    #[test]
    fn chunks_keep_order_and_line_numbers() {
        let n = 200_000u64;
        let mut text = String::from("\u{feff}a,b\r\n");
        for i in 0..n {
            text.push_str(&format!("{i},x\r\n"));
            if i % 1000 == 0 {
                text.push('\n'); // blank line, skipped but counted
            }
        }
        let t = CsvText::new(text.clone().into_bytes()).unwrap();
        assert_eq!(t.headers, ["a", "b"]);
        assert!(t.chunks().len() > 4);
        let rows = parse_chunks(&t, || Count(Vec::new())).unwrap();
        assert!(rows.0.iter().copied().eq(0..n));
        // A bad cell far into the file: row 150000 sits on line 2 + 150000 + 150 blank lines
        // (after rows 0, 1000, …, 149000).
        let bad = text.replacen("150000,x", "15o000,x", 1);
        let t = CsvText::new(bad.into_bytes()).unwrap();
        let new = || Count(Vec::new());
        assert_eq!(parse_chunks(&t, new).err().unwrap(), format!("line {}: bad", 2 + 150_000 + 150));
        let t = CsvText::new(b"a,b\n1,2\n3\n".to_vec()).unwrap();
        assert_eq!(parse_chunks(&t, new).err().unwrap(), "malformed CSV: line 3 has 1 fields, the header has 2");
        assert!(!CsvText::fits(b"a,b\n\"1\",2\n"), "quotes go to the general reader");
    }
}

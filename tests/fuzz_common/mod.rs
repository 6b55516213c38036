//! A small structured fuzzer for the decoders of outside input: valid samples made by the real
//! encoders are mutated (bit flips, inserted and deleted bytes, truncations, length and count
//! fields set to 0/1/max/u32::MAX or inflated, duplicated sections, splices of two samples,
//! trailing junk), and each mutant is decoded under `catch_unwind` while a counting global
//! allocator records the largest single allocation the decode made. A decoder fails the test if
//! it panics or makes an allocation over its bound; the failure names the seed, the case, the
//! mutations and the input.
//!
//! `WEFT_FUZZ_SEED` (decimal or 0x-hex) fixes the seed (otherwise one is drawn and printed);
//! `WEFT_FUZZ_ITERS` sets the number of random mutants per decoder. The samples themselves hold
//! fresh keys, nonces and signatures on every run, so a failure also prints the failing bytes.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The largest single allocation, per thread, while armed.

struct LargestAllocation;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if armed {
        let _ = LARGEST.try_with(|l| {
            if size > l.get() {
                l.set(size)
            }
        });
    }
}

// SAFETY: every call goes straight to the system allocator; only a thread-local maximum is kept
// (const-initialised `Cell`s without destructors, so noting never allocates).
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f`, catching a panic, and returns its result and the largest single allocation it made
/// on this thread.
pub fn measured<R>(f: impl FnOnce() -> R) -> (std::thread::Result<R>, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    ARMED.with(|a| a.set(false));
    (out, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------------------------
// Settings and the random source.

/// The run's seed: `WEFT_FUZZ_SEED`, or one drawn from the clock (printed once).
pub fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = std::env::var("WEFT_FUZZ_SEED")
            .ok()
            .and_then(|s| {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => s.parse().ok(),
                }
            })
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x5eed)
            });
        eprintln!("fuzz_decoders: WEFT_FUZZ_SEED={seed}");
        seed
    })
}

/// Random mutants per decoder: `WEFT_FUZZ_ITERS`, or `default`.
pub fn iters(default: usize) -> usize {
    std::env::var("WEFT_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: tiny, fast, and the same on every platform and version.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream for one decoder: the run's seed mixed with the decoder's name.
    pub fn for_decoder(name: &str) -> Self {
        let mut h = seed() ^ 0x9e37_79b9_7f4a_7c15;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `0..=n`.
    pub fn upto(&mut self, n: usize) -> usize {
        self.below(n + 1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Samples and mutations.

/// A length or count field of a sample: where it is and how wide (big-endian).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub at: usize,
    pub width: usize,
}

/// A valid input, with the places of its length and count fields where known.
#[derive(Clone, Debug)]
pub struct Sample {
    pub bytes: Vec<u8>,
    pub fields: Vec<Field>,
}

impl Sample {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, at: usize, width: usize) -> Self {
        if at + width <= self.bytes.len() {
            self.fields.push(Field { at, width });
        }
        self
    }
}

fn read_be(bytes: &[u8], at: usize, width: usize) -> u64 {
    bytes[at..at + width]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | *b as u64)
}

fn write_be(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    for i in 0..width {
        bytes[at + width - 1 - i] = (value >> (8 * i)) as u8;
    }
}

fn max_for(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// Values worth writing into a length or count field that held `current`.
fn interesting(rng: &mut Rng, width: usize, current: u64, len: usize) -> u64 {
    let max = max_for(width);
    let v = match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => max,
        3 => max - 1,
        4 => u32::MAX as u64,
        5 => current.wrapping_add(1),
        6 => current.wrapping_sub(1),
        7 => current.wrapping_mul(2).max(2),
        8 => current.wrapping_add(1 + rng.below(64) as u64),
        9 => len as u64,
        10 => len as u64 + 1 + rng.below(16) as u64,
        11 => 1u64 << rng.below(8 * width.min(8)),
        12 => max / 2 + 1,
        _ => rng.next(),
    };
    v & max
}

/// One structured mutation of `input` (a sample, possibly already mutated), described.
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, sample: &Sample, corpus: &[Sample]) -> String {
    let len = input.len();
    let op = if len == 0 { 3 } else { rng.below(14) };
    match op {
        0 => {
            let at = rng.below(len);
            let bit = rng.below(8);
            input[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        1 => {
            let at = rng.below(len);
            let any = rng.next() as u8;
            let v = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff, any]);
            input[at] = v;
            format!("set byte {at} to {v:#04x}")
        }
        2 => {
            // A known length or count field, else any aligned-looking spot.
            let known: Vec<Field> = sample
                .fields
                .iter()
                .copied()
                .filter(|f| f.at + f.width <= len)
                .collect();
            let (f, hinted) = if !known.is_empty() && rng.below(4) != 0 {
                (*rng.pick(&known), true)
            } else {
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                if width > len {
                    return mutate_once(rng, input, sample, corpus);
                }
                (
                    Field {
                        at: rng.upto(len - width),
                        width,
                    },
                    false,
                )
            };
            let current = read_be(input, f.at, f.width);
            let v = interesting(rng, f.width, current, len);
            write_be(input, f.at, f.width, v);
            format!(
                "set the {}{}-byte field at {} from {current} to {v}",
                if hinted { "length/count " } else { "" },
                f.width,
                f.at
            )
        }
        3 => {
            let at = rng.upto(len);
            let n = 1 + rng.below(16);
            let bytes = rng.bytes(n);
            input.splice(at..at, bytes.iter().copied());
            format!("insert {} at {at}", hex(&bytes))
        }
        4 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            input.drain(at..at + n);
            format!("delete {n} bytes at {at}")
        }
        5 => {
            let n = rng.below(len);
            input.truncate(n);
            format!("truncate to {n} bytes")
        }
        6 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(256));
            let section: Vec<u8> = input[at..at + n].to_vec();
            let times = 1 + rng.below(3);
            for _ in 0..times {
                input.splice(at + n..at + n, section.iter().copied());
            }
            format!("repeat the {n} bytes at {at} {times} more time(s)")
        }
        7 => {
            let other = &rng.pick(corpus).bytes;
            let cut = rng.upto(len);
            let from = rng.upto(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
            format!("splice: first {cut} bytes, then another sample from byte {from}")
        }
        8 => {
            let n = 1 + rng.below(32);
            let junk = rng.bytes(n);
            input.extend_from_slice(&junk);
            format!("append {n} junk bytes")
        }
        9 => {
            let other = rng.pick(corpus).bytes.clone();
            input.extend_from_slice(&other);
            "append a whole valid sample".to_string()
        }
        10 => {
            let a = rng.below(len);
            let b = rng.below(len);
            input.swap(a, b);
            format!("swap bytes {a} and {b}")
        }
        11 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(32));
            let v = *rng.pick(&[0u8, 0xff]);
            input[at..at + n].fill(v);
            format!("fill {n} bytes at {at} with {v:#04x}")
        }
        12 => {
            // Copy a section of another sample over this one (same-kind fields in the same
            // places: another device, key, signature...).
            let other = &rng.pick(corpus).bytes;
            if other.is_empty() {
                return mutate_once(rng, input, sample, corpus);
            }
            let at = rng.below(len.min(other.len()).max(1));
            let n = 1 + rng.below((len.min(other.len()).saturating_sub(at)).clamp(1, 64));
            let n = n.min(len - at).min(other.len() - at);
            input[at..at + n].copy_from_slice(&other[at..at + n]);
            format!("copy {n} bytes at {at} from another sample")
        }
        _ => {
            let n = 1 + rng.below(4);
            let at = rng.upto(len);
            let v = *rng.pick(&[0u8, 0xff]);
            input.splice(at..at, std::iter::repeat_n(v, n));
            format!("insert {n} × {v:#04x} at {at}")
        }
    }
}

/// A mutant of a random sample: one to a few mutations, described.
pub fn mutant(rng: &mut Rng, corpus: &[Sample]) -> (Vec<u8>, String) {
    let i = rng.below(corpus.len());
    let sample = &corpus[i];
    let mut bytes = sample.bytes.clone();
    let steps = match rng.below(10) {
        0..=4 => 1,
        5..=7 => 2,
        8 => 3,
        _ => 4 + rng.below(5),
    };
    let mut what = Vec::with_capacity(steps);
    for _ in 0..steps {
        what.push(mutate_once(rng, &mut bytes, sample, corpus));
    }
    (bytes, format!("sample {i}: {}", what.join("; ")))
}

/// The systematic cases of one sample: every truncation, trailing junk, the sample twice, and
/// each known field set to each of 0, 1, max, u32::MAX and inflated values.
pub fn systematic(rng: &mut Rng, i: usize, sample: &Sample) -> Vec<(Vec<u8>, String)> {
    let b = &sample.bytes;
    let mut out = Vec::new();
    for n in 0..b.len() {
        out.push((
            b[..n].to_vec(),
            format!("sample {i}: truncate to {n} bytes"),
        ));
    }
    for junk in [vec![0u8], vec![0xff; 7], rng.bytes(33)] {
        let mut v = b.clone();
        v.extend_from_slice(&junk);
        out.push((v, format!("sample {i}: {} trailing junk bytes", junk.len())));
    }
    let mut twice = b.clone();
    twice.extend_from_slice(b);
    out.push((twice, format!("sample {i}: twice in a row")));
    for f in &sample.fields {
        let current = read_be(b, f.at, f.width);
        let max = max_for(f.width);
        for v in [
            0,
            1,
            max,
            u32::MAX as u64 & max,
            current.wrapping_add(1) & max,
            current.wrapping_mul(2) & max,
            current.wrapping_sub(1) & max,
        ] {
            let mut m = b.clone();
            write_be(&mut m, f.at, f.width, v);
            out.push((
                m,
                format!(
                    "sample {i}: the {}-byte length/count field at {} from {current} to {v}",
                    f.width, f.at
                ),
            ));
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The runner.

/// The allocation bound of a decoder of wire structures: a few times the bytes present, plus a
/// little (a decoder copies what it reads and builds maps of it; it must not reserve room for
/// what a length or count field merely claims).
pub fn proportional(len: usize) -> usize {
    8 * len + 16 * 1024
}

/// What one decoder's run found.
pub struct Report {
    pub name: String,
    pub cases: usize,
    pub accepted: usize,
    pub largest: usize,
    pub failures: Vec<String>,
}

impl Report {
    /// Panics with every failure (seed, case, mutations, input) if there was any.
    pub fn assert_clean(&self) {
        eprintln!(
            "fuzz {}: {} cases, {} decoded, largest allocation {} bytes",
            self.name, self.cases, self.accepted, self.largest
        );
        if !self.failures.is_empty() {
            panic!(
                "{} of {} {} cases failed (WEFT_FUZZ_SEED={}):\n{}",
                self.failures.len(),
                self.cases,
                self.name,
                seed(),
                self.failures
                    .iter()
                    .take(12)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Decodes every sample (each must be accepted: the fuzzer mutates valid inputs), then every
/// systematic case, then `n` random mutants. `decode` returns whether the input was accepted;
/// it may feed an accepted value onward (verify its signature, open it). `bound` gives the
/// largest single allocation allowed for an input of that many bytes.
pub fn run(
    name: &str,
    corpus: &[Sample],
    n: usize,
    bound: impl Fn(&[u8]) -> usize,
    decode: impl Fn(&[u8]) -> bool,
) -> Report {
    assert!(!corpus.is_empty(), "{name}: no samples");
    let mut rng = Rng::for_decoder(name);
    let mut report = Report {
        name: name.to_string(),
        cases: 0,
        accepted: 0,
        largest: 0,
        failures: Vec::new(),
    };
    let check = |report: &mut Report, bytes: &[u8], what: &str, case: usize| {
        report.cases += 1;
        let (out, largest) = measured(|| decode(bytes));
        report.largest = report.largest.max(largest);
        let limit = bound(bytes);
        let shown = if bytes.len() > 512 {
            format!("{}… ({} bytes)", hex(&bytes[..512]), bytes.len())
        } else {
            hex(bytes)
        };
        match out {
            Err(e) => report.failures.push(format!(
                "- {name} case {case} PANICKED ({}) on [{what}]; input {shown}",
                panic_message(e.as_ref())
            )),
            Ok(ok) => {
                report.accepted += ok as usize;
                if largest > limit {
                    report.failures.push(format!(
                        "- {name} case {case} allocated {largest} bytes at once for a {}-byte \
                         input (bound {limit}) on [{what}]; input {shown}",
                        bytes.len()
                    ));
                }
            }
        }
    };
    for (i, s) in corpus.iter().enumerate() {
        let (out, _) = measured(|| decode(&s.bytes));
        assert!(
            matches!(out, Ok(true)),
            "{name}: valid sample {i} is not accepted: {}",
            hex(&s.bytes[..s.bytes.len().min(64)])
        );
    }
    let mut case = 0;
    for (i, s) in corpus.iter().enumerate() {
        for (bytes, what) in systematic(&mut rng, i, s) {
            check(&mut report, &bytes, &what, case);
            case += 1;
        }
    }
    for _ in 0..n {
        let (bytes, what) = mutant(&mut rng, corpus);
        check(&mut report, &bytes, &what, case);
        case += 1;
    }
    report
}

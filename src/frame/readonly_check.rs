//! Checks that a read-only stage left the pixels as they were.
//!
//! numpy honours a read-only buffer, but C extensions need not: OpenCV 4.6 draws into
//! a read-only array (`cv2.rectangle(np.asarray(frame), ...)`), and after a `tee` that
//! buffer is the one another branch reads. Copying every frame would break zero copy,
//! so a frame picked for checking hashes its planes when Python first maps them and
//! again after the call returns. A stage that never maps the pixels costs nothing.
//!
//! Which frames are picked: every frame of the first `FIRST_FRAMES` after a start or
//! a reload (new code is where mistakes are), then one in `SAMPLE_EVERY`, or fewer
//! when hashing a frame is dear next to the stage's calls (a large frame, a short
//! call): the period doubles until the checks cost at most `BUDGET_PERCENT` of the
//! time the stage spends in Python, up to `MAX_PERIOD`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use gst::glib;

use super::layout::{FrameLayout, MAX_PLANES};
use super::mapping::Mapping;

pub const FIRST_FRAMES: u64 = 16;
pub const SAMPLE_EVERY: u64 = 64;
pub const MAX_PERIOD: u64 = 1 << 16;
pub const BUDGET_PERCENT: u64 = 1;

/// How often a read-only stage's frames are checked for writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantVerifyReadonly")]
pub enum VerifyReadonly {
    #[default]
    #[enum_value(
        name = "The first 16 frames after start and reload, then one in 64 or fewer (at most 1% of the stage's time)",
        nick = "sampled"
    )]
    Sampled,
    #[enum_value(name = "Never check", nick = "off")]
    Off,
    #[enum_value(
        name = "Every frame (hashes each mapped frame twice)",
        nick = "every-frame"
    )]
    EveryFrame,
}

/// Per stage: which frames to check, and how many were.
#[derive(Debug)]
pub struct ReadonlySampler {
    mode: AtomicU32,
    /// The stage's frame count when the current code started.
    code_started_at: AtomicU64,
    /// Frames whose planes were hashed (before and after the call).
    checks: AtomicU64,
    /// After the first frames, one frame in `period` (a power of two) is checked.
    period: AtomicU64,
}

impl Default for ReadonlySampler {
    fn default() -> Self {
        Self {
            mode: AtomicU32::new(VerifyReadonly::Sampled as u32),
            code_started_at: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            period: AtomicU64::new(SAMPLE_EVERY),
        }
    }
}

impl ReadonlySampler {
    pub fn set_mode(&self, mode: VerifyReadonly) {
        self.mode.store(mode as u32, Relaxed);
    }

    /// New code runs from the stage's `frames`-th frame on (start: 0, reload: now).
    pub fn code_started(&self, frames: u64) {
        self.code_started_at.store(frames, Relaxed);
    }

    pub fn reset(&self) {
        self.code_started_at.store(0, Relaxed);
        self.checks.store(0, Relaxed);
        self.period.store(SAMPLE_EVERY, Relaxed);
    }

    /// Whether to check the frame that follows `frames` calls of this stage: two
    /// relaxed loads and a compare per buffer, nothing else.
    #[inline]
    pub fn picks(&self, frames: u64) -> bool {
        match self.mode.load(Relaxed) {
            m if m == VerifyReadonly::Off as u32 => false,
            m if m == VerifyReadonly::EveryFrame as u32 => true,
            _ => {
                let since = frames.wrapping_sub(self.code_started_at.load(Relaxed));
                since < FIRST_FRAMES || since & (self.period.load(Relaxed) - 1) == 0
            }
        }
    }

    /// A frame was checked; hashing it twice took `hash_ns`, and the stage's calls
    /// take `mean_call_ns`. Sets the period that keeps the checks within budget.
    pub fn count_check(&self, hash_ns: u64, mean_call_ns: u64) {
        self.checks.fetch_add(1, Relaxed);
        self.period
            .store(period_for(hash_ns, mean_call_ns), Relaxed);
    }

    /// One frame in this many is checked after the first ones (sampled mode).
    pub fn period(&self) -> u64 {
        self.period.load(Relaxed)
    }

    pub fn checks(&self) -> u64 {
        self.checks.load(Relaxed)
    }
}

/// Checking one frame in `period` costs `hash_ns / period` per frame; at most
/// BUDGET_PERCENT of `mean_call_ns`, within [SAMPLE_EVERY, MAX_PERIOD].
fn period_for(hash_ns: u64, mean_call_ns: u64) -> u64 {
    (hash_ns.saturating_mul(100 / BUDGET_PERCENT) / mean_call_ns.max(1))
        .clamp(SAMPLE_EVERY, MAX_PERIOD)
        .next_power_of_two()
}

/// One hash per plane (unused planes stay 0).
pub type PlaneHashes = [u64; MAX_PLANES];

/// Hashes every plane of `layout` in `mapping`, from its first byte to the end of its
/// last row (row padding included: nobody may write that either). A plane that does
/// not lie inside the mapping hashes to 0 rather than reading outside it. A CUDA
/// mapping is copied to the host first (only frames picked for the check pay that);
/// if the copy fails every plane hashes to 0, so nothing is reported.
///
/// System memory is read through raw pointers, never through a `&[u8]`: the writer
/// this check looks for is C code (an OpenCV call, a thread Python started) that may
/// be writing these bytes right now without the GIL, and a shared slice would promise
/// the compiler that they cannot change. A torn read only makes the hash differ,
/// which is reported as the write it is.
pub fn hash_planes(mapping: &Mapping, layout: &FrameLayout) -> PlaneHashes {
    let host: Vec<u8>;
    let (data, size): (*const u8, usize) = if mapping.device().is_some() {
        let mut copy = vec![0; mapping.size()];
        if mapping.copy_device_to_host(&mut copy).is_err() {
            return [0; MAX_PLANES];
        }
        host = copy;
        (host.as_ptr(), host.len())
    } else {
        (mapping.data(), mapping.size())
    };
    let mut hashes = [0; MAX_PLANES];
    for (i, hash) in hashes.iter_mut().enumerate().take(layout.n_planes) {
        let p = &layout.planes[i];
        let end = p
            .rows
            .checked_sub(1)
            .and_then(|last| p.stride.checked_mul(last))
            .and_then(|rows| rows.checked_add(p.columns * p.channels * layout.item_size))
            .and_then(|len| len.checked_add(p.offset));
        if let Some(end) = end.filter(|&end| p.offset <= end && end <= size) {
            // SAFETY: offset..end lies within the `size` readable bytes at `data`
            // (checked just above): our host copy, or the system-memory mapping,
            // which `mapping` keeps mapped for this whole function.
            *hash = unsafe { hash_raw(data.add(p.offset), end - p.offset) };
        }
    }
    hashes
}

/// The first plane whose hash changed.
pub fn changed_plane(before: &PlaneHashes, after: &PlaneHashes) -> Option<usize> {
    before.iter().zip(after).position(|(b, a)| b != a)
}

/// What the ERROR says: who wrote, why it matters, what to do.
pub fn wrote_message(element: &str, module: &str, function: &str, plane: usize) -> String {
    format!(
        "{element}: module {module}: {function}() wrote into the pixels of a read-only frame \
         (plane {plane} changed). The buffer may be shared with other branches (tee), which \
         now see the change: numpy's read-only flag is not honoured by OpenCV and other C \
         extensions. Set writable=true on {element} to modify pixels (the buffer is then \
         copied when shared), or draw on a copy (np.array(view))"
    )
}

const PRIME_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME_3: u64 = 0x1656_67B1_9E37_79F9;

/// xxh64's round: for a fixed input word it is a bijection of the accumulator, and for
/// a fixed accumulator a bijection of the word, so a change confined to one lane always
/// reaches the result.
#[inline(always)]
fn round(accumulator: u64, word: u64) -> u64 {
    accumulator
        .wrapping_add(word.wrapping_mul(PRIME_2))
        .rotate_left(31)
        .wrapping_mul(PRIME_1)
}

/// A fast non-cryptographic 64-bit hash (xxh64's structure: four independent lanes over
/// 32-byte blocks, so the multiplies pipeline). It only has to notice accidental
/// writes, not resist crafted ones; for frames larger than the cache it runs at memory
/// speed, where a SIMD hash from a new dependency would gain little.
#[cfg(test)]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    // SAFETY: a slice is `len` readable bytes, borrowed for the whole call.
    unsafe { hash_raw(bytes.as_ptr(), bytes.len()) }
}

/// `hash_bytes` over `len` bytes at `data`, read with raw (unaligned, little-endian)
/// loads so that no Rust reference covers memory another thread may be writing.
///
/// # Safety
/// `data` must be valid for reads of `len` bytes (within one allocation or mapping)
/// until this returns. The bytes may change meanwhile; the hash is then of some mix
/// of old and new bytes.
unsafe fn hash_raw(data: *const u8, len: usize) -> u64 {
    let mut lanes = [
        PRIME_1.wrapping_add(PRIME_2),
        PRIME_2,
        0,
        PRIME_1.wrapping_neg(),
    ];
    let blocks_end = len - len % 32;
    let mut at = 0;
    while at < blocks_end {
        // SAFETY: at + 32 <= blocks_end <= len bytes, readable per the caller.
        unsafe {
            lanes[0] = round(lanes[0], word_at(data, at));
            lanes[1] = round(lanes[1], word_at(data, at + 8));
            lanes[2] = round(lanes[2], word_at(data, at + 16));
            lanes[3] = round(lanes[3], word_at(data, at + 24));
        }
        at += 32;
    }
    let mut hash = lanes[0]
        .rotate_left(1)
        .wrapping_add(lanes[1].rotate_left(7))
        .wrapping_add(lanes[2].rotate_left(12))
        .wrapping_add(lanes[3].rotate_left(18))
        .wrapping_add(len as u64);
    while len - at >= 8 {
        // SAFETY: at + 8 <= len bytes, readable per the caller.
        let word = unsafe { word_at(data, at) };
        hash = (hash ^ round(0, word))
            .rotate_left(27)
            .wrapping_mul(PRIME_1)
            .wrapping_add(PRIME_3);
        at += 8;
    }
    while at < len {
        // SAFETY: at < len bytes, readable per the caller.
        let byte = unsafe { data.add(at).read() };
        hash = (hash ^ (byte as u64).wrapping_mul(PRIME_3))
            .rotate_left(11)
            .wrapping_mul(PRIME_1);
        at += 1;
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(PRIME_2);
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(PRIME_3);
    hash ^ (hash >> 32)
}

/// The little-endian u64 at `data + at`, whatever its alignment.
///
/// # Safety
/// The 8 bytes from `data + at` must be readable.
#[inline(always)]
unsafe fn word_at(data: *const u8, at: usize) -> u64 {
    // SAFETY: readable per the caller; read_unaligned needs no alignment.
    u64::from_le(unsafe { data.add(at).cast::<u64>().read_unaligned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_single_byte_change_changes_the_hash() {
        let base: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let reference = hash_bytes(&base);
        for position in 0..base.len() {
            let mut changed = base.clone();
            changed[position] ^= 0x40;
            assert_ne!(hash_bytes(&changed), reference, "byte {position}");
        }
    }

    #[test]
    fn raw_reads_hash_as_the_slice_based_hash_did() {
        // Values of the hash as it was when it read through a `&[u8]`, so frames
        // hash the same across the change (and big-endian hosts agree).
        let base: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expected: [(usize, u64); 9] = [
            (0, 0x9090_306c_6e91_ed59),
            (1, 0x4686_204c_9300_7f24),
            (7, 0xd320_2fd2_3bee_0f87),
            (8, 0x5fd7_ef44_e904_052a),
            (31, 0x438c_ea62_b819_c8ce),
            (32, 0x6163_0e76_1c92_ccc5),
            (33, 0xd024_a4f5_503f_03be),
            (63, 0xe0fe_6a43_bf37_d4da),
            (1000, 0x1f0e_469d_dcd5_86d5),
        ];
        for (len, hash) in expected {
            assert_eq!(hash_bytes(&base[..len]), hash, "{len} bytes");
        }
    }

    #[test]
    fn unaligned_starts_hash_like_their_bytes() {
        let base: Vec<u8> = (0..200u32).map(|i| (i * 13 % 256) as u8).collect();
        for start in 0..8 {
            // A copy at the start of its own allocation.
            let mut copy = vec![0u8; 150];
            copy.copy_from_slice(&base[start..start + 150]);
            // SAFETY: 150 bytes of `base` from `start`, borrowed for the call.
            let raw = unsafe { hash_raw(base.as_ptr().add(start), 150) };
            assert_eq!(raw, hash_bytes(&copy), "start {start}");
        }
    }

    #[test]
    fn length_is_part_of_the_hash() {
        assert_ne!(hash_bytes(&[0; 64]), hash_bytes(&[0; 65]));
        assert_ne!(hash_bytes(&[]), hash_bytes(&[0]));
    }

    #[test]
    fn sampling_checks_the_first_frames_then_one_in_sixty_four() {
        let sampler = ReadonlySampler::default();
        let picked: Vec<u64> = (0..200).filter(|&n| sampler.picks(n)).collect();
        let mut expected: Vec<u64> = (0..FIRST_FRAMES).collect();
        expected.extend([64, 128, 192]);
        assert_eq!(picked, expected);
        sampler.code_started(1000);
        assert!((1000..1000 + FIRST_FRAMES).all(|n| sampler.picks(n)));
        assert!(!sampler.picks(1000 + FIRST_FRAMES));
        // Hashing at 1% of the call time or less: one in 64.
        sampler.count_check(1_000, 100_000);
        assert_eq!(sampler.period(), SAMPLE_EVERY);
        // Hashing costs as much as a call: one in 128 (100x, rounded up to a power of 2).
        sampler.count_check(100_000, 100_000);
        assert_eq!(sampler.period(), 128);
        assert!(sampler.picks(1000 + 128) && !sampler.picks(1000 + 64));
        sampler.count_check(u64::MAX, 1);
        assert_eq!(sampler.period(), MAX_PERIOD);
        sampler.set_mode(VerifyReadonly::Off);
        assert!(!sampler.picks(1000));
        sampler.set_mode(VerifyReadonly::EveryFrame);
        assert!((0..100).all(|n| sampler.picks(n)));
    }
}

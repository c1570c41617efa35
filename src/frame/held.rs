//! Frames a stage keeps after its calls return.
//!
//! A Frame (or any plane or array view of it, which hold the Frame) that Python keeps
//! pins the whole GstBuffer: a 1x1 slice of a 4K frame holds 33 MB, and a stage that
//! appends frames to a list grows without bound. After each call a frame that is still
//! referenced is counted here until Python lets go of it (Frame's Drop), so the stage
//! reports `frames-held` / `bytes-held` and warns when they pass a limit.
//!
//! Frames waiting for their batch (`batch-size` > 1) are counted here too, apart
//! (`batch-frames` / `batch-bytes`): the stage holds them by design, up to
//! batch-size x frame size, and `max-bytes-held` covers both, since both are
//! memory the stage pins that nobody downstream has seen yet.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

pub const DEFAULT_MAX_FRAMES: u64 = 64;
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug)]
pub struct HeldFrames {
    frames: AtomicU64,
    bytes: AtomicU64,
    max_frames: AtomicU64,
    max_bytes: AtomicU64,
    batch_frames: AtomicU64,
    batch_bytes: AtomicU64,
    /// A view of a writable frame outlived its call (warned once per run).
    kept_writable_warned: AtomicBool,
}

impl Default for HeldFrames {
    fn default() -> Self {
        Self {
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_frames: AtomicU64::new(DEFAULT_MAX_FRAMES),
            max_bytes: AtomicU64::new(DEFAULT_MAX_BYTES),
            batch_frames: AtomicU64::new(0),
            batch_bytes: AtomicU64::new(0),
            kept_writable_warned: AtomicBool::new(false),
        }
    }
}

/// A limit that `hold` just went past (once per crossing: it must fall back under the
/// limit before it is reported again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    Frames {
        held: u64,
        limit: u64,
    },
    Bytes {
        held: u64,
        limit: u64,
    },
    /// Frames kept by Python and frames waiting for their batch together.
    BatchBytes {
        held: u64,
        batched: u64,
        limit: u64,
    },
}

impl HeldFrames {
    /// 0 disables a limit.
    pub fn set_limits(&self, max_frames: u64, max_bytes: u64) {
        self.max_frames.store(max_frames, Relaxed);
        self.max_bytes.store(max_bytes, Relaxed);
    }

    /// A new run: frames still held from the last one stay counted (they are still
    /// alive), the once-per-run warning is armed again.
    pub fn reset(&self) {
        self.kept_writable_warned.store(false, Relaxed);
    }

    /// Counts a frame of `bytes` that outlived its call.
    pub fn hold(&self, bytes: u64) -> Option<Crossing> {
        let frames = self.frames.fetch_add(1, Relaxed) + 1;
        let total = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        let (max_frames, max_bytes) = (self.max_frames.load(Relaxed), self.max_bytes.load(Relaxed));
        if max_frames > 0 && frames == max_frames + 1 {
            return Some(Crossing::Frames {
                held: frames,
                limit: max_frames,
            });
        }
        let batched = self.batch_bytes.load(Relaxed);
        if max_bytes > 0 && total + batched > max_bytes && total + batched - bytes <= max_bytes {
            return Some(if batched == 0 {
                Crossing::Bytes {
                    held: total,
                    limit: max_bytes,
                }
            } else {
                Crossing::BatchBytes {
                    held: total,
                    batched,
                    limit: max_bytes,
                }
            });
        }
        None
    }

    /// Counts a frame of `bytes` that waits for its batch; the crossing when the
    /// frames waiting and the frames kept together just passed `max-bytes-held`.
    pub fn enter_batch(&self, bytes: u64) -> Option<Crossing> {
        self.batch_frames.fetch_add(1, Relaxed);
        let batched = self.batch_bytes.fetch_add(bytes, Relaxed) + bytes;
        let held = self.bytes.load(Relaxed);
        let max_bytes = self.max_bytes.load(Relaxed);
        (max_bytes > 0 && held + batched > max_bytes && held + batched - bytes <= max_bytes)
            .then_some(Crossing::BatchBytes {
                held,
                batched,
                limit: max_bytes,
            })
    }

    /// `frames` frames of `bytes` in all left the batch (run, or discarded by a
    /// flush or a stop).
    pub fn leave_batch(&self, frames: u64, bytes: u64) {
        self.batch_frames.fetch_sub(frames, Relaxed);
        self.batch_bytes.fetch_sub(bytes, Relaxed);
    }

    pub fn batch_frames(&self) -> u64 {
        self.batch_frames.load(Relaxed)
    }

    pub fn batch_bytes(&self) -> u64 {
        self.batch_bytes.load(Relaxed)
    }

    /// A held frame was freed by Python.
    pub fn release(&self, bytes: u64) {
        self.frames.fetch_sub(1, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// True the first time in a run that a writable frame was kept.
    pub fn first_kept_writable(&self) -> bool {
        !self.kept_writable_warned.swap(true, Relaxed)
    }
}

impl Crossing {
    pub fn message(&self, element: &str) -> String {
        let advice = "Python keeps frames (or arrays and planes of them) after the call \
                      (process_frame, process_batch) returned, and each pins its whole buffer. Keep what you need as a copy \
                      (np.array(view), a number, a box) instead of the frame or a view of it";
        match self {
            Crossing::Frames { held, limit } => format!(
                "{element} holds {held} frames after its calls returned (max-frames-held={limit}). {advice}"
            ),
            Crossing::Bytes { held, limit } => format!(
                "{element} holds {} MiB of frames after its calls returned (max-bytes-held={} MiB). {advice}",
                held / (1024 * 1024),
                limit / (1024 * 1024)
            ),
            Crossing::BatchBytes {
                held,
                batched,
                limit,
            } => format!(
                "{element} holds {} MiB of frames: {} MiB waiting for their batch and {} MiB kept by Python after its calls returned (max-bytes-held={} MiB). A batch holds batch-size x frame size: lower batch-size, or raise max-bytes-held if that is the memory you meant to spend.{}",
                (held + batched) / (1024 * 1024),
                batched / (1024 * 1024),
                held / (1024 * 1024),
                limit / (1024 * 1024),
                if *held > 0 { format!(" {advice}") } else { String::new() }
            ),
        }
    }
}

/// What the WARNING says about a kept view of a writable frame.
pub fn kept_writable_message(element: &str) -> String {
    format!(
        "{element}: a writable frame, or a plane or array view of it, outlived the call. \
         The buffer has been pushed downstream: writing through the kept view changes \
         pixels other elements are reading, unsynchronized. Keep a copy (np.array(view)) \
         instead of the view"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_waiting_for_a_batch_count_against_max_bytes_held() {
        let held = HeldFrames::default();
        held.set_limits(0, 100);
        assert_eq!(held.enter_batch(40), None);
        assert_eq!(held.enter_batch(40), None);
        assert_eq!(
            held.enter_batch(40),
            Some(Crossing::BatchBytes {
                held: 0,
                batched: 120,
                limit: 100
            })
        );
        assert_eq!((held.batch_frames(), held.batch_bytes()), (3, 120));
        // A frame kept by Python while the batch still waits: over, but not newly.
        assert_eq!(held.hold(10), None);
        held.leave_batch(3, 120);
        assert_eq!((held.batch_frames(), held.batch_bytes()), (0, 0));
        // Kept frames alone under the limit again; a full batch crosses it anew.
        assert_eq!(held.enter_batch(60), None);
        assert_eq!(
            held.enter_batch(60),
            Some(Crossing::BatchBytes {
                held: 10,
                batched: 120,
                limit: 100
            })
        );
        let text = Crossing::BatchBytes {
            held: 0,
            batched: 300 << 20,
            limit: 256 << 20,
        }
        .message("stage");
        assert!(text.contains("300 MiB waiting for their batch"), "{text}");
        assert!(!text.contains("Python keeps frames"), "{text}");
    }

    #[test]
    fn crossings_are_reported_once_until_the_count_falls_back() {
        let held = HeldFrames::default();
        held.set_limits(2, 0);
        assert_eq!(held.hold(10), None);
        assert_eq!(held.hold(10), None);
        assert_eq!(held.hold(10), Some(Crossing::Frames { held: 3, limit: 2 }));
        assert_eq!(held.hold(10), None);
        held.release(10);
        held.release(10);
        assert_eq!(held.hold(10), Some(Crossing::Frames { held: 3, limit: 2 }));
        assert_eq!((held.frames(), held.bytes()), (3, 30));
    }

    #[test]
    fn bytes_limit_is_reported_when_passed() {
        let held = HeldFrames::default();
        held.set_limits(0, 25);
        assert_eq!(held.hold(10), None);
        assert_eq!(held.hold(10), None);
        assert_eq!(
            held.hold(10),
            Some(Crossing::Bytes {
                held: 30,
                limit: 25
            })
        );
        assert_eq!(held.hold(10), None);
    }
}

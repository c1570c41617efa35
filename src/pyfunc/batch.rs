//! Batches for a class's `process_batch(frames)`: frames are collected (across the
//! sources of a savantmux) until `batch-size` are there, `batch-timeout` ms passed
//! since the first of them, or a serialized event arrives; then one GIL hand-over
//! runs the whole batch and its frames leave in input order.
//!
//! The streaming thread runs full batches; a timer thread runs the partial batch
//! whose time is up, so a slow source never holds frames back for longer than the
//! timeout. Locks: `order` (held while a batch is taken, run and pushed, so batches
//! leave in order whichever thread runs them), then `pending`. A flush start takes
//! only `pending`: a thread blocked in a push under `order` is released by the flush
//! that went downstream first.
//!
//! Frames waiting for their batch are counted in the stage's `HeldFrames`
//! (`batch-frames`, `batch-bytes`) and against `max-bytes-held`.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::frame::held::{Crossing, HeldFrames};

/// Runs one batch and pushes what it keeps (the stage's `process_batch`): a
/// closure, so the batcher knows no element.
pub type RunBatch =
    dyn Fn(Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> + Send + Sync;

/// Tells the element that the frames waiting and the frames kept just passed
/// `max-bytes-held` (a WARNING on the bus).
pub type ReportCrossing = dyn Fn(Crossing) + Send + Sync;

#[derive(Default)]
struct Pending {
    frames: Vec<gst::Buffer>,
    /// The bytes of `frames`, as counted in `held`.
    bytes: u64,
    /// When the first frame of the batch arrived.
    since: Option<Instant>,
    flushing: bool,
    shutdown: bool,
    /// A push error of the timer thread, returned by the next chain call.
    flow: Option<gst::FlowError>,
}

struct Shared {
    size: usize,
    timeout: Duration,
    order: Mutex<()>,
    pending: Mutex<Pending>,
    wake: Condvar,
    run: Box<RunBatch>,
    held: Arc<HeldFrames>,
    report: Box<ReportCrossing>,
}

pub struct Batcher {
    shared: Arc<Shared>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    pub fn start(
        run: impl Fn(Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError>
            + Send
            + Sync
            + 'static,
        size: usize,
        timeout: Duration,
        held: Arc<HeldFrames>,
        report: impl Fn(Crossing) + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            size,
            timeout,
            order: Mutex::new(()),
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            run: Box::new(run),
            held,
            report: Box::new(report),
        });
        let timer_shared = shared.clone();
        let timer = std::thread::Builder::new()
            .name("savant-batch".into())
            .spawn(move || timer(&timer_shared))
            .expect("spawn the batch timer");
        Self {
            shared,
            timer: Mutex::new(Some(timer)),
        }
    }

    /// Adds a frame; runs the batch when it is full.
    pub fn add(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let _order = self.shared.order.lock().unwrap();
        let crossing;
        let full = {
            let mut pending = self.shared.pending.lock().unwrap();
            if pending.flushing {
                return Err(gst::FlowError::Flushing);
            }
            if let Some(error) = pending.flow.take() {
                return Err(error);
            }
            let bytes = buffer.size() as u64;
            pending.frames.push(buffer);
            pending.bytes += bytes;
            crossing = self.shared.held.enter_batch(bytes);
            if pending.since.is_none() {
                pending.since = Some(Instant::now());
                self.shared.wake.notify_one();
            }
            (pending.frames.len() >= self.shared.size).then(|| take(&self.shared, &mut pending))
        };
        if let Some(crossing) = crossing {
            (self.shared.report)(crossing);
        }
        match full {
            Some(frames) => (self.shared.run)(frames),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// Runs what is pending now (before a serialized event, at EOS).
    pub fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let _order = self.shared.order.lock().unwrap();
        let frames = take(&self.shared, &mut self.shared.pending.lock().unwrap());
        if frames.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        (self.shared.run)(frames)
    }

    /// Discards pending frames; adds fail until stop_flushing.
    pub fn start_flushing(&self) {
        let mut pending = self.shared.pending.lock().unwrap();
        pending.flushing = true;
        take(&self.shared, &mut pending);
    }

    pub fn stop_flushing(&self) {
        let mut pending = self.shared.pending.lock().unwrap();
        pending.flushing = false;
        pending.flow = None;
    }

    /// Ends the timer thread; pending frames are discarded (the element is stopping).
    pub fn shutdown(&self) {
        {
            let mut pending = self.shared.pending.lock().unwrap();
            pending.shutdown = true;
            take(&self.shared, &mut pending);
            self.shared.wake.notify_all();
        }
        if let Some(timer) = self.timer.lock().unwrap().take() {
            // process_batch runs on the timer thread when a batch times out; a hook that
            // stops its own pipeline there must not join itself (it ends after the call).
            if timer.thread().id() != std::thread::current().id() {
                let _ = timer.join();
            }
        }
    }
}

/// Takes the pending frames out of the batch (to run or to discard).
fn take(shared: &Shared, pending: &mut Pending) -> Vec<gst::Buffer> {
    pending.since = None;
    let frames = std::mem::take(&mut pending.frames);
    shared
        .held
        .leave_batch(frames.len() as u64, std::mem::take(&mut pending.bytes));
    frames
}

fn timer(shared: &Shared) {
    loop {
        {
            let mut pending = shared.pending.lock().unwrap();
            loop {
                if pending.shutdown {
                    return;
                }
                match pending.since {
                    Some(since) if since.elapsed() >= shared.timeout => break,
                    Some(since) => {
                        let left = shared.timeout.saturating_sub(since.elapsed());
                        pending = shared.wake.wait_timeout(pending, left).unwrap().0;
                    }
                    None => pending = shared.wake.wait(pending).unwrap(),
                }
            }
        }
        let _order = shared.order.lock().unwrap();
        let frames = {
            let mut pending = shared.pending.lock().unwrap();
            // A full batch may have been taken while this thread waited for `order`.
            match pending.since {
                Some(since) if since.elapsed() >= shared.timeout && !pending.flushing => {
                    take(shared, &mut pending)
                }
                _ => continue,
            }
        };
        if let Err(error) = (shared.run)(frames) {
            let mut pending = shared.pending.lock().unwrap();
            if error != gst::FlowError::Flushing || pending.flushing {
                pending.flow.get_or_insert(error);
            }
        }
    }
}

//! `workers=N`: up to N frames in the user's Python call at once, on N threads that
//! each keep their own Python thread state, leaving in input order.
//!
//! Ordering without a reorder buffer: a worker that finishes frame k waits for its
//! turn (k == next to push) before pushing, so at most N frames are in flight, queued
//! or waiting. Serialized events drain the pool first, so they keep their place; a
//! flush discards what is in flight without calling Python again.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::stage::call::Outcome;

/// What the workers do with a frame: call the stage (several at once), then push
/// (in input order). Closures, so the pool knows no element.
pub struct Jobs {
    pub process: Box<dyn Fn(gst::Buffer, usize) -> Outcome + Send + Sync>,
    pub push: Box<dyn Fn(gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> + Send + Sync>,
}

struct Job {
    sequence: u64,
    buffer: gst::Buffer,
}

struct PoolState {
    jobs: VecDeque<Job>,
    next_sequence: u64,
    next_push: u64,
    /// Submitted and not yet pushed or discarded.
    in_flight: usize,
    max_in_flight: usize,
    flushing: bool,
    shutdown: bool,
    /// The last push's result, returned to upstream from the next chain call.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
}

struct Shared {
    state: Mutex<PoolState>,
    changed: Condvar,
}

pub struct WorkerPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    workers: usize,
}

impl WorkerPool {
    /// Starts `workers` threads; worker i calls the stage's instance i (or its only
    /// instance when they share one).
    pub fn start(jobs: Jobs, workers: usize) -> Self {
        let jobs = Arc::new(jobs);
        let shared = Arc::new(Shared {
            state: Mutex::new(PoolState {
                jobs: VecDeque::new(),
                next_sequence: 0,
                next_push: 0,
                in_flight: 0,
                max_in_flight: 0,
                flushing: false,
                shutdown: false,
                flow: Ok(gst::FlowSuccess::Ok),
            }),
            changed: Condvar::new(),
        });
        let stack_size = crate::python::thread_state::streaming_thread_stack_size();
        let threads = (0..workers)
            .map(|i| {
                let shared = shared.clone();
                let jobs = jobs.clone();
                // As deep as a streaming thread's: Python code that recurses deeply
                // there (C-level recursion included) must not overflow here.
                std::thread::Builder::new()
                    .name(format!("savant-worker{i}"))
                    .stack_size(stack_size)
                    .spawn(move || work(&shared, &jobs, i))
                    .expect("spawn a worker thread")
            })
            .collect();
        Self {
            shared,
            threads: Mutex::new(threads),
            workers,
        }
    }

    /// Hands a frame to the workers; blocks while `workers` frames are in flight.
    pub fn submit(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.shared.state.lock().unwrap();
        while state.in_flight >= self.workers && !state.flushing {
            state = self.shared.changed.wait(state).unwrap();
        }
        if state.flushing {
            return Err(gst::FlowError::Flushing);
        }
        state.flow?;
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        state.jobs.push_back(Job { sequence, buffer });
        self.shared.changed.notify_all();
        Ok(gst::FlowSuccess::Ok)
    }

    /// Waits until every submitted frame has been pushed (or discarded by a flush);
    /// returns the flow of those pushes.
    pub fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.shared.state.lock().unwrap();
        while state.in_flight > 0 && !state.flushing {
            state = self.shared.changed.wait(state).unwrap();
        }
        if state.flushing {
            return Err(gst::FlowError::Flushing);
        }
        state.flow
    }

    /// Flush start: frames in flight are discarded, waiting callers return.
    pub fn start_flushing(&self) {
        self.shared.state.lock().unwrap().flushing = true;
        self.shared.changed.notify_all();
    }

    /// Flush stop: waits for the workers to let go of discarded frames, then starts
    /// a new sequence.
    pub fn stop_flushing(&self) {
        let mut state = self.shared.state.lock().unwrap();
        while state.in_flight > 0 {
            state = self.shared.changed.wait(state).unwrap();
        }
        state.next_sequence = 0;
        state.next_push = 0;
        state.flushing = false;
        state.flow = Ok(gst::FlowSuccess::Ok);
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.state.lock().unwrap().max_in_flight
    }

    /// Discards what is left and joins the workers (each finishes its current call).
    pub fn shutdown(&self) {
        {
            let mut state = self.shared.state.lock().unwrap();
            state.flushing = true;
            state.shutdown = true;
        }
        self.shared.changed.notify_all();
        for thread in std::mem::take(&mut *self.threads.lock().unwrap()) {
            // A hook on a worker stopped its own pipeline (set_state from Python): that
            // worker leaves its loop when the call returns (shutdown is set); joining it
            // from itself would fail. GstTask does the same for a task's own thread.
            if thread.thread().id() == std::thread::current().id() {
                continue;
            }
            let _ = thread.join();
        }
    }
}

fn work(shared: &Shared, jobs: &Jobs, worker: usize) {
    loop {
        let (job, flushing) = {
            let mut state = shared.state.lock().unwrap();
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break (job, state.flushing);
                }
                if state.shutdown {
                    return;
                }
                state = shared.changed.wait(state).unwrap();
            }
        };
        let outcome = if flushing {
            Outcome::Dropped
        } else {
            (jobs.process)(job.buffer, worker)
        };

        // Wait for this frame's turn, then push outside the lock: the next frame
        // waits on next_push, which moves only after this push returned.
        let mut state = shared.state.lock().unwrap();
        while state.next_push != job.sequence && !state.flushing {
            state = shared.changed.wait(state).unwrap();
        }
        // After a failed push or a `fail` error, later frames are not pushed.
        if !state.flushing && state.flow.is_ok() {
            drop(state);
            let flow = match outcome {
                Outcome::Push(buffer, _) => (jobs.push)(buffer),
                Outcome::Failed => Err(gst::FlowError::Error),
                Outcome::Dropped => Ok(gst::FlowSuccess::Ok),
            };
            state = shared.state.lock().unwrap();
            if flow.is_err() && state.flow.is_ok() {
                state.flow = flow;
            }
        }
        state.next_push = state.next_push.max(job.sequence + 1);
        state.in_flight -= 1;
        shared.changed.notify_all();
    }
}

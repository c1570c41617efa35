//! The bounded buffer between the streaming thread and the publisher's thread:
//! messages waiting, plus those the sender took and the broker has not confirmed
//! (`in_flight`), counted together against `max-messages` and `max-bytes`.
//!
//! When full, `drop-oldest` drops the oldest waiting messages (counted in
//! `dropped`); `block` makes the streaming thread wait for room (or for the element
//! to stop). The streaming thread never waits on the network otherwise.
//!
//! One lock, taken by the streaming thread once per message and by the sender once
//! per batch; nothing else is locked while it is held.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// One frame's message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The frame's source (savantmux), for the topic.
    pub source_id: Option<std::sync::Arc<str>>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSavantPublishBackpressure")]
pub enum Backpressure {
    /// Drop the oldest waiting messages (counted as dropped); the video never waits.
    #[default]
    #[enum_value(
        name = "Drop the oldest waiting messages, counted in stats' dropped",
        nick = "drop-oldest"
    )]
    DropOldest,
    /// Make the streaming thread wait for room.
    #[enum_value(name = "Block the stream until there is room", nick = "block")]
    Block,
}

use gst::glib;

#[derive(Debug, Default)]
pub struct Counters {
    /// Confirmed by the broker (written, for files).
    pub sent: AtomicU64,
    /// Dropped: by drop-oldest, too large alone, left at the flush timeout or stop.
    pub dropped: AtomicU64,
    /// Connection attempts after a failure, and batches sent again.
    pub retries: AtomicU64,
    /// Messages the hook or the schema made (sent, dropped or still buffered).
    pub made: AtomicU64,
    /// Time the streaming thread spent writing schema messages (not a hook's).
    pub serialize_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Message>,
    waiting_bytes: usize,
    in_flight: usize,
    in_flight_bytes: usize,
    /// The element stops: nobody waits any more.
    closed: bool,
}

#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    changed: Condvar,
    pub max_messages: usize,
    pub max_bytes: usize,
    pub backpressure: Backpressure,
    pub counters: Counters,
}

/// What became of a pushed message.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Queued after dropping this many older messages.
    DroppedOlder(usize),
    /// Larger than max-bytes alone: dropped.
    TooLarge,
    /// The outbox is closed (the element stops).
    Closed,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize, backpressure: Backpressure) -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            backpressure,
            counters: Counters::default(),
        }
    }

    /// From the streaming thread.
    pub fn push(&self, message: Message) -> Pushed {
        self.counters.made.fetch_add(1, Relaxed);
        let size = message.payload.len();
        if size > self.max_bytes {
            self.counters.dropped.fetch_add(1, Relaxed);
            return Pushed::TooLarge;
        }
        let mut state = self.state.lock().unwrap();
        let mut dropped = 0;
        loop {
            if state.closed {
                self.counters.dropped.fetch_add(1, Relaxed);
                return Pushed::Closed;
            }
            let count = state.waiting.len() + state.in_flight;
            let bytes = state.waiting_bytes + state.in_flight_bytes;
            if count < self.max_messages && bytes + size <= self.max_bytes {
                break;
            }
            match self.backpressure {
                Backpressure::Block => state = self.changed.wait(state).unwrap(),
                Backpressure::DropOldest => match state.waiting.pop_front() {
                    Some(old) => {
                        state.waiting_bytes -= old.payload.len();
                        dropped += 1;
                    }
                    // Everything is in flight: the new one gives way.
                    None => {
                        self.counters.dropped.fetch_add(1, Relaxed);
                        return Pushed::DroppedOlder(0);
                    }
                },
            }
        }
        state.waiting_bytes += size;
        state.waiting.push_back(message);
        drop(state);
        self.changed.notify_all();
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped as u64, Relaxed);
            Pushed::DroppedOlder(dropped)
        } else {
            Pushed::Queued
        }
    }

    /// From the sender: up to `max` waiting messages, now in flight; waits up to
    /// `timeout` for one. Empty when none came or the outbox is closed.
    pub fn take(&self, max: usize, timeout: Duration) -> Vec<Message> {
        let mut state = self.state.lock().unwrap();
        let deadline = Instant::now() + timeout;
        while state.waiting.is_empty() && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Vec::new();
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
        let n = state.waiting.len().min(max);
        let batch: Vec<Message> = state.waiting.drain(..n).collect();
        let bytes: usize = batch.iter().map(|m| m.payload.len()).sum();
        state.waiting_bytes -= bytes;
        state.in_flight += batch.len();
        state.in_flight_bytes += bytes;
        batch
    }

    /// From the sender: `messages` of the batch in flight are settled (sent or
    /// dropped), freeing their room.
    pub fn settle(&self, messages: &[Message]) {
        let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
        let mut state = self.state.lock().unwrap();
        state.in_flight -= messages.len().min(state.in_flight);
        state.in_flight_bytes -= bytes.min(state.in_flight_bytes);
        drop(state);
        self.changed.notify_all();
    }

    /// Messages and bytes buffered (waiting and in flight).
    pub fn level(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (
            state.waiting.len() + state.in_flight,
            state.waiting_bytes + state.in_flight_bytes,
        )
    }

    /// Waits until everything is settled, up to `timeout`; true when it was.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if state.waiting.is_empty() && state.in_flight == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.closed {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Wakes and stops everyone; waiting messages are dropped (and counted).
    /// Returns how many were dropped.
    pub fn close(&self) -> usize {
        self.drop_waiting_and(true)
    }

    /// Drops what is waiting (at a flush timeout); returns how many.
    pub fn drop_waiting(&self) -> usize {
        self.drop_waiting_and(false)
    }

    fn drop_waiting_and(&self, close: bool) -> usize {
        let mut state = self.state.lock().unwrap();
        state.closed |= close;
        let dropped = state.waiting.len();
        state.waiting.clear();
        state.waiting_bytes = 0;
        drop(state);
        self.counters.dropped.fetch_add(dropped as u64, Relaxed);
        self.changed.notify_all();
        dropped
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    /// Waits on the outbox's condition up to `timeout` (the sender's back-off: a
    /// close wakes it at once).
    pub fn sleep(&self, timeout: Duration) {
        let state = self.state.lock().unwrap();
        if !state.closed {
            let _ = self.changed.wait_timeout(state, timeout).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize) -> Message {
        Message {
            source_id: None,
            payload: vec![b'x'; n],
        }
    }

    #[test]
    fn drop_oldest_keeps_the_bound() {
        let outbox = Outbox::new(3, 1000, Backpressure::DropOldest);
        for _ in 0..3 {
            assert_eq!(outbox.push(message(10)), Pushed::Queued);
        }
        assert_eq!(outbox.push(message(10)), Pushed::DroppedOlder(1));
        assert_eq!(outbox.level(), (3, 30));
        assert_eq!(outbox.push(message(2000)), Pushed::TooLarge);
        assert_eq!(outbox.counters.dropped.load(Relaxed), 2);
        let batch = outbox.take(10, Duration::ZERO);
        assert_eq!(batch.len(), 3);
        // All in flight: a new one gives way.
        assert_eq!(outbox.push(message(10)), Pushed::DroppedOlder(0));
        outbox.settle(&batch);
        assert_eq!(outbox.level(), (0, 0));
        assert!(outbox.wait_empty(Duration::ZERO));
    }

    #[test]
    fn bytes_bound() {
        let outbox = Outbox::new(100, 25, Backpressure::DropOldest);
        outbox.push(message(10));
        outbox.push(message(10));
        assert_eq!(outbox.push(message(10)), Pushed::DroppedOlder(1));
        assert_eq!(outbox.level(), (2, 20));
    }

    #[test]
    fn block_waits_for_room_and_close_wakes() {
        let outbox = std::sync::Arc::new(Outbox::new(1, 1000, Backpressure::Block));
        outbox.push(message(1));
        let other = outbox.clone();
        let pusher = std::thread::spawn(move || other.push(message(1)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!pusher.is_finished());
        let batch = outbox.take(1, Duration::ZERO);
        outbox.settle(&batch);
        assert_eq!(pusher.join().unwrap(), Pushed::Queued);
        let other = outbox.clone();
        let pusher = std::thread::spawn(move || other.push(message(1)));
        std::thread::sleep(Duration::from_millis(50));
        outbox.close();
        assert_eq!(pusher.join().unwrap(), Pushed::Closed);
    }
}

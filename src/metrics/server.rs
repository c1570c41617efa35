//! The HTTP side: `GET /metrics` and `GET /healthz`, nothing else.
//!
//! Bounded whatever the clients do: one thread accepts; [`WORKERS`] threads answer,
//! each connection with a deadline for the request ([`REQUEST_DEADLINE`], however
//! slowly its bytes come) and a write timeout; at most [`QUEUED`] accepted
//! connections wait for a worker, more are closed at once (counted). A request is
//! read up to [`MAX_REQUEST`] bytes. The streaming threads never wait on any of it:
//! a scrape reads atomics and the elements' `stats` properties.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::exposition;
use super::imp::CAT;

pub const WORKERS: usize = 4;
pub const QUEUED: usize = 64;
pub const MAX_REQUEST: usize = 8 * 1024;
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// What the tracer and the server share.
pub struct Shared {
    /// Per pipeline: the frames its elements had seen, and when that last changed.
    flow: Mutex<HashMap<String, (u64, Instant)>>,
    pub window: Duration,
    pub scrapes: AtomicU64,
    pub refused: AtomicU64,
    pub bad_requests: AtomicU64,
}

impl Shared {
    pub fn new(window: Duration) -> Self {
        Self {
            flow: Mutex::default(),
            window,
            scrapes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
        }
    }

    /// Whether each pipeline is flowing, given the frames its elements saw now:
    /// a pipeline is flowing while that count moved within the window (one seen
    /// for the first time counts as moving).
    pub fn flowing(&self, frames: &HashMap<String, u64>) -> Vec<(String, bool)> {
        let now = Instant::now();
        let mut flow = self.flow.lock().unwrap();
        flow.retain(|pipeline, _| frames.contains_key(pipeline));
        let mut out: Vec<(String, bool)> = frames
            .iter()
            .map(|(pipeline, &count)| {
                let entry = flow.entry(pipeline.clone()).or_insert((count, now));
                if entry.0 != count {
                    *entry = (count, now);
                }
                (pipeline.clone(), now.duration_since(entry.1) <= self.window)
            })
            .collect();
        out.sort();
        out
    }
}

/// Listens on `address` and answers from `WORKERS` threads; returns the address
/// bound (port 0 picks one).
pub fn start(address: SocketAddr, shared: Arc<Shared>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    let (sender, receiver) = mpsc::sync_channel::<TcpStream>(QUEUED);
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..WORKERS {
        let receiver = receiver.clone();
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("savantmetrics-{i}"))
            .spawn(move || loop {
                let next = receiver.lock().unwrap().recv();
                let Ok(stream) = next else {
                    return;
                };
                if let Err(e) = answer(stream, &shared) {
                    gst::debug!(CAT, "connection: {e}");
                }
            })?;
    }
    let accepting = shared;
    std::thread::Builder::new()
        .name("savantmetrics-accept".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else {
                    // Out of file descriptors, say: try again shortly.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                if let Err(TrySendError::Full(stream)) = sender.try_send(stream) {
                    accepting.refused.fetch_add(1, Relaxed);
                    drop(stream);
                }
            }
        })?;
    Ok(bound)
}

/// The request line of an HTTP request read from `stream` before the deadline.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let started = Instant::now();
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = REQUEST_DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() || request.len() >= MAX_REQUEST {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        request.extend_from_slice(&chunk[..n.min(MAX_REQUEST - request.len())]);
    }
    let line = request.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(std::str::from_utf8(line)
        .ok()
        .map(|l| l.trim_end().to_owned()))
}

fn answer(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let line = match read_request(&mut stream) {
        Ok(line) => line,
        // A read timeout on a client that stopped sending.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let mut parts = line.as_deref().unwrap_or_default().split(' ');
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    let valid = matches!(version, Some(v) if v.starts_with("HTTP/1.")) && parts.next().is_none();
    let (status, content_type, body) = match (method, path) {
        _ if !valid => {
            shared.bad_requests.fetch_add(1, Relaxed);
            ("400 Bad Request", "text/plain", "bad request\n".to_owned())
        }
        (Some("GET"), Some("/metrics")) => {
            shared.scrapes.fetch_add(1, Relaxed);
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                exposition::render(shared),
            )
        }
        (Some("GET"), Some("/healthz")) => {
            let (healthy, text) = exposition::health(shared);
            (
                if healthy {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                },
                "text/plain; charset=utf-8",
                text,
            )
        }
        (Some("GET"), _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /healthz\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

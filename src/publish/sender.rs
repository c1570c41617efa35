//! The publisher's thread: takes batches from the outbox and sends them through the
//! transport, connecting (again) with back-off (100 ms doubling to 5 s) after a
//! failure. A batch leaves the outbox only when the broker confirmed it; what was
//! not confirmed goes again after the reconnection, in order.
//!
//! The first connection decides `on-connect-error`: an ERROR on the bus (the outbox
//! closes, the stream fails), or a WARNING and retries. Later outages always retry,
//! with one WARNING when the outage begins and an INFO when it ends.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gst::glib;

use super::outbox::Outbox;
use super::transport::Transport;
use super::OnConnectError;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub fn spawn(
    element: glib::WeakRef<gst::Element>,
    cat: gst::DebugCategory,
    outbox: Arc<Outbox>,
    mut transport: Box<dyn Transport>,
    destination: String,
    on_connect_error: OnConnectError,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("savantpublish".into())
        .spawn(move || {
            run(
                &element,
                cat,
                &outbox,
                &mut *transport,
                &destination,
                on_connect_error,
            );
        })
}

fn run(
    element: &glib::WeakRef<gst::Element>,
    cat: gst::DebugCategory,
    outbox: &Outbox,
    transport: &mut dyn Transport,
    destination: &str,
    on_connect_error: OnConnectError,
) {
    let counters = &outbox.counters;
    let mut connected = false;
    let mut ever_connected = false;
    let mut outage = false;
    let mut backoff = FIRST_BACKOFF;
    let mut batch = Vec::new();
    while !outbox.is_closed() {
        if !connected {
            match transport.connect() {
                Ok(()) => {
                    connected = true;
                    backoff = FIRST_BACKOFF;
                    if outage {
                        if let Some(element) = element.upgrade() {
                            gst::info!(cat, obj = element, "connected to {destination} again");
                        }
                    }
                    outage = false;
                    ever_connected = true;
                }
                Err(e) => {
                    let Some(element) = element.upgrade() else {
                        break;
                    };
                    if !ever_connected && on_connect_error == OnConnectError::Error {
                        gst::element_error!(
                            element,
                            gst::ResourceError::OpenWrite,
                            ("cannot connect to {}: {}", destination, e),
                            ["on-connect-error=retry keeps trying instead"]
                        );
                        outbox.close();
                        break;
                    }
                    if !outage {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::OpenWrite,
                            ("cannot reach {}: {}; retrying", destination, e)
                        );
                        outage = true;
                    }
                    gst::debug!(cat, obj = element, "connecting to {destination}: {e}");
                    counters.retries.fetch_add(1, Relaxed);
                    outbox.sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        if batch.is_empty() {
            batch = outbox.take(transport.batch_limit(), Duration::from_millis(200));
            if batch.is_empty() {
                continue;
            }
        }
        match transport.send(&batch) {
            Ok(()) => {
                counters.sent.fetch_add(batch.len() as u64, Relaxed);
                outbox.settle(&batch);
                batch.clear();
            }
            Err((confirmed, e)) => {
                let confirmed = confirmed.min(batch.len());
                counters.sent.fetch_add(confirmed as u64, Relaxed);
                outbox.settle(&batch[..confirmed]);
                batch.drain(..confirmed);
                connected = false;
                counters.retries.fetch_add(1, Relaxed);
                if let Some(element) = element.upgrade() {
                    if !outage {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::Write,
                            ("lost {}: {}; reconnecting", destination, e)
                        );
                        outage = true;
                    }
                }
                outbox.sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // Stopped with a batch unconfirmed: those are lost, and counted.
    counters.dropped.fetch_add(batch.len() as u64, Relaxed);
    outbox.settle(&batch);
}

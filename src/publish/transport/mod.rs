//! The ways messages leave: each a [`Transport`] the sender thread drives, one
//! batch at a time. Files and Redis are blocking; MQTT and NATS clients run on a
//! small tokio runtime of the element's own (one worker thread), so their
//! connections answer keep-alives while the sender waits for messages.

mod jsonl;
mod mqtt;
mod nats;
mod redis;

use std::time::Duration;

use super::destination::{Destination, Kind};
use super::outbox::Message;
use super::Settings;

/// Most messages the sender takes for one batch.
pub const MAX_BATCH: usize = 64;

pub trait Transport: Send {
    /// Connects (again), within the connect timeout.
    fn connect(&mut self) -> Result<(), String>;

    /// Sends `batch` in order and returns when the broker confirmed all of it.
    /// On failure: how many from the front were confirmed, and why (no secrets).
    fn send(&mut self, batch: &[Message]) -> Result<(), (usize, String)>;

    /// Most messages in one batch: one round trip's worth of confirmations.
    fn batch_limit(&self) -> usize {
        MAX_BATCH
    }
}

/// The transport for `destination`.
///
/// # Errors
///
/// When the async runtime of MQTT or NATS cannot start (no threads left).
pub fn open(destination: &Destination, settings: &Settings) -> Result<Box<dyn Transport>, String> {
    install_crypto_provider();
    let connect_timeout = Duration::from_millis(settings.connect_timeout_ms.max(1));
    let send_timeout = Duration::from_millis(settings.send_timeout_ms.max(1));
    Ok(match destination.kind {
        Kind::Stdout => Box::new(jsonl::JsonLines::stdout()),
        Kind::File => Box::new(jsonl::JsonLines::file(
            destination.path.clone(),
            settings.max_file_bytes,
            settings.max_file_seconds,
        )),
        Kind::Redis => Box::new(redis::RedisStreams::new(
            destination.clone(),
            settings.max_len,
            connect_timeout,
            send_timeout,
        )),
        Kind::Nats => Box::new(nats::Nats::new(
            destination.clone(),
            connect_timeout,
            send_timeout,
            runtime()?,
        )),
        Kind::Mqtt => Box::new(mqtt::Mqtt::new(
            mqtt::MqttSettings {
                destination: destination.clone(),
                client_id: settings.client_id.clone(),
                qos: settings.qos,
                version5: settings.mqtt_version == super::MqttVersion::V5,
                connect_timeout,
                send_timeout,
            },
            runtime()?,
        )),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("savantpublish-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the network thread: {e}"))
}

/// rustls needs one process-wide crypto provider; ring, as async-nats uses.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Deprecated only for lacking post-quantum key exchange, which needs the
        // aws-lc provider (a C build); the brokers' TLS works with ring.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

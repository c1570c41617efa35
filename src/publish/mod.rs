//! `savantpublish`: each frame's metadata as a JSON message to JSON Lines, MQTT,
//! Redis Streams or NATS. A pass-through that can sit anywhere; at the end of a
//! branch, with nothing linked after it, it is the branch's sink.
//!
//! Rooms, in the direction of their imports: `message` (the schema: frame metas or
//! a hook's dict to JSON), `destination` (the `location` URL, credentials, topics),
//! `outbox` (the bounded buffer and its counters), `transport` (one per protocol,
//! each through its client crate), `sender` (the publisher's thread: connect,
//! send, back off, retry), `imp` (the element: properties, the optional
//! `to_message(frame)` hook through the stage protocol, EOS flush, sink mode).
//!
//! The streaming thread only writes the message and hands it over (one lock); the
//! network is the sender thread's.

use gst::glib;
use gst::prelude::*;

mod destination;
mod imp;
pub mod message;
mod outbox;
mod sender;
mod transport;

pub use outbox::Backpressure;

glib::wrapper! {
    pub struct Publish(ObjectSubclass<imp::Publish>) @extends gst::Element, gst::Object;
}

/// What to do when the first connection fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSavantPublishConnectError")]
pub enum OnConnectError {
    /// An ERROR on the bus: the pipeline stops.
    #[default]
    #[enum_value(name = "Post an ERROR: the pipeline stops", nick = "error")]
    Error,
    /// A WARNING, then retries with back-off (messages buffer meanwhile).
    #[enum_value(name = "Post a WARNING and keep retrying", nick = "retry")]
    Retry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSavantPublishMqttVersion")]
pub enum MqttVersion {
    #[default]
    #[enum_value(name = "MQTT 3.1.1", nick = "3.1.1")]
    V311,
    #[enum_value(name = "MQTT 5", nick = "5")]
    V5,
}

/// The element's properties (besides the hook's, in `StageSettings`).
#[derive(Clone)]
pub struct Settings {
    pub location: String,
    pub topic: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub qos: u8,
    pub mqtt_version: MqttVersion,
    pub max_len: u64,
    pub max_messages: u32,
    pub max_bytes: u64,
    pub backpressure: Backpressure,
    pub flush_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub send_timeout_ms: u64,
    pub on_connect_error: OnConnectError,
    pub max_file_bytes: u64,
    pub max_file_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: String::new(),
            topic: None,
            username: None,
            password: None,
            client_id: String::new(),
            qos: 1,
            mqtt_version: MqttVersion::V311,
            max_len: 0,
            max_messages: 10_000,
            max_bytes: 64 << 20,
            backpressure: Backpressure::DropOldest,
            flush_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            send_timeout_ms: 5_000,
            on_connect_error: OnConnectError::Error,
            max_file_bytes: 0,
            max_file_seconds: 0,
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    for enum_type in [
        Backpressure::static_type(),
        OnConnectError::static_type(),
        MqttVersion::static_type(),
    ] {
        enum_type.mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
    gst::Element::register(
        Some(plugin),
        "savantpublish",
        gst::Rank::NONE,
        Publish::static_type(),
    )
}

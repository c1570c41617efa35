//! The tracer object: its settings (GST_TRACERS params); it starts the endpoint
//! and turns metrics on, and registers no hook (`stage::registry` says why).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::server::{self, Shared};

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantmetrics",
        gst::DebugColorFlags::empty(),
        Some("Savant metrics tracer"),
    )
});

const DEFAULT_ADDRESS: &str = "127.0.0.1";
// Ints, not uints: GST_TRACERS params are read as a structure, where `port=9464`
// is an int.
const DEFAULT_PORT: i32 = 9464;
const DEFAULT_HEALTHZ_SECONDS: i32 = 10;
const DEFAULT_TRACE_RATIO: f64 = 1.0;

#[derive(Debug, Clone)]
struct Settings {
    address: String,
    port: i32,
    healthz_seconds: i32,
    otlp_endpoint: Option<String>,
    trace_ratio: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            port: DEFAULT_PORT,
            healthz_seconds: DEFAULT_HEALTHZ_SECONDS,
            otlp_endpoint: None,
            trace_ratio: DEFAULT_TRACE_RATIO,
        }
    }
}

/// GStreamer drops a tracer without hooks right after making it: what must last
/// (the endpoint's threads, the span exporter) is owned by those threads and by
/// statics, not by this object.
#[derive(Default)]
pub struct SavantMetrics {
    settings: Mutex<Settings>,
}

#[glib::object_subclass]
impl ObjectSubclass for SavantMetrics {
    const NAME: &'static str = "GstSavantMetrics";
    type Type = super::SavantMetrics;
    type ParentType = gst::Tracer;
}

impl ObjectImpl for SavantMetrics {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("IP address the HTTP endpoint listens on (/metrics, /healthz); 0.0.0.0 for every interface")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .build(),
                glib::ParamSpecInt::builder("port")
                    .nick("Port")
                    .blurb("TCP port of the HTTP endpoint (0: any free port, logged)")
                    .minimum(0)
                    .maximum(65535)
                    .default_value(DEFAULT_PORT)
                    .build(),
                glib::ParamSpecInt::builder("healthz-seconds")
                    .nick("Healthz window")
                    .blurb("A pipeline is flowing while its savant elements saw a frame within this many seconds (/healthz, savant_pipeline_flowing)")
                    .minimum(1)
                    .maximum(86400)
                    .default_value(DEFAULT_HEALTHZ_SECONDS)
                    .build(),
                glib::ParamSpecString::builder("otlp-endpoint")
                    .nick("OTLP endpoint")
                    .blurb("OpenTelemetry collector (http://host:4318) that gets a span per frame and stage call, OTLP JSON over HTTP; unset: no spans")
                    .build(),
                glib::ParamSpecDouble::builder("trace-ratio")
                    .nick("Trace ratio")
                    .blurb("Share of frames traced (decided per frame, alike in every stage)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_TRACE_RATIO)
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => {
                settings.address = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
            }
            "port" => settings.port = value.get().expect("type checked upstream"),
            "healthz-seconds" => {
                settings.healthz_seconds = value.get().expect("type checked upstream")
            }
            "otlp-endpoint" => settings.otlp_endpoint = value.get().expect("type checked upstream"),
            "trace-ratio" => settings.trace_ratio = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => settings.address.to_value(),
            "port" => settings.port.to_value(),
            "healthz-seconds" => settings.healthz_seconds.to_value(),
            "otlp-endpoint" => settings.otlp_endpoint.to_value(),
            "trace-ratio" => settings.trace_ratio.to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let settings = self.settings.lock().unwrap().clone();
        if let Some(endpoint) = &settings.otlp_endpoint {
            match super::otlp::tracer(endpoint) {
                // The tracer (and the provider it holds) lives as long as the
                // process: GStreamer drops a tracer without hooks right after
                // making it, so this object cannot own it.
                Ok(tracer) => {
                    crate::stage::tracing::enable(crate::stage::tracing::Tracing {
                        tracer,
                        ratio: settings.trace_ratio,
                    });
                    gst::info!(
                        CAT,
                        imp = self,
                        "spans to {endpoint}, ratio {}",
                        settings.trace_ratio
                    );
                }
                Err(e) => glib::g_warning!(
                    "savantmetrics",
                    "otlp-endpoint {endpoint:?}: {e}: no spans are sent"
                ),
            }
        }
        let Ok(ip) = settings.address.parse::<IpAddr>() else {
            glib::g_warning!(
                "savantmetrics",
                "address {:?} is not an IP address: metrics are not served",
                settings.address
            );
            return;
        };
        let shared = Arc::new(Shared::new(Duration::from_secs(
            settings.healthz_seconds.max(1) as u64,
        )));
        match server::start(SocketAddr::new(ip, settings.port as u16), shared.clone()) {
            Ok(bound) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "serving /metrics and /healthz on http://{bound}"
                );
                // No tracer hook: the elements register themselves
                // (stage::registry says why).
                crate::stage::stats::enable_metrics();
            }
            Err(e) => glib::g_warning!(
                "savantmetrics",
                "cannot listen on {ip}:{}: {e}: metrics are not served",
                settings.port
            ),
        }
    }
}

impl GstObjectImpl for SavantMetrics {}

impl TracerImpl for SavantMetrics {
    const USE_STRUCTURE_PARAMS: bool = true;
}

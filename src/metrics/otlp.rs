//! OTLP export of the stages' spans (`stage::tracing`): OpenTelemetry's SDK
//! batches spans on its own thread and its OTLP exporter encodes them as JSON; the
//! HTTP POST is ours, a blocking one for `http://` collectors, so no async runtime
//! comes into the plugin.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use opentelemetry::trace::TracerProvider;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

const TIMEOUT: Duration = Duration::from_secs(5);
/// What is read of a collector's answer (its status line is what counts).
const MAX_RESPONSE: u64 = 64 * 1024;

/// A blocking HTTP/1.1 POST over one connection per request.
#[derive(Debug, Default)]
struct PlainHttp;

#[async_trait::async_trait]
impl HttpClient for PlainHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.post(request)
    }
}

impl PlainHttp {
    fn post(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") {
            return Err(format!("{uri}: only http:// collectors are supported").into());
        }
        let host = uri.host().ok_or("no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let address = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
            request.method(),
            request.body().len()
        );
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(request.body())?;
        let mut answer = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("not an HTTP answer")?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| Bytes::from(b.to_owned()))
            .unwrap_or_default();
        Ok(Response::builder().status(status).body(body)?)
    }
}

/// A tracer exporting to `endpoint` (`http://host:port`, OTLP's `/v1/traces` is
/// added). Spans leave every second from the SDK's thread; those of the last
/// second before the process exits may not.
pub fn tracer(endpoint: &str) -> Result<opentelemetry_sdk::trace::SdkTracer, String> {
    if !endpoint.starts_with("http://") {
        return Err("only http:// collectors are supported (no TLS)".to_owned());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(TIMEOUT)
        .with_http_client(PlainHttp)
        .build()
        .map_err(|e| e.to_string())?;
    // Spans leave within a second; a collector that is away loses spans past the
    // queue, never frames.
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_secs(1))
                .with_max_queue_size(8192)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        // Sampling is decided per frame by the stages (stage::tracing), alike in all.
        .with_sampler(Sampler::AlwaysOn)
        // A stage span's id is chosen before its call, so that Python's spans can
        // name it as parent.
        .with_id_generator(crate::stage::tracing::ChosenSpanIds::default())
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("gst-savant")
                .build(),
        )
        .build();
    Ok(provider.tracer("gst-savant"))
}

//! The savantmetrics tracer: a real Prometheus server scrapes a pipeline of two
//! stages behind a mux with two sources, and its HTTP API gives back the frames
//! each stage saw, per source; the text passes `promtool check metrics`; the
//! endpoint stays bounded under bad scrapers while frames keep flowing.
//!
//! Needs Debian's `prometheus` package (scripts/test.sh installs it).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, module, plugin_dir};

/// (status code, body) of `GET path`, or None when the connection fails.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Kills the child when dropped (a failed assertion leaves no server behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Prometheus server scraping 127.0.0.1:`target` every second; its API port.
fn prometheus(target: u16) -> (Killed, u16, tempdir::Dir) {
    let dir = tempdir::Dir::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n\
             - job_name: savant\n  static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs (Debian's prometheus package; scripts/test.sh installs it)");
    let child = Killed(child);
    common::wait_until("prometheus ready", Duration::from_secs(30), || {
        http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200)
    });
    (child, port, dir)
}

/// A scratch directory removed when dropped.
mod tempdir {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = super::common::module_dir().join(format!(
                "{name}-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The one value of a Prometheus instant query for `selector`, once it has one.
fn query(port: u16, selector: &str) -> Option<f64> {
    let mut encoded = String::new();
    for byte in selector.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                encoded.push(byte as char)
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    let (status, body) = http_get(port, &format!("/api/v1/query?query={encoded}"))?;
    if status != 200 || body.matches("\"value\":[").count() != 1 {
        return None;
    }
    // ..."value":[1733455555.123,"40"]...
    let value = body.split("\"value\":[").nth(1)?;
    let value = value.split(",\"").nth(1)?.split('"').next()?;
    value.parse().ok()
}

fn counting_stage(name: &str) -> String {
    module(
        name,
        r#"
        SEEN = {}
        def process_frame(frame):
            SEEN[frame.source_id] = SEEN.get(frame.source_id, 0) + 1
        "#,
    )
}

/// Starts the serve-after-EOS app on `pipeline` with the tracer on `port` (and
/// `more` params).
fn serve_after_eos(
    pipeline: &str,
    port: u16,
    more: &str,
    modules: &[&str],
) -> (Killed, ChildStdin, Vec<String>) {
    serve_after_eos_with(pipeline, port, more, modules, &[])
}

/// [`serve_after_eos`] with more environment variables for the app.
fn serve_after_eos_with(
    pipeline: &str,
    port: u16,
    more: &str,
    modules: &[&str],
    env: &[(&str, &str)],
) -> (Killed, ChildStdin, Vec<String>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/serve_after_eos.py");
    let mut child = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env(
            "GST_TRACERS",
            format!("savantmetrics(port={port},healthz-seconds=2{more})"),
        )
        .envs(env.iter().copied())
        .arg(script)
        .arg(pipeline)
        .args(modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        assert!(!line.starts_with("FAILED"), "{line}");
        lines.push(line);
    }
    assert!(!lines.is_empty(), "the app ended before EOS");
    (Killed(child), stdin, lines)
}

#[test]
fn prometheus_reads_back_the_frames_each_stage_saw_per_source() {
    // Stage a drops every fourth frame of a source and fails on every fifth left
    // (on-error=skip passes those on); stage b counts what reaches it.
    let a = module(
        "metrics_stage_a",
        r#"
        SEEN, DROPPED, ERRORS = {}, {}, {}
        def process_frame(frame):
            source = frame.source_id
            n = SEEN[source] = SEEN.get(source, 0) + 1
            if n % 4 == 0:
                DROPPED[source] = DROPPED.get(source, 0) + 1
                return False
            if n % 5 == 0:
                ERRORS[source] = ERRORS.get(source, 0) + 1
                raise ValueError("every fifth frame")
        "#,
    );
    let b = counting_stage("metrics_stage_b");
    let source = |n: u32| {
        format!("videotestsrc num-buffers={n} ! video/x-raw,format=RGBA,width=32,height=24")
    };
    let pipeline = format!(
        "savantmux name=m sink_0::source-id=cam-a sink_1::source-id=cam-b \
         ! savantpyfunc name=a module={a} on-error=skip ! savantqueue \
         ! savantpyfunc name=b module={b} ! savantdemux name=d d. ! fakesink d. ! fakesink \
         {} ! m.sink_0 {} ! m.sink_1",
        source(40),
        source(25)
    );
    let metrics_port = free_port();
    let (prometheus, api, _dir) = prometheus(metrics_port);
    let (app, stdin, lines) = serve_after_eos(
        &pipeline,
        metrics_port,
        "",
        &["metrics_stage_a", "metrics_stage_b"],
    );
    // "SEEN metrics_stage_a cam-a 40", "DROPPED ...", "ERRORS ..."
    let figures: Vec<(String, String, String, f64)> = lines
        .iter()
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            let element = if parts[1].ends_with("_a") { "a" } else { "b" };
            (
                parts[0].to_owned(),
                element.to_owned(),
                parts[2].to_owned(),
                parts[3].parse().unwrap(),
            )
        })
        .collect();
    let figure = |what: &str, element: &str, source: &str| -> f64 {
        figures
            .iter()
            .find(|f| f.0 == what && f.1 == element && f.2 == source)
            .map_or(0.0, |f| f.3)
    };
    // What Python counted: every frame at a; the drops and failures as computed.
    assert_eq!(figure("SEEN", "a", "cam-a"), 40.0);
    assert_eq!(figure("SEEN", "a", "cam-b"), 25.0);
    assert_eq!(figure("DROPPED", "a", "cam-a"), 10.0);
    assert_eq!(figure("ERRORS", "a", "cam-a"), 6.0);
    assert_eq!(figure("DROPPED", "a", "cam-b"), 6.0);
    assert_eq!(figure("ERRORS", "a", "cam-b"), 4.0);
    assert_eq!(
        figure("SEEN", "b", "cam-a") + figure("SEEN", "b", "cam-b"),
        49.0
    );
    let (status, text) = http_get(metrics_port, "/metrics").expect("the endpoint answers");
    assert_eq!(status, 200);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let expect = |selector: String, value: f64| {
        common::wait_until(
            &format!("{selector} = {value}"),
            Duration::from_secs(30),
            || query(api, &selector) == Some(value),
        );
    };
    for (what, metric) in [
        ("SEEN", "savant_stage_source_frames_total"),
        ("DROPPED", "savant_stage_source_dropped_frames_total"),
        ("ERRORS", "savant_stage_source_errors_total"),
    ] {
        for element in ["a", "b"] {
            for source in ["cam-a", "cam-b"] {
                expect(
                    format!("{metric}{{element=\"{element}\",source_id=\"{source}\"}}"),
                    figure(what, element, source),
                );
            }
        }
    }
    for (element, frames) in [("a", 65.0), ("b", 49.0)] {
        expect(
            format!("savant_stage_frames_total{{element=\"{element}\"}}"),
            frames,
        );
        for histogram in [
            "savant_stage_call_python_seconds",
            "savant_stage_mux_latency_seconds",
        ] {
            expect(
                format!("{histogram}_count{{element=\"{element}\"}}"),
                frames,
            );
        }
    }
    expect(
        "savant_stage_dropped_frames_total{element=\"a\"}".to_owned(),
        16.0,
    );
    expect("savant_stage_errors_total{element=\"a\"}".to_owned(), 10.0);
    // Ended: /healthz says so once the window passed.
    common::wait_until("/healthz 503", Duration::from_secs(15), || {
        http_get(metrics_port, "/healthz").is_some_and(|(status, body)| {
            status == 503 && body.contains(": no frames within the window")
        })
    });
    drop(stdin);
    drop(app);
    drop(prometheus);
}

/// The process's thread count and resident memory (kB).
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("Threads:"), field("VmRSS:"))
}

/// `savant_stage_frames_total` of the stage, scraped.
fn frames_total(port: u16) -> Option<f64> {
    let (_, text) = http_get(port, "/metrics")?;
    text.lines()
        .find(|l| l.starts_with("savant_stage_frames_total{"))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn bad_scrapers_get_bounded_threads_and_memory_and_frames_keep_flowing() {
    // Room for a thousand connections in this process.
    // SAFETY: plain getrlimit/setrlimit on this process's own limit.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(4096);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    let stage = counting_stage("metrics_stage_live");
    let port = free_port();
    let child = Command::new("gst-launch-1.0")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_TRACERS", format!("savantmetrics(port={port})"))
        .args(
            format!(
                "-q videotestsrc is-live=true num-buffers=600 \
                 ! video/x-raw,format=RGBA,width=32,height=24,framerate=30/1 \
                 ! savantpyfunc module={stage} ! fakesink"
            )
            .split_whitespace(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _child = Killed(child);
    common::wait_until("the endpoint", Duration::from_secs(30), || {
        frames_total(port).is_some_and(|n| n > 0.0)
    });
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(": flowing"), "{body}");
    let (threads_before, rss_before) = threads_and_rss(pid);
    let (frames_before, started) = (frames_total(port).unwrap(), Instant::now());

    let address = SocketAddr::from(([127, 0, 0, 1], port));
    // A thousand clients that connect and say nothing, some that send a byte at a
    // time, one that sends 100 KB of header, and malformed requests.
    let mut idle: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok())
        .collect();
    assert!(idle.len() >= 900, "only {} connections made", idle.len());
    let trickle: Vec<std::thread::JoinHandle<bool>> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let Ok(mut stream) = TcpStream::connect(address) else {
                    return true;
                };
                let started = Instant::now();
                // The server closes it at its deadline, whatever comes in between.
                for byte in b"GET /metrics HTTP/1.1\r\nX-Slow: yes".iter().cycle() {
                    if stream.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    if started.elapsed() > Duration::from_secs(20) {
                        return false;
                    }
                }
                true
            })
        })
        .collect();
    let huge = std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(address) else {
            return;
        };
        let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nX-Huge: ");
        let _ = stream.write_all(&vec![b'a'; 100_000]);
    });
    std::thread::sleep(Duration::from_secs(4));
    let (threads_during, rss_during) = threads_and_rss(pid);
    idle.clear();
    huge.join().unwrap();
    for slow in trickle {
        assert!(
            slow.join().unwrap(),
            "a byte-at-a-time client was never cut off"
        );
    }
    // Answers again once the flood is gone, and frames kept coming meanwhile.
    common::wait_until(
        "the endpoint after the flood",
        Duration::from_secs(30),
        || frames_total(port).is_some(),
    );
    let frames_after = frames_total(port).unwrap();
    let fps = (frames_after - frames_before) / started.elapsed().as_secs_f64();
    assert!(
        fps > 25.0,
        "{fps:.1} frames a second through a 30 fps live stage"
    );
    for request in ["GARBAGE\r\n\r\n", "GET\r\n\r\n", "\r\n\r\n"] {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{request:?}: {response}"
        );
    }
    let (status, text) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let counter = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(counter("savant_metrics_refused_connections_total") > 0.0);
    assert!(counter("savant_metrics_bad_requests_total") >= 3.0);
    assert!(
        threads_during <= threads_before + 1,
        "threads {threads_before} -> {threads_during}"
    );
    assert!(
        rss_during < rss_before + 32 * 1024,
        "RSS {rss_before} kB -> {rss_during} kB"
    );
    eprintln!(
        "flood: {fps:.1} fps, threads {threads_before} -> {threads_during}, RSS {rss_before} -> {rss_during} kB, refused {}",
        counter("savant_metrics_refused_connections_total")
    );
}

/// savantmux of cam-a (`a` frames) and cam-b (`b` frames), RGBA 32x24, into `stages`
/// and a fakesink.
fn two_sources(stages: &str, a: u32, b: u32) -> String {
    let source = |n: u32| {
        format!("videotestsrc num-buffers={n} ! video/x-raw,format=RGBA,width=32,height=24")
    };
    format!(
        "savantmux name=m sink_0::source-id=cam-a sink_1::source-id=cam-b ! {stages} ! fakesink \
         {} ! m.sink_0 {} ! m.sink_1",
        source(a),
        source(b)
    )
}

/// An OTLP/HTTP collector: answers every POST with 200 and keeps its bodies.
fn otlp_collector() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_ok() {
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    (port, bodies)
}

/// A span as the collector got it.
#[derive(Debug)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    /// Key and value as text.
    attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    fn attribute(&self, key: &str) -> String {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} missing on {self:?}"))
    }
}

/// Every span in the OTLP JSON requests the collector got.
fn spans(bodies: &[String]) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for body in bodies {
        let request: serde_json::Value = serde_json::from_str(body).expect("OTLP JSON");
        for resource in request["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                    let attributes = span["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let value = &a["value"];
                            let value = value["stringValue"]
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| {
                                    value["intValue"].to_string().trim_matches('"').to_owned()
                                });
                            (a["key"].as_str().unwrap_or_default().to_owned(), value)
                        })
                        .collect();
                    out.push(ReceivedSpan {
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent: text("parentSpanId"),
                        name: text("name"),
                        attributes,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn every_frame_is_one_trace_with_a_span_per_stage_sent_over_otlp() {
    let a = counting_stage("metrics_trace_a");
    let b = counting_stage("metrics_trace_b");
    let (collector, bodies) = otlp_collector();
    let pipeline = two_sources(
        &format!("savantpyfunc name=a module={a} ! savantqueue ! savantpyfunc name=b module={b}"),
        12,
        7,
    );
    let (app, stdin, _) = serve_after_eos(
        &pipeline,
        free_port(),
        &format!(",otlp-endpoint=\"http://127.0.0.1:{collector}\",trace-ratio=1.0"),
        &["metrics_trace_a"],
    );
    let mut got = Vec::new();
    common::wait_until("38 spans at the collector", Duration::from_secs(20), || {
        got = spans(&bodies.lock().unwrap());
        got.len() >= 38
    });
    assert_eq!(got.len(), 38, "19 frames, 2 stages");
    let mut traces: std::collections::BTreeMap<&str, Vec<&ReceivedSpan>> = Default::default();
    for span in &got {
        traces.entry(span.trace_id.as_str()).or_default().push(span);
    }
    assert_eq!(traces.len(), 19, "one trace per frame");
    let mut per_source = std::collections::BTreeMap::<String, usize>::new();
    for (trace, spans) in &traces {
        let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["a process_frame", "b process_frame"], "{trace}");
        assert!(!spans[0].parent.is_empty(), "a parent");
        assert_eq!(
            spans[0].parent, spans[1].parent,
            "both stages under the frame"
        );
        assert_ne!(spans[0].span_id, spans[1].span_id);
        for span in spans {
            assert_eq!(span.attribute("gst.element"), &span.name[..1]);
            assert!(span.attribute("savant.python_ns").parse::<u64>().unwrap() > 0);
            assert!(!span.attribute("gst.pipeline").is_empty());
            span.attribute("savant.pts");
            *per_source
                .entry(span.attribute("savant.source_id"))
                .or_default() += 1;
        }
    }
    assert_eq!(
        per_source,
        [("cam-a".to_owned(), 24), ("cam-b".to_owned(), 14)]
            .into_iter()
            .collect()
    );
    drop(stdin);
    drop(app);
}

/// Where Python's `opentelemetry` API and SDK are (PyPI packages; Debian has
/// none): scripts/test.sh installs them and names the folder in
/// SAVANT_TEST_OTEL_PYTHONPATH, and then they must be there. Without it the
/// interpreter's own packages are tried, and the test is skipped if they lack them.
fn python_opentelemetry() -> Option<String> {
    let path = std::env::var("SAVANT_TEST_OTEL_PYTHONPATH").ok();
    let found = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .env("PYTHONPATH", path.clone().unwrap_or_default())
        .args(["-c", "import opentelemetry.sdk.trace"])
        .status()
        .is_ok_and(|s| s.success());
    match path {
        Some(path) => {
            assert!(found, "opentelemetry-sdk is not in {path}");
            Some(path)
        }
        None if found => Some(String::new()),
        None => {
            eprintln!(
                "skipped: Python's opentelemetry-sdk is not installed \
                 (scripts/test.sh installs it from PyPI)"
            );
            None
        }
    }
}

#[test]
fn spans_a_stage_makes_with_python_opentelemetry_are_children_of_its_span() {
    let Some(python_path) = python_opentelemetry() else {
        return;
    };
    let spans_file = std::env::temp_dir().join(format!(
        "savant-metrics-python-spans-{}.txt",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&spans_file);
    // The user's own provider (the SDK's default sampler: ParentBased), writing
    // "trace span parent name" lines; a span per frame and one in a thread of
    // its own, which has no current span and so starts its own trace.
    let a = module(
        "metrics_python_spans",
        &format!(
            r#"
            import threading
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

            class Lines(SpanExporter):
                def export(self, spans):
                    with open({file:?}, "a") as out:
                        for s in spans:
                            parent = format(s.parent.span_id, "016x") if s.parent else "-"
                            out.write(f"{{s.context.trace_id:032x}} {{s.context.span_id:016x}} {{parent}} {{s.name}}\n")
                    return SpanExportResult.SUCCESS

            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(Lines()))
            tracer = provider.get_tracer("user")
            SEEN = {{}}

            def process_frame(frame):
                SEEN[frame.source_id] = SEEN.get(frame.source_id, 0) + 1
                with tracer.start_as_current_span("detect"):
                    with tracer.start_as_current_span("nms"):
                        pass
                if SEEN[frame.source_id] == 1:
                    thread = threading.Thread(target=lambda: tracer.start_span("elsewhere").end())
                    thread.start()
                    thread.join()
            "#,
            file = spans_file.display().to_string()
        ),
    );
    let (collector, bodies) = otlp_collector();
    let pipeline = two_sources(&format!("savantpyfunc name=a module={a}"), 30, 20);
    let (app, stdin, seen) = serve_after_eos_with(
        &pipeline,
        free_port(),
        &format!(",otlp-endpoint=\"http://127.0.0.1:{collector}\",trace-ratio=0.5"),
        &["metrics_python_spans"],
        &[("PYTHONPATH", &python_path)],
    );
    assert_eq!(
        seen,
        [
            "SEEN metrics_python_spans cam-a 30",
            "SEEN metrics_python_spans cam-b 20"
        ]
    );
    // The stage's spans, sampled by trace id: about half of the 50 frames.
    let mut stage = Vec::new();
    common::wait_until("the stage's spans", Duration::from_secs(20), || {
        stage = spans(&bodies.lock().unwrap());
        !stage.is_empty()
    });
    std::thread::sleep(Duration::from_millis(1500));
    stage = spans(&bodies.lock().unwrap());
    assert!(
        (10..=40).contains(&stage.len()),
        "{} of 50 frames sampled at 0.5",
        stage.len()
    );
    let lines = std::fs::read_to_string(&spans_file).expect("the user's spans");
    let user: Vec<Vec<&str>> = lines.lines().map(|l| l.split(' ').collect()).collect();
    let named = |name: &'static str| user.iter().filter(move |s| s[3] == name);
    // ParentBased: the user's spans are kept for the frames the stage traced, and
    // only for those.
    assert_eq!(named("detect").count(), stage.len(), "{lines}");
    assert_eq!(named("nms").count(), stage.len(), "{lines}");
    for detect in named("detect") {
        let parent = stage
            .iter()
            .find(|s| s.span_id == detect[2])
            .unwrap_or_else(|| panic!("{detect:?}: parent not a stage span"));
        assert_eq!(parent.trace_id, detect[0], "same trace as its stage span");
        assert_eq!(parent.name, "a process_frame");
        let nms = named("nms")
            .find(|s| s[2] == detect[1])
            .unwrap_or_else(|| panic!("nms under {detect:?}"));
        assert_eq!(nms[0], detect[0]);
    }
    // Outside the call's thread nothing is attached: a root of its own trace.
    for elsewhere in named("elsewhere") {
        assert_eq!(elsewhere[2], "-", "{elsewhere:?}");
        assert!(stage.iter().all(|s| s.trace_id != elsewhere[0]));
    }
    assert_eq!(named("elsewhere").count(), 2, "{lines}");
    drop(stdin);
    drop(app);
    let _ = std::fs::remove_file(&spans_file);
}

#[test]
fn savantpublish_counters_are_served() {
    let port = free_port();
    let file = std::env::temp_dir().join(format!(
        "savant-metrics-publish-{}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&file);
    let stage = counting_stage("publish_counting");
    let (_app, _stdin, seen) = serve_after_eos(
        &format!(
            "videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48 \
             ! savantpyfunc module={stage} ! savantpublish name=p location={}",
            file.display()
        ),
        port,
        "",
        &["publish_counting"],
    );
    assert_eq!(seen, ["SEEN publish_counting None 20"]);
    let (status, body) = http_get(port, "/metrics").expect("metrics served");
    assert_eq!(status, 200);
    for (metric, value) in [
        ("savant_publish_messages_total", 20),
        ("savant_publish_sent_total", 20),
        ("savant_publish_dropped_total", 0),
        ("savant_publish_buffered_messages", 0),
        ("savant_stage_frames_total", 20),
    ] {
        let line = body
            .lines()
            .find(|l| l.starts_with(metric) && l.contains("element=\"p\""))
            .unwrap_or_else(|| panic!("{metric} missing:\n{body}"));
        assert!(line.ends_with(&format!(" {value}")), "{line}");
    }
    let _ = std::fs::remove_file(&file);
}

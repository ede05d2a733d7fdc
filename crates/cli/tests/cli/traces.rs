//! Traces end to end: an edge exporting OTLP/HTTP to a receiver this test runs (a plain socket
//! that decodes the protobuf with OpenTelemetry's own message types), a request carrying a W3C
//! `traceparent`: the edge's spans continue that trace (request, cache lookup, fill, upstream
//! request), and the origin it fills from sees the same trace id (its access log says so).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::support::*;

/// The server span's name: `{method} {route class}`, as OpenTelemetry's HTTP conventions name it.
const SERVER: &str = "GET volume_file";

type Spans = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// Accepts OTLP/HTTP posts; records (name, trace id, span id, parent span id) of every span.
fn receiver() -> (String, Spans) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let spans: Spans = Arc::default();
    let seen = spans.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || loop {
                let mut reader = BufReader::new(&stream);
                let mut len = 0usize;
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                assert!(first.starts_with("POST /v1/traces "), "{first}");
                let req = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP protobuf");
                for rs in req.resource_spans {
                    for ss in rs.scope_spans {
                        for s in ss.spans {
                            seen.lock().expect("lock").push((
                                s.name,
                                hex(&s.trace_id),
                                hex(&s.span_id),
                                hex(&s.parent_span_id),
                            ));
                        }
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
            });
        }
    });
    (url, spans)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn an_edge_exports_the_trace_a_request_started_and_carries_it_upstream() {
    let (otlp, spans) = receiver();
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &["--access-log", "origin.log"]);
    let edge = Served::edge(
        d,
        &origin.url,
        &["--otlp-endpoint", &otlp, "--trace-sample", "1"],
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("traceparent: 00-{trace}-00f067aa0ba902b7-01");
    let url = format!("{}/v/site-media@stable/images/rocket.jpg", edge.url);
    assert_eq!(http_get_with(&url, &[&parent]).0, 200);
    let mut got = Vec::new();
    for _ in 0..60 {
        got = spans.lock().expect("lock").clone();
        if got.iter().any(|s| s.0 == "upstream.request") && got.iter().any(|s| s.0 == SERVER) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let names: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
    for want in [SERVER, "cache.lookup", "cache.fill", "upstream.request"] {
        assert!(names.contains(&want), "no {want} span in {names:?}");
    }
    assert!(
        got.iter().all(|s| s.1 == trace),
        "every span in the client's trace: {got:?}"
    );
    let request = got.iter().find(|s| s.0 == SERVER).expect("request span");
    assert_eq!(
        request.3, "00f067aa0ba902b7",
        "the request span's parent is the client's span"
    );
    let ids: Vec<&str> = got.iter().map(|s| s.2.as_str()).collect();
    for s in got.iter().filter(|s| s.0 != SERVER) {
        assert!(
            ids.contains(&s.3.as_str()),
            "{} has a parent in the trace",
            s.0
        );
    }
    // The origin received the trace: its access log line for a fill carries the trace id.
    let mut origin_log = String::new();
    for _ in 0..50 {
        origin_log = std::fs::read_to_string(d.join("origin.log")).unwrap_or_default();
        if origin_log.contains(trace) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        origin_log.contains(&format!("\"trace_id\":\"{trace}\"")),
        "{origin_log}"
    );
}

//! The web page, the JSON API and `/metrics` against real parts: `hark run` as a process on
//! the bundled demo with the history on, plain HTTP requests over TCP, Prometheus text read by
//! a real parser, and Debian's headless Chromium driven through chromedriver.
//!
//! Every wait is bounded. The browser test needs `chromium` and `chromium-driver`: without
//! them it fails when `REQUIRE_BROWSER_TEST=1` (tests/run.sh sets it) and is skipped with a
//! note otherwise. Screenshots land in `target/web-screenshots/`.
#![cfg(all(feature = "daemon", feature = "cli"))]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{wait_until, Config, Daemon, HARK};
use common::mosquitto::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Bound of every wait for the daemon (debug builds on a busy 2-core machine included).
const WAIT: Duration = Duration::from_secs(90);
/// The demo's four tracks and what ended them (tests/daemon.rs checks the same).
const DEMO_BOUNDARIES: [(&str, f64); 3] =
    [("silence", 2.0), ("novelty", 1.0), ("end_of_stream", 1.0)];
/// The log line the daemon writes once the web server listens.
const LISTENING: &str = "web page, /api/ and /metrics listening";

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A vocabulary file of the test's own (the page rewrites it), with the example's content.
fn vocabulary_copy(dir: &Path) -> PathBuf {
    let path = dir.join("vocabulary.txt");
    std::fs::copy(manifest("models/vocabulary.txt"), &path).expect("copy the vocabulary");
    path
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one request per connection, so nothing is hidden by a library.

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&[u8]>,
) -> Reply {
    use base64::Engine;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may be answered (and the connection closed) before all of it is sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the reply");
    parse_reply(&raw)
}

/// Sends `request` as it is (headers chosen by the test) and reads the reply.
fn http_raw(addr: SocketAddr, request: &str) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the reply");
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
}

/// `/metrics`, parsed by a real Prometheus text parser: sample name (with sorted labels) →
/// value. Histogram buckets come back as one sample with every bucket.
fn scrape(addr: SocketAddr, auth: Option<(&str, &str)>) -> (Reply, prometheus_parse::Scrape) {
    let reply = http(addr, "GET", "/metrics", auth, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines = reply.body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    (reply, parsed)
}

fn value_of(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name}: not a single value: {other:?}"),
        })
}

fn metric(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value_of(scrape, name, labels).unwrap_or_else(|| {
        let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        panic!("no {name}{labels:?} among {names:?}")
    })
}

/// Polls `/api/health` until the history holds `n` tracks.
fn wait_stored(addr: SocketAddr, auth: Option<(&str, &str)>, n: u64, daemon: &Daemon) {
    let stored = wait_until(WAIT, || {
        let h = http(addr, "GET", "/api/health", auth, None).json();
        h["stored_tracks"].as_u64().unwrap_or(0) >= n
    });
    assert!(
        stored,
        "{n} tracks not stored within {WAIT:?}:\n{}",
        daemon.log()
    );
}

fn web_config(state: &Path, vocabulary: &Path, port: u16) -> Config {
    Config::new()
        .path("daemon.state_dir", state)
        .path("model.vocabulary", vocabulary)
        .set("history.enabled", true)
        .set("web.enabled", true)
        .set("web.listen", format!("127.0.0.1:{port}"))
}

// ---------------------------------------------------------------------------------------

#[test]
fn config_check_refuses_to_serve_beyond_loopback_without_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hark.toml");
    std::fs::write(&path, "[web]\nenabled = true\nlisten = \"0.0.0.0:8323\"\n").unwrap();
    let out = Command::new(HARK)
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {err}");
    assert!(err.contains("web.listen"), "{err}");

    // With a password (from a file) the same address is accepted, and shown masked.
    std::fs::write(dir.path().join("pw"), "open-sesame\n").unwrap();
    std::fs::write(
        &path,
        format!(
            "[web]\nenabled = true\nlisten = \"0.0.0.0:8323\"\npassword_file = \"{}\"\n",
            dir.path().join("pw").display()
        ),
    )
    .unwrap();
    let out = Command::new(HARK)
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("[web]") && !shown.contains("open-sesame"),
        "{shown}"
    );
}

#[test]
fn a_taken_address_stops_the_daemon_naming_web_listen() {
    let state = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = web_config(state.path(), &manifest("models/vocabulary.txt"), port);
    let mut daemon = Daemon::start(&config, &[]);
    let status = daemon.wait_exit(WAIT);
    assert!(
        !status.success(),
        "started on a taken port:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("web.listen"), "{}", daemon.log());
}

/// Auth, the JSON API and `/metrics` on a daemon that has played the whole demo at full speed
/// and stays up (exit_at_end = false).
#[test]
fn api_metrics_and_auth_over_http() {
    let state = tempfile::tempdir().unwrap();
    let vocabulary = vocabulary_copy(state.path());
    std::fs::write(state.path().join("pw"), "s3cret\n").unwrap();
    let port = free_port();
    let config = web_config(state.path(), &vocabulary, port)
        .set("source.realtime", false)
        .set("daemon.exit_at_end", false)
        .path("web.password_file", &state.path().join("pw"));
    let mut daemon = Daemon::start(&config, &[]);
    daemon.wait_log(&[LISTENING], WAIT);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let auth = Some(("hark", "s3cret"));

    // Auth comes before anything, unknown paths included.
    for path in ["/", "/api/now", "/metrics", "/no-such-page"] {
        let r = http(addr, "GET", path, None, None);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(
            r.headers["www-authenticate"].starts_with("Basic "),
            "{path}"
        );
        assert_eq!(
            http(addr, "GET", path, Some(("hark", "wrong")), None).status,
            401
        );
        assert_eq!(
            http(addr, "GET", path, Some(("other", "s3cret")), None).status,
            401
        );
    }
    assert_eq!(http(addr, "GET", "/api/now", auth, None).status, 200);
    let missing = http(addr, "GET", "/no-such-page", auth, None);
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());

    let tracks = daemon.wait_tracks(4, WAIT);
    wait_stored(addr, auth, 4, &daemon);
    check_metrics(addr, auth, &tracks);
    check_tracks_and_search(addr, auth);
    check_vocabulary_api(addr, auth, &vocabulary);
    check_page_html(addr, auth);
}

fn check_metrics(addr: SocketAddr, auth: Option<(&str, &str)>, tracks: &[Value]) {
    let (reply, m) = scrape(addr, auth);
    assert!(
        reply.headers["content-type"].contains("openmetrics-text"),
        "{:?}",
        reply.headers
    );
    let windows = metric(&m, "hark_windows_total", &[]);
    let in_tracks: f64 = tracks.iter().map(|t| t["windows"].as_f64().unwrap()).sum();
    assert!(
        windows > 0.0 && windows >= in_tracks,
        "{windows} windows, {in_tracks} in tracks"
    );
    // Every embedded window was timed once.
    assert_eq!(metric(&m, "hark_encoder_seconds_count", &[]), windows);
    assert!(metric(&m, "hark_encoder_seconds_sum", &[]) > 0.0);
    let buckets = m
        .samples
        .iter()
        .find(|s| s.metric == "hark_encoder_seconds")
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b) => b.clone(),
            other => panic!("not a histogram: {other:?}"),
        })
        .expect("hark_encoder_seconds buckets");
    let inf = buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("+Inf bucket");
    assert_eq!(inf.count, windows);
    for (boundary, n) in DEMO_BOUNDARIES {
        assert_eq!(
            metric(&m, "hark_tracks_total", &[("boundary", boundary)]),
            n,
            "{boundary}"
        );
    }
    assert!(metric(&m, "hark_samples_total", &[]) > 22_050.0 * 100.0);
    assert_eq!(metric(&m, "hark_samples_dropped_total", &[]), 0.0);
    assert_eq!(metric(&m, "hark_encoder_failures_total", &[]), 0.0);
    assert_eq!(metric(&m, "hark_history_tracks", &[]), 4.0);
    assert_eq!(metric(&m, "hark_history_written_total", &[]), 4.0);
    assert!(metric(&m, "hark_history_db_bytes", &[]) > 0.0);
    assert_eq!(metric(&m, "hark_history_ok", &[]), 1.0);
    assert_eq!(metric(&m, "hark_source_lost", &[]), 0.0);
    let level = metric(&m, "hark_input_level_dbfs", &[]);
    assert!((-200.0..0.0).contains(&level), "level {level} dBFS");
    assert!(metric(&m, "hark_uptime_seconds", &[]) > 0.0);
    assert_eq!(
        metric(
            &m,
            "hark_vocabulary_reloads_total",
            &[("result", "refused")]
        ),
        0.0
    );
    // MQTT is off: no broker gauges pretend otherwise.
    assert_eq!(value_of(&m, "hark_mqtt_connected", &[]), None);
}

fn check_tracks_and_search(addr: SocketAddr, auth: Option<(&str, &str)>) {
    let listed = http(addr, "GET", "/api/tracks?limit=2", auth, None).json();
    assert_eq!(listed["source"], "history", "{listed}");
    let tracks = listed["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2, "{listed}");
    assert!(tracks[0]["stream_start_s"].as_f64() > tracks[1]["stream_start_s"].as_f64());
    let bad = http(
        addr,
        "GET",
        "/api/tracks?since=last-tuesday-ish",
        auth,
        None,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["error"].as_str().unwrap().contains("since"));

    let found = http(
        addr,
        "GET",
        "/api/search?q=piano,%20ambient&q=guitar&limit=3",
        auth,
        None,
    );
    assert_eq!(found.status, 200, "{}", found.body);
    let found = found.json();
    assert_eq!(found["words"], json!(["piano", "ambient", "guitar"]));
    let hits = found["result"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{found}");
    assert_eq!(found["result"]["scanned"]["scored"], 4);
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(hits[0]["words"].as_array().unwrap().len(), 3);

    assert_eq!(http(addr, "GET", "/api/search", auth, None).status, 400);
    let unknown = http(addr, "GET", "/api/search?q=qwzxvbnmk", auth, None);
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(unknown.json()["errors"][0]["text"]
        .as_str()
        .unwrap()
        .contains("qwzxvbnmk"));
}

fn check_vocabulary_api(addr: SocketAddr, auth: Option<(&str, &str)>, file: &Path) {
    let before = http(addr, "GET", "/api/vocabulary", auth, None).json();
    let on_disk = std::fs::read_to_string(file).unwrap();
    assert_eq!(before["text"], on_disk.as_str());
    let identity = before["identity"].as_str().unwrap().to_string();

    let broken = "jazz\nqwzxvbnmk\npiano\n";
    let r = http(
        addr,
        "POST",
        "/api/vocabulary/check",
        auth,
        Some(broken.as_bytes()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["errors"][0]["line"], 2, "{}", r.body);
    let r = http(
        addr,
        "PUT",
        "/api/vocabulary",
        auth,
        Some(broken.as_bytes()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        on_disk,
        "a refused edit was written"
    );
    let still = http(addr, "GET", "/api/vocabulary", auth, None).json();
    assert_eq!(still["identity"], identity.as_str());

    // Another site's page may not make the box compute (or save), even with a browser's
    // cached credentials; no page may frame this one.
    let token = auth.map(|(u, p)| {
        use base64::Engine;
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let r = http_raw(
        addr,
        &format!(
            "POST /api/vocabulary/check HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\n\
             {}Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\njazz\n",
            token.clone().unwrap_or_default()
        ),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http_raw(
        addr,
        &format!(
            "POST /api/vocabulary/check HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n\
             Sec-Fetch-Site: same-origin\r\n{}Content-Type: text/plain\r\nContent-Length: 5\r\n\
             Connection: close\r\n\r\njazz\n",
            token.unwrap_or_default()
        ),
    );
    assert_eq!(r.status, 200, "the page's own request: {}", r.body);
    assert_eq!(
        r.headers.get("x-frame-options").map(String::as_str),
        Some("DENY")
    );
    let r = http(addr, "DELETE", "/api/vocabulary", auth, None);
    assert_eq!(r.status, 405, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);

    save_good_vocabulary(addr, auth, file, &identity);
}

/// A good edit: checked, previewed, saved, in service, on disk; an oversized one refused.
fn save_good_vocabulary(addr: SocketAddr, auth: Option<(&str, &str)>, file: &Path, identity: &str) {
    let good = "# edited over HTTP\npiano\nambient\nguitar @0.2\n";
    let r = http(
        addr,
        "POST",
        "/api/vocabulary/check",
        auth,
        Some(good.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tags"], 3);
    let p = http(
        addr,
        "POST",
        "/api/vocabulary/preview",
        auth,
        Some(good.as_bytes()),
    );
    assert_eq!(p.status, 200, "{}", p.body);
    let preview = p.json();
    assert_eq!(preview["preview"]["scanned"]["scored"], 4, "{preview}");
    let vanished = preview["preview"]["tags"].as_array().unwrap().iter();
    assert!(
        vanished
            .clone()
            .any(|t| t["tag"] == "jazz" && t["change"] == "removed"),
        "{preview}"
    );

    let saved = http(addr, "PUT", "/api/vocabulary", auth, Some(good.as_bytes()));
    assert_eq!(saved.status, 200, "{}", saved.body);
    let saved = saved.json();
    assert_eq!(saved["ok"], true);
    assert_eq!(saved["tags"], 3);
    assert_ne!(saved["vocabulary"], identity);
    assert_eq!(std::fs::read_to_string(file).unwrap(), good);
    let after = http(addr, "GET", "/api/vocabulary", auth, None).json();
    assert_eq!(after["identity"], saved["vocabulary"]);
    let (_, m) = scrape(addr, auth);
    assert!(
        metric(
            &m,
            "hark_vocabulary_reloads_total",
            &[("result", "applied")]
        ) >= 1.0
    );

    let huge = vec![b'a'; 300 * 1024];
    let r = http(addr, "PUT", "/api/vocabulary", auth, Some(&huge));
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(std::fs::read_to_string(file).unwrap(), good);
}

fn check_page_html(addr: SocketAddr, auth: Option<(&str, &str)>) {
    let page = http(addr, "GET", "/?q=piano", auth, None);
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    let html = page.body;
    assert!(html.contains("name=\"viewport\""), "no viewport meta");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "external assets"
    );
    // Without JavaScript the search is rendered by the server.
    let results = &html[html.find("id=\"search-results\"").unwrap()..];
    assert!(results.contains("class=\"track\""), "{results}");
    // The vocabulary (just saved) is in the textarea, escaped.
    assert!(html.contains("guitar @0.2"), "textarea");
}

// ---------------------------------------------------------------------------------------
// The browser.

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or says why it cannot (the caller fails or skips).
fn start_driver() -> Result<Driver, String> {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(tool).exists() {
            return Err(format!(
                "{tool} is missing (apt-get install chromium chromium-driver)"
            ));
        }
    }
    let port = free_port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromedriver: {e}"))?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().map_err(|e| e.to_string())?,
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_until(Duration::from_secs(20), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
    if up {
        Ok(driver)
    } else {
        Err(format!("chromedriver did not listen on {addr} within 20 s"))
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        &format!("--user-data-dir={profile}"),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
    });
    let caps = caps.as_object().cloned().unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut builder = ClientBuilder::new(connector);
    builder.capabilities(caps);
    tokio::time::timeout(Duration::from_secs(60), builder.connect(&driver.url))
        .await
        .expect("a Chromium session within 60 s")
        .expect("a Chromium session")
}

/// Runs `script` (a function body) in the page.
async fn eval(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// Polls `script` until it returns something truthy; returns that.
async fn wait_js(c: &Client, script: &str, within: Duration, what: &str) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = eval(c, script).await;
        let truthy = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?} (last: {v})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest("target"));
    let dir = target.join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

/// The page in Chromium while the daemon plays the demo in real time: now playing changes
/// without a reload, a search finds stored tracks, a broken vocabulary is refused with its
/// line, a good one goes into service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser_while_the_demo_plays() {
    let driver = match start_driver() {
        Ok(d) => d,
        Err(why) if std::env::var("REQUIRE_BROWSER_TEST").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_BROWSER_TEST=1 but the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("note: browser test skipped: {why}");
            return;
        }
    };
    let state = tempfile::tempdir().unwrap();
    let vocabulary = vocabulary_copy(state.path());
    let port = free_port();
    let config = web_config(state.path(), &vocabulary, port)
        .set("source.realtime", true)
        .set("tags.now_interval_s", 1.0);
    let mut daemon = Daemon::start(&config, &[]);
    daemon.wait_log(&[LISTENING], WAIT);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // No password on loopback: a request naming another host (DNS rebinding) is refused.
    let rebound = http_raw(
        addr,
        "GET /api/now HTTP/1.1\r\nHost: rebound.example:8323\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    let c = browser(&driver).await;
    c.set_window_size(1280, 2000).await.expect("window size");
    c.goto(&format!("http://{addr}/"))
        .await
        .expect("load the page");
    let load_ms = eval(&c, "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;").await;
    eprintln!("page load: {load_ms} ms");

    see_now_playing_change(&c).await;
    screenshot(&c, "1-now-playing").await;
    wait_stored(addr, None, 1, &daemon);
    search_in_page(&c).await;
    vocabulary_in_page(&c, addr, &vocabulary).await;

    c.set_window_size(412, 2400).await.expect("phone size");
    c.goto(&format!("http://{addr}/#now"))
        .await
        .expect("reload");
    wait_js(
        &c,
        "return document.querySelectorAll('#now-tags .tag').length",
        WAIT,
        "tags on a phone",
    )
    .await;
    screenshot(&c, "4-phone").await;
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    eprintln!("daemon with web and history, demo in real time: {hwm}");
    c.close().await.expect("close the session");
    assert!(daemon.is_running(), "{}", daemon.log());
}

async fn see_now_playing_change(c: &Client) {
    // A marker the page would lose on a reload.
    eval(c, "window.harkMarker = 'kept'; return null;").await;
    let read = "return document.querySelectorAll('#now-tags .tag').length ? document.getElementById('now-tags').textContent + ' | ' + document.getElementById('now-meta').textContent : '';";
    let first = wait_js(c, read, WAIT, "now-playing tags").await;
    let changed =
        format!("const t = (function() {{ {read} }})(); return t && t !== {first} ? t : '';");
    let second = wait_js(c, &changed, WAIT, "now playing to change").await;
    eprintln!("now playing: {first} -> {second}");
    assert_eq!(
        eval(c, "return window.harkMarker;").await,
        "kept",
        "the page reloaded"
    );
}

async fn search_in_page(c: &Client) {
    type_into(c, "#search-q", "piano, ambient").await;
    click(c, "#search-go").await;
    let hits = wait_js(
        c,
        "return document.querySelectorAll('#search-results .track').length;",
        WAIT,
        "search results",
    )
    .await;
    assert!(hits.as_u64() >= Some(1), "{hits}");
    let words = eval(
        c,
        "return document.querySelector('#search-results .words').textContent;",
    )
    .await;
    assert!(words.as_str().unwrap().contains("piano"), "{words}");
    screenshot(c, "2-search").await;
}

async fn vocabulary_in_page(c: &Client, addr: SocketAddr, file: &Path) {
    let on_disk = std::fs::read_to_string(file).unwrap();
    let identity = eval(
        c,
        "return document.getElementById('vocab-identity').textContent;",
    )
    .await;
    type_into(c, "#vocab-text", "jazz\nambient\nqwzxvbnmk\n").await;
    click(c, "#vocab-save").await;
    let error = wait_js(
        c,
        "return document.getElementById('vocab-errors').textContent;",
        WAIT,
        "the line error",
    )
    .await;
    assert!(error.as_str().unwrap().contains("line 3"), "{error}");
    assert!(error.as_str().unwrap().contains("qwzxvbnmk"), "{error}");
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        on_disk,
        "a refused edit was written"
    );
    let served = http(addr, "GET", "/api/vocabulary", None, None).json();
    assert_eq!(
        served["identity"], identity,
        "a refused edit went into service"
    );
    screenshot(c, "3-vocabulary-error").await;

    let good = "# edited in the browser\njazz\nambient\npiano\nsolo piano\n";
    type_into(c, "#vocab-text", good).await;
    click(c, "#vocab-save").await;
    let status = wait_js(
        c,
        "const s = document.getElementById('vocab-status'); return s.className === 'ok' ? s.textContent : '';",
        WAIT,
        "the saved vocabulary",
    )
    .await;
    let shown = eval(
        c,
        "return document.getElementById('vocab-identity').textContent;",
    )
    .await;
    assert_ne!(shown, identity, "{status}");
    let served = http(addr, "GET", "/api/vocabulary", None, None).json();
    assert_eq!(served["identity"], shown);
    assert_eq!(served["tags"], 4);
    assert_eq!(std::fs::read_to_string(file).unwrap(), good);
    click(c, "#vocab-preview").await;
    wait_js(
        c,
        "return document.querySelectorAll('#vocab-preview-out tr').length;",
        WAIT,
        "the preview table",
    )
    .await;
    screenshot(c, "3-vocabulary-saved").await;
}

//! The MQTT publisher against a real mosquitto on 127.0.0.1 (one broker per test, free port).
//!
//! Every wait is bounded; nothing here is timing-asserted except "within N seconds" limits
//! far above what loopback needs. `figures_publish_to_puback_and_outbox_drain` only prints.
#![cfg(feature = "daemon")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::certs;
use common::client::{ClientOptions, Collector, TestClient};
use common::mosquitto::{write_password_file, BrokerConfig, Mosquitto, TlsListener};
use hark::mqtt::{Command, HaSettings, MqttSettings, Publisher, PublisherHandle, TlsSettings};
use serde_json::{json, Value};

/// Collectors stop by themselves after this long.
const COLLECTOR_LIFETIME: Duration = Duration::from_secs(120);

fn settings(port: u16, state_dir: &Path, device: &str) -> MqttSettings {
    let mut s = MqttSettings::new("127.0.0.1", device, state_dir);
    s.port = port;
    s.keep_alive_secs = 5;
    s.reconnect_min = Duration::from_millis(100);
    s.reconnect_max = Duration::from_secs(1);
    s.connect_timeout = Duration::from_secs(3);
    s.now_min_interval = Duration::from_millis(500);
    s
}

fn track(i: usize) -> (String, Value) {
    let id = format!("trk-{i:05}");
    let payload = json!({
        "tags": [{"tag": "jazz", "score": 0.61}, {"tag": "piano", "score": 0.42}],
        "n": i,
    });
    (id, payload)
}

/// Polls `cond` every 5 ms until it holds or `wait` passes.
async fn wait_until(wait: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// The ids seen on a topic, with how often each came.
fn ids_on(collector: &Collector, topic: &str) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for m in collector.on(topic) {
        let id = m.json()["id"]
            .as_str()
            .expect("track message has a string id")
            .to_string();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

/// Whether `n` distinct track ids have been seen.
fn distinct_ids(seen: &[common::client::Message], n: usize) -> bool {
    let ids: BTreeSet<String> = seen
        .iter()
        .filter(|m| m.topic.ends_with("/track"))
        .filter_map(|m| m.json()["id"].as_str().map(String::from))
        .collect();
    ids.len() >= n
}

/// Checks every published track arrived, and that duplicates are the same message.
fn assert_all_delivered(
    collector: &Collector,
    topic: &str,
    sent: &BTreeMap<String, Value>,
) -> usize {
    let ids = ids_on(collector, topic);
    let missing: Vec<_> = sent.keys().filter(|id| !ids.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} tracks never delivered: {missing:?}",
        missing.len()
    );
    for m in collector.on(topic) {
        let got = m.json();
        let id = got["id"].as_str().expect("id");
        let expected = sent.get(id).unwrap_or_else(|| panic!("unexpected id {id}"));
        assert_eq!(
            &got, expected,
            "a delivery of {id} differs from what was published"
        );
    }
    ids.values().map(|n| n - 1).sum()
}

async fn publish_tracks(
    handle: &PublisherHandle,
    range: std::ops::Range<usize>,
    sent: &mut BTreeMap<String, Value>,
) {
    for i in range {
        let (id, payload) = track(i);
        handle
            .publish_track(&id, payload.clone())
            .await
            .expect("publish_track");
        let mut expected = payload;
        expected["id"] = json!(id);
        sent.insert(id, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_tracks_at_qos1_with_status_online_and_last_will_offline() {
    let broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let s = settings(broker.port(), state.path(), "dev1");
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-1"),
        &["hark/dev1/track", "hark/dev1/status"],
        COLLECTOR_LIFETIME,
    )
    .await;

    let (handle, task) = Publisher::start(s).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || handle.is_connected()).await,
        "{}",
        broker.log()
    );
    let mut sent = BTreeMap::new();
    publish_tracks(&handle, 0..50, &mut sent).await;

    let all = collector
        .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 50))
        .await;
    assert!(
        all,
        "only {} track messages arrived",
        collector.on("hark/dev1/track").len()
    );
    assert_eq!(
        assert_all_delivered(&collector, "hark/dev1/track", &sent),
        0,
        "no duplicates without faults"
    );
    assert!(collector
        .on("hark/dev1/status")
        .iter()
        .any(|m| m.text() == "online"));
    assert!(wait_until(Duration::from_secs(5), || handle.outbox_len() == 0).await);
    assert_eq!(
        common::outbox_files(handle.outbox_dir()),
        0,
        "acknowledged files are removed"
    );
    let stats = handle.stats();
    assert_eq!(stats.acked, 50);
    assert_eq!(stats.sent, 50);

    // An abrupt end (task aborted, socket dropped without DISCONNECT) fires the last will.
    task.abort();
    let _ = task.await;
    drop(handle);
    let offline = collector
        .wait_for(Duration::from_secs(10), |seen| {
            seen.iter()
                .any(|m| m.topic == "hark/dev1/status" && m.text() == "offline")
        })
        .await;
    assert!(offline, "last will not seen:\n{}", broker.log());
    collector.stop().await;

    // And it is retained for whoever looks later.
    let mut late = TestClient::connect(broker.port(), &ClientOptions::new("late-1"))
        .await
        .unwrap();
    late.subscribe(&["hark/dev1/status"]).await.unwrap();
    let m = late
        .recv(Duration::from_secs(3))
        .await
        .unwrap()
        .expect("retained status");
    assert_eq!((m.text().as_str(), m.retain), ("offline", true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_outbox_then_says_offline() {
    let broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-2"),
        &["hark/dev2/#"],
        COLLECTOR_LIFETIME,
    )
    .await;
    let (handle, task) = Publisher::start(settings(broker.port(), state.path(), "dev2")).unwrap();
    let mut sent = BTreeMap::new();
    // Stored while possibly still connecting; shutdown must still wait for them.
    publish_tracks(&handle, 0..20, &mut sent).await;
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);
    let h2 = handle.clone();
    tokio::time::timeout(Duration::from_secs(10), handle.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h2.outbox_len(), 0);
    assert!(matches!(
        h2.publish_track("late", json!({})).await,
        Err(hark::mqtt::MqttError::Closed)
    ));

    let done = collector
        .wait_for(Duration::from_secs(10), |seen| {
            seen.iter()
                .any(|m| m.topic == "hark/dev2/status" && m.text() == "offline")
        })
        .await;
    assert!(done);
    assert_all_delivered(&collector, "hark/dev2/track", &sent);
    // The offline status came after every track (it is the last thing sent).
    let last = collector
        .seen
        .iter()
        .rposition(|m| m.topic == "hark/dev2/track")
        .unwrap();
    let off = collector
        .seen
        .iter()
        .rposition(|m| m.text() == "offline")
        .unwrap();
    assert!(off > last);
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_and_restarted_mid_stream_delivers_every_track() {
    let mut broker = Mosquitto::start(BrokerConfig {
        persistence: true,
        ..BrokerConfig::default()
    });
    let state = tempfile::tempdir().unwrap();
    // A persistent session so that messages reaching the broker while the collector is
    // reconnecting are queued for it.
    let mut options = ClientOptions::new("watch-3");
    options.clean_session = false;
    let subscribed_at = std::time::SystemTime::now();
    let mut collector = Collector::start(
        broker.port(),
        options,
        &["hark/dev3/track"],
        COLLECTOR_LIFETIME,
    )
    .await;
    // The killed broker must come back knowing the subscription: wait for an autosave
    // (every second) made after it.
    let db = broker.dir().join("db/mosquitto.db");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::metadata(&db)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > subscribed_at))
        .await,
        "mosquitto never saved its state:\n{}",
        broker.log()
    );

    let (handle, task) = Publisher::start(settings(broker.port(), state.path(), "dev3")).unwrap();
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);
    let mut sent = BTreeMap::new();
    for i in 0..300 {
        if i == 100 {
            // Frozen first, so that messages are surely in flight, unacknowledged, at the kill.
            tokio::task::block_in_place(|| broker.pause());
        }
        if i == 120 {
            assert!(
                handle.stats().sent > handle.stats().acked,
                "messages in flight before the kill"
            );
            tokio::task::block_in_place(|| broker.kill());
        }
        if i == 200 {
            tokio::task::block_in_place(|| broker.restart());
        }
        publish_tracks(&handle, i..i + 1, &mut sent).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        wait_until(Duration::from_secs(30), || handle.outbox_len() == 0).await,
        "outbox still holds {}",
        handle.outbox_len()
    );
    let all = collector
        .wait_for(Duration::from_secs(30), |seen| {
            let ids: BTreeSet<_> = seen
                .iter()
                .filter_map(|m| m.json()["id"].as_str().map(String::from))
                .collect();
            ids.len() >= 300
        })
        .await;
    let duplicates = assert_all_delivered(&collector, "hark/dev3/track", &sent);
    assert!(all);
    let stats = handle.stats();
    println!("broker kill: 300 tracks, {duplicates} duplicate deliveries, stats {stats:?}",);
    assert!(stats.connects >= 2, "the publisher reconnected");
    assert!(
        stats.resent >= 1,
        "in-flight messages were sent again after the restart"
    );
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_a_killed_publisher_while_the_broker_is_down() {
    let mut broker = Mosquitto::start(BrokerConfig {
        persistence: true,
        ..BrokerConfig::default()
    });
    let mut options = ClientOptions::new("watch-4");
    options.clean_session = false;
    let mut collector = Collector::start(
        broker.port(),
        options,
        &["hark/dev4/track"],
        COLLECTOR_LIFETIME,
    )
    .await;
    // SIGTERM: mosquitto saves the collector's session on the way out.
    tokio::task::block_in_place(|| broker.stop());

    let state = tempfile::tempdir().unwrap();
    let s = settings(broker.port(), state.path(), "dev4");
    let (first, task) = Publisher::start(s.clone()).unwrap();
    let mut sent = BTreeMap::new();
    publish_tracks(&first, 0..20, &mut sent).await;
    assert_eq!(first.outbox_len(), 20);
    assert!(!first.is_connected());
    let outbox_dir = first.outbox_dir().to_path_buf();
    // The daemon dies: its task is gone, nothing but the files remains.
    task.abort();
    let _ = task.await;
    drop(first);
    assert_eq!(
        common::outbox_files(&outbox_dir),
        20,
        "every stored track is on disk"
    );

    tokio::task::block_in_place(|| broker.restart());
    let (second, task) = Publisher::start(s).unwrap();
    assert_eq!(second.outbox_len(), 20, "the new publisher finds them");
    assert!(
        wait_until(Duration::from_secs(15), || second.outbox_len() == 0).await,
        "outbox not drained:\n{}",
        broker.log()
    );
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 20))
            .await
    );
    assert_all_delivered(&collector, "hark/dev4/track", &sent);
    assert_eq!(common::outbox_files(&outbox_dir), 0);
    // Loaded messages may have been sent before the crash: they go out with DUP.
    assert_eq!(second.stats().resent, 20);
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_at_start_is_fine() {
    let mut broker = Mosquitto::start(BrokerConfig {
        persistence: true,
        ..BrokerConfig::default()
    });
    let mut options = ClientOptions::new("watch-5");
    options.clean_session = false;
    let mut collector = Collector::start(
        broker.port(),
        options,
        &["hark/dev5/track"],
        COLLECTOR_LIFETIME,
    )
    .await;
    tokio::task::block_in_place(|| broker.stop());

    let state = tempfile::tempdir().unwrap();
    let (handle, task) = Publisher::start(settings(broker.port(), state.path(), "dev5")).unwrap();
    let mut sent = BTreeMap::new();
    publish_tracks(&handle, 0..5, &mut sent).await;
    // Two attempts refused prove it tried, and kept trying, while the broker was down.
    assert!(
        wait_until(Duration::from_secs(10), || handle.stats().connect_failures
            >= 2)
        .await
    );
    assert!(!handle.is_connected());
    assert_eq!(handle.stats().connects, 0);
    assert_eq!(handle.outbox_len(), 5);

    tokio::task::block_in_place(|| broker.restart());
    assert!(wait_until(Duration::from_secs(10), || handle.outbox_len() == 0).await);
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 5))
            .await
    );
    assert_all_delivered(&collector, "hark/dev5/track", &sent);
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_notices_a_frozen_broker_and_recovers() {
    let mut broker = Mosquitto::start(BrokerConfig::default());
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-12"),
        &["hark/dev12/track"],
        COLLECTOR_LIFETIME,
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut s = settings(broker.port(), state.path(), "dev12");
    s.keep_alive_secs = 1;
    s.connect_timeout = Duration::from_secs(1);
    let (handle, task) = Publisher::start(s).unwrap();
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);
    // Frozen, not dead: the socket stays open, only PINGRESP can tell.
    tokio::task::block_in_place(|| broker.pause());
    let mut sent = BTreeMap::new();
    publish_tracks(&handle, 0..3, &mut sent).await;
    assert!(
        wait_until(Duration::from_secs(6), || !handle.is_connected()).await,
        "a frozen broker went unnoticed"
    );
    tokio::task::block_in_place(|| broker.resume());
    assert!(wait_until(Duration::from_secs(15), || handle.outbox_len() == 0).await);
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 3))
            .await
    );
    assert_all_delivered(&collector, "hark/dev12/track", &sent);
    assert!(handle.stats().connects >= 2);
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password() {
    let pw_dir = tempfile::tempdir().unwrap();
    let pw_file = pw_dir.path().join("passwd");
    write_password_file(&pw_file, &[("hark", "s3cret pass"), ("watcher", "w")]);
    let broker = Mosquitto::start(BrokerConfig {
        password_file: Some(pw_file),
        ..BrokerConfig::default()
    });
    // Anonymous clients are refused: the broker really checks.
    assert!(
        TestClient::connect(broker.port(), &ClientOptions::new("anon"))
            .await
            .is_err()
    );
    let mut options = ClientOptions::new("watch-6");
    options.username = Some("watcher".into());
    options.password = Some("w".into());
    let mut collector = Collector::start(
        broker.port(),
        options,
        &["hark/dev6/track"],
        COLLECTOR_LIFETIME,
    )
    .await;

    let good_state = tempfile::tempdir().unwrap();
    let mut good = settings(broker.port(), good_state.path(), "dev6");
    good.username = Some("hark".into());
    good.password = Some("s3cret pass".into());
    let bad_state = tempfile::tempdir().unwrap();
    let mut bad = settings(broker.port(), bad_state.path(), "dev6b");
    bad.username = Some("hark".into());
    bad.password = Some("wrong".into());

    let (good_h, good_t) = Publisher::start(good).unwrap();
    let (bad_h, bad_t) = Publisher::start(bad).unwrap();
    let mut sent = BTreeMap::new();
    publish_tracks(&good_h, 0..3, &mut sent).await;
    bad_h.publish_track("never", json!({})).await.unwrap();
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 3))
            .await
    );
    assert_all_delivered(&collector, "hark/dev6/track", &sent);
    // It did try, and was refused.
    assert!(
        wait_until(Duration::from_secs(10), || bad_h.stats().connect_failures
            >= 1)
        .await
    );
    assert!(!bad_h.is_connected());
    assert_eq!(bad_h.stats().connects, 0, "wrong password must not connect");
    assert_eq!(bad_h.outbox_len(), 1, "its message waits in the outbox");
    good_t.abort();
    bad_t.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_file_and_client_certificate() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(pki_dir.path(), "good");
    let other = certs::generate(pki_dir.path(), "other");
    let broker = Mosquitto::start(BrokerConfig {
        tls: Some(TlsListener {
            ca_file: pki.ca.clone(),
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            require_certificate: true,
        }),
        ..BrokerConfig::default()
    });
    let tls_port = broker.tls_port().unwrap();
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-7"),
        &["hark/+/track"],
        COLLECTOR_LIFETIME,
    )
    .await;

    let start = |device: &str, tls: TlsSettings| {
        let state = tempfile::tempdir().unwrap();
        let mut s = settings(tls_port, state.path(), device);
        s.tls = Some(tls);
        let (h, t) = Publisher::start(s).unwrap();
        (state, h, t)
    };
    let (_s1, good, good_t) = start(
        "tls-good",
        TlsSettings {
            ca_file: Some(pki.ca.clone()),
            client_cert: Some(pki.client_cert.clone()),
            client_key: Some(pki.client_key.clone()),
        },
    );
    // No client certificate: the broker demands one.
    let (_s2, no_cert, no_cert_t) = start(
        "tls-nocert",
        TlsSettings {
            ca_file: Some(pki.ca.clone()),
            ..TlsSettings::default()
        },
    );
    // Trusts another CA: the broker's certificate must be refused by us.
    let (_s3, wrong_ca, wrong_ca_t) = start(
        "tls-wrongca",
        TlsSettings {
            ca_file: Some(other.ca.clone()),
            client_cert: Some(pki.client_cert.clone()),
            client_key: Some(pki.client_key.clone()),
        },
    );
    good.publish_track("tls-1", json!({"tags": []}))
        .await
        .unwrap();
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| seen
                .iter()
                .any(|m| m.topic == "hark/tls-good/track"))
            .await,
        "{}",
        broker.log()
    );
    assert_eq!(collector.on("hark/tls-good/track")[0].json()["id"], "tls-1");
    // Both tried the TLS handshake and failed it.
    assert!(
        wait_until(Duration::from_secs(10), || {
            no_cert.stats().connect_failures >= 1 && wrong_ca.stats().connect_failures >= 1
        })
        .await
    );
    assert_eq!(
        no_cert.stats().connects,
        0,
        "connected without a client certificate"
    );
    assert_eq!(
        wrong_ca.stats().connects,
        0,
        "trusted a broker signed by another CA"
    );
    // A plain-TCP client on the TLS port must fail too (the port really speaks TLS).
    assert!(
        TestClient::connect(tls_port, &ClientOptions::new("plain-on-tls"))
            .await
            .is_err()
    );
    for t in [good_t, no_cert_t, wrong_ca_t] {
        t.abort();
    }
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_discovery_is_reannounced_on_birth() {
    let broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let mut s = settings(broker.port(), state.path(), "dev8");
    s.home_assistant = HaSettings::new("Kitchen radio");
    let config_topic = "homeassistant/sensor/dev8/tags/config";
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-8"),
        &[config_topic],
        COLLECTOR_LIFETIME,
    )
    .await;
    let (handle, task) = Publisher::start(s).unwrap();
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| !seen.is_empty())
            .await
    );
    let config = collector.seen[0].json();
    assert_eq!(config["state_topic"], "hark/dev8/track");
    assert_eq!(config["json_attributes_topic"], "hark/dev8/track");
    assert_eq!(config["availability_topic"], "hark/dev8/status");
    assert_eq!(config["unique_id"], "hark_dev8_tags");
    assert_eq!(config["device"]["name"], "Kitchen radio");
    assert!(config["value_template"]
        .as_str()
        .unwrap()
        .contains("tags[0].tag"));

    // Home Assistant restarts and says so; the config must come again. The birth message is
    // repeated until then because our subscription may still be on its way to the broker.
    let mut ha = TestClient::connect(broker.port(), &ClientOptions::new("fake-ha"))
        .await
        .unwrap();
    let mut again = false;
    for _ in 0..20 {
        ha.publish("homeassistant/status", b"online", false)
            .await
            .unwrap();
        if collector
            .wait_for(Duration::from_millis(500), |seen| seen.len() >= 2)
            .await
        {
            again = true;
            break;
        }
    }
    assert!(again, "discovery not re-announced:\n{}", broker.log());
    assert_eq!(collector.seen[1].json(), config);
    // HA going offline must not trigger anything.
    let before = collector.seen.len();
    ha.publish("homeassistant/status", b"offline", false)
        .await
        .unwrap();
    collector
        .wait_for(Duration::from_millis(700), |_| false)
        .await;
    assert_eq!(collector.seen.len(), before);
    drop(handle);
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_arrive_and_retained_ones_are_ignored() {
    let broker = Mosquitto::start(BrokerConfig::default());
    // A stale retained command left on the broker must not fire at connect.
    let mut sender = TestClient::connect(broker.port(), &ClientOptions::new("cmd-sender"))
        .await
        .unwrap();
    sender
        .publish("hark/dev9/cmd/new_track", b"", true)
        .await
        .unwrap();

    let state = tempfile::tempdir().unwrap();
    let mut s = settings(broker.port(), state.path(), "dev9");
    s.commands = true;
    let (handle, task) = Publisher::start(s).unwrap();
    let mut commands = handle.commands().expect("commands are on");
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);

    let mut got = None;
    for _ in 0..20 {
        sender
            .publish("hark/dev9/cmd/reload", b"", false)
            .await
            .unwrap();
        sender
            .publish("hark/dev9/cmd/bogus", b"", false)
            .await
            .unwrap();
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(500), commands.recv()).await {
            got = Some(c);
            break;
        }
    }
    assert_eq!(
        got,
        Some(Command::Reload),
        "the retained new_track must be ignored"
    );
    while let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(300), commands.recv()).await {
        assert_eq!(c, Command::Reload, "only reloads were sent live");
    }
    sender
        .publish("hark/dev9/cmd/new_track", b"", false)
        .await
        .unwrap();
    let c = tokio::time::timeout(Duration::from_secs(5), commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c, Command::NewTrack);
    task.abort();

    // Off unless configured.
    let state2 = tempfile::tempdir().unwrap();
    let (off, off_t) = Publisher::start(settings(broker.port(), state2.path(), "dev9b")).unwrap();
    assert!(off.commands().is_none());
    off_t.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_is_rate_limited_latest_wins_and_diagnostic_is_retained() {
    let broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let mut s = settings(broker.port(), state.path(), "dev10");
    s.now_min_interval = Duration::from_millis(1000);
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-10"),
        &["hark/dev10/now", "hark/dev10/diagnostic"],
        COLLECTOR_LIFETIME,
    )
    .await;
    let (handle, task) = Publisher::start(s).unwrap();
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);
    let started = Instant::now();
    for i in 0..50 {
        handle
            .publish_now(&json!({"tags": [{"tag": "jazz", "score": i}]}))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let latest = collector
        .wait_for(Duration::from_secs(5), |seen| {
            seen.last()
                .is_some_and(|m| m.json()["tags"][0]["score"] == 49)
        })
        .await;
    assert!(latest, "the latest update must get through");
    let elapsed = started.elapsed().as_secs_f64();
    let n = collector.on("hark/dev10/now").len();
    // 50 updates over about 0.5 s with a 1 s minimum interval: the first, then the latest.
    assert!(
        n <= 2 + elapsed as usize,
        "{n} now messages in {elapsed:.1} s"
    );
    assert!(n >= 2);

    handle
        .publish_diagnostic(&json!({"vocabulary": {"errors": ["line 3: unknown word"]}}))
        .unwrap();
    // The broker has it (and retains it) once a subscriber got it.
    assert!(
        collector
            .wait_for(Duration::from_secs(5), |seen| seen
                .iter()
                .any(|m| m.topic == "hark/dev10/diagnostic"))
            .await
    );
    let mut late = TestClient::connect(broker.port(), &ClientOptions::new("late-10"))
        .await
        .unwrap();
    late.subscribe(&["hark/dev10/diagnostic", "hark/dev10/now"])
        .await
        .unwrap();
    let mut retained = BTreeMap::new();
    for _ in 0..2 {
        let m = late
            .recv(Duration::from_secs(3))
            .await
            .unwrap()
            .expect("retained message");
        assert!(m.retain);
        retained.insert(m.topic.clone(), m.json());
    }
    assert_eq!(
        retained["hark/dev10/diagnostic"]["vocabulary"]["errors"][0],
        "line 3: unknown word"
    );
    assert_eq!(retained["hark/dev10/now"]["tags"][0]["score"], 49);
    task.abort();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_outbox_file_is_moved_aside_and_does_not_block_the_rest() {
    let broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let outbox = state.path().join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    // Written the way a torn disk might leave it, first in line.
    std::fs::write(
        outbox.join("00000000000000000001-broken.json"),
        b"{\"v\":1,\"suff",
    )
    .unwrap();
    let mut collector = Collector::start(
        broker.port(),
        ClientOptions::new("watch-11"),
        &["hark/dev11/track"],
        COLLECTOR_LIFETIME,
    )
    .await;
    let (handle, task) = Publisher::start(settings(broker.port(), state.path(), "dev11")).unwrap();
    let mut sent = BTreeMap::new();
    publish_tracks(&handle, 0..3, &mut sent).await;
    assert!(
        collector
            .wait_for(Duration::from_secs(10), |seen| distinct_ids(seen, 3))
            .await
    );
    assert_all_delivered(&collector, "hark/dev11/track", &sent);
    assert!(wait_until(Duration::from_secs(5), || handle.outbox_len() == 0).await);
    assert!(outbox
        .join("corrupt/00000000000000000001-broken.json")
        .exists());
    task.abort();
    collector.stop().await;
}

/// Prints the figures asked for in the report; asserts only that the work got done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_publish_to_puback_and_outbox_drain() {
    let mut broker = Mosquitto::start(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let mut s = settings(broker.port(), state.path(), "fig");
    s.reconnect_max = Duration::from_millis(500);
    let (handle, task) = Publisher::start(s).unwrap();
    assert!(wait_until(Duration::from_secs(5), || handle.is_connected()).await);

    // One message at a time: store (fsync) then PUBACK round trip measured inside the session.
    let mut rtts = Vec::new();
    let mut stores = Vec::new();
    let mut end_to_end = Vec::new();
    for i in 0..200 {
        let (id, payload) = track(i);
        let t = Instant::now();
        handle.publish_track(&id, payload).await.unwrap();
        stores.push(t.elapsed());
        let target = i as u64 + 1;
        // Spin (yielding) rather than sleep, so the observation adds no timer granularity.
        let deadline = Instant::now() + Duration::from_secs(5);
        while handle.stats().acked < target {
            assert!(Instant::now() < deadline, "no PUBACK for message {i}");
            tokio::task::yield_now().await;
        }
        end_to_end.push(t.elapsed());
        rtts.push(Duration::from_micros(handle.stats().last_ack_rtt_us));
    }
    rtts.sort();
    stores.sort();
    end_to_end.sort();
    println!(
        "FIGURE publish->PUBACK on loopback over 200 messages: median {:?}, p90 {:?}, max {:?}",
        rtts[100], rtts[180], rtts[199]
    );
    println!(
        "FIGURE publish_track store (temp+fsync+rename+dir fsync): median {:?}, p90 {:?}",
        stores[100], stores[180]
    );
    println!(
        "FIGURE publish_track call to PUBACK (store + hand-off + round trip): median {:?}, p90 {:?}",
        end_to_end[100], end_to_end[180]
    );

    // 1,000 messages pile up while the broker is down, then drain when it returns.
    tokio::task::block_in_place(|| broker.kill());
    let t = Instant::now();
    let mut sent = BTreeMap::new();
    publish_tracks(&handle, 1000..2000, &mut sent).await;
    let stored_in = t.elapsed();
    assert_eq!(handle.outbox_len(), 1000);
    let acked_before = handle.stats().acked;
    tokio::task::block_in_place(|| broker.restart());
    let back = Instant::now();
    assert!(wait_until(Duration::from_secs(10), || handle.is_connected()).await);
    let connected_after = back.elapsed();
    let reconnected = Instant::now();
    assert!(
        wait_until(Duration::from_secs(120), || handle.stats().acked
            >= acked_before + 1000)
        .await,
        "not every message was acknowledged"
    );
    let acked_after_connect = reconnected.elapsed();
    assert!(
        wait_until(Duration::from_secs(120), || handle.outbox_len() == 0).await,
        "outbox did not drain"
    );
    let drained_after_connect = reconnected.elapsed();
    let drained_after_broker = back.elapsed();
    println!("FIGURE storing 1000 tracks while the broker is down: {stored_in:?}");
    println!(
        "FIGURE outbox drain of 1000 after the broker returns: {drained_after_broker:?} until the \
         last file was removed (reconnect backoff {connected_after:?}; once connected, last PUBACK \
         after {acked_after_connect:?}, last file removed after {drained_after_connect:?})"
    );
    task.abort();
}

//! The daemon end to end against real parts: `hark run` as a process on the bundled demo, an
//! ALSA virtual microphone (the `file` plugin reading a raw PCM file), a real mosquitto on a
//! free loopback port that is frozen, killed and restarted, the daemon itself killed with
//! messages in its outbox, and the vocabulary edited while it runs.
//!
//! Every wait is bounded. Nothing asserts speed: tracks are cut on the stream's own clock, so
//! the same audio gives the same tracks on any machine, and the assertions are about stream
//! times, ids and tags. Audio goes in as raw PCM on stdin wherever a test must control when
//! the daemon has heard what.
#![cfg(all(feature = "daemon", feature = "cli"))]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use common::client::{ClientOptions, Collector, Message, TestClient};
use common::daemon::{outbox_files, wait_until, Config, Daemon};
use common::mosquitto::{BrokerConfig, Mosquitto};
use common::vmic::{self, VirtualMic};
use serde_json::Value;

/// Sample rate of the demo and of the PCM the tests feed.
const SR: usize = 22_050;
/// One analysis window: 130 STFT frames of hop 512 plus the last frame's tail (≈ 3.02 s).
const WINDOW_S: f64 = (129.0 * 512.0 + 1024.0) / 22_050.0;
/// The daemon's default window hop: 65 frames (≈ 1.51 s).
const HOP_S: f64 = 65.0 * 512.0 / 22_050.0;
/// Bound of every wait for the daemon: far above what it needs, even in a debug build on a
/// busy machine, so it only ever fires when something is really stuck.
const WAIT: Duration = Duration::from_secs(60);
/// MQTT collectors stop by themselves after this long.
const COLLECTOR_LIFETIME: Duration = Duration::from_secs(180);

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The bundled demo (see models/demo/README.md), decoded by hark's own decoder.
fn demo() -> &'static [f32] {
    static DEMO: OnceLock<Vec<f32>> = OnceLock::new();
    DEMO.get_or_init(|| {
        let audio =
            hark::audio::decode_file(manifest("models/demo/demo.ogg")).expect("decode the demo");
        assert_eq!(audio.sample_rate as usize, SR, "the demo is 22.05 kHz");
        audio.samples
    })
}

/// The demo from `from_s` to `to_s` seconds.
fn demo_part(from_s: f64, to_s: f64) -> &'static [f32] {
    let all = demo();
    let end = ((to_s * SR as f64) as usize).min(all.len());
    &all[(from_s * SR as f64) as usize..end]
}

fn zeros(seconds: f64) -> Vec<f32> {
    vec![0.0; (seconds * SR as f64) as usize]
}

/// Twelve seconds of music then four of digital silence: one track, cut by the silence.
fn music_then_silence() -> Vec<f32> {
    let mut v = demo_part(0.0, 12.0).to_vec();
    v.extend(zeros(4.0));
    v
}

/// A daemon reading mono f32 PCM at 22.05 kHz from stdin, its outbox in `state`.
fn stdin_config(state: &Path) -> Config {
    Config::new()
        .set("source.kind", "stdin")
        .set("source.stdin_format", "f32le")
        .set("source.stdin_rate", SR as i64)
        .path("daemon.state_dir", state)
}

fn with_mqtt(config: Config, port: u16, device: &str) -> Config {
    config
        .set("mqtt.host", "127.0.0.1")
        .set("mqtt.port", i64::from(port))
        .set("mqtt.device", device)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn f(track: &Value, key: &str) -> f64 {
    track[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {track}"))
}

fn s<'a>(track: &'a Value, key: &str) -> &'a str {
    track[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {track}"))
}

fn tag_names(track: &Value) -> BTreeSet<String> {
    track["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("tags is an array in {track}"))
        .iter()
        .map(|t| t["tag"].as_str().expect("tag name").to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// What a track looks like on stdout, for failure messages.
fn summary(tracks: &[Value]) -> Vec<String> {
    tracks
        .iter()
        .map(|t| {
            format!(
                "{} [{:.3}, {:.3}] {}",
                t["boundary"],
                f(t, "stream_start_s"),
                f(t, "stream_end_s"),
                t["vocabulary"]
            )
        })
        .collect()
}

fn track_messages<'a>(collector: &'a Collector, topic: &str) -> Vec<&'a Message> {
    collector.on(topic)
}

fn delivered_ids(seen: &[Message], topic: &str) -> BTreeSet<String> {
    seen.iter()
        .filter(|m| m.topic == topic)
        .map(|m| m.json()["id"].as_str().expect("track id").to_string())
        .collect()
}

/// Every printed track arrived on `topic` and nothing else did; a track delivered twice
/// (allowed: QoS 1 is at least once) is the very same message. Returns the duplicates.
fn assert_delivered_exactly(collector: &Collector, topic: &str, printed: &[Value]) -> usize {
    let by_id: BTreeMap<&str, &Value> = printed.iter().map(|t| (s(t, "id"), t)).collect();
    assert_eq!(by_id.len(), printed.len(), "printed track ids are unique");
    let got = track_messages(collector, topic);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        let payload = m.json();
        let id = s(&payload, "id").to_string();
        let expected = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("delivered track {id} was never printed"));
        assert_eq!(
            &&payload, expected,
            "the delivery of {id} differs from the printed track"
        );
        *counts.entry(id).or_default() += 1;
    }
    let missing: Vec<&&str> = by_id
        .keys()
        .filter(|id| !counts.contains_key(**id))
        .collect();
    assert!(
        missing.is_empty(),
        "tracks never delivered: {missing:?} (delivered {counts:?})"
    );
    counts.values().map(|n| n - 1).sum()
}

/// The tag names a vocabulary file defines (the label before `=` or `@`).
fn vocabulary_labels(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .expect("read vocabulary")
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .map(|l| l.split('=').next().unwrap_or_default())
        .map(|l| l.split('@').next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Replaces a file the way editors save: write a sibling, then rename over it.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("saving");
    std::fs::write(&tmp, text).expect("write the new vocabulary");
    std::fs::rename(&tmp, path).expect("rename over the vocabulary");
}

#[test]
fn demo_is_split_at_its_silences_and_at_the_change_of_music() {
    let state = tempfile::tempdir().unwrap();
    let config = Config::new()
        .set("source.realtime", false)
        .path("daemon.state_dir", state.path());
    let mut daemon = Daemon::start(&config, &[]);
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "hark run: {status}\n{}", daemon.log());
    let tracks = daemon.tracks();
    let shown = summary(&tracks);
    let boundaries: Vec<&str> = tracks.iter().map(|t| s(t, "boundary")).collect();
    assert_eq!(
        boundaries,
        ["silence", "novelty", "silence", "end_of_stream"],
        "{shown:#?}"
    );
    let span = |i: usize| {
        (
            f(&tracks[i], "stream_start_s"),
            f(&tracks[i], "stream_end_s"),
        )
    };
    let demo_s = demo().len() as f64 / SR as f64;

    // Music 0–35 s, then silence: the track ends where the silence begins.
    let (s0, e0) = span(0);
    assert!(
        s0 < HOP_S && (e0 - 35.0).abs() <= 0.5,
        "first track {shown:#?}"
    );
    // Music again from 38 s; windows that are mostly silence belong to no track.
    let (s1, e1) = span(1);
    assert!(
        (35.0..=38.0 + HOP_S).contains(&s1),
        "second track starts with the music: {shown:#?}"
    );
    // A hard cut to other music at 73 s is found within one window of it...
    assert!(
        (e1 - 73.0).abs() <= WINDOW_S,
        "change of music near 73 s: {shown:#?}"
    );
    // ...and, with no gap in the audio, the next track starts where that one ended.
    let (s2, e2) = span(2);
    assert_eq!(s2, e1, "{shown:#?}");
    assert!((e2 - 108.0).abs() <= 0.5, "silence at 108 s: {shown:#?}");
    let (s3, e3) = span(3);
    assert!(
        (108.0..=111.0 + HOP_S).contains(&s3),
        "last track starts with the music: {shown:#?}"
    );
    // The input ends; the last track ends with the last whole window.
    assert!(
        e3 <= demo_s && e3 >= demo_s - HOP_S - 0.1,
        "end of stream at {demo_s}: {shown:#?}"
    );

    let labels = vocabulary_labels(&manifest("models/vocabulary.txt"));
    let mut ids = BTreeSet::new();
    for t in &tracks {
        assert!(ids.insert(s(t, "id").to_string()), "ids are unique: {t}");
        assert!(t["windows"].as_u64().is_some_and(|w| w > 0), "{t}");
        assert!(
            (f(t, "duration_s") - (f(t, "stream_end_s") - f(t, "stream_start_s"))).abs() < 0.002,
            "{t}"
        );
        assert!(
            !s(t, "model").is_empty() && s(t, "vocabulary").starts_with("vocabulary.txt#"),
            "{t}"
        );
        let tags = t["tags"].as_array().expect("tags");
        assert!(
            !tags.is_empty() && tags.len() <= 5,
            "top_k = 5 by default: {t}"
        );
        let scores: Vec<f64> = tags
            .iter()
            .map(|x| x["score"].as_f64().expect("score"))
            .collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "tags best first: {t}"
        );
        assert!(
            scores.iter().all(|x| (-1.0..=1.0).contains(x)),
            "cosine scores: {t}"
        );
        assert!(
            tag_names(t).is_subset(&labels),
            "tags come from the vocabulary: {t}"
        );
        assert_eq!(t["top"], tags[0]["tag"], "{t}");
    }
}

/// The daemon's configuration for the virtual microphone: novelty off, so that only the
/// recording's silences (and the device's absences) cut tracks.
fn vmic_config(state: &Path) -> Config {
    Config::new()
        .set("source.kind", "alsa")
        .set("source.device", "hark_vmic")
        .set("tracks.min_track_s", 1.0)
        .set("tracks.novelty_threshold", 0.0)
        .set("tracks.novelty_ratio", 0.0)
        .path("daemon.state_dir", state)
}

#[test]
fn alsa_virtual_microphone_is_captured_and_split_at_its_silence() {
    // Mono 22.05 kHz, played in real time: silence, music, silence, other music, silence.
    let mut audio = zeros(2.0);
    audio.extend_from_slice(demo_part(0.0, 12.0));
    audio.extend(zeros(8.0));
    audio.extend_from_slice(demo_part(40.0, 52.0));
    audio.extend(zeros(4.0));
    let mic = VirtualMic::new();
    let player = mic.play(&audio, SR as u32, WAIT);
    let state = tempfile::tempdir().unwrap();
    let config = vmic_config(state.path());
    let home_dir = mic.home().to_str().unwrap();
    let mut daemon = Daemon::start(&config, &[("HOME", home_dir)]);
    daemon.wait_tracks(2, WAIT);
    player.finish();
    // A capture device never ends: stop it the way systemd does.
    daemon.signal("-TERM");
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
    let line = daemon.wait_log(&["capture started", "device=hark_vmic"], WAIT);
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            .to_string()
    };
    // The microphone has no converter: the daemon must have opened it as it plays.
    assert_eq!(field("format="), "F32", "{line}");
    assert_eq!(field("rate="), vmic::RATE.to_string(), "{line}");
    assert_eq!(field("channels="), vmic::CHANNELS.to_string(), "{line}");

    let tracks = daemon.tracks();
    let shown = summary(&tracks);
    let counters = daemon.wait_log(&["pipeline counters"], WAIT);
    println!("virtual mic: {line}\n{shown:#?}\n{counters}");
    assert_eq!(
        tracks.len(),
        2,
        "two pieces of music, nothing from the silence: {shown:#?}"
    );
    for t in &tracks {
        assert_eq!(s(t, "boundary"), "silence", "{shown:#?}");
        assert!(t["windows"].as_u64().is_some_and(|w| w > 0), "{t}");
        // Twelve seconds of music were played, in real time: nothing was dropped.
        assert!(f(t, "duration_s") <= 12.0 + WINDOW_S, "{shown:#?}");
        assert!(f(t, "duration_s") >= 12.0 - 2.0 * WINDOW_S, "{shown:#?}");
    }
    assert!(
        f(&tracks[1], "stream_start_s") > f(&tracks[0], "stream_end_s"),
        "{shown:#?}"
    );
    assert!(counters.contains("samples_dropped=0"), "{counters}");
}

#[test]
fn a_capture_device_that_vanishes_and_returns_is_captured_again_with_the_hole_as_a_gap() {
    let rt = runtime();
    let broker = Mosquitto::start(BrokerConfig::default());
    let topic = "hark/dev-vmic/track";
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        ClientOptions::new("watch-vmic"),
        &[topic],
        COLLECTOR_LIFETIME,
    ));
    let mic = VirtualMic::new();
    let state = tempfile::tempdir().unwrap();
    let config = with_mqtt(vmic_config(state.path()), broker.port(), "dev-vmic");
    let home_dir = mic.home().to_str().unwrap();
    // Music, and then the device goes away in the middle of it.
    let mut first = zeros(1.0);
    first.extend_from_slice(demo_part(0.0, 12.0));
    let player = mic.play(&first, SR as u32, WAIT);
    let mut daemon = Daemon::start(&config, &[("HOME", home_dir)]);
    assert_eq!(
        player.finish(),
        first.len() * (vmic::RATE as usize / SR),
        "the daemon heard all of it"
    );
    daemon.wait_log(&["capture device lost"], WAIT);
    let tracks = daemon.wait_tracks(1, WAIT);
    assert_eq!(s(&tracks[0], "boundary"), "gap", "{:#?}", summary(&tracks));
    assert!(
        f(&tracks[0], "duration_s") >= 12.0 - 2.0 * WINDOW_S,
        "{:#?}",
        summary(&tracks)
    );

    // Away for a while: the process lives and keeps its broker connection.
    let away = Duration::from_secs(3);
    std::thread::sleep(away);
    assert!(daemon.is_running(), "{}", daemon.log());
    let mut second = demo_part(40.0, 52.0).to_vec();
    second.extend(zeros(4.0));
    let player = mic.play(&second, SR as u32, WAIT);
    let back = wait_until(WAIT, || player.opened_at().is_some());
    assert!(
        back,
        "the daemon opened the device again:\n{}",
        daemon.log()
    );
    let returned = player.opened_at().expect("opened");
    daemon.wait_log_count(&["capture started", "device=hark_vmic"], 2, WAIT);
    let recaptured = returned.elapsed();
    assert!(
        recaptured <= Duration::from_secs(5),
        "captured again {recaptured:?} after the device returned"
    );
    let tracks = daemon.wait_tracks(2, WAIT);
    player.finish();
    daemon.signal("-TERM");
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
    let tracks_now = daemon.tracks();
    let shown = summary(&tracks_now);
    println!("device lost and back after {recaptured:?}:\n{shown:#?}");
    assert_eq!(
        tracks_now.len(),
        2,
        "the music before the loss and after the return, nothing else: {shown:#?}\n{}",
        daemon.log()
    );
    assert_eq!(s(&tracks[1], "boundary"), "silence", "{shown:#?}");
    // The stream clock kept wall time over the hole: the second track starts at least
    // `away` after the first ended.
    assert!(
        f(&tracks[1], "stream_start_s") >= f(&tracks[0], "stream_end_s") + away.as_secs_f64(),
        "{shown:#?}"
    );
    daemon.wait_log(&["audio gap"], WAIT);
    let ids: BTreeSet<String> = tracks_now.iter().map(|t| s(t, "id").to_string()).collect();
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, topic) == ids)),
        "every track, before and after the loss, went out over MQTT"
    );
    assert_delivered_exactly(&collector, topic, &tracks_now);
    rt.block_on(collector.stop());
}

#[test]
fn broker_frozen_and_killed_mid_run_loses_no_track() {
    let rt = runtime();
    let mut broker = Mosquitto::start(BrokerConfig {
        persistence: true,
        ..BrokerConfig::default()
    });
    let topic = "hark/dev-crash/track";
    // A persistent session, so that what the broker receives while the collector is still
    // reconnecting after the restart waits for it.
    let mut options = ClientOptions::new("watch-crash");
    options.clean_session = false;
    let subscribed_at = SystemTime::now();
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        options,
        &[topic],
        COLLECTOR_LIFETIME,
    ));
    // The broker saves its state every second; the killed broker must come back knowing the
    // subscription, so wait for a save made after it.
    let db = broker.dir().join("db/mosquitto.db");
    assert!(
        wait_until(WAIT, || std::fs::metadata(&db)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > subscribed_at)),
        "mosquitto never saved its state:\n{}",
        broker.log()
    );

    let state = tempfile::tempdir().unwrap();
    let config = with_mqtt(stdin_config(state.path()), broker.port(), "dev-crash");
    let mut daemon = Daemon::start(&config, &[]);
    // First track (0–35 s, cut by the silence) is delivered while all is well.
    daemon.feed(demo_part(0.0, 50.0));
    let first = daemon.wait_tracks(1, WAIT);
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, topic).len() == 1)),
        "first track delivered"
    );

    // Frozen, the broker takes the next track's PUBLISH into its socket but never answers;
    // then it dies with that message unacknowledged.
    broker.pause();
    daemon.feed(demo_part(50.0, 100.0));
    daemon.wait_tracks(2, WAIT);
    broker.kill();
    // The third track (cut by the silence at 108 s) is finished while there is no broker.
    daemon.feed(demo_part(100.0, 146.0));
    let tracks = daemon.wait_tracks(3, WAIT);
    assert!(
        wait_until(WAIT, || outbox_files(state.path()) == 2),
        "the two unacknowledged tracks wait on disk: {} files",
        outbox_files(state.path())
    );

    broker.restart();
    let ids: BTreeSet<String> = tracks.iter().map(|t| s(t, "id").to_string()).collect();
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, topic).is_superset(&ids))),
        "tracks 2 and 3 delivered after the restart\n{}",
        daemon.log()
    );
    // The end of the input ends the last track; the daemon publishes it and exits.
    daemon.close_stdin();
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
    let tracks = daemon.tracks();
    assert_eq!(tracks.len(), 4, "{:#?}", summary(&tracks));
    assert_eq!(s(&tracks[0], "id"), s(&first[0], "id"));
    let all: BTreeSet<String> = tracks.iter().map(|t| s(t, "id").to_string()).collect();
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, topic) == all)),
        "all four delivered"
    );
    let duplicates = assert_delivered_exactly(&collector, topic, &tracks);
    println!("broker frozen and killed: 4 tracks, {duplicates} duplicate deliveries");
    assert_eq!(
        outbox_files(state.path()),
        0,
        "the outbox is empty once the broker has everything"
    );
    rt.block_on(collector.stop());
}

#[test]
fn daemon_killed_with_tracks_in_its_outbox_delivers_them_after_restart() {
    let rt = runtime();
    // The broker is down while the first daemon runs.
    let mut broker = Mosquitto::configure(BrokerConfig::default());
    let state = tempfile::tempdir().unwrap();
    let device = "dev-outbox";
    let first = with_mqtt(Config::new(), broker.port(), device)
        .set("source.realtime", false)
        // Stays up after the file, its four tracks waiting for a broker.
        .set("daemon.exit_at_end", false)
        .path("daemon.state_dir", state.path());
    let mut daemon = Daemon::start(&first, &[]);
    let printed = daemon.wait_tracks(4, WAIT);
    assert!(
        wait_until(WAIT, || outbox_files(state.path()) == 4),
        "four tracks in the outbox, found {}",
        outbox_files(state.path())
    );
    // Idle with nothing more to hear, the daemon must not spin (it once polled its closed
    // pipeline channel in a loop, burning half a core or more). Idle it uses next to
    // nothing; a loaded machine can only make a spinning daemon look idler, never the reverse.
    let (cpu0, wall0) = (daemon.cpu_time(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, wall) = (daemon.cpu_time() - cpu0, wall0.elapsed());
    assert!(
        cpu < wall / 5,
        "idle daemon used {cpu:?} of CPU in {wall:?}"
    );
    // No flush, no goodbye: the messages are only on disk.
    daemon.kill();
    assert_eq!(outbox_files(state.path()), 4);

    broker.restart();
    let topic = format!("hark/{device}/track");
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        ClientOptions::new("watch-outbox"),
        &[&topic],
        COLLECTOR_LIFETIME,
    ));
    // The same state directory and device; no audio at all this time.
    let second = with_mqtt(stdin_config(state.path()), broker.port(), device);
    let mut restarted = Daemon::start(&second, &[]);
    let ids: BTreeSet<String> = printed.iter().map(|t| s(t, "id").to_string()).collect();
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, &topic) == ids)),
        "the killed daemon's tracks delivered by its successor\n{}",
        restarted.log()
    );
    assert_delivered_exactly(&collector, &topic, &printed);
    assert!(
        wait_until(WAIT, || outbox_files(state.path()) == 0),
        "outbox emptied after the PUBACKs"
    );
    restarted.close_stdin();
    let status = restarted.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", restarted.log());
    assert!(restarted.tracks().is_empty(), "no audio, no new track");
    rt.block_on(collector.stop());
}

#[test]
fn vocabulary_edits_apply_to_the_next_track_and_broken_edits_are_reported() {
    let rt = runtime();
    let broker = Mosquitto::start(BrokerConfig::default());
    let device = "dev-vocab";
    let (track_topic, diag_topic, now_topic) = (
        format!("hark/{device}/track"),
        format!("hark/{device}/diagnostic"),
        format!("hark/{device}/now"),
    );
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        ClientOptions::new("watch-vocab"),
        &[&track_topic, &diag_topic, &now_topic],
        COLLECTOR_LIFETIME,
    ));
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = dir.path().join("vocabulary.txt");
    std::fs::write(&vocabulary, "# set A\njazz\nrock\npiano\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = with_mqtt(stdin_config(state.path()), broker.port(), device)
        .path("model.vocabulary", &vocabulary)
        // Every tag of the vocabulary, whatever its score: the tag set names the vocabulary.
        .set("tags.threshold", -1.0)
        .set("tags.top_k", 0_i64)
        .set("tags.now_interval_s", 0.2)
        .set("tracks.min_track_s", 5.0)
        .set("mqtt.commands", true);
    let mut daemon = Daemon::start(&config, &[]);

    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(1, WAIT);
    assert_eq!(tag_names(&tracks[0]), names(&["jazz", "rock", "piano"]));
    let id_a = s(&tracks[0], "vocabulary").to_string();

    // A valid edit: reloaded, announced, and the next track is scored with it.
    replace_file(&vocabulary, "# set B\nhappy\nsad\nguitar\nambient\n");
    let ok_b = |m: &Message| {
        m.topic == diag_topic && m.json()["ok"] == true && m.json()["vocabulary"] != id_a.as_str()
    };
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(ok_b))),
        "reload announced\n{}",
        daemon.log()
    );
    let id_b = collector
        .seen
        .iter()
        .find(|m| ok_b(m))
        .map(|m| m.json()["vocabulary"].as_str().unwrap().to_string())
        .unwrap();
    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(2, WAIT);
    assert_eq!(
        tag_names(&tracks[1]),
        names(&["happy", "sad", "guitar", "ambient"]),
        "the next track uses the new vocabulary"
    );
    assert_eq!(s(&tracks[1], "vocabulary"), id_b);
    assert_ne!(id_a, id_b);

    // A broken edit (line 2 is no word): the vocabulary in service stays, the error is
    // logged and published, naming its line.
    replace_file(&vocabulary, "happy\nxqzzyplughword\n");
    let failed = |m: &Message| m.topic == diag_topic && m.json()["ok"] == false;
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(failed))),
        "error published\n{}",
        daemon.log()
    );
    let diagnostic = collector.seen.iter().find(|m| failed(m)).unwrap().json();
    let errors: Vec<&str> = diagnostic["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":2:") && e.contains("xqzzyplughword")),
        "error names its line: {diagnostic}"
    );
    assert_eq!(diagnostic["in_service"], id_b.as_str(), "{diagnostic}");
    daemon.wait_log(&["vocabulary edit rejected", "xqzzyplughword"], WAIT);
    // Retained: whoever looks later still finds it.
    let late = rt.block_on(async {
        let mut client = TestClient::connect(broker.port(), &ClientOptions::new("late-vocab"))
            .await
            .expect("connect");
        client.subscribe(&[&diag_topic]).await.expect("subscribe");
        client.recv(Duration::from_secs(10)).await.expect("receive")
    });
    let late = late.expect("a retained diagnostic");
    assert!(late.retain && late.json()["ok"] == false, "{late:?}");
    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(3, WAIT);
    assert_eq!(
        tag_names(&tracks[2]),
        names(&["happy", "sad", "guitar", "ambient"]),
        "the old vocabulary stays"
    );
    assert_eq!(s(&tracks[2], "vocabulary"), id_b);

    // Fixed again: back in service; and a track cut on command (no silence, no end).
    replace_file(&vocabulary, "calm\ndrums\n");
    let ok_c = |m: &Message| {
        m.topic == diag_topic
            && m.json()["ok"] == true
            && ![id_a.as_str(), id_b.as_str()]
                .contains(&m.json()["vocabulary"].as_str().unwrap_or(""))
    };
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(ok_c))),
        "fixed vocabulary loaded\n{}",
        daemon.log()
    );
    let id_c = collector
        .seen
        .iter()
        .find(|m| ok_c(m))
        .map(|m| m.json()["vocabulary"].as_str().unwrap().to_string())
        .unwrap();
    daemon.feed(demo_part(38.0, 50.0));
    // The provisional `now` message shows when the daemon has heard the music.
    let heard = |m: &Message| {
        m.topic == now_topic
            && m.json()["vocabulary"] == id_c.as_str()
            && m.json()["windows"].as_u64().is_some_and(|w| w >= 4)
    };
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(heard))),
        "music heard\n{}",
        daemon.log()
    );
    rt.block_on(async {
        let mut client = TestClient::connect(broker.port(), &ClientOptions::new("cmd-vocab"))
            .await
            .expect("connect");
        client
            .publish(&format!("hark/{device}/cmd/new_track"), b"", false)
            .await
            .expect("publish");
        client.disconnect().await;
    });
    let tracks = daemon.wait_tracks(4, WAIT);
    assert_eq!(
        s(&tracks[3], "boundary"),
        "command",
        "{:#?}",
        summary(&tracks)
    );
    assert_eq!(tag_names(&tracks[3]), names(&["calm", "drums"]));
    assert_eq!(s(&tracks[3], "vocabulary"), id_c);

    daemon.close_stdin();
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
    let tracks = daemon.tracks();
    assert_eq!(tracks.len(), 4, "{:#?}", summary(&tracks));
    let all: BTreeSet<String> = tracks.iter().map(|t| s(t, "id").to_string()).collect();
    assert!(rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, &track_topic) == all)));
    assert_delivered_exactly(&collector, &track_topic, &tracks);
    rt.block_on(collector.stop());
}

#[test]
fn sighup_reloads_the_vocabulary_when_watching_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = dir.path().join("tags.txt");
    std::fs::write(&vocabulary, "jazz\nrock\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = stdin_config(state.path())
        .path("model.vocabulary", &vocabulary)
        .set("model.watch_vocabulary", false)
        .set("tags.threshold", -1.0)
        .set("tags.top_k", 0_i64)
        .set("tracks.min_track_s", 5.0);
    let mut daemon = Daemon::start(&config, &[]);
    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(1, WAIT);
    assert_eq!(tag_names(&tracks[0]), names(&["jazz", "rock"]));

    // Not watched: an edit alone changes nothing...
    replace_file(&vocabulary, "happy\nsad\n");
    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(2, WAIT);
    assert_eq!(
        tag_names(&tracks[1]),
        names(&["jazz", "rock"]),
        "no reload without a signal"
    );
    // ...until SIGHUP.
    daemon.signal("-HUP");
    daemon.wait_log(&["vocabulary reloaded", "SIGHUP"], WAIT);
    daemon.feed(&music_then_silence());
    let tracks = daemon.wait_tracks(3, WAIT);
    assert_eq!(tag_names(&tracks[2]), names(&["happy", "sad"]));
    assert_ne!(tracks[2]["vocabulary"], tracks[0]["vocabulary"]);
    daemon.close_stdin();
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
}

#[test]
fn sigterm_flushes_the_current_track_then_says_offline() {
    let rt = runtime();
    let broker = Mosquitto::start(BrokerConfig::default());
    let device = "dev-term";
    let (track_topic, status_topic, now_topic) = (
        format!("hark/{device}/track"),
        format!("hark/{device}/status"),
        format!("hark/{device}/now"),
    );
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        ClientOptions::new("watch-term"),
        &[&track_topic, &status_topic, &now_topic],
        COLLECTOR_LIFETIME,
    ));
    let state = tempfile::tempdir().unwrap();
    let config = with_mqtt(stdin_config(state.path()), broker.port(), device)
        .set("tags.now_interval_s", 0.2)
        .set("tracks.min_track_s", 5.0);
    let mut daemon = Daemon::start(&config, &[]);
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| {
            seen.iter()
                .any(|m| m.topic == status_topic && m.text() == "online")
        })),
        "online\n{}",
        daemon.log()
    );
    // Fifteen seconds of music, and stdin stays open: the track is still in progress.
    daemon.feed(demo_part(0.0, 15.0));
    let heard =
        |m: &Message| m.topic == now_topic && m.json()["windows"].as_u64().is_some_and(|w| w >= 6);
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(heard))),
        "music heard\n{}",
        daemon.log()
    );
    daemon.signal("-TERM");
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());

    let tracks = daemon.tracks();
    assert_eq!(tracks.len(), 1, "{:#?}", summary(&tracks));
    let t = &tracks[0];
    assert_eq!(s(t, "boundary"), "end_of_stream");
    assert!(t["windows"].as_u64().is_some_and(|w| w >= 6), "{t}");
    assert!(f(t, "stream_end_s") <= 15.0, "{t}");
    let id = s(t, "id").to_string();
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| {
            delivered_ids(seen, &track_topic).contains(&id)
                && seen
                    .iter()
                    .rfind(|m| m.topic == status_topic)
                    .is_some_and(|m| m.text() == "offline")
        })),
        "flushed track delivered, then offline: {:?}",
        collector
            .seen
            .iter()
            .filter(|m| m.topic == status_topic)
            .map(Message::text)
            .collect::<Vec<_>>()
    );
    assert_delivered_exactly(&collector, &track_topic, &tracks);
    assert_eq!(outbox_files(state.path()), 0, "delivered before exit");
    rt.block_on(collector.stop());
}

#[test]
fn non_finite_float_input_does_not_kill_the_pipeline() {
    // f32 PCM with NaN, infinities and absurd values mixed in (garbage, or the wrong
    // stdin_format), at a rate that needs resampling: it once panicked the front-end thread.
    let mut samples = demo_part(0.0, 20.0).to_vec();
    for (i, x) in samples.iter_mut().enumerate().filter(|(i, _)| i % 997 == 0) {
        *x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30][i % 4];
    }
    let state = tempfile::tempdir().unwrap();
    let config = stdin_config(state.path())
        .set("source.stdin_rate", 44_100_i64)
        .set("tracks.min_track_s", 2.0);
    let mut daemon = Daemon::start(&config, &[]);
    daemon.feed(&samples);
    daemon.close_stdin();
    let status = daemon.wait_exit(WAIT);
    let log = daemon.log();
    assert!(status.success(), "{status}\n{log}");
    assert!(
        !log.contains("panicked") && !log.contains("ended abnormally"),
        "{log}"
    );
    let tracks = daemon.tracks();
    assert_eq!(tracks.len(), 1, "{:#?}\n{log}", summary(&tracks));
    assert_eq!(s(&tracks[0], "boundary"), "end_of_stream");
    // Twenty seconds at 22.05 kHz read as 44.1 kHz: ten seconds of stream.
    assert!(
        f(&tracks[0], "stream_end_s") > 8.0,
        "{:#?}",
        summary(&tracks)
    );
}

/// Decodes a track message's `embedding` field as the README tells a fleet consumer to.
fn decode_embedding(track: &Value) -> Vec<f32> {
    use base64::Engine;
    let e = &track["embedding"];
    assert_eq!(e["format"], "f16le", "{track}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(e["base64"].as_str().expect("base64 text"))
        .expect("valid base64");
    let values: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    assert_eq!(values.len() as u64, e["dim"].as_u64().unwrap());
    values
}

#[test]
fn a_radio_box_reports_dead_air_clipping_and_its_history_database_over_mqtt() {
    let rt = runtime();
    let broker = Mosquitto::start(BrokerConfig::default());
    let device = "dev-health";
    let mut collector = rt.block_on(Collector::start(
        broker.port(),
        ClientOptions::new("watch-health"),
        &["hark/dev-health/#", "homeassistant/#"],
        COLLECTOR_LIFETIME,
    ));
    let state = tempfile::tempdir().unwrap();
    // A history file that is not a database: moved aside, said on diagnostic/history.
    std::fs::write(state.path().join("history.sqlite"), vec![7u8; 8192]).unwrap();
    let config = with_mqtt(stdin_config(state.path()), broker.port(), device)
        .set("health.dead_air_s", 5.0)
        .set("health.clipping_clear_s", 6.0)
        .set("mqtt.track_embedding", true);
    let config = config.set("mqtt.home_assistant", {
        let mut t = toml::Table::new();
        t.insert("enabled".into(), true.into());
        toml::Value::Table(t)
    });
    let mut daemon = Daemon::start(&config, &[]);
    let health_topic = "hark/dev-health/health";
    let flags = |m: &Message| {
        let v = m.json();
        (
            v["dead_air"].as_bool().unwrap(),
            v["clipping"].as_bool().unwrap(),
            v["source_lost"].as_bool().unwrap(),
        )
    };
    // `health` is a retained state (the latest wins), so each stage of audio is fed only
    // once the state before it is on the broker.
    let clipped: Vec<f32> = demo_part(42.0, 46.0)
        .iter()
        .map(|x| (x * 30.0).clamp(-1.0, 1.0))
        .collect();
    let mut music_silence = demo_part(0.0, 12.0).to_vec();
    music_silence.extend(zeros(8.0));
    let stages: [(Vec<f32>, (bool, bool, bool)); 5] = [
        (Vec::new(), (false, false, false)),
        (music_silence, (true, false, false)),
        (demo_part(40.0, 42.0).to_vec(), (false, false, false)),
        (clipped, (false, true, false)),
        (demo_part(46.0, 58.0).to_vec(), (false, false, false)),
    ];
    for (i, (audio, want)) in stages.iter().enumerate() {
        daemon.feed(audio);
        assert!(
            rt.block_on(collector.wait_for(WAIT, |seen| {
                seen.iter().filter(|m| m.topic == health_topic).count() > i
            })),
            "health stage {i}: {:?}\n{}",
            collector
                .on(health_topic)
                .iter()
                .map(|m| m.text())
                .collect::<Vec<_>>(),
            daemon.log()
        );
        assert_eq!(flags(collector.on(health_topic)[i]), *want, "stage {i}");
    }
    daemon.close_stdin();
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "{status}\n{}", daemon.log());
    let tracks = daemon.tracks();
    assert_eq!(tracks.len(), 2, "{:#?}", summary(&tracks));
    assert_eq!(
        collector.on(health_topic).len(),
        stages.len(),
        "no other change"
    );
    let raised = collector.on(health_topic)[1].json();
    // Silence starts at 12 s; dead air is raised once it has lasted 5 s.
    let at = f(&raised, "changed_at_s");
    assert!((17.0..=18.5).contains(&at), "dead air raised at {at}");

    // Home Assistant: the tags sensor and a binary sensor per alarm, on the health topic.
    for key in ["dead_air", "clipping", "source_lost"] {
        let topic = format!("homeassistant/binary_sensor/{device}/{key}/config");
        let config = collector.on(&topic);
        assert!(!config.is_empty(), "{topic} announced");
        assert_eq!(config[0].json()["state_topic"], health_topic);
    }

    // The corrupt history was moved aside and said so, retained.
    let diag = "hark/dev-health/diagnostic/history";
    assert!(rt.block_on(collector.wait_for(WAIT, |seen| seen.iter().any(|m| m.topic == diag))));
    let notice = collector.on(diag)[0].json();
    assert!(
        notice["moved_to"].as_str().unwrap().contains(".corrupt-"),
        "{notice}"
    );

    // Fleet: the embedding in the track message decodes to the model's D values.
    let track_topic = "hark/dev-health/track";
    assert!(
        rt.block_on(collector.wait_for(WAIT, |seen| delivered_ids(seen, track_topic).len() == 2))
    );
    for t in &tracks {
        let e = decode_embedding(t);
        assert_eq!(e.len(), 100);
        assert!(e.iter().all(|x| x.is_finite()) && e.iter().any(|x| *x != 0.0));
    }
    let published = collector.on(track_topic)[0].json();
    assert_eq!(published["embedding"], tracks[0]["embedding"]);
    rt.block_on(collector.stop());

    // Retained: a newcomer gets the last health state and the history notice at once.
    let late = rt.block_on(async {
        let mut c = Collector::start(
            broker.port(),
            ClientOptions::new("late-health"),
            &[health_topic, diag],
            COLLECTOR_LIFETIME,
        )
        .await;
        c.wait_for(WAIT, |seen| seen.len() >= 2).await;
        let got: Vec<Message> = c.seen.clone();
        c.stop().await;
        got
    });
    assert!(late.iter().all(|m| m.retain));
    let last = late
        .iter()
        .find(|m| m.topic == health_topic)
        .expect("retained health");
    assert_eq!(flags(last), (false, false, false));
}

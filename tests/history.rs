//! The track history against real SQLite files: what the daemon stores, retention by age and
//! size, a corrupt file moved aside, search by any words, the vocabulary preview, and the
//! `hark history` and `hark vocab preview` commands on a history the real daemon wrote.

mod common;

use common::daemon::{Config, Daemon, HARK};
use hark::daemon::messages::{MessageContext, TrackMessage};
use hark::daemon::pipeline::ScoredTrack;
use hark::history::search::{preview, search};
use hark::history::store::unix_ms;
use hark::history::{HistoryRecord, Opened, Store, WindowEmbeddings};
use hark::model::Model;
use hark::score::{Scorer, Selection};
use hark::track::{Boundary, FinishedTrack};
use hark::vocab::{scorer_from_text, GloveStore};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(120);

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

struct Parts {
    model: Model,
    glove: GloveStore,
}

fn parts() -> Parts {
    Parts {
        model: Model::load(&manifest("models/default")).unwrap(),
        glove: GloveStore::open(manifest("models/glove/glove-6b-50d.hgv")).unwrap(),
    }
}

impl Parts {
    fn scorer(&self, lines: &[&str]) -> Scorer {
        scorer_from_text(
            &self.model,
            &self.glove,
            &lines.join("\n"),
            Path::new("test.txt"),
        )
        .unwrap()
        .scorer
    }

    /// The word branch's embedding of `word`: a point of the shared space that the word
    /// itself scores highest on, standing in for a track that sounds like it.
    fn embedding(&self, word: &str) -> Vec<f32> {
        let vector = self.glove.vector(word).expect("word in GloVe");
        self.model.word.embed(&vector, 1).unwrap()
    }
}

/// A record of a track that sounds like `word`, started `age` ago, by `model`.
fn record(parts: &Parts, word: &str, age: Duration, model: &str, n: usize) -> HistoryRecord {
    let started = SystemTime::now() - age;
    let ctx = MessageContext {
        device: "radio-1".into(),
        model: model.into(),
        wall_origin: started,
        include_embedding: false,
    };
    let embedding = parts.embedding(word);
    let scored = ScoredTrack {
        track: FinishedTrack {
            start_s: 0.0,
            end_s: 60.0 + n as f64,
            windows: 20,
            embedding: embedding.clone(),
            boundary: Boundary::Silence,
        },
        tags: vec![],
        vocabulary: "v.txt#1".into(),
        windows: None,
    };
    HistoryRecord {
        message: TrackMessage::new(&ctx, &scored),
        started_ms: unix_ms(started),
        model: model.into(),
        embedding,
        windows: None,
    }
}

fn identity(parts: &Parts) -> String {
    parts.model.identity()
}

/// A new history file in a temporary directory (kept alive by the returned guard).
fn fresh_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (store, opened) = Store::open_or_recover(&path).unwrap();
    assert!(matches!(opened, Opened::Fine));
    (dir, path, store)
}

#[test]
fn a_stored_track_reads_back_as_published_in_a_versioned_wal_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let parts = parts();
    let (mut store, opened) = Store::open_or_recover(&path).unwrap();
    assert!(matches!(opened, Opened::Fine));
    let r = record(
        &parts,
        "piano",
        Duration::from_secs(60),
        &identity(&parts),
        0,
    );
    store.insert(&r).unwrap();
    drop(store);

    let conn = rusqlite_check(&path);
    assert_eq!(conn.0, "wal");
    assert_eq!(conn.1, hark::history::store::SCHEMA_VERSION);

    let store = Store::open_read_only(&path).unwrap();
    let mut seen = Vec::new();
    store
        .list(i64::MIN, 0, |t| {
            seen.push(t);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 1);
    let t = &seen[0];
    assert_eq!(t.id, r.message.id);
    assert_eq!(t.started_at, r.message.started_at);
    assert_eq!(t.boundary, "silence");
    assert_eq!(t.model, identity(&parts));
    assert_eq!(t.windows, 20);
}

/// (WAL mode, user_version) read off the file header, as SQLite's file format defines them:
/// bytes 18 and 19 are 2 in WAL mode, bytes 60..64 hold user_version big-endian.
fn rusqlite_check(path: &Path) -> (String, i64) {
    let bytes = std::fs::read(path).unwrap();
    let mode = if bytes[18] == 2 && bytes[19] == 2 {
        "wal"
    } else {
        "rollback"
    };
    let version = i32::from_be_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]);
    (mode.to_string(), i64::from(version))
}

#[test]
fn retention_deletes_tracks_past_the_age_limit_and_the_oldest_past_the_size_limit() {
    let (_dir, path, mut store) = fresh_store();
    let parts = parts();
    let model = identity(&parts);
    let day = Duration::from_secs(86_400);
    let mut records = Vec::new();
    for i in 0..10 {
        records.push(record(
            &parts,
            "jazz",
            day * 100 + day * i,
            &model,
            i as usize,
        ));
    }
    for i in 0..2000 {
        records.push(record(
            &parts,
            "piano",
            Duration::from_secs(3600 + 60 * (2000 - i)),
            &model,
            i as usize,
        ));
    }
    store.insert_many(&records).unwrap();
    assert_eq!(store.track_count().unwrap(), 2010);

    let pruned = store.prune(SystemTime::now(), day * 90, u64::MAX).unwrap();
    assert_eq!(pruned.by_age, 10);
    assert_eq!(store.track_count().unwrap(), 2000);

    let before = store.used_bytes().unwrap();
    let limit = before / 3;
    let file_before = std::fs::metadata(&path).unwrap().len();
    let pruned = store.prune(SystemTime::now(), day * 90, limit).unwrap();
    assert!(pruned.by_size > 0);
    let after = store.used_bytes().unwrap();
    assert!(after <= limit, "{after} bytes of data, limit {limit}");
    let left = store.track_count().unwrap();
    assert!(left > 0 && left < 2000, "{left}");
    // The newest tracks stay.
    let mut newest = Vec::new();
    store
        .list(i64::MIN, 1, |t| {
            newest.push(t.started_ms);
            Ok(())
        })
        .unwrap();
    assert!(newest[0] >= unix_ms(SystemTime::now() - Duration::from_secs(3600 + 120)));
    // Freed pages go back to the file system.
    let file_after = std::fs::metadata(&path).unwrap().len();
    assert!(file_after < file_before, "{file_after} < {file_before}");
}

#[test]
fn a_corrupt_file_is_moved_aside_and_a_fresh_history_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let parts = parts();
    let (mut store, _) = Store::open_or_recover(&path).unwrap();
    for i in 0..50 {
        store
            .insert(&record(
                &parts,
                "jazz",
                Duration::from_secs(60),
                &identity(&parts),
                i,
            ))
            .unwrap();
    }
    drop(store);
    // Scribble over the middle of the file, past the header: pages SQLite must read.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for b in &mut bytes[4096..] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("history.sqlite-wal"));

    let (mut store, opened) = Store::open_or_recover(&path).unwrap();
    let Opened::MovedAside { moved_to, reason } = opened else {
        panic!("the corrupt file was not noticed");
    };
    assert!(moved_to.exists(), "{}", moved_to.display());
    assert!(moved_to.to_string_lossy().contains(".corrupt-"));
    assert!(!reason.is_empty());
    assert_eq!(store.track_count().unwrap(), 0);
    store
        .insert(&record(
            &parts,
            "jazz",
            Duration::from_secs(1),
            &identity(&parts),
            0,
        ))
        .unwrap();
    assert_eq!(store.track_count().unwrap(), 1);

    // Not a database at all: the same.
    std::fs::write(
        dir.path().join("junk.sqlite"),
        b"this is not sqlite at all, just text",
    )
    .unwrap();
    let (_, opened) = Store::open_or_recover(&dir.path().join("junk.sqlite")).unwrap();
    assert!(matches!(opened, Opened::MovedAside { .. }));
}

#[test]
fn search_ranks_tracks_by_any_words_and_leaves_other_models_unscored() {
    let (_dir, _path, mut store) = fresh_store();
    let parts = parts();
    let model = identity(&parts);
    let words = ["piano", "guitar", "drums", "ambient", "orchestra"];
    for (i, w) in words.iter().enumerate() {
        store
            .insert(&record(
                &parts,
                w,
                Duration::from_secs(600 - i as u64),
                &model,
                i,
            ))
            .unwrap();
    }
    // A track of another model whose embedding would win every query if it were scored.
    let mut other = record(&parts, "guitar", Duration::from_secs(1), "other@9+abc", 9);
    other.embedding = parts.embedding("guitar");
    store.insert(&other).unwrap();

    for w in words {
        let result = search(&store, &model, &parts.scorer(&[w]), i64::MIN, 2).unwrap();
        assert_eq!(result.scanned.scored, 5);
        assert_eq!(result.scanned.other_models, 1);
        assert_eq!(result.hits.len(), 2);
        let best = &result.hits[0];
        assert_ne!(best.track.id, other.message.id);
        assert_eq!(best.words[0].tag, w);
        assert!(best.score >= result.hits[1].score);
        // The best track is the one that sounds like the word.
        let expected = words.iter().position(|x| *x == w).unwrap();
        assert_eq!(
            best.track.duration_s,
            60.0 + expected as f64,
            "query {w}: {:?}",
            result.hits
        );
    }
    // `since` leaves older tracks out.
    let since = unix_ms(SystemTime::now() - Duration::from_millis(598_500));
    let result = search(&store, &model, &parts.scorer(&["piano"]), since, 10).unwrap();
    assert_eq!(result.scanned.scored, 3);
}

#[test]
fn preview_counts_what_each_tag_would_tag_and_what_appears_and_vanishes() {
    let (_dir, _path, mut store) = fresh_store();
    let parts = parts();
    let model = identity(&parts);
    for i in 0..6 {
        let w = if i % 2 == 0 { "piano" } else { "drums" };
        store
            .insert(&record(&parts, w, Duration::from_secs(60), &model, i))
            .unwrap();
    }
    let in_service = parts.scorer(&["piano", "drums"]);
    let proposed = parts.scorer(&["piano", "guitar"]);
    let rule = Selection {
        threshold: 0.9,
        top_k: 1,
    };
    let p = preview(&store, &model, &in_service, &proposed, rule, i64::MIN, 2).unwrap();
    assert_eq!(p.scanned.scored, 6);
    let tag = |name: &str| p.tags.iter().find(|t| t.tag == name).unwrap();
    assert_eq!(tag("piano").change, "kept");
    assert_eq!(tag("piano").tracks_in_service, 3);
    assert_eq!(tag("piano").tracks_proposed, 3);
    assert_eq!(tag("piano").examples.len(), 2);
    assert_eq!(tag("drums").change, "removed");
    assert_eq!(tag("drums").tracks_in_service, 3);
    assert_eq!(tag("drums").tracks_proposed, 0);
    assert_eq!(tag("guitar").change, "added");
    assert_eq!(p.vanish, vec!["drums".to_string()]);
    // The drum tracks lose their top tag unless guitar takes them at 0.9.
    assert_eq!(p.top_changed, 3);
}

#[test]
fn window_embeddings_survive_int8_within_a_step_of_their_scale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let parts = parts();
    let windows: Vec<Vec<f32>> = ["piano", "drums", "guitar"]
        .iter()
        .map(|w| parts.embedding(w))
        .collect();
    let mut r = record(
        &parts,
        "piano",
        Duration::from_secs(5),
        &identity(&parts),
        0,
    );
    r.windows = WindowEmbeddings::quantize(&windows);
    let (mut store, _) = Store::open_or_recover(&path).unwrap();
    store.insert(&r).unwrap();
    let mut rowid = 0;
    store
        .list(i64::MIN, 1, |t| {
            rowid = t.rowid;
            Ok(())
        })
        .unwrap();
    let back = store
        .window_embeddings(rowid)
        .unwrap()
        .expect("windows kept");
    assert_eq!(back.len(), 3);
    for (a, b) in windows.iter().zip(&back) {
        let max = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= max / 127.0 * 0.51, "{x} vs {y}");
        }
    }
}

fn run_hark(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(HARK)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_daemon_keeps_every_track_and_the_commands_search_list_export_and_preview_it() {
    let state = tempfile::tempdir().unwrap();
    let config = Config::new()
        .set("source.realtime", false)
        .set("history.window_embeddings", true)
        .path("daemon.state_dir", state.path());
    let mut daemon = Daemon::start(&config, &[]);
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "hark run: {status}\n{}", daemon.log());
    let printed = daemon.tracks();
    assert_eq!(printed.len(), 4, "{}", daemon.log());
    let cfg = daemon.config_path().to_path_buf();

    let (ok, out, err) = run_hark(&["history", "list"], &cfg);
    assert!(ok, "{err}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{out}");
    let mut ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    let mut printed_ids: Vec<&str> = printed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort();
    printed_ids.sort();
    assert_eq!(
        ids, printed_ids,
        "the history holds exactly the published tracks"
    );
    assert!(listed.iter().all(|t| t["same_model"] == true));
    // Newest first, with the tags as published.
    let newest = printed.last().unwrap();
    assert_eq!(listed[0]["id"], newest["id"]);
    assert_eq!(listed[0]["tags"], newest["tags"]);

    let (ok, out, err) = run_hark(&["history", "search", "melancholic", "--limit", "3"], &cfg);
    assert!(ok, "{err}");
    let hits: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 3, "{out}");
    assert!(err.contains("4 tracks scored"), "{err}");
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(hits[0]["words"][0]["tag"], "melancholic");

    let (ok, _, err) = run_hark(&["history", "search", "xqzzyv"], &cfg);
    assert!(!ok);
    assert!(
        err.contains("search words:1:") && err.contains("xqzzyv"),
        "{err}"
    );
    assert_eq!(err.matches("xqzzyv").count(), 1, "said once: {err}");

    // (Played faster than real time, the demo's tracks carry stream-clock wall times that run
    // minutes ahead of now: a fixed future time leaves them all out.)
    let (ok, out, err) = run_hark(
        &[
            "history",
            "search",
            "piano",
            "--since",
            "2099-01-01T00:00:00Z",
        ],
        &cfg,
    );
    assert!(ok, "{err}");
    assert!(
        out.is_empty() && err.contains("0 tracks scored"),
        "{out}{err}"
    );

    let (ok, out, err) = run_hark(&["history", "export", "--format", "csv"], &cfg);
    assert!(ok, "{err}");
    let mut reader = csv_rows(&out);
    assert_eq!(reader.remove(0)[0], "id");
    assert_eq!(reader.len(), 4);

    let edit = state.path().join("edit.txt");
    std::fs::write(&edit, "piano\nmelancholic\nthunderstorm\n").unwrap();
    let (ok, out, err) = run_hark(
        &["vocab", "preview", edit.to_str().unwrap(), "--json"],
        &cfg,
    );
    assert!(ok, "{err}");
    let p: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(p["scanned"]["scored"], 4);
    let tags: Vec<&str> = p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(&tags[..3], ["piano", "melancholic", "thunderstorm"]);

    std::fs::write(&edit, "piano\nxqzzyv @0.3\n").unwrap();
    let (ok, _, err) = run_hark(&["vocab", "preview", edit.to_str().unwrap()], &cfg);
    assert!(!ok);
    assert!(
        err.contains("edit.txt:2:") && err.contains("xqzzyv"),
        "{err}"
    );
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn a_history_that_cannot_be_written_never_stops_tagging() {
    let state = tempfile::tempdir().unwrap();
    // A directory where the file should be: SQLite cannot open it, whoever runs the test.
    std::fs::create_dir(state.path().join("history.sqlite")).unwrap();
    let config = Config::new()
        .set("source.realtime", false)
        .path("daemon.state_dir", state.path());
    let mut daemon = Daemon::start(&config, &[]);
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "hark run: {status}\n{}", daemon.log());
    assert_eq!(daemon.tracks().len(), 4, "{}", daemon.log());
    assert!(
        daemon.log().contains("history not written"),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_corrupt_history_is_moved_aside_by_the_daemon_and_tagging_goes_on() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("history.sqlite"), vec![0x42u8; 64 * 1024]).unwrap();
    let config = Config::new()
        .set("source.realtime", false)
        .path("daemon.state_dir", state.path());
    let mut daemon = Daemon::start(&config, &[]);
    let status = daemon.wait_exit(WAIT);
    assert!(status.success(), "hark run: {status}\n{}", daemon.log());
    assert_eq!(daemon.tracks().len(), 4);
    assert!(daemon.log().contains("moved aside"), "{}", daemon.log());
    let aside = std::fs::read_dir(state.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(aside, 1);
    let (ok, out, err) = run_hark(&["history", "list"], daemon.config_path());
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 4);
}

#[test]
fn a_file_from_a_newer_hark_is_refused_by_name_not_overwritten_or_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let parts = parts();
    let (mut store, _) = Store::open_or_recover(&path).unwrap();
    store
        .insert(&record(
            &parts,
            "jazz",
            Duration::from_secs(5),
            &identity(&parts),
            0,
        ))
        .unwrap();
    drop(store);
    // Bump user_version (bytes 60..64 of the header) as a newer schema would.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&99i32.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let err = Store::open_or_recover(&path).unwrap_err().to_string();
    assert!(
        err.contains("schema version 99") && err.contains("history.sqlite"),
        "{err}"
    );
    let err = Store::open_read_only(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap()[60..64], 99i32.to_be_bytes());
    let moved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(!moved, "a newer file is no corrupt file");
}

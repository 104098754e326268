//! Property tests over everything hark reads from outside: the configuration file and its
//! environment, vocabulary files, GloVe text and audio file headers. Arbitrary and mutated
//! inputs must give a value or an error, never a panic and never a hang; what is accepted
//! must hold only finite numbers in range.

use hark::audio::decode_file;
use hark::config::Settings;
use hark::vocab::glove::{pack_text, GloveStore, PackOptions, RowFormat};
use hark::vocab::VocabFile;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any one case may take before it counts as a hang (debug builds on a slow box).
const HANG: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `f` on its own thread and fails the case if it panics or does not finish in time.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after {HANG:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        // Failures are reported with their input; no regression files in the tree.
        failure_persistence: None,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    }
}

/// Applies byte edits (`(position, value)`, positions taken modulo the length) and an
/// optional cut to `bytes`.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, v) in edits {
            let n = bytes.len();
            bytes[at % n] = v;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut);
    }
    bytes
}

// ----- configuration -----

/// Keys as the configuration spells them, with a few that do not exist.
const CONFIG_KEYS: &[(&str, &str)] = &[
    ("source", "kind"),
    ("source", "stdin_rate"),
    ("source", "stdin_channels"),
    ("source", "stdin_format"),
    ("source", "retry_max_s"),
    ("source", "realtime"),
    ("stream", "window_hop_frames"),
    ("stream", "queue_windows"),
    ("tracks", "silence_db"),
    ("tracks", "silence_min_s"),
    ("tracks", "novelty_threshold"),
    ("tracks", "novelty_ratio"),
    ("tracks", "novelty_windows"),
    ("tracks", "min_track_s"),
    ("tracks", "max_track_s"),
    ("tags", "threshold"),
    ("tags", "top_k"),
    ("tags", "now_interval_s"),
    ("mqtt", "host"),
    ("mqtt", "port"),
    ("mqtt", "prefix"),
    ("mqtt", "device"),
    ("mqtt", "client_id"),
    ("mqtt", "username"),
    ("mqtt", "password"),
    ("mqtt", "keep_alive_s"),
    ("mqtt", "commands"),
    ("mqtt.home_assistant", "enabled"),
    ("mqtt.home_assistant", "discovery_prefix"),
    ("mqtt.home_assistant", "name"),
    ("mqtt.tls", "client_cert"),
    ("mqtt", "inflight_window"),
    ("daemon", "print_tracks"),
    ("nonsense", "key"),
];

/// Values as TOML text: numbers of every kind, strings that are topic-hostile, booleans.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|v| format!("{v:?}")),
        select(vec![
            "nan", "inf", "-inf", "+inf", "-nan", "0.0", "-0.0", "1e308", "-1e308"
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|v| v.to_string()),
        (0u32..70_000).prop_map(|v| v.to_string()),
        select(vec![
            "\"\"",
            "\"hark\"",
            "\"hark/\"",
            "\"a//b\"",
            "\"#\"",
            "\"+\"",
            "\"a/b\"",
            "\"alsa\"",
            "\"stdin\"",
            "\"file\"",
            "\"f32le\"",
            "\"s16le\"",
            "\"127.0.0.1\"",
            "\"\\u0000\"",
            "\"x\"",
        ])
        .prop_map(str::to_string),
        any::<bool>().prop_map(|v| v.to_string()),
        Just("[1, 2]".to_string()),
    ]
}

/// A configuration file: `[table]` headers and `key = value` lines in any order.
fn config_text() -> impl Strategy<Value = String> {
    prop::collection::vec((select(CONFIG_KEYS.to_vec()), toml_value()), 0..12).prop_map(|entries| {
        let mut by_table: Vec<(&str, Vec<String>)> = Vec::new();
        for ((table, key), value) in entries {
            let line = format!("{key} = {value}");
            match by_table.iter_mut().find(|(t, _)| *t == table) {
                Some((_, lines)) if !lines.iter().any(|l| l.starts_with(&format!("{key} "))) => {
                    lines.push(line)
                }
                Some(_) => {}
                None => by_table.push((table, vec![line])),
            }
        }
        let mut text = String::new();
        for (table, lines) in by_table {
            text.push_str(&format!("[{table}]\n"));
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
        }
        text
    })
}

/// Loads `text` as a configuration file with `env`; an accepted one must be usable as is.
fn load_config(text: String, env: HashMap<String, String>) -> Result<(), String> {
    bounded("Settings::load", move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.toml");
        std::fs::write(&path, &text).unwrap();
        let Ok(s) = Settings::load(Some(&path), &env) else {
            return Ok(());
        };
        // Accepted means: the modules accept it too, and every duration converts.
        s.tracks.validate().map_err(|e| format!("tracks {e}"))?;
        s.source.validate().map_err(|e| format!("source {e}"))?;
        Duration::try_from_secs_f64(s.source.retry_max_s).map_err(|e| e.to_string())?;
        Duration::try_from_secs_f64(s.tags.now_interval_s).map_err(|e| e.to_string())?;
        if let Some(t) = s.tags.threshold {
            if !t.is_finite() {
                return Err(format!("threshold {t} accepted"));
            }
        }
        if s.mqtt.enabled() {
            s.mqtt_settings().validate().map_err(|e| e.to_string())?;
        }
        let shown = s.to_masked_toml();
        toml::from_str::<toml::Value>(&shown).map_err(|e| format!("{e}: {shown}"))?;
        Ok(())
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn configuration_files_are_accepted_only_when_usable(text in config_text()) {
        prop_assert_eq!(load_config(text, HashMap::new()), Ok(()));
    }

    #[test]
    fn environment_overrides_are_accepted_only_when_usable(
        text in config_text(),
        env in prop::collection::vec((select(CONFIG_KEYS.to_vec()), toml_value()), 0..4),
    ) {
        let env = env
            .into_iter()
            .map(|((table, key), value)| {
                let name = format!("HARK_{}__{}", table.replace('.', "__"), key).to_uppercase();
                (name, value.trim_matches('"').to_string())
            })
            .collect();
        prop_assert_eq!(load_config(text, env), Ok(()));
    }

    #[test]
    fn arbitrary_bytes_as_configuration_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_eq!(load_config(text, HashMap::new()), Ok(()));
    }
}

// ----- vocabulary -----

/// Pieces vocabulary lines are made of, hostile ones included.
fn vocab_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        select(vec![
            "jazz", "hip hop", " = ", "=", "@", "@0.3", "@nan", "@inf", "@-1", "@1e40", "@0x1",
            "#", "# note", "\n", "\r\n", " ", "\t", "\u{feff}", "Jazz", "chill", "@-0.0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<f32>().prop_map(|v| format!("@{v}").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|ps| ps.concat())
}

fn check_vocab(bytes: Vec<u8>) -> Result<(), String> {
    bounded("VocabFile::parse_bytes", move || {
        let lines = bytes.split(|&b| b == b'\n').count();
        let (file, errors) = VocabFile::parse_partial(&bytes, Path::new("vocabulary.txt"));
        for e in &errors {
            if e.line.is_some_and(|l| l == 0 || l > lines) {
                return Err(format!("line out of the file: {e}"));
            }
            if !e.to_string().starts_with("vocabulary.txt") {
                return Err(format!("error without the file: {e}"));
            }
        }
        for t in file.tags() {
            if let Some(th) = t.threshold {
                if !(th.is_finite() && (-1.0..=1.0).contains(&th)) {
                    return Err(format!("line {}: threshold {th} accepted", t.line));
                }
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn vocabulary_text_never_panics_and_keeps_thresholds_in_range(bytes in vocab_bytes()) {
        prop_assert_eq!(check_vocab(bytes), Ok(()));
    }

    #[test]
    fn mutated_shipped_vocabulary_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..16),
        cut in prop::option::of(any::<usize>()),
    ) {
        let bytes = std::fs::read(root().join("models/vocabulary.txt")).unwrap();
        let cut = cut.map(|c| c % (bytes.len() + 1));
        prop_assert_eq!(check_vocab(mutate(bytes, &edits, cut)), Ok(()));
    }
}

// ----- GloVe text -----

/// One GloVe text value: a number of any size or something that is not one.
fn glove_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-3.0f32..3.0).prop_map(|v| v.to_string()),
        1 => any::<f32>().prop_map(|v| v.to_string()),
        1 => select(vec!["nan", "inf", "-inf", "1e39", "65505", "-65504", "0x10", "", "1,5"])
            .prop_map(str::to_string),
    ]
}

fn glove_text() -> impl Strategy<Value = String> {
    let row = (
        select(vec![
            "jazz", "rock", "the", "hip hop", "Jazz", "é", "2", "-", "",
        ]),
        prop::collection::vec(glove_value(), 0..6),
    );
    prop::collection::vec(row, 0..12).prop_map(|rows| {
        rows.into_iter()
            .map(|(w, vs)| format!("{w} {}\n", vs.join(" ")))
            .collect()
    })
}

fn check_glove(bytes: Vec<u8>, format: RowFormat) -> Result<(), String> {
    bounded("pack_text", move || {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("glove.txt");
        let out = dir.path().join("out.hgv");
        std::fs::write(&input, &bytes).unwrap();
        let options = PackOptions {
            format,
            identity: Some("prop".into()),
        };
        match pack_text(&input, &out, &options) {
            Err(e) => {
                if !e.to_string().contains("glove.txt") && !e.to_string().contains("out.hgv") {
                    return Err(format!("error names no file: {e}"));
                }
                Ok(())
            }
            Ok(_) => {
                let store =
                    GloveStore::open(&out).map_err(|e| format!("pack does not open: {e}"))?;
                for rank in 0..store.len() {
                    let row = store.row(rank).ok_or("row missing")?;
                    if !row.iter().all(|v| v.is_finite()) {
                        return Err(format!("row {rank} not finite: {row:?}"));
                    }
                }
                Ok(())
            }
        }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn glove_text_never_panics_and_packs_only_finite_rows(
        text in glove_text(),
        f16 in any::<bool>(),
    ) {
        let format = if f16 { RowFormat::F16 } else { RowFormat::Int8 };
        prop_assert_eq!(check_glove(text.into_bytes(), format), Ok(()));
    }

    #[test]
    fn mutated_glove_fixture_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..12),
        cut in prop::option::of(any::<usize>()),
    ) {
        let bytes = std::fs::read(root().join("tests/fixtures/glove/tiny.txt")).unwrap();
        let cut = cut.map(|c| c % (bytes.len() + 1));
        prop_assert_eq!(check_glove(mutate(bytes, &edits, cut), RowFormat::F16), Ok(()));
    }
}

// ----- audio headers -----

fn audio_fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/audio").join(name)
}

/// Decodes `bytes` saved as `name`; accepted audio must be finite at a sane rate.
fn check_audio(name: &'static str, bytes: Vec<u8>) -> Result<(), String> {
    bounded("decode_file", move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        match decode_file(&path) {
            Err(e) => {
                if !e.to_string().contains(name) {
                    return Err(format!("error does not name the file: {e}"));
                }
                Ok(())
            }
            Ok(audio) => {
                if !(1..=hark::audio::MAX_SAMPLE_RATE).contains(&audio.sample_rate) {
                    return Err(format!("sample rate {} accepted", audio.sample_rate));
                }
                if !audio.samples.iter().all(|s| s.is_finite()) {
                    return Err("non-finite samples".into());
                }
                Ok(())
            }
        }
    })
}

/// Edits confined to the first `span` bytes, where the headers are.
fn header_edits(span: usize) -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((0..span, any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_wav_headers_never_panic(edits in header_edits(64), cut in prop::option::of(0usize..200)) {
        let bytes = std::fs::read(audio_fixture("tone.wav")).unwrap();
        prop_assert_eq!(check_audio("m.wav", mutate(bytes, &edits, cut)), Ok(()));
    }

    #[test]
    fn arbitrary_wav_fmt_numbers_never_panic(
        format in select(vec![1u16, 2, 3, 6, 7, 0x11, 0xFFFE, 0, 0x55]),
        channels in prop_oneof![0u16..4, any::<u16>()],
        rate in prop_oneof![Just(0u32), 1u32..200_000, any::<u32>()],
        block_align in prop_oneof![0u16..16, any::<u16>()],
        bits in select(vec![0u16, 4, 8, 12, 16, 24, 32, 64, 65535]),
        fmt_len in select(vec![16u32, 18, 20, 40, 0, 15, 1000]),
        data_len in prop_oneof![0u32..4096, any::<u32>()],
        riff_len in prop::option::of(any::<u32>()),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&riff_len.unwrap_or(36 + 4096).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&fmt_len.to_le_bytes());
        b.extend_from_slice(&format.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&rate.wrapping_mul(u32::from(block_align)).to_le_bytes());
        b.extend_from_slice(&block_align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.resize(b.len() + (fmt_len.saturating_sub(16) as usize).min(1000), 0);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        b.resize(b.len() + 4096, 0x11);
        prop_assert_eq!(check_audio("f.wav", b), Ok(()));
    }

    #[test]
    fn mutated_flac_headers_never_panic(edits in header_edits(128), cut in prop::option::of(0usize..400)) {
        let bytes = std::fs::read(audio_fixture("tone.flac")).unwrap();
        prop_assert_eq!(check_audio("m.flac", mutate(bytes, &edits, cut)), Ok(()));
    }

    #[test]
    fn mutated_ogg_headers_never_panic(edits in header_edits(256), cut in prop::option::of(0usize..600)) {
        let bytes = std::fs::read(audio_fixture("tone.ogg")).unwrap();
        prop_assert_eq!(check_audio("m.ogg", mutate(bytes, &edits, cut)), Ok(()));
    }

    #[test]
    fn mutated_mp3_headers_never_panic(edits in header_edits(128), cut in prop::option::of(0usize..600)) {
        let bytes = std::fs::read(audio_fixture("tone.mp3")).unwrap();
        prop_assert_eq!(check_audio("m.mp3", mutate(bytes, &edits, cut)), Ok(()));
    }
}

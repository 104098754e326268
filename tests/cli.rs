//! The `hark` command line on real files: `tag`, `mel`, `vocab check`, `config check` and
//! `model random`, each checked against the library doing the same work in-process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hark::file_tagger::Tagger;
use hark::frontend::{log_mel, FrontendParams};
use hark::model::Model;
use hark::score::Selection;
use hark::vocab::load_scorer;
use hark::vocab::GloveStore;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn music_wav() -> PathBuf {
    root().join("tests/fixtures/frontend/music.wav")
}

fn tone_ogg() -> PathBuf {
    root().join("tests/fixtures/audio/tone.ogg")
}

/// `hark` with the caller's `HARK_*` variables removed, so only what a test sets applies.
fn hark() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hark"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HARK_") || k == "CREDENTIALS_DIRECTORY" {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// `hark` for the offline commands, pointed at this checkout's model, GloVe pack and
/// vocabulary (their defaults prefer /usr/share/hark when hark is installed).
fn hark_here() -> Command {
    let mut cmd = hark();
    cmd.env("HARK_MODEL", root().join("models/default"))
        .env("HARK_GLOVE", root().join("models/glove/glove-6b-50d.hgv"))
        .env("HARK_VOCABULARY", root().join("models/vocabulary.txt"));
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run hark")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a 16-bit PCM mono WAV.
fn write_wav(path: &Path, rate: u32, samples: &[f32]) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        b.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// A chord with a little deterministic noise, `seconds` long at `rate`.
fn chord(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (f64::from(rate) * seconds).round() as usize;
    let mut state = 0x2545_f491_u32;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state as f64 / u32::MAX as f64 - 0.5) * 0.05;
            let tone: f64 = [220.0, 277.2, 329.6, 440.0]
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * f * t).sin() * 0.15)
                .sum();
            (tone + noise) as f32
        })
        .collect()
}

/// The bundled model, GloVe and vocabulary as `hark tag` uses them by default.
fn tagger(top_k: usize, threshold: Option<f32>) -> Tagger {
    let model = Model::load(&root().join("models/default")).unwrap();
    let glove = GloveStore::open(root().join("models/glove/glove-6b-50d.hgv")).unwrap();
    let scorer = load_scorer(&model, &glove, &root().join("models/vocabulary.txt")).unwrap();
    let selection = Selection {
        threshold: threshold.unwrap_or(model.manifest.score_threshold),
        top_k,
    };
    let hop = model.manifest.frontend.window_frames;
    Tagger::new(model, scorer, selection, hop)
}

/// Windows `hark tag` cuts (hop = window, 130 frames) from `samples` at the model rate;
/// a clip shorter than one window is padded to exactly one.
fn expected_windows(samples_at_model_rate: usize) -> usize {
    let frames = if samples_at_model_rate < 1024 {
        0
    } else {
        1 + (samples_at_model_rate - 1024) / 512
    };
    if frames < 130 {
        1
    } else {
        1 + (frames - 130) / 130
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object a line: {e}: {l}"))
        })
        .collect()
}

/// The (tag, score) pairs of one JSON line.
fn tags_of(line: &Value) -> Vec<(String, f32)> {
    line["tags"]
        .as_array()
        .expect("tags is an array")
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_string(),
                t["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

#[test]
fn tag_prints_one_json_line_per_file_matching_the_library() {
    let dir = tempfile::tempdir().unwrap();
    // 10 s at 16 kHz: resampled to 22,050 Hz (exactly 220,500 samples), three windows.
    let long = dir.path().join("chord16k.wav");
    write_wav(&long, 16_000, &chord(16_000, 10.0));
    // 1 s, shorter than one 3-s window: padded with silence to one window.
    let short = dir.path().join("short.wav");
    write_wav(&short, 22_050, &chord(22_050, 1.0));
    let files = [music_wav(), tone_ogg(), long.clone(), short.clone()];

    let out = run(hark_here().arg("tag").args(&files));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&stdout(&out));
    assert_eq!(
        lines.len(),
        files.len(),
        "one line per file:\n{}",
        stdout(&out)
    );

    let lib = tagger(5, None);
    let model_identity = lib.model().identity();
    // Nominal lengths; the Vorbis file decodes a little longer (symphonia 0.5 trims neither
    // encoder delay nor end padding), so every file is also held to its decoded length.
    let nominal = [5.0f64, 1.0, 10.0, 1.0];
    for ((line, file), seconds) in lines.iter().zip(&files).zip(nominal) {
        let name = file.display().to_string();
        assert_eq!(line["file"], name.as_str());
        let audio = hark::audio::decode_file(file).unwrap();
        let decoded_s = audio.samples.len() as f64 / f64::from(audio.sample_rate);
        let duration_s = line["duration_s"].as_f64().unwrap();
        assert!(
            (duration_s - decoded_s).abs() <= 0.0005,
            "{name}: duration_s {duration_s}, decoded {decoded_s}"
        );
        assert!(
            duration_s >= seconds && duration_s - seconds < 0.11,
            "{name}: duration_s {duration_s}"
        );
        let model_rate_samples =
            (audio.samples.len() as u64 * 22_050).div_ceil(u64::from(audio.sample_rate));
        assert_eq!(
            line["windows"].as_u64().unwrap() as usize,
            expected_windows(model_rate_samples as usize),
            "{name}"
        );
        assert_eq!(line["model"], model_identity.as_str(), "{name}");
        let vocabulary = line["vocabulary"].as_str().unwrap();
        assert!(
            vocabulary.starts_with("vocabulary.txt#") && vocabulary.len() > 15,
            "{vocabulary}"
        );

        let tags = tags_of(line);
        assert!(
            !tags.is_empty() && tags.len() <= 5,
            "{name}: default --top-k is 5: {tags:?}"
        );
        assert!(
            tags.windows(2).all(|p| p[0].1 >= p[1].1),
            "{name}: best first: {tags:?}"
        );
        // The same file through the library gives the same tags and scores, bit for bit.
        let report = lib.tag_file(file).unwrap();
        let want: Vec<(String, f32)> = report
            .tagged
            .tags
            .iter()
            .map(|t| (t.tag.clone(), t.score))
            .collect();
        assert_eq!(tags, want, "{name}");
        assert_eq!(line["windows"].as_u64().unwrap() as usize, report.windows);
        assert_eq!(line["top"].as_str(), report.tagged.top.as_deref(), "{name}");
    }
}

#[test]
fn tag_on_many_jobs_prints_in_the_order_given_the_same_lines_as_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("not-audio.wav");
    std::fs::write(&broken, "this is not a WAV file\n").unwrap();
    // The long demo first: with three jobs the short files finish before it and must wait.
    let demo = root().join("models/demo/demo.ogg");
    let files = [
        demo.clone(),
        music_wav(),
        tone_ogg(),
        broken.clone(),
        music_wav(),
        demo,
        tone_ogg(),
    ];
    let one = run(hark_here().arg("tag").args(["--jobs", "1"]).args(&files));
    let many = run(hark_here().arg("tag").args(["--jobs", "3"]).args(&files));
    for out in [&one, &many] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        let err = stderr(out);
        assert!(
            err.contains("not-audio.wav") && err.contains("1 of 7 file(s) could not be tagged"),
            "{err}"
        );
    }
    assert_eq!(stdout(&many), stdout(&one), "same lines, same order");
    let lines = json_lines(&stdout(&many));
    let printed: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let given: Vec<String> = files
        .iter()
        .filter(|f| **f != broken)
        .map(|f| f.display().to_string())
        .collect();
    assert_eq!(printed, given);
}

#[test]
fn tag_files_stops_taking_files_once_its_consumer_fails() {
    let lib = tagger(5, None);
    let files = vec![music_wav(); 8];
    let done = std::cell::Cell::new(0usize);
    let done_at_failure = std::cell::Cell::new(0usize);
    let mut seen = 0usize;
    let outcome = lib.tag_files(
        &files,
        2,
        |_| done.set(done.get() + 1),
        |_, result| {
            result.unwrap();
            seen += 1;
            if seen == 2 {
                done_at_failure.set(done.get());
                Err("stdout closed")
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(outcome, Err("stdout closed"));
    assert_eq!(seen, 2, "nothing is handed on after the error");
    // Files finished by then (handed on, or done early and waiting for an earlier one), plus
    // at most the one file each worker was on when the consumer failed.
    let (done, before) = (done.get(), done_at_failure.get());
    assert!(
        done <= before + 2,
        "{done} of 8 files tagged; {before} were done when the consumer failed"
    );
}

#[test]
fn pretty_prints_a_table_of_the_same_tags() {
    let json = run(hark_here().arg("tag").arg(music_wav()));
    assert!(json.status.success(), "{}", stderr(&json));
    let line = &json_lines(&stdout(&json))[0];
    let pretty = run(hark_here().arg("tag").arg("--pretty").arg(music_wav()));
    assert!(pretty.status.success(), "{}", stderr(&pretty));
    let text = stdout(&pretty);
    assert!(
        serde_json::from_str::<Value>(text.lines().next().unwrap()).is_err(),
        "not JSON: {text}"
    );
    let mut rows = text.lines();
    let header = rows.next().unwrap();
    assert_eq!(
        header,
        format!("{}  (5.0 s, 1 windows)", music_wav().display())
    );
    let tags = tags_of(line);
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), tags.len(), "one row per tag:\n{text}");
    for (row, (tag, score)) in rows.iter().zip(&tags) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        // Labels may have spaces ("hip hop"); the score is the cell after them.
        let label_words = tag.split_whitespace().count();
        assert_eq!(cells[..label_words].join(" "), *tag, "{row}");
        assert_eq!(cells[label_words], format!("{score:.3}"), "{row}");
    }
}

#[test]
fn top_k_limits_tags_to_the_best_ones() {
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = dir.path().join("six.txt");
    // A tag's own threshold beats the global one: `metal @1.0` needs a perfect cosine.
    std::fs::write(
        &vocabulary,
        "jazz\nrock\nhip hop\nchill = chillout mellow relaxing\nambient\nmetal @1.0\n",
    )
    .unwrap();
    let tag = |top_k: &str| {
        // `--threshold -1` is refused by clap as an unknown flag; the `=` form works.
        let out = run(hark_here()
            .args(["tag", "--threshold=-1", "--top-k", top_k, "--vocabulary"])
            .arg(&vocabulary)
            .arg(music_wav()));
        assert!(out.status.success(), "{}", stderr(&out));
        let line = &json_lines(&stdout(&out))[0];
        assert!(
            line["vocabulary"].as_str().unwrap().starts_with("six.txt#"),
            "{line}"
        );
        tags_of(line)
    };
    // Threshold -1 lets every tag through but the one with its own threshold.
    let all = tag("0");
    let mut labels: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["ambient", "chill", "hip hop", "jazz", "rock"]);
    assert!(
        all.windows(2).all(|p| p[0].1 >= p[1].1),
        "best first: {all:?}"
    );

    assert_eq!(tag("3"), all[..3].to_vec());
    assert_eq!(tag("1"), all[..1].to_vec());
}

#[test]
fn bad_files_are_named_on_stderr_while_good_files_still_print() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ogg");
    let garbage = dir.path().join("garbage.ogg");
    std::fs::write(
        &garbage,
        b"this is not an audio file, just text pretending to be one\n".repeat(50),
    )
    .unwrap();
    let out = run(hark_here()
        .arg("tag")
        .arg(&missing)
        .arg(music_wav())
        .arg(&garbage)
        .arg(tone_ogg()));
    assert!(!out.status.success(), "two of four files are bad");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains(&garbage.display().to_string()), "{err}");
    assert!(err.contains("2 of 4"), "summary names the count: {err}");
    let lines = json_lines(&stdout(&out));
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    assert_eq!(
        files,
        [
            music_wav().display().to_string(),
            tone_ogg().display().to_string()
        ]
    );
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec().unwrap())
}

#[test]
fn mel_writes_the_log_mel_of_the_decoded_audio() {
    let dir = tempfile::tempdir().unwrap();
    let params = FrontendParams::default();

    // At the model rate: exactly log_mel of the decoded samples.
    let out_path = dir.path().join("music.npy");
    let out = run(hark_here()
        .arg("mel")
        .arg(music_wav())
        .arg("-o")
        .arg(&out_path));
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, values) = read_npy(&out_path);
    let audio = hark::audio::decode_file(music_wav()).unwrap();
    let want = log_mel(&audio.samples, &params).unwrap();
    assert_eq!(shape, [(want.len() / 128) as u64, 128]);
    assert_eq!(
        shape[0], 214,
        "5 s at 22,050 Hz: 1 + (110250 − 1024) / 512 frames"
    );
    assert_eq!(values, want);

    // At 44.1 kHz stereo: mono, then the streaming log-mel at the file's rate, which equals
    // resampling to the model rate first up to float rounding.
    let flac = root().join("tests/fixtures/audio/stereo44k.flac");
    let out_path = dir.path().join("stereo.npy");
    let out = run(hark_here().arg("mel").arg(&flac).arg("-o").arg(&out_path));
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, values) = read_npy(&out_path);
    let audio = hark::audio::decode_file(&flac).unwrap();
    assert_eq!(audio.sample_rate, 44_100);
    let mut stream = hark::frontend::LogMelStream::new(&params, 44_100).unwrap();
    let mut streamed = Vec::new();
    stream.push(&audio.samples, &mut streamed).unwrap();
    stream.finish(&mut streamed).unwrap();
    assert_eq!(values, streamed);
    let mut r = hark::audio::Resampler::new(44_100, 22_050).unwrap();
    let mut resampled = Vec::new();
    r.push(&audio.samples, &mut resampled).unwrap();
    r.finish(&mut resampled).unwrap();
    assert_eq!(resampled.len(), 22_050);
    let want = log_mel(&resampled, &params).unwrap();
    assert_eq!(shape, [(want.len() / 128) as u64, 128]);
    let worst = values
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "44.1 kHz log-mel off resampling by {worst}");

    // An unreadable input names the file and writes nothing.
    let bad_out = dir.path().join("never.npy");
    let out = run(hark_here()
        .arg("mel")
        .arg(dir.path().join("nope.wav"))
        .arg("-o")
        .arg(&bad_out));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope.wav"), "{}", stderr(&out));
    assert!(!bad_out.exists());
}

#[test]
fn vocab_check_names_the_line_of_an_unknown_word() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tags.txt");
    std::fs::write(
        &path,
        "# radio tags\njazz\n\nhip hop\nqqzxjv music\nchill = chillout mellow\n",
    )
    .unwrap();
    let out = run(hark_here().args(["vocab", "check"]).arg(&path));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("tags.txt:5:") && err.contains("qqzxjv"),
        "{err}"
    );
    assert!(
        !err.contains("tags.txt:2:") && !err.contains("tags.txt:4:"),
        "good lines are not errors: {err}"
    );

    std::fs::write(&path, "jazz\nhip hop\n").unwrap();
    let out = run(hark_here().args(["vocab", "check"]).arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn config_check_names_bad_keys_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hark.toml");

    std::fs::write(&path, "[mqtt]\nhost = \"broker.lan\"\nhots = \"typo\"\n").unwrap();
    let out = run(hark().args(["config", "check", "--config"]).arg(&path));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("hots") && err.contains("hark.toml"), "{err}");

    std::fs::write(&path, "[tracks]\nmin_track_s = 60.0\nmax_track_s = 30.0\n").unwrap();
    let out = run(hark().args(["config", "check", "--config"]).arg(&path));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("tracks.max_track_s"),
        "{}",
        stderr(&out)
    );

    // An unknown key arriving from the environment is named too.
    std::fs::write(&path, "[mqtt]\nhost = \"broker.lan\"\n").unwrap();
    let out = run(hark()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("HARK_MQTT__HOTS", "x"));
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("hots"), "{}", stderr(&out));

    let out = run(hark()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("HARK_MQTT__USERNAME", "hark")
        .env("HARK_MQTT__PASSWORD", "hunter2-secret")
        .env("HARK_TAGS__TOP_K", "7"));
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    let config: toml::Value =
        toml::from_str(&shown).expect("prints the effective configuration as TOML");
    assert_eq!(config["mqtt"]["host"].as_str(), Some("broker.lan"));
    assert_eq!(config["mqtt"]["password"].as_str(), Some("********"));
    assert_eq!(config["tags"]["top_k"].as_integer(), Some(7));
    assert!(
        !shown.contains("hunter2") && !stderr(&out).contains("hunter2"),
        "{shown}"
    );

    // String keys keep what was written, even when it looks like a number; numeric and
    // boolean keys still parse from the environment's text.
    let out = run(hark()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("HARK_MQTT__DEVICE", "0042")
        .env("HARK_MQTT__USERNAME", "1e3")
        .env("HARK_MQTT__PORT", "1884")
        .env("HARK_MQTT__COMMANDS", "true")
        .env("HARK_TAGS__THRESHOLD", "0.25"));
    assert!(out.status.success(), "{}", stderr(&out));
    let config: toml::Value = toml::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["mqtt"]["device"].as_str(), Some("0042"));
    assert_eq!(config["mqtt"]["username"].as_str(), Some("1e3"));
    assert_eq!(config["mqtt"]["port"].as_integer(), Some(1884));
    assert_eq!(config["mqtt"]["commands"].as_bool(), Some(true));
    assert_eq!(config["tags"]["threshold"].as_float(), Some(0.25));
}

/// The `error:` lines `hark` printed.
fn error_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn config_check_refuses_exactly_what_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hark.toml");
    let state = dir.path().join("state");
    let cases = [
        // Passed `config check` and was refused when the publisher started.
        (
            "[mqtt]\nhost = \"127.0.0.1\"\nprefix = \"hark/\"\n",
            "mqtt.prefix: ",
        ),
        (
            "[mqtt]\nhost = \"127.0.0.1\"\npassword = \"x\"\n",
            "mqtt.password: ",
        ),
        // Passed `config check` and panicked the daemon at start.
        ("[tags]\nnow_interval_s = inf\n", "tags.now_interval_s: "),
        ("[source]\nretry_max_s = inf\n", "source.retry_max_s: "),
        // Not finite, so neither in any range.
        ("[tracks]\nmin_track_s = nan\n", "tracks.min_track_s: "),
        ("[tracks]\nsilence_db = nan\n", "tracks.silence_db: "),
    ];
    for (text, key) in cases {
        let text = format!(
            "{text}[daemon]\nstate_dir = {:?}\n",
            state.display().to_string()
        );
        std::fs::write(&path, &text).unwrap();
        let check = run(hark().args(["config", "check", "--config"]).arg(&path));
        let start = run(hark()
            .args(["run", "--config"])
            .arg(&path)
            .env("HARK_SOURCE__REALTIME", "false"));
        assert!(!check.status.success(), "config check passed {text:?}");
        assert!(!start.status.success(), "run started with {text:?}");
        let said = error_lines(&check);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains("hark.toml: ") && said[0].contains(key),
            "{text:?}: {said:?}"
        );
        assert_eq!(
            error_lines(&start),
            said,
            "run and check disagree on {text:?}"
        );
        assert!(!stderr(&start).contains("panicked"), "{}", stderr(&start));
    }
}

#[test]
fn hark_config_names_the_file_and_is_no_key_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hark.toml");
    std::fs::write(&path, "[mqtt]\nhost = \"broker.lan\"\n").unwrap();
    let out = run(hark().args(["config", "check"]).env("HARK_CONFIG", &path));
    assert!(out.status.success(), "{}", stderr(&out));
    let config: toml::Value = toml::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["mqtt"]["host"].as_str(), Some("broker.lan"));
}

#[test]
fn the_offline_commands_variables_are_no_configuration_keys() {
    // A shell set up for `hark tag` (HARK_MODEL, HARK_GLOVE, HARK_VOCABULARY) can check and
    // run the daemon; a real key beside them still applies.
    let out = run(hark_here()
        .args(["config", "check"])
        .env("HARK_MQTT__HOST", "broker.lan"));
    assert!(out.status.success(), "{}", stderr(&out));
    let config: toml::Value = toml::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["mqtt"]["host"].as_str(), Some("broker.lan"));
}

#[test]
fn tag_names_a_wav_with_sample_rate_zero_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("rate0.wav");
    write_wav(&bad, 0, &vec![0.1; 4000]);
    let out = run(hark_here().arg("tag").arg(&bad).arg(tone_ogg()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("rate0.wav")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("sample rate 0 Hz"), "{err}");
    assert_eq!(
        json_lines(&stdout(&out)).len(),
        1,
        "the good file is still tagged"
    );
}

#[test]
fn model_random_writes_a_loadable_deterministic_model() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    for (out, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let o = run(hark_here()
            .args(["model", "random", "--seed", seed, "--dim", "32", "--glove"])
            .arg(root().join("models/glove/glove-6b-50d.hgv"))
            .arg("-o")
            .arg(out));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let model = Model::load(&a).unwrap();
    assert_eq!(model.manifest.embedding_dim, 32);
    assert_eq!(model.manifest.glove_dim, 50);
    assert_eq!(model.manifest.glove, "glove-6b-50d");
    let window = vec![0.1f32; 130 * 128];
    assert_eq!(model.audio.embed(&window, 1).unwrap().len(), 32);
    // Same seed, same bytes; another seed, other weights.
    assert_eq!(Model::load(&b).unwrap().identity(), model.identity());
    assert_ne!(Model::load(&c).unwrap().identity(), model.identity());

    // And `hark tag` runs with it.
    let out = run(hark_here()
        .arg("tag")
        .arg("--model")
        .arg(&a)
        .arg(tone_ogg()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json_lines(&stdout(&out))[0]["model"],
        model.identity().as_str()
    );
}

/// Lines of `stderr` logged at INFO by a crate other than hark.
fn dependency_info_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" INFO ") && !l.contains(" INFO hark"))
        .collect()
}

#[test]
fn tag_prints_no_dependency_info_logs_by_default() {
    let tag = |rust_log: Option<&str>| {
        let mut cmd = hark_here();
        cmd.env_remove("RUST_LOG").arg("tag").arg(tone_ogg());
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    // Asked for, the decoder's INFO lines do appear: the default below could show them.
    let verbose = tag(Some("info"));
    assert!(
        !dependency_info_lines(&stderr(&verbose)).is_empty(),
        "no dependency logs at RUST_LOG=info; this test could not fail:\n{}",
        stderr(&verbose)
    );
    let quiet = tag(None);
    assert_eq!(
        dependency_info_lines(&stderr(&quiet)),
        Vec::<&str>::new(),
        "hark tag on its defaults"
    );
    assert_eq!(json_lines(&stdout(&quiet)).len(), 1);
}

#[test]
fn run_whose_stdout_reader_leaves_goes_on_and_ends_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let mut child = hark_here()
        .env_remove("HARK_VOCABULARY")
        .env_remove("HARK_GLOVE")
        .env_remove("HARK_MODEL")
        .env("HARK_SOURCE__REALTIME", "false")
        .env("HARK_DAEMON__STATE_DIR", state.path())
        .env("RUST_LOG", "warn")
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start hark run");
    // The reader goes away before the first track is printed (`hark run | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("hark run ends");
    let err = stderr(&out);
    assert!(out.status.success(), "{}\n{err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("stdout closed"), "{err}");
}

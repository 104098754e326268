//! `hark tag` over a folder of whole tracks, against the Python pipeline a user would write
//! (`benches/tag_baseline.py`: librosa + onnxruntime, same model) and against decoding alone,
//! all measured in the same run, interleaved round by round. Run it with
//! `bash benches/tag_throughput.sh`, which makes the corpus and the Python venv first.
//!
//! | figure | target |
//! |---|---|
//! | Python pipeline ÷ `hark tag` (all cores) | ≥ 5 |
//! | `hark tag --jobs 1` ÷ decoding alone (one core) | ≤ 1.3 |
//!
//! The one-core pair runs twice a round in A B B A order (decode, `--jobs 1`, `--jobs 1`,
//! decode), so a slow spell of this shared VM that starts or ends mid-round falls on both
//! sides of that round's ratio. CPU time (getrusage) tracked wall time to 1 % here: the
//! swings are a slower CPU, not waiting, so timing CPU instead would not remove them.
//!
//! Env: `HARK_BENCH_CORPUS` (the folder of tracks; without it the bench only says how to run
//! it), `HARK_BENCH_PYTHON` (default
//! `benches/.venv/bin/python`), `HARK_BENCH_ROUNDS` (default 5).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const HARK: &str = env!("CARGO_BIN_EXE_hark");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

type Res<T> = Result<T, Box<dyn Error>>;

fn corpus() -> Res<Vec<PathBuf>> {
    let dir = std::env::var_os("HARK_BENCH_CORPUS")
        .map(PathBuf::from)
        .ok_or("HARK_BENCH_CORPUS is not set: run bash benches/tag_throughput.sh")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e} (run benches/tag_corpus.sh)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("ogg" | "mp3")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no .ogg or .mp3 files", dir.display()).into());
    }
    Ok(files)
}

/// Decodes every file on this thread and returns the samples decoded.
fn decode_only(files: &[PathBuf]) -> Res<u64> {
    let mut samples = 0u64;
    for file in files {
        let mut decoder = hark::audio::FileDecoder::open(file)?;
        while let Some(block) = decoder.next_block()? {
            samples += block.len() as u64;
        }
    }
    Ok(samples)
}

/// Runs a command to the end and returns its stdout; a failure is an error naming it.
fn run(cmd: &mut Command) -> Res<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", out.status).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn hark_tag(files: &[PathBuf], jobs: Option<usize>) -> Command {
    let mut cmd = Command::new(HARK);
    cmd.arg("tag").args(files).env("RUST_LOG", "warn");
    if let Some(jobs) = jobs {
        cmd.arg("--jobs").arg(jobs.to_string());
    }
    cmd
}

fn python(files: &[PathBuf]) -> Command {
    let python = std::env::var_os("HARK_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join("benches/.venv/bin/python"));
    let mut cmd = Command::new(python);
    cmd.arg(Path::new(REPO).join("benches/tag_baseline.py"))
        .arg("--model")
        .arg(Path::new(REPO).join("models/default"))
        .args(files);
    cmd
}

/// `(file, windows, duration_s)` of each JSON line.
fn windows_of(jsonl: &str) -> Res<Vec<(String, u64, f64)>> {
    jsonl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((
                v["file"].as_str().unwrap_or_default().to_string(),
                v["windows"].as_u64().ok_or("no windows field")?,
                v["duration_s"].as_f64().ok_or("no duration_s field")?,
            ))
        })
        .collect()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn timed(f: impl FnOnce() -> Res<()>) -> Res<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

fn main() -> Res<()> {
    if std::env::var_os("HARK_BENCH_CORPUS").is_none() {
        // `cargo bench` runs every bench; this one needs the corpus and venv its script makes.
        eprintln!("tag_throughput: skipped (run bash benches/tag_throughput.sh)");
        return Ok(());
    }
    let files = corpus()?;
    let rounds: usize = std::env::var("HARK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // A warm-up round that also checks both pipelines cut the same windows from each file.
    let ours = windows_of(&run(&mut hark_tag(&files, None))?)?;
    let theirs = windows_of(&run(&mut python(&files))?)?;
    let mut audio_s = 0.0;
    for (file, (ours, theirs)) in files.iter().zip(ours.iter().zip(&theirs)) {
        audio_s += ours.2;
        if ours.1.abs_diff(theirs.1) > 1 {
            return Err(format!(
                "{}: hark cut {} windows, the Python pipeline {}",
                file.display(),
                ours.1,
                theirs.1
            )
            .into());
        }
    }
    eprintln!(
        "{} files, {:.1} min of audio, {rounds} rounds, {cores} cores",
        files.len(),
        audio_s / 60.0
    );

    let names = [
        "decode only, 1 thread",
        "hark tag --jobs 1",
        "hark tag (all cores)",
        "Python librosa + onnxruntime",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        let decode_a = timed(|| decode_only(&files).map(drop))?;
        let jobs1_a = timed(|| run(&mut hark_tag(&files, Some(1))).map(drop))?;
        let jobs1_b = timed(|| run(&mut hark_tag(&files, Some(1))).map(drop))?;
        let decode_b = timed(|| decode_only(&files).map(drop))?;
        times[0].push((decode_a + decode_b) / 2.0);
        times[1].push((jobs1_a + jobs1_b) / 2.0);
        times[2].push(timed(|| run(&mut hark_tag(&files, None)).map(drop))?);
        times[3].push(timed(|| run(&mut python(&files)).map(drop))?);
        eprintln!(
            "round {}: {} (one-core pair: mean of two, A B B A)",
            round + 1,
            times
                .iter()
                .map(|t| format!("{:.2} s", t[round]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Each round's own ratio too: its runs are back to back, so a slow spell of this shared
    // machine (rounds here varied by ±30%) falls on both sides of the ratio.
    let paired = |num: usize, den: usize| {
        let mut r: Vec<f64> = times[num]
            .iter()
            .zip(&times[den])
            .map(|(n, d)| n / d)
            .collect();
        median(&mut r)
    };
    let (python_paired, jobs1_paired) = (paired(3, 2), paired(1, 0));
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!("| run | median wall (s) | × real time |");
    println!("|---|---:|---:|");
    for (name, m) in names.iter().zip(&medians) {
        println!("| {name} | {m:.2} | {:.0} |", audio_s / m);
    }
    println!(
        "Python ÷ hark tag (all cores): {:.2} (target ≥ 5); median of the rounds' own ratios {:.2}",
        medians[3] / medians[2],
        python_paired
    );
    println!(
        "hark tag --jobs 1 ÷ decode only: {:.2} (target ≤ 1.3); median of the rounds' own ratios {:.2}",
        medians[1] / medians[0],
        jobs1_paired
    );
    println!(
        "hark tag --jobs 1 ÷ hark tag (all cores): {:.2}",
        medians[1] / medians[2]
    );
    Ok(())
}

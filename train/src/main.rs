//! `hark-train`: prepare | train | eval | export, each driven by one run file; seeds, which
//! combines their reports.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hark_train::config::{DeviceChoice, RunConfig};
use hark_train::pipeline;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Train hark's zero-shot music tagger and export it for the daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the dataset and compute its mel cache with hark's front-end.
    Prepare {
        /// The run file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Decoding threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// List undecodable audio files in the cache index instead of failing.
        #[arg(long)]
        skip_bad_audio: bool,
        /// Rebuild even when the cache is current.
        #[arg(long)]
        force: bool,
    },
    /// Train (then evaluate the best checkpoint and write the report).
    Train {
        /// The run file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Continue from the last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Override train.epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// Override train.device.
        #[arg(long, value_enum)]
        device: Option<DeviceChoice>,
    },
    /// Evaluate a checkpoint on the run's test settings and write the report.
    Eval {
        /// The run file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// "best", "last" or a .safetensors path.
        #[arg(long, default_value = "best")]
        checkpoint: String,
    },
    /// Write the model directory (audio.onnx, word.onnx, model.toml) and check parity.
    Export {
        /// The run file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// "best", "last" or a .safetensors path.
        #[arg(long, default_value = "best")]
        checkpoint: String,
        /// Output folder (default: export.dir under the work folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Combine the report.json of runs that differ only in seed: mean ± sd per test,
    /// origin (in-source, cross-source) and metric, as markdown.
    Seeds {
        /// The runs' report.json files (three seeds or more).
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// Also write the markdown to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn load(path: &std::path::Path) -> Result<RunConfig> {
    Ok(RunConfig::load(path)?)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error chain on one line. The library's wrapping errors already quote their cause, so a
/// cause whose text the previous link already holds is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if !previous.contains(&message) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&message);
        }
        previous = message;
    }
    out
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,symphonia=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match Cli::parse().command {
        Command::Prepare {
            config,
            threads,
            skip_bad_audio,
            force,
        } => {
            let run = load(&config)?;
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let bar = indicatif::ProgressBar::hidden();
            if show_progress {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            let progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let p = pipeline::prepare(&run, threads, skip_bad_audio, force, &progress)
                .with_context(|| format!("prepare {}", config.display()))?;
            bar.finish_and_clear();
            println!(
                "{} tracks, {} frames ({:.1} h) in {}{}; {} missing, {} undecodable",
                p.tracks,
                p.frames,
                p.frames as f64 * 512.0 / 22050.0 / 3600.0,
                run.cache_dir().display(),
                if p.reused { " (already current)" } else { "" },
                p.missing_audio,
                p.undecodable
            );
        }
        Command::Train {
            config,
            resume,
            epochs,
            device,
        } => {
            let mut run = load(&config)?;
            if let Some(e) = epochs {
                run.train.epochs = e;
            }
            if let Some(d) = device {
                run.train.device = d;
            }
            let mut on_epoch = |e: &hark_train::report::EpochRecord| {
                eprintln!(
                    "epoch {:>3}  train {:.4}  validation {:.4}  auc {}  lr {:.2e}  {:.1} s",
                    e.epoch,
                    e.train_loss,
                    e.validation_loss,
                    e.validation_auc.map_or("–".into(), |a| format!("{a:.4}")),
                    e.learning_rate,
                    e.seconds
                );
            };
            let (report, state) = pipeline::train(&run, resume, show_progress, &mut on_epoch)
                .with_context(|| format!("train {}", config.display()))?;
            eprintln!(
                "trained on {}: {} epochs, best epoch {}{}",
                state.device,
                state.epochs_done,
                state.best_epoch,
                if state.stopped_early {
                    " (early stop)"
                } else {
                    ""
                }
            );
            println!("{}", hark_train::report::markdown(&report));
        }
        Command::Eval { config, checkpoint } => {
            let run = load(&config)?;
            let report = pipeline::eval(&run, &checkpoint)
                .with_context(|| format!("eval {}", config.display()))?;
            println!("{}", hark_train::report::markdown(&report));
        }
        Command::Export {
            config,
            checkpoint,
            out,
        } => {
            let run = load(&config)?;
            let e = pipeline::export(&run, &checkpoint, out.as_deref())
                .with_context(|| format!("export {}", config.display()))?;
            println!(
                "exported {} (score_threshold {:.4}); parity tch vs tract: audio {:.2e}, word {:.2e}",
                e.dir.display(),
                e.score_threshold,
                e.audio_parity,
                e.word_parity
            );
        }
        Command::Seeds { reports, out } => {
            let reports = reports
                .iter()
                .map(|path| hark_train::report::read_json(path))
                .collect::<Result<Vec<_>, _>>()?;
            let text = hark_train::seeds::markdown(&reports);
            if let Some(path) = out {
                hark::fsutil::write_atomic(&path, text.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{text}");
        }
    }
    Ok(())
}

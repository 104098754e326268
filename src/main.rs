//! The `hark` command line: parses arguments and calls the library.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use hark::vocab::{self, GloveStore, PackOptions, RowFormat};
use std::path::PathBuf;
use std::process::ExitCode;

/// Default location of the shipped GloVe pack, relative to the working directory.
const DEFAULT_GLOVE: &str = "models/glove/glove-6b-50d.hgv";

/// Zero-shot music tagging on the edge.
#[derive(Parser, Debug)]
#[command(name = "hark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Top-level subcommands; each one is a thin call into the library.
#[derive(Subcommand, Debug)]
enum Command {
    /// GloVe word vectors: pack a text release into hark's memory-mapped format.
    #[command(subcommand)]
    Glove(GloveCommand),
    /// Vocabulary files: check what every tag resolves to.
    #[command(subcommand)]
    Vocab(VocabCommand),
}

/// `hark glove …`
#[derive(Subcommand, Debug)]
enum GloveCommand {
    /// Pack a GloVe text file (`word v1 v2 …` a line, any dimension).
    Pack(PackArgs),
}

/// Arguments of `hark glove pack`.
#[derive(Args, Debug)]
struct PackArgs {
    /// GloVe text file, e.g. glove.6B.50d.txt.
    input: PathBuf,
    /// Pack file to write (replaced atomically).
    #[arg(short, long)]
    output: PathBuf,
    /// Name stored in the pack; default derived from the input name (glove-6b-50d).
    #[arg(long)]
    identity: Option<String>,
    /// Store rows as f16 (twice the size of the default int8 rows, a little more exact).
    #[arg(long)]
    f16: bool,
}

/// `hark vocab …`
#[derive(Subcommand, Debug)]
enum VocabCommand {
    /// Show what each tag resolves to; exit non-zero on any error.
    Check(CheckArgs),
}

/// Arguments of `hark vocab check`.
#[derive(Args, Debug)]
struct CheckArgs {
    /// Vocabulary file.
    file: PathBuf,
    /// GloVe pack to resolve words against.
    #[arg(long, env = "HARK_GLOVE", default_value = DEFAULT_GLOVE)]
    glove: PathBuf,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Glove(GloveCommand::Pack(args)) => glove_pack(args),
        Command::Vocab(VocabCommand::Check(args)) => vocab_check(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn glove_pack(args: PackArgs) -> Result<()> {
    let total = std::fs::metadata(&args.input)
        .with_context(|| format!("{}", args.input.display()))?
        .len();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let options = PackOptions {
        format: if args.f16 {
            RowFormat::F16
        } else {
            RowFormat::Int8
        },
        identity: args.identity,
    };
    let stats =
        vocab::glove::pack_text_with_progress(&args.input, &args.output, &options, &mut |n| {
            bar.set_position(n)
        });
    bar.finish_and_clear();
    let stats = stats?;
    println!(
        "{}: {} words x {}d ({}), identity {}, {:.1} MB",
        args.output.display(),
        stats.words,
        stats.dim,
        stats.format.name(),
        stats.identity,
        stats.bytes as f64 / 1e6
    );
    if stats.folded_duplicates + stats.multiword_skipped > 0 {
        println!(
            "skipped {} rows whose word folded onto an earlier one, {} words with spaces",
            stats.folded_duplicates, stats.multiword_skipped
        );
    }
    Ok(())
}

fn vocab_check(args: CheckArgs) -> Result<()> {
    let store = GloveStore::open(&args.glove)?;
    let report = vocab::check(&args.file, &store);
    println!("{report}");
    for e in &report.errors {
        eprintln!("{e}");
    }
    if !report.is_ok() {
        bail!(
            "{}: {} error(s); the daemon would keep its current vocabulary",
            args.file.display(),
            report.errors.len()
        );
    }
    Ok(())
}

//! The `hark` command line: parses arguments and calls the library.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use hark::bundled;
use hark::file_tagger::Tagger;
use hark::model::Model;
use hark::score::Selection;
use hark::vocab::load_scorer;
use hark::vocab::{self, GloveStore, PackOptions, RowFormat};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Run the daemon: capture, tag each track, publish over MQTT (defaults: bundled demo).
    Run(RunArgs),
    /// Tag audio files: one JSON line per file (or a table with --pretty).
    Tag(TagArgs),
    /// Write a file's log-mel (before standardisation) as .npy [frames, mels].
    Mel(MelArgs),
    /// Daemon configuration: validate it and show the effective settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Model directories: write an untrained model with seeded random weights.
    #[command(subcommand)]
    Model(ModelCommand),
    /// GloVe word vectors: pack a text release into hark's memory-mapped format.
    #[command(subcommand)]
    Glove(GloveCommand),
    /// Vocabulary files: check what every tag resolves to, preview an edit on past tracks.
    #[command(subcommand)]
    Vocab(VocabCommand),
    /// The daemon's track history: search it by any words, list it, export it.
    #[command(subcommand)]
    History(HistoryCommand),
}

/// `hark history …`
#[derive(Subcommand, Debug)]
enum HistoryCommand {
    /// Stored tracks ranked by any words or phrases (vocabulary syntax), best first.
    Search(SearchArgs),
    /// Stored tracks, newest first.
    List(ListArgs),
    /// Every stored track as CSV or JSON lines.
    Export(ExportArgs),
}

/// Which history and how far back: shared by the history commands and `vocab preview`.
#[derive(Args, Debug)]
struct HistoryArgs {
    /// The daemon's configuration (its state directory holds the history).
    #[arg(short, long, env = hark::config::CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Only tracks since then: a span back from now (7d, 12h) or a time (2026-12-01T08:00:00Z).
    #[arg(long)]
    since: Option<String>,
}

/// Arguments of `hark history search`.
#[derive(Args, Debug)]
struct SearchArgs {
    /// Words or phrases; each is one vocabulary line, and a track's score is their mean.
    #[arg(required = true)]
    words: Vec<String>,
    #[command(flatten)]
    history: HistoryArgs,
    /// At most this many tracks.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// A readable table instead of JSON lines.
    #[arg(long)]
    pretty: bool,
}

/// Arguments of `hark history list`.
#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// At most this many tracks (0 = all).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// A readable table instead of JSON lines.
    #[arg(long)]
    pretty: bool,
}

/// Export formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Arguments of `hark history export`.
#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
}

/// Arguments of `hark run`.
#[derive(Args, Debug)]
struct RunArgs {
    /// Configuration file (default /etc/hark/hark.toml if it exists, else built-in defaults).
    #[arg(short, long, env = hark::config::CONFIG_ENV)]
    config: Option<PathBuf>,
}

/// Model, GloVe and vocabulary choice shared by the offline commands.
#[derive(Args, Debug)]
struct ModelArgs {
    /// Model directory (model.toml, audio.onnx, word.onnx).
    #[arg(long, env = "HARK_MODEL", default_value_os_t = bundled("models/default"))]
    model: PathBuf,
}

/// Arguments of `hark tag`.
#[derive(Args, Debug)]
struct TagArgs {
    /// Audio files (OGG Vorbis, MP3, FLAC, WAV).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// GloVe pack the vocabulary resolves against.
    #[arg(long, env = "HARK_GLOVE", default_value_os_t = bundled("models/glove/glove-6b-50d.hgv"))]
    glove: PathBuf,
    /// Vocabulary file, one tag a line.
    #[arg(long, env = "HARK_VOCABULARY", default_value_os_t = bundled("models/vocabulary.txt"))]
    vocabulary: PathBuf,
    /// At most this many tags per file (0 = all above threshold).
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Global score threshold (default: the model's recommendation); may be negative.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f32>,
    /// Frames between window starts (default: the window length, no overlap).
    #[arg(long)]
    hop: Option<usize>,
    /// A readable table instead of JSON lines.
    #[arg(long)]
    pretty: bool,
    /// Files tagged at once (default: one per core); output keeps the order given.
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Arguments of `hark mel`.
#[derive(Args, Debug)]
struct MelArgs {
    /// Audio file.
    file: PathBuf,
    /// .npy file to write.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
}

/// `hark config …`
#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate the configuration and print it (secrets masked); exit non-zero on errors.
    Check(RunArgs),
}

/// `hark model …`
#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Write a model directory with seeded random (untrained) weights, for tests and demos.
    Random(RandomArgs),
}

/// Arguments of `hark model random`.
#[derive(Args, Debug)]
struct RandomArgs {
    /// Directory to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 2019)]
    seed: u64,
    /// Embedding size D.
    #[arg(long, default_value_t = 100)]
    dim: usize,
    /// GloVe pack whose identity and size the word branch takes.
    #[arg(long, default_value_os_t = bundled("models/glove/glove-6b-50d.hgv"))]
    glove: PathBuf,
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
    /// What FILE would have tagged on the stored tracks, against the vocabulary in service.
    Preview(PreviewArgs),
}

/// Arguments of `hark vocab preview`.
#[derive(Args, Debug)]
struct PreviewArgs {
    /// The edited vocabulary file.
    file: PathBuf,
    #[command(flatten)]
    history: HistoryArgs,
    /// Example tracks shown per tag.
    #[arg(long, default_value_t = 3)]
    examples: usize,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `hark vocab check`.
#[derive(Args, Debug)]
struct CheckArgs {
    /// Vocabulary file.
    file: PathBuf,
    /// GloVe pack to resolve words against.
    #[arg(long, env = "HARK_GLOVE", default_value_os_t = bundled("models/glove/glove-6b-50d.hgv"))]
    glove: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs its own and its libraries' news for the journal; a one-off command
    // shows hark's own messages and only its libraries' warnings.
    init_tracing(match cli.command {
        Command::Run(_) => "info",
        _ => "warn,hark=info",
    });
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Tag(args) => tag(args),
        Command::Mel(args) => mel(args),
        Command::Config(ConfigCommand::Check(args)) => config_check(args),
        Command::Model(ModelCommand::Random(args)) => model_random(args),
        Command::Glove(GloveCommand::Pack(args)) => glove_pack(args),
        Command::Vocab(VocabCommand::Check(args)) => vocab_check(args),
        Command::Vocab(VocabCommand::Preview(args)) => vocab_preview(args),
        Command::History(HistoryCommand::Search(args)) => history_search(args),
        Command::History(HistoryCommand::List(args)) => history_list(args),
        Command::History(HistoryCommand::Export(args)) => history_export(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Plain text when journald or a pipe reads it; colours only on a terminal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    check_vocabulary(&args.file, &store, true)
}

/// `vocab check`'s report (printed with `show`), its errors on stderr; an error if any.
fn check_vocabulary(file: &std::path::Path, store: &GloveStore, show: bool) -> Result<()> {
    let report = vocab::check(file, store);
    if show {
        println!("{report}");
    }
    for e in &report.errors {
        eprintln!("{e}");
    }
    if !report.is_ok() {
        bail!(
            "{}: {} error(s); the daemon would keep its current vocabulary",
            file.display(),
            report.errors.len()
        );
    }
    Ok(())
}

/// The history reader of the configured daemon, and the `--since` bound in Unix ms.
fn history_reader(args: &HistoryArgs) -> Result<(hark::history::Reader, i64)> {
    let settings = hark::config::Settings::load_from_process(args.config.as_deref())?;
    history_reader_for(&settings, args)
}

fn history_reader_for(
    settings: &hark::config::Settings,
    args: &HistoryArgs,
) -> Result<(hark::history::Reader, i64)> {
    let since = hark::history::since_ms(args.since.as_deref(), std::time::SystemTime::now())
        .map_err(anyhow::Error::msg)?;
    Ok((hark::history::Reader::from_settings(settings)?, since))
}

fn history_search(args: SearchArgs) -> Result<()> {
    let (reader, since) = history_reader(&args.history)?;
    let result = reader.search(&args.words, since, args.limit)?;
    let mut out = std::io::stdout().lock();
    for hit in &result.hits {
        hark::history::print::write_hit(&mut out, hit, args.pretty)?;
    }
    eprintln!(
        "{} tracks scored{}",
        result.scanned.scored,
        match result.scanned.other_models {
            0 => String::new(),
            n => format!("; {n} from other models kept but not scored"),
        }
    );
    Ok(())
}

fn history_list(args: ListArgs) -> Result<()> {
    let (reader, since) = history_reader(&args.history)?;
    let mut out = std::io::stdout().lock();
    reader.list_marked(since, args.limit, |listed| {
        hark::history::print::write_listed(&mut out, listed, args.pretty).map_err(|e| e.to_string())
    })?;
    Ok(())
}

fn history_export(args: ExportArgs) -> Result<()> {
    let (reader, since) = history_reader(&args.history)?;
    let stdout = std::io::stdout().lock();
    match args.format {
        ExportFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(stdout);
            reader.list_marked(since, 0, |listed| {
                hark::history::print::write_listed(&mut out, listed, false)
                    .map_err(|e| e.to_string())
            })?;
            out.flush()?;
        }
        ExportFormat::Csv => {
            let mut out = csv::Writer::from_writer(stdout);
            out.write_record(hark::history::print::CSV_HEADER)?;
            reader.list_marked(since, 0, |listed| {
                out.write_record(hark::history::print::csv_record(listed))
                    .map_err(|e| e.to_string())
            })?;
            out.flush()?;
        }
    }
    Ok(())
}

fn vocab_preview(args: PreviewArgs) -> Result<()> {
    let settings = hark::config::Settings::load_from_process(args.history.config.as_deref())?;
    let (reader, since) = history_reader_for(&settings, &args.history)?;
    check_vocabulary(&args.file, &reader.glove, false)?;
    let in_service = load_scorer(&reader.model, &reader.glove, &settings.model.vocabulary)?;
    let proposed = load_scorer(&reader.model, &reader.glove, &args.file)?;
    let preview = reader.preview(&in_service.scorer, &proposed.scorer, since, args.examples)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&preview)?)?;
    } else {
        writeln!(
            out,
            "{} (edit) against {} (in service)",
            proposed.identity, in_service.identity
        )?;
        hark::history::print::write_preview(&mut out, &preview)?;
    }
    Ok(())
}

/// Loads and validates the configuration: `hark run` and `hark config check` both start
/// here, so a file one accepts the other accepts too.
fn load_settings(args: &RunArgs) -> Result<hark::config::Settings> {
    Ok(hark::config::Settings::load_from_process(
        args.config.as_deref(),
    )?)
}

fn run(args: RunArgs) -> Result<()> {
    hark::daemon::run(load_settings(&args)?)?;
    Ok(())
}

fn config_check(args: RunArgs) -> Result<()> {
    print!("{}", load_settings(&args)?.to_masked_toml());
    Ok(())
}

fn tag(args: TagArgs) -> Result<()> {
    let model = Model::load(&args.model.model)?;
    let glove = GloveStore::open(&args.glove)?;
    let scorer = load_scorer(&model, &glove, &args.vocabulary)?;
    let selection = Selection {
        threshold: args.threshold.unwrap_or(model.manifest.score_threshold),
        top_k: args.top_k,
    };
    let hop = args.hop.unwrap_or(model.manifest.frontend.window_frames);
    let tagger = Tagger::new(model, scorer, selection, hop);
    let jobs = args
        .jobs
        .map_or_else(hark::file_tagger::default_jobs, usize::from);
    let progress = TagProgress::new(args.files.len());
    let mut failed = 0usize;
    let stdout = std::io::stdout();
    tagger.tag_files(
        &args.files,
        jobs,
        |result| progress.file_done(result),
        |_, result| -> Result<()> {
            match result {
                Ok(report) => {
                    let mut out = stdout.lock();
                    if args.pretty {
                        write_pretty(&mut out, &report)?;
                    } else {
                        writeln!(out, "{}", serde_json::to_string(&report)?)?;
                    }
                }
                Err(e) => {
                    failed += 1;
                    progress.bar.suspend(|| eprintln!("error: {e}"));
                }
            }
            Ok(())
        },
    )?;
    progress.bar.finish_and_clear();
    if failed > 0 {
        bail!(
            "{failed} of {} file(s) could not be tagged",
            args.files.len()
        );
    }
    Ok(())
}

fn write_pretty(out: &mut impl Write, report: &hark::file_tagger::TagReport) -> Result<()> {
    writeln!(
        out,
        "{}  ({:.1} s, {} windows)",
        report.file, report.duration_s, report.windows
    )?;
    if report.tagged.tags.is_empty() {
        writeln!(out, "    (no tag above threshold)")?;
    }
    for t in &report.tagged.tags {
        let bar_len = (t.score.clamp(0.0, 1.0) * 30.0).round() as usize;
        writeln!(
            out,
            "    {:<24} {:>6.3}  {}",
            t.tag,
            t.score,
            "#".repeat(bar_len)
        )?;
    }
    Ok(())
}

/// `hark tag`'s progress bar: files done, files/s and hours of audio tagged per second.
struct TagProgress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    audio_s: std::cell::Cell<f64>,
}

impl TagProgress {
    fn new(files: usize) -> Self {
        // A bar only when there is enough to wait for; indicatif hides it when stderr is no tty.
        let bar = if files > 3 {
            indicatif::ProgressBar::new(files as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} files  {elapsed_precise}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self {
            bar,
            started: std::time::Instant::now(),
            audio_s: std::cell::Cell::new(0.0),
        }
    }

    fn file_done(
        &self,
        result: &Result<hark::file_tagger::TagReport, hark::file_tagger::TagError>,
    ) {
        if let Ok(report) = result {
            self.audio_s.set(self.audio_s.get() + report.duration_s);
        }
        self.bar.inc(1);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{:.2} files/s  {:.3} audio-h/s",
            self.bar.position() as f64 / seconds,
            self.audio_s.get() / 3600.0 / seconds
        ));
    }
}

fn mel(args: MelArgs) -> Result<()> {
    let manifest = hark::model::ModelManifest::load(&args.model.model.join("model.toml"))?;
    let params = &manifest.frontend;
    let (mel, frames) = hark::frontend::file_log_mel(&args.file, params)?;
    hark::frontend::write_npy(&args.output, &mel, frames, params.n_mels)
        .with_context(|| format!("{}: cannot write", args.output.display()))?;
    eprintln!(
        "{}: {frames} frames x {} mels",
        args.output.display(),
        params.n_mels
    );
    Ok(())
}

fn model_random(args: RandomArgs) -> Result<()> {
    let glove = GloveStore::open(&args.glove)?;
    hark::model::export::random_model_dir(
        &args.output,
        args.seed,
        "hark-random",
        glove.identity(),
        glove.dim(),
        args.dim,
    )?;
    eprintln!(
        "{}: untrained model (seed {}, D = {}, G = {})",
        args.output.display(),
        args.seed,
        args.dim,
        glove.dim()
    );
    Ok(())
}

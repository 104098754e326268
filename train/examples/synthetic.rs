//! Writes the synthetic zero-shot dataset of the tests (four sound classes tagged with real
//! GloVe words, three held-out words) and a run file for it: for trying hark-train end to end
//! without a music corpus, and for timing epochs (the CPU and CUDA figures in the notes).
//!
//!   cargo run -p hark-train --example synthetic -- OUT_DIR [CLIPS_PER_CLASS] [SECONDS] [EPOCHS] [WINDOWS_PER_EPOCH]

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!(
            "usage: synthetic OUT_DIR [CLIPS_PER_CLASS] [SECONDS] [EPOCHS] [WINDOWS_PER_EPOCH]"
        );
        std::process::exit(2);
    };
    let mut number = |default: f64| -> f64 {
        args.next()
            .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
            .unwrap_or(default)
    };
    let per_class = number(24.0) as usize;
    let seconds = number(8.0) as f32;
    let epochs = number(8.0) as usize;
    let windows = number(1024.0) as usize;
    let dir = std::path::PathBuf::from(out);
    let (manifest, clips) = common::write_dataset(&dir, per_class, seconds, 11);
    let run = common::write_run(&dir, &manifest, epochs, windows);
    println!("{} clips; run file {}", clips.len(), run.display());
}

//! The log-mel of a whole audio file: decode, then the streaming log-mel at the file's rate.
//! The mel cache of hark-train and `hark mel` both use it, so training sees the daemon's
//! numbers.

use super::{FrontendError, FrontendParams, LogMelStream};
use crate::audio::{AudioError, FileDecoder};
use std::path::{Path, PathBuf};

/// Why a file's log-mel could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FileMelError {
    /// The audio file is unreadable.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The front-end rejected its settings, or resampling to the model rate failed.
    #[error("{}: {source}", path.display())]
    Frontend {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: FrontendError,
    },
    /// The file decoded to no audio at all.
    #[error("{}: no audio in file", .0.display())]
    Empty(PathBuf),
}

/// The log-mel of a whole file before standardisation, `[frames × n_mels]` time-major, and
/// its frame count. Decoder blocks go through the same [`LogMelStream`] as streaming, so the
/// frames equal those the streaming front-end computes from the same file.
pub fn file_log_mel(
    path: &Path,
    params: &FrontendParams,
) -> Result<(Vec<f32>, usize), FileMelError> {
    let mut decoder = FileDecoder::open(path)?;
    let frontend_err = |source| FileMelError::Frontend {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = LogMelStream::new(params, decoder.sample_rate()).map_err(frontend_err)?;
    let mut mel = Vec::new();
    let mut samples = 0u64;
    while let Some(block) = decoder.next_block()? {
        samples += block.len() as u64;
        stream.push(&block, &mut mel).map_err(frontend_err)?;
    }
    stream.finish(&mut mel).map_err(frontend_err)?;
    if samples == 0 {
        return Err(FileMelError::Empty(path.to_path_buf()));
    }
    let frames = mel.len() / params.n_mels.max(1);
    Ok((mel, frames))
}

/// Writes a row-major f32 matrix as a `.npy` file (what `hark mel` hands to numpy),
/// atomically: a failed write leaves no half file behind.
pub fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let mut out = std::io::BufWriter::new(crate::fsutil::AtomicFile::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(&mut out)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    out.into_inner().map_err(|e| e.into_error())?.commit()
}

//! The log-mel of a whole audio file: decode, resample to the model rate, log-mel. The mel
//! cache of hark-train and `hark mel` both use it, so training sees the daemon's numbers.

use super::{log_mel, FrontendError, FrontendParams};
use crate::audio::{AudioError, FileDecoder, ResampleError, Resampler};
use std::path::{Path, PathBuf};

/// Why a file's log-mel could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FileMelError {
    /// The audio file is unreadable.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Resampling to the model rate failed.
    #[error("{}: {source}", path.display())]
    Resample {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ResampleError,
    },
    /// The front-end rejected its settings.
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
/// its frame count. Decoder blocks go through the same resampler and mel code as streaming,
/// so the frames equal those the streaming front-end computes from the same file.
pub fn file_log_mel(
    path: &Path,
    params: &FrontendParams,
) -> Result<(Vec<f32>, usize), FileMelError> {
    let mut decoder = FileDecoder::open(path)?;
    let resample_err = |source| FileMelError::Resample {
        path: path.to_path_buf(),
        source,
    };
    let mut resampler =
        Resampler::new(decoder.sample_rate(), params.sample_rate).map_err(resample_err)?;
    let mut audio = Vec::new();
    while let Some(block) = decoder.next_block()? {
        resampler.push(&block, &mut audio).map_err(resample_err)?;
    }
    resampler.finish(&mut audio).map_err(resample_err)?;
    if audio.is_empty() {
        return Err(FileMelError::Empty(path.to_path_buf()));
    }
    let mel = log_mel(&audio, params).map_err(|source| FileMelError::Frontend {
        path: path.to_path_buf(),
        source,
    })?;
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

//! The mel front-end shared by the daemon and hark-train: STFT, mel filterbank, log
//! compression, input at any rate, standardisation, the window ring and [`window_starts`],
//! and the log-mel of a whole file. Values come from `FrontendParams`.
//!
//! Frames start at sample 0 with no centring or padding, so a signal processed whole and the
//! same signal pushed block by block give bit-identical frames.

mod file;
mod filterbank;
mod mel;
mod rate;
mod ring;
mod streaming;

use serde::{Deserialize, Serialize};

pub use file::{file_log_mel, write_npy, FileMelError};
pub use filterbank::{mel_band_centres_hz, mel_filterbank};
pub use mel::{compress, uncompress, MelFrontend};
pub use rate::LogMelStream;
pub use ring::{window_starts, WindowRing};
pub use streaming::StreamingFrontend;

/// Front-end settings as recorded in a model's `model.toml` (`[frontend]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendParams {
    /// Model sample rate in Hz (mono).
    pub sample_rate: u32,
    /// FFT size and periodic Hann window length, in samples.
    pub n_fft: usize,
    /// STFT hop in samples.
    pub hop_length: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest mel filter edge in Hz.
    pub f_min: f32,
    /// Highest mel filter edge in Hz (`sr / 2` in the paper).
    pub f_max: f32,
    /// Mean subtracted after log compression.
    pub mean: f32,
    /// Standard deviation divided by after subtracting the mean.
    pub std: f32,
    /// Frames per model window (130 ≈ 3 s).
    pub window_frames: usize,
}

impl Default for FrontendParams {
    /// The paper's settings with identity standardisation.
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            n_fft: 1024,
            hop_length: 512,
            n_mels: 128,
            f_min: 0.0,
            f_max: 11_025.0,
            mean: 0.0,
            std: 1.0,
            window_frames: 130,
        }
    }
}

/// Changes whenever the front-end computes different numbers from the same settings, so
/// frames stored by an older hark (hark-train's mel cache) are known to be stale. 2: whole
/// multiples of the model rate decimated inside the STFT, log2-based compression, eight-lane
/// filterbank sums (within 1e-5 of revision 1 below ≈10 kHz; in the top bands 8e-4 on music,
/// up to ≈0.02 for a fast sweep).
pub const NUMERICS_REVISION: u32 = 2;

/// Highest sample rate accepted (Hz): beyond any audio interface, so a larger value is a typo.
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Largest FFT size (and STFT hop) accepted: the dense filterbank is `n_mels × (n_fft/2 + 1)`
/// values, so a typo such as `n_fft = 1024000` must be refused, not allocated.
pub const MAX_N_FFT: usize = 8192;
/// Most frames a model window may hold (about four minutes at the paper's hop); the window
/// ring keeps two windows in memory.
pub const MAX_WINDOW_FRAMES: usize = 10_000;

impl FrontendParams {
    /// Checks every field, so that parameters that pass build a front-end that runs on any
    /// audio; the error names the first bad field.
    pub fn validate(&self) -> Result<(), FrontendError> {
        let bad = |field: &'static str, reason: String| {
            Err(FrontendError::InvalidParam { field, reason })
        };
        if self.sample_rate == 0 || self.sample_rate > MAX_SAMPLE_RATE {
            return bad(
                "sample_rate",
                format!(
                    "must be between 1 and {MAX_SAMPLE_RATE} Hz, got {}",
                    self.sample_rate
                ),
            );
        }
        if !(2..=MAX_N_FFT).contains(&self.n_fft) {
            return bad(
                "n_fft",
                format!("must be between 2 and {MAX_N_FFT}, got {}", self.n_fft),
            );
        }
        if !(1..=MAX_N_FFT).contains(&self.hop_length) {
            return bad(
                "hop_length",
                format!("must be between 1 and {MAX_N_FFT}, got {}", self.hop_length),
            );
        }
        // More bands than FFT bins would leave bands with no bin at all: always zero.
        let bins = self.n_fft / 2 + 1;
        if !(1..=bins).contains(&self.n_mels) {
            return bad(
                "n_mels",
                format!(
                    "must be between 1 and n_fft / 2 + 1 = {bins}, got {}",
                    self.n_mels
                ),
            );
        }
        if !self.f_min.is_finite() || self.f_min < 0.0 {
            return bad(
                "f_min",
                format!("must be finite and >= 0, got {}", self.f_min),
            );
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if !self.f_max.is_finite() || self.f_max <= self.f_min || self.f_max > nyquist {
            return bad(
                "f_max",
                format!(
                    "must be above f_min ({}) and at most sample_rate / 2 ({nyquist}), got {}",
                    self.f_min, self.f_max
                ),
            );
        }
        if !self.mean.is_finite() {
            return bad("mean", format!("must be finite, got {}", self.mean));
        }
        if !self.std.is_finite() || self.std <= 0.0 {
            return bad("std", format!("must be finite and > 0, got {}", self.std));
        }
        if !(1..=MAX_WINDOW_FRAMES).contains(&self.window_frames) {
            return bad(
                "window_frames",
                format!(
                    "must be between 1 and {MAX_WINDOW_FRAMES}, got {}",
                    self.window_frames
                ),
            );
        }
        Ok(())
    }
}

/// Why the front-end could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// A `FrontendParams` field (or a window-ring setting) is out of range.
    #[error("invalid front-end setting `{field}`: {reason}")]
    InvalidParam {
        /// The field's name as written in model.toml / the daemon config.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The input could not be resampled to the model rate.
    #[error(transparent)]
    Resample(#[from] crate::audio::ResampleError),
}

/// Log-mel frames of a whole signal already at `params.sample_rate`: time-major
/// `[frames × n_mels]`, unstandardised; the same code path as streaming.
pub fn log_mel(samples: &[f32], params: &FrontendParams) -> Result<Vec<f32>, FrontendError> {
    let mut frontend = MelFrontend::new(params)?;
    let mut frames = Vec::with_capacity(frontend.frames_for(samples.len()) * params.n_mels);
    frontend.push(samples, &mut frames);
    frontend.finish(&mut frames);
    Ok(frames)
}

/// Standardises log-mel values in place: `(x − mean) / std` with the model's statistics.
pub fn standardize(frames: &mut [f32], params: &FrontendParams) {
    let (mean, std) = (params.mean, params.std);
    for x in frames {
        *x = (*x - mean) / std;
    }
}

//! The mel front-end shared by the daemon and hark-train: STFT, mel filterbank, log
//! compression, standardisation and the window ring. Values come from `FrontendParams`.
//!
//! Frames start at sample 0 with no centring or padding, so a signal processed whole and the
//! same signal pushed block by block give bit-identical frames.

mod filterbank;
mod mel;
mod ring;
mod streaming;

use serde::{Deserialize, Serialize};

pub use filterbank::mel_filterbank;
pub use mel::MelFrontend;
pub use ring::WindowRing;
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

impl FrontendParams {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FrontendError> {
        let bad = |field: &'static str, reason: String| {
            Err(FrontendError::InvalidParam { field, reason })
        };
        if self.sample_rate == 0 {
            return bad("sample_rate", "must be > 0".into());
        }
        if self.n_fft < 2 {
            return bad("n_fft", format!("must be >= 2, got {}", self.n_fft));
        }
        if self.hop_length == 0 {
            return bad("hop_length", "must be > 0".into());
        }
        if self.n_mels == 0 {
            return bad("n_mels", "must be > 0".into());
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
        if self.window_frames == 0 {
            return bad("window_frames", "must be > 0".into());
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
    Ok(frames)
}

/// Standardises log-mel values in place: `(x − mean) / std` with the model's statistics.
pub fn standardize(frames: &mut [f32], params: &FrontendParams) {
    let (mean, std) = (params.mean, params.std);
    for x in frames {
        *x = (*x - mean) / std;
    }
}

//! The mel front-end shared by the daemon and hark-train: STFT, mel filterbank, log
//! compression, standardisation and the window ring. Values come from `FrontendParams`.

use serde::{Deserialize, Serialize};

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

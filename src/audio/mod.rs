//! Audio in: file decoding to mono f32 and streaming resampling to the model rate.
//!
//! Nothing here needs tokio, cpal or MQTT: hark-train links this module with the crate's
//! default features off.

mod decode;
mod resample;

pub use decode::{decode_file, AudioError, DecodedAudio, FileDecoder, MAX_SAMPLE_RATE};
pub use resample::{decimation_gain, ResampleError, Resampler};

#[cfg(feature = "daemon")]
pub mod settings;
#[cfg(feature = "daemon")]
pub mod source;

#[cfg(feature = "daemon")]
pub use settings::{RawFormat, SourceKind, SourceSettings};

/// A float sample from outside (a float WAV, raw bytes read as f32, a device) made safe for
/// the front-end: NaN and infinities would poison the resampler's FFT and kill the pipeline,
/// so they become silence; everything else is held to full scale.
pub fn finite_sample(s: f32) -> f32 {
    if s.is_finite() {
        s.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

//! Audio in: file decoding to mono f32 and streaming resampling to the model rate.
//!
//! Nothing here needs tokio, cpal or MQTT: hark-train links this module with the crate's
//! default features off.

mod decode;
mod resample;

pub use decode::{decode_file, AudioError, DecodedAudio, FileDecoder};
pub use resample::{ResampleError, Resampler};

#[cfg(feature = "daemon")]
pub mod source;

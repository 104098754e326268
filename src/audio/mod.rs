//! Audio in: file decoding to mono f32 and streaming resampling to the model rate.

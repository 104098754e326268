//! The whole chain for live or file input: resample → log-mel → standardise → window ring.

use tracing::debug;

use super::{standardize, FrontendError, FrontendParams, MelFrontend, WindowRing};
use crate::audio::Resampler;

/// Turns mono audio at any rate, in blocks of any size, into standardised model windows.
#[derive(Debug)]
pub struct StreamingFrontend {
    params: FrontendParams,
    resampler: Resampler,
    mel: MelFrontend,
    ring: WindowRing,
    resampled: Vec<f32>,
    frames: Vec<f32>,
}

impl StreamingFrontend {
    /// Builds the chain for input at `input_rate` Hz, emitting a window every `hop_frames`.
    pub fn new(
        params: &FrontendParams,
        input_rate: u32,
        hop_frames: usize,
    ) -> Result<Self, FrontendError> {
        let mel = MelFrontend::new(params)?;
        let ring = WindowRing::new(params.window_frames, params.n_mels, hop_frames)?;
        let resampler = Resampler::new(input_rate, params.sample_rate)?;
        debug!(
            input_rate,
            model_rate = params.sample_rate,
            hop_frames,
            "streaming front-end ready"
        );
        Ok(Self {
            params: params.clone(),
            resampler,
            mel,
            ring,
            resampled: Vec::new(),
            frames: Vec::new(),
        })
    }

    /// The front-end settings in use.
    pub fn params(&self) -> &FrontendParams {
        &self.params
    }

    /// Feeds mono samples at the input rate; calls `on_window` with each completed
    /// `[window_frames × n_mels]` window and returns how many there were.
    pub fn push(
        &mut self,
        samples: &[f32],
        on_window: impl FnMut(&[f32]),
    ) -> Result<usize, FrontendError> {
        self.resampled.clear();
        self.resampler.push(samples, &mut self.resampled)?;
        Ok(self.feed_resampled(on_window))
    }

    /// Ends the stream: flushes the resampler, emits any windows that completes, and resets
    /// every stage so the next push starts a new stream at sample 0.
    pub fn finish(&mut self, on_window: impl FnMut(&[f32])) -> Result<usize, FrontendError> {
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled)?;
        let n = self.feed_resampled(on_window);
        self.mel.reset();
        self.ring.reset();
        Ok(n)
    }

    fn feed_resampled(&mut self, mut on_window: impl FnMut(&[f32])) -> usize {
        self.frames.clear();
        self.mel.push(&self.resampled, &mut self.frames);
        standardize(&mut self.frames, &self.params);
        let mut windows = 0;
        for frame in self.frames.chunks_exact(self.params.n_mels) {
            if let Some(window) = self.ring.push_frame(frame) {
                on_window(window);
                windows += 1;
            }
        }
        windows
    }
}

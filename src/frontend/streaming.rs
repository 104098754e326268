//! The whole chain for live or file input: log-mel at any rate → standardise → window ring.

use tracing::debug;

use super::{standardize, FrontendError, FrontendParams, LogMelStream, WindowRing};

/// Turns mono audio at any rate, in blocks of any size, into standardised model windows.
#[derive(Debug)]
pub struct StreamingFrontend {
    params: FrontendParams,
    mel: LogMelStream,
    ring: WindowRing,
    frames: Vec<f32>,
}

impl StreamingFrontend {
    /// Builds the chain for input at `input_rate` Hz, emitting a window every `hop_frames`.
    pub fn new(
        params: &FrontendParams,
        input_rate: u32,
        hop_frames: usize,
    ) -> Result<Self, FrontendError> {
        let mel = LogMelStream::new(params, input_rate)?;
        let ring = WindowRing::new(params.window_frames, params.n_mels, hop_frames)?;
        debug!(
            input_rate,
            model_rate = params.sample_rate,
            hop_frames,
            "streaming front-end ready"
        );
        Ok(Self {
            params: params.clone(),
            mel,
            ring,
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
        self.frames.clear();
        self.mel.push(samples, &mut self.frames)?;
        Ok(self.emit_windows(on_window))
    }

    /// Ends the stream: emits any windows its end completes, and resets every stage so the
    /// next push starts a new stream at sample 0.
    pub fn finish(&mut self, on_window: impl FnMut(&[f32])) -> Result<usize, FrontendError> {
        self.frames.clear();
        self.mel.finish(&mut self.frames)?;
        let n = self.emit_windows(on_window);
        self.ring.reset();
        Ok(n)
    }

    /// Standardises the frames just computed and passes on each window they complete.
    fn emit_windows(&mut self, mut on_window: impl FnMut(&[f32])) -> usize {
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

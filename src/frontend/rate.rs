//! Unstandardised log-mel frames from mono audio at any rate: straight through at the model
//! rate, decimated inside the STFT at whole multiples of it (44.1 kHz for a 22.05 kHz model),
//! resampled with rubato first at any other rate.

use super::{FrontendError, FrontendParams, MelFrontend};
use crate::audio::{decimation_gain, Resampler};

/// Streaming log-mel of audio at one input rate; the frames of a stream do not depend on how
/// it is split into blocks.
#[derive(Debug)]
pub struct LogMelStream {
    mel: MelFrontend,
    input: Input,
}

#[derive(Debug)]
enum Input {
    /// At the model rate (`factor` 1) or a whole multiple of it, fed to the mel as it is.
    Direct {
        factor: usize,
        /// Samples pushed in this stream, to pad its end to a whole multiple of `factor`.
        pushed: u64,
    },
    /// Any other rate: resampled to the model rate, then the mel.
    Resampled {
        // Boxed: rubato's state is large beside the other variant's two numbers.
        resampler: Box<Resampler>,
        resampled: Vec<f32>,
    },
}

impl LogMelStream {
    /// A stream for input at `input_rate` Hz.
    ///
    /// At a whole multiple of the model rate the frames are those of resampling first (the
    /// resampler's own response scales the spectrum): to rounding in its passband, within
    /// ≈0.02 in the top bands on its slope. That costs about half as much (0.58 against
    /// 1.26 ms a window at 44.1 kHz, `benches/pipeline.rs`): no resampled signal, one FFT per
    /// frame instead of three.
    pub fn new(params: &FrontendParams, input_rate: u32) -> Result<Self, FrontendError> {
        params.validate()?;
        let model_rate = params.sample_rate;
        let (mel, input) = if input_rate == model_rate {
            let direct = Input::Direct {
                factor: 1,
                pushed: 0,
            };
            (MelFrontend::new(params)?, direct)
        } else if input_rate > model_rate && input_rate.is_multiple_of(model_rate) {
            let factor = (input_rate / model_rate) as usize;
            let gain = decimation_gain(input_rate, model_rate, params.n_fft)?;
            let direct = Input::Direct { factor, pushed: 0 };
            (MelFrontend::decimating(params, factor, &gain)?, direct)
        } else {
            let resampled = Input::Resampled {
                resampler: Box::new(Resampler::new(input_rate, model_rate)?),
                resampled: Vec::new(),
            };
            (MelFrontend::new(params)?, resampled)
        };
        Ok(Self { mel, input })
    }

    /// Values per frame (the number of mel bands).
    pub fn n_mels(&self) -> usize {
        self.mel.n_mels()
    }

    /// Feeds samples at the input rate; appends every newly complete frame to `frames_out`
    /// and returns how many there were.
    pub fn push(
        &mut self,
        samples: &[f32],
        frames_out: &mut Vec<f32>,
    ) -> Result<usize, FrontendError> {
        match &mut self.input {
            Input::Direct { pushed, .. } => {
                *pushed += samples.len() as u64;
                Ok(self.mel.push(samples, frames_out))
            }
            Input::Resampled {
                resampler,
                resampled,
            } => {
                resampled.clear();
                resampler.push(samples, resampled)?;
                Ok(self.mel.push(resampled, frames_out))
            }
        }
    }

    /// Ends the stream: emits the frames its end completes and resets, so the next push
    /// starts a new stream at sample 0. Returns how many frames there were.
    pub fn finish(&mut self, frames_out: &mut Vec<f32>) -> Result<usize, FrontendError> {
        let n = match &mut self.input {
            Input::Direct { factor, pushed } => {
                // Resampling emits ceil(n / factor) samples; zeros to the next whole multiple
                // give the decimating STFT the same frame count.
                let short = (*factor as u64 - *pushed % *factor as u64) % *factor as u64;
                *pushed = 0;
                self.mel.push(&vec![0.0; short as usize], frames_out)
            }
            Input::Resampled {
                resampler,
                resampled,
            } => {
                resampled.clear();
                resampler.finish(resampled)?;
                self.mel.push(resampled, frames_out)
            }
        };
        Ok(n + self.mel.finish(frames_out))
    }
}

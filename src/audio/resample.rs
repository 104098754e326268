//! Streaming sample-rate conversion with rubato, independent of how input is split.

use rubato::{FftFixedInOut, Resampler as _};
use tracing::debug;

/// Input frames per rubato call; rounded up by rubato to a whole number of rate periods.
const TARGET_CHUNK_IN: usize = 1024;

/// Why a resampler could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// A sample rate was zero.
    #[error("invalid resampling rates: from {from_hz} Hz to {to_hz} Hz (both must be > 0)")]
    InvalidRate {
        /// Input rate in Hz.
        from_hz: u32,
        /// Output rate in Hz.
        to_hz: u32,
    },
    /// rubato refused to build or run (a bug here, not bad input).
    #[error("resampler from {from_hz} Hz to {to_hz} Hz failed: {reason}")]
    Rubato {
        /// Input rate in Hz.
        from_hz: u32,
        /// Output rate in Hz.
        to_hz: u32,
        /// rubato's message.
        reason: String,
    },
}

/// Mono streaming resampler: output is time-aligned with the input (rubato's delay removed)
/// and bit-identical however the input is split into blocks.
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal (pass-through).
    fft: Option<FftStage>,
}

struct FftStage {
    inner: FftFixedInOut<f32>,
    chunk_in: usize,
    /// Input waiting for a full chunk.
    pending: Vec<f32>,
    /// One chunk of output.
    chunk_out: Vec<f32>,
    /// Output frames still to drop to cancel rubato's delay.
    skip: usize,
    /// Total input frames pushed in this stream.
    frames_in: u64,
    /// Total output frames emitted in this stream.
    frames_out: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("passthrough", &self.fft.is_none())
            .finish()
    }
}

impl Resampler {
    /// Builds a resampler from `from_hz` to `to_hz` (FFT-based, synchronous, exact ratio).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        if from_hz == 0 || to_hz == 0 {
            return Err(ResampleError::InvalidRate { from_hz, to_hz });
        }
        let fft = if from_hz == to_hz {
            None
        } else {
            let inner = rubato_stage(from_hz, to_hz)?;
            let chunk_in = inner.input_frames_next();
            let chunk_out = inner.output_frames_next();
            let skip = inner.output_delay();
            debug!(
                from_hz,
                to_hz,
                chunk_in,
                chunk_out,
                delay = skip,
                "built resampler"
            );
            Some(FftStage {
                inner,
                chunk_in,
                pending: Vec::with_capacity(2 * chunk_in),
                chunk_out: vec![0.0; chunk_out],
                skip,
                frames_in: 0,
                frames_out: 0,
            })
        };
        Ok(Self {
            from_hz,
            to_hz,
            fft,
        })
    }

    /// Input rate in Hz.
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output rate in Hz.
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Feeds `input` and appends every output sample now complete to `out`; returns how many.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, ResampleError> {
        let Some(stage) = &mut self.fft else {
            out.extend_from_slice(input);
            return Ok(input.len());
        };
        let before = out.len();
        stage.frames_in += input.len() as u64;
        // Moved out while chunks of it are processed, so `stage` can be borrowed mutably.
        let mut pending = std::mem::take(&mut stage.pending);
        pending.extend_from_slice(input);
        let mut start = 0;
        let mut result = Ok(());
        while pending.len() - start >= stage.chunk_in {
            result = stage.process(&pending[start..start + stage.chunk_in], u64::MAX, out);
            if result.is_err() {
                break;
            }
            start += stage.chunk_in;
        }
        pending.drain(..start);
        stage.pending = pending;
        result.map_err(rubato_error(self.from_hz, self.to_hz))?;
        Ok(out.len() - before)
    }

    /// Flushes the stream: appends the remaining output so the total is
    /// `ceil(input_len · to / from)`, then resets for a new stream. Returns how many.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<usize, ResampleError> {
        let Some(stage) = &mut self.fft else {
            return Ok(0);
        };
        let before = out.len();
        let (from, to) = (u64::from(self.from_hz), u64::from(self.to_hz));
        let total = (stage.frames_in * to).div_ceil(from);
        let mut chunk = std::mem::take(&mut stage.pending);
        while stage.frames_out < total {
            chunk.resize(stage.chunk_in, 0.0);
            stage
                .process(&chunk, total, out)
                .map_err(rubato_error(self.from_hz, self.to_hz))?;
            chunk.clear();
        }
        chunk.clear();
        stage.pending = chunk;
        stage.inner.reset();
        stage.skip = stage.inner.output_delay();
        stage.frames_in = 0;
        stage.frames_out = 0;
        Ok(out.len() - before)
    }
}

/// The rubato resampler every conversion from `from_hz` to `to_hz` uses.
fn rubato_stage(from_hz: u32, to_hz: u32) -> Result<FftFixedInOut<f32>, ResampleError> {
    FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, TARGET_CHUNK_IN, 1)
        .map_err(rubato_error(from_hz, to_hz))
}

/// Turns rubato's (or realfft's) complaint into the error naming both rates.
fn rubato_error<E: ToString>(from_hz: u32, to_hz: u32) -> impl FnOnce(E) -> ResampleError {
    move |e| ResampleError::Rubato {
        from_hz,
        to_hz,
        reason: e.to_string(),
    }
}

/// The magnitude response of the resampler from `from_hz` down to `to_hz`, at the
/// `n_fft / 2 + 1` bin frequencies of an `n_fft`-point FFT at `to_hz`.
///
/// An FFT of `k · n_fft` samples at `k` times the rate sees `k` times the amplitude of an
/// `n_fft`-point FFT of the same sound at the low rate; the resampled impulse carries exactly
/// that `1/k` (it sums to `1/k` in the passband). So an input-rate spectrum scaled by these
/// values has the magnitudes of resampling first and then transforming.
pub fn decimation_gain(from_hz: u32, to_hz: u32, n_fft: usize) -> Result<Vec<f32>, ResampleError> {
    if from_hz == 0 || to_hz == 0 || n_fft == 0 {
        return Err(ResampleError::InvalidRate { from_hz, to_hz });
    }
    let mut stage = rubato_stage(from_hz, to_hz)?;
    let (chunk_in, chunk_out) = (stage.input_frames_next(), stage.output_frames_next());
    // One chunk's output spans two output chunks (overlap-add); a third confirms the tail.
    let mut response = Vec::with_capacity(3 * chunk_out);
    let mut input = vec![0.0f32; chunk_in];
    let mut output = vec![0.0f32; chunk_out];
    input[0] = 1.0;
    for _ in 0..3 {
        stage
            .process_into_buffer(&[input.as_slice()], &mut [output.as_mut_slice()], None)
            .map_err(rubato_error(from_hz, to_hz))?;
        response.extend_from_slice(&output);
        input[0] = 0.0;
    }
    // A whole multiple of n_fft, so bin `j` of the n_fft-point grid is bin `j · m` here.
    let m = response.len().div_ceil(n_fft);
    response.resize(m * n_fft, 0.0);
    let fft = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(response.len());
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut response, &mut spectrum)
        .map_err(rubato_error(from_hz, to_hz))?;
    Ok((0..=n_fft / 2).map(|j| spectrum[j * m].norm()).collect())
}

impl FftStage {
    /// Resamples one full chunk, dropping the delay and never emitting past `limit` frames.
    fn process(&mut self, chunk: &[f32], limit: u64, out: &mut Vec<f32>) -> Result<(), String> {
        self.inner
            .process_into_buffer(&[chunk], &mut [self.chunk_out.as_mut_slice()], None)
            .map_err(|e| e.to_string())?;
        let skip = self.skip.min(self.chunk_out.len());
        self.skip -= skip;
        let ready = &self.chunk_out[skip..];
        let room = limit.saturating_sub(self.frames_out);
        let take = ready.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        out.extend_from_slice(&ready[..take]);
        self.frames_out += take as u64;
        Ok(())
    }
}

//! Streaming STFT → mel → log10(1 + 10·x), frames starting at sample 0 without centring.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::filterbank::SparseFilterbank;
use super::{FrontendError, FrontendParams};

/// Frames' worth of used-up samples `pending` holds before they are moved out.
const COMPACT_AFTER_FRAMES: usize = 8;

/// Streaming log-mel front-end: push samples at the model rate (or a whole multiple of it,
/// [`MelFrontend::decimating`]), get complete frames out.
///
/// The FFT is planned once and every buffer is allocated in `new`; `push` allocates only
/// when the caller's output vector grows.
pub struct MelFrontend {
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    filterbank: SparseFilterbank,
    /// Samples kept for frames not yet complete; the next frame starts at `pending[consumed]`.
    pending: Vec<f32>,
    /// How much of `pending` earlier frames have used up: moved out only now and then, since
    /// decoder blocks are shorter than a frame and a move on every push cost more than the
    /// copy in.
    consumed: usize,
    /// Samples still to discard before the next frame starts (only when hop > n_fft).
    skip: usize,
    frame_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    magnitude: Vec<f32>,
    scratch: Vec<Complex<f32>>,
}

impl std::fmt::Debug for MelFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelFrontend")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .field("n_mels", &self.n_mels)
            .field("pending", &(self.pending.len() - self.consumed))
            .finish_non_exhaustive()
    }
}

impl MelFrontend {
    /// Validates `params`, plans the FFT and precomputes the window and filterbank.
    pub fn new(params: &FrontendParams) -> Result<Self, FrontendError> {
        params.validate()?;
        Ok(Self::build(params, 1, None))
    }

    /// A front-end for input at `factor` times the model rate that folds the decimation into
    /// the STFT: frames of `factor · n_fft` input samples every `factor · hop_length`, only the
    /// bins below the model's Nyquist kept, each scaled by `gain` (the resampler's response at
    /// those bins, [`crate::audio::decimation_gain`]), so the frames equal those of resampling
    /// first without computing the resampled signal or its own FFT.
    pub(crate) fn decimating(
        params: &FrontendParams,
        factor: usize,
        gain: &[f32],
    ) -> Result<Self, FrontendError> {
        params.validate()?;
        Ok(Self::build(params, factor.max(1), Some(gain)))
    }

    fn build(params: &FrontendParams, factor: usize, gain: Option<&[f32]>) -> Self {
        let n_fft = params.n_fft * factor;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        // Periodic Hann (scipy.signal.get_window('hann', n_fft, fftbins=True)); at `factor`
        // times the length, every `factor`-th value is the model-rate window's.
        let window = (0..n_fft)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * n as f64 / n_fft as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        Self {
            n_fft,
            hop: params.hop_length * factor,
            n_mels: params.n_mels,
            window,
            filterbank: SparseFilterbank::new(params, gain),
            pending: Vec::with_capacity((COMPACT_AFTER_FRAMES + 2) * n_fft),
            consumed: 0,
            skip: 0,
            frame_in: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            magnitude: vec![0.0; params.n_fft / 2 + 1],
            scratch: fft.make_scratch_vec(),
            fft,
        }
    }

    /// Values per frame (the number of mel bands).
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// How many frames a signal of `n_samples` (at the input rate) yields from its start.
    pub fn frames_for(&self, n_samples: usize) -> usize {
        if n_samples < self.n_fft {
            0
        } else {
            1 + (n_samples - self.n_fft) / self.hop
        }
    }

    /// Appends every newly complete frame (n_mels values of log10(1 + 10·mel), unstandardised)
    /// to `frames_out`; returns how many frames were added.
    pub fn push(&mut self, mut samples: &[f32], frames_out: &mut Vec<f32>) -> usize {
        let skipped = self.skip.min(samples.len());
        self.skip -= skipped;
        samples = &samples[skipped..];
        if samples.is_empty() {
            return 0;
        }

        let mut count = 0;
        // Frames lying wholly inside `samples` need no copy through `pending`.
        let use_pending = self.pending.len() > self.consumed;
        if use_pending {
            self.pending.extend_from_slice(samples);
        }
        let buf: &[f32] = if use_pending {
            &self.pending[self.consumed..]
        } else {
            samples
        };
        let n_frames = self.frames_for(buf.len());
        frames_out.reserve(n_frames * self.n_mels);
        let mut start = 0;
        for _ in 0..n_frames {
            let at = frames_out.len();
            frames_out.resize(at + self.n_mels, 0.0);
            compute_frame(
                &buf[start..start + self.n_fft],
                &self.window,
                self.fft.as_ref(),
                &mut self.frame_in,
                &mut self.spectrum,
                &mut self.scratch,
                &mut self.magnitude,
                &self.filterbank,
                &mut frames_out[at..],
            );
            start += self.hop;
            count += 1;
        }

        let len = buf.len();
        if start >= len {
            self.skip = start - len;
            self.pending.clear();
            self.consumed = 0;
        } else if use_pending {
            self.consumed += start;
            if self.consumed >= COMPACT_AFTER_FRAMES * self.n_fft {
                self.pending.drain(..self.consumed);
                self.consumed = 0;
            }
        } else {
            self.pending.clear();
            self.consumed = 0;
            self.pending.extend_from_slice(&samples[start..]);
        }
        count
    }

    /// Drops buffered samples so the next push starts a new signal at sample 0.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.consumed = 0;
        self.skip = 0;
    }
}

/// One frame: window, real FFT, magnitude, sparse mel, log compression.
#[allow(clippy::too_many_arguments)]
#[inline]
fn compute_frame(
    samples: &[f32],
    window: &[f32],
    fft: &dyn RealToComplex<f32>,
    frame_in: &mut [f32],
    spectrum: &mut [Complex<f32>],
    scratch: &mut [Complex<f32>],
    magnitude: &mut [f32],
    filterbank: &SparseFilterbank,
    out: &mut [f32],
) {
    for ((x, s), w) in frame_in.iter_mut().zip(samples).zip(window) {
        *x = s * w;
    }
    // Lengths all come from the plan, so the only error realfft can report cannot occur.
    let planned = fft.process_with_scratch(frame_in, spectrum, scratch);
    debug_assert!(
        planned.is_ok(),
        "FFT buffers sized from the plan: {planned:?}"
    );
    // Only the bins below the model rate's Nyquist: `magnitude` is that long.
    for (m, c) in magnitude.iter_mut().zip(spectrum.iter()) {
        *m = (c.re * c.re + c.im * c.im).sqrt();
    }
    filterbank.apply(magnitude, out);
    for v in out.iter_mut() {
        *v = compress(*v);
    }
}

/// The front-end's compression of one mel magnitude: log10(1 + 10·x).
#[inline]
pub fn compress(magnitude: f32) -> f32 {
    // log2 scaled rather than log10: glibc's log10f is the slow legacy routine (≈2× here),
    // and the two differ by at most 2.4e-7 on these values.
    (1.0 + 10.0 * magnitude).log2() * std::f32::consts::LOG10_2
}

/// The mel magnitude a compressed value came from: the inverse of [`compress`].
pub fn uncompress(value: f32) -> f32 {
    (10f32.powf(value) - 1.0) / 10.0
}

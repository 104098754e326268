//! Slaney mel filterbank, computed step for step as `librosa.filters.mel(htk=False,
//! norm='slaney')` does (f64 maths, f32 weights, the same two roundings).

use super::FrontendParams;

/// Slaney scale: linear below 1 kHz, logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// `numpy.linspace(start, stop, num)` including its exact endpoint.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// The `n_mels + 2` band edges in Hz: band m rises from edge m, peaks at m + 1, ends at m + 2.
fn band_edges_hz(params: &FrontendParams) -> Vec<f64> {
    linspace(
        hz_to_mel(f64::from(params.f_min)),
        hz_to_mel(f64::from(params.f_max)),
        params.n_mels + 2,
    )
    .into_iter()
    .map(mel_to_hz)
    .collect()
}

/// Each mel band's centre frequency in Hz (where its triangle peaks), lowest band first.
pub fn mel_band_centres_hz(params: &FrontendParams) -> Vec<f64> {
    let edges = band_edges_hz(params);
    edges[1..edges.len() - 1].to_vec()
}

/// Dense mel filterbank `[n_mels × (n_fft/2 + 1)]`, row-major, matching librosa's defaults.
pub fn mel_filterbank(params: &FrontendParams) -> Vec<f32> {
    let n_mels = params.n_mels;
    let n_bins = params.n_fft / 2 + 1;
    let sr = f64::from(params.sample_rate);
    // numpy.fft.rfftfreq(n_fft, d = 1 / sr)
    let bin_hz = 1.0 / (params.n_fft as f64 * (1.0 / sr));
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * bin_hz).collect();
    let mel_f = band_edges_hz(params);

    let mut weights = vec![0f32; n_mels * n_bins];
    for (m, row) in weights.chunks_exact_mut(n_bins).enumerate() {
        let lower_width = mel_f[m + 1] - mel_f[m];
        let upper_width = mel_f[m + 2] - mel_f[m + 1];
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (w, &f) in row.iter_mut().zip(&fft_freqs) {
            let lower = -(mel_f[m] - f) / lower_width;
            let upper = (mel_f[m + 2] - f) / upper_width;
            // librosa stores the triangle as f32, then scales it by enorm in f64.
            let tri = lower.min(upper).max(0.0) as f32;
            *w = (f64::from(tri) * enorm) as f32;
        }
    }
    weights
}

/// The filterbank stored band by band as its nonzero span only (about 8 per band on average).
#[derive(Debug, Clone)]
pub(crate) struct SparseFilterbank {
    /// Per band: first bin and the range of its weights in `weights`.
    bands: Vec<(usize, std::ops::Range<usize>)>,
    weights: Vec<f32>,
}

impl SparseFilterbank {
    /// The filterbank of `params`, each bin's weights scaled by `gain[bin]` when given.
    pub(crate) fn new(params: &FrontendParams, gain: Option<&[f32]>) -> Self {
        let n_bins = params.n_fft / 2 + 1;
        let mut dense = mel_filterbank(params);
        if let Some(gain) = gain {
            for row in dense.chunks_exact_mut(n_bins) {
                for (w, g) in row.iter_mut().zip(gain) {
                    *w *= g;
                }
            }
        }
        let mut bands = Vec::with_capacity(params.n_mels);
        let mut weights = Vec::new();
        for row in dense.chunks_exact(n_bins) {
            let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let end = row.iter().rposition(|&w| w != 0.0).map_or(first, |i| i + 1);
            let at = weights.len();
            weights.extend_from_slice(&row[first..end]);
            bands.push((first, at..weights.len()));
        }
        Self { bands, weights }
    }

    /// Applies the filterbank to one magnitude spectrum, writing one value per band.
    #[inline]
    pub(crate) fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        for ((first, range), o) in self.bands.iter().zip(out.iter_mut()) {
            let w = &self.weights[range.clone()];
            let s = &spectrum[*first..*first + w.len()];
            *o = crate::score::dot(w, s);
        }
    }
}

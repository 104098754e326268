//! Plain-Rust reference forward pass of the paper architecture.
//!
//! This is the correctness oracle for the exported ONNX graphs: plain loops, f64
//! accumulation, no cleverness. Readability comes before speed; the serving path never
//! calls it.

use super::{same_padding, AudioWeights, Conv1dWeights, LinearWeights, AUDIO_POOLS};
use crate::model::contract::ModelError;

/// Runs one window `[frames][n_mels]` (row-major, time first) through the audio branch and
/// returns its D-dimensional embedding.
pub fn audio_forward(
    weights: &AudioWeights,
    window: &[f32],
    frames: usize,
    n_mels: usize,
) -> Result<Vec<f32>, ModelError> {
    weights.validate()?;
    if weights.n_mels() != n_mels {
        return Err(ModelError::Weights {
            what: "audio conv 1".into(),
            problem: format!(
                "takes {} channels, window has {n_mels} mels",
                weights.n_mels()
            ),
        });
    }
    if window.len() != frames * n_mels {
        return Err(ModelError::InputLength {
            what: "reference audio window",
            found: window.len(),
            n: 1,
            per_item: frames * n_mels,
        });
    }
    // Channels-first [channel][time], as the ONNX graph has it after its Transpose.
    let mut x = vec![vec![0.0f32; frames]; n_mels];
    for t in 0..frames {
        for m in 0..n_mels {
            x[m][t] = window[t * n_mels + m];
        }
    }
    for (i, conv) in weights.convs.iter().enumerate() {
        x = conv1d_same(&x, conv);
        if let Some(&pool) = AUDIO_POOLS.get(i) {
            x = relu(x);
            x = max_pool(&x, pool);
            if x.first().is_some_and(|c| c.is_empty()) {
                return Err(ModelError::Weights {
                    what: "audio window".into(),
                    problem: format!("{frames} frames pool away to nothing after layer {}", i + 1),
                });
            }
        }
    }
    // Global average over time.
    Ok(x.iter()
        .map(|channel| {
            (channel.iter().map(|&v| v as f64).sum::<f64>() / channel.len() as f64) as f32
        })
        .collect())
}

/// Runs one GloVe vector through the word branch: `W·v + b`.
pub fn word_forward(weights: &LinearWeights, v: &[f32]) -> Result<Vec<f32>, ModelError> {
    weights.validate()?;
    if v.len() != weights.in_features {
        return Err(ModelError::InputLength {
            what: "reference word vector",
            found: v.len(),
            n: 1,
            per_item: weights.in_features,
        });
    }
    let mut out = Vec::with_capacity(weights.out_features);
    for o in 0..weights.out_features {
        let mut acc = weights.bias[o] as f64;
        for (i, &x) in v.iter().enumerate() {
            acc += weights.weight[o * weights.in_features + i] as f64 * x as f64;
        }
        out.push(acc as f32);
    }
    Ok(out)
}

/// Stride-1 convolution with 'same' zero padding; `x` is `[in_channels][time]`.
fn conv1d_same(x: &[Vec<f32>], conv: &Conv1dWeights) -> Vec<Vec<f32>> {
    let time = x.first().map_or(0, Vec::len);
    let (left, _right) = same_padding(conv.kernel);
    let mut y = vec![vec![0.0f32; time]; conv.out_channels];
    for (o, y_o) in y.iter_mut().enumerate() {
        for (t, y_ot) in y_o.iter_mut().enumerate() {
            let mut acc = conv.bias[o] as f64;
            for (c, x_c) in x.iter().enumerate() {
                for k in 0..conv.kernel {
                    // Input index for tap k; outside [0, time) is the zero padding.
                    let src = t as isize + k as isize - left as isize;
                    if src < 0 || src >= time as isize {
                        continue;
                    }
                    let w = conv.weight[(o * conv.in_channels + c) * conv.kernel + k];
                    acc += w as f64 * x_c[src as usize] as f64;
                }
            }
            *y_ot = acc as f32;
        }
    }
    y
}

fn relu(mut x: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    for v in x.iter_mut().flatten() {
        *v = v.max(0.0);
    }
    x
}

/// Max-pool with kernel = stride = `pool`, no padding; a ragged tail is dropped (floor).
fn max_pool(x: &[Vec<f32>], pool: usize) -> Vec<Vec<f32>> {
    x.iter()
        .map(|channel| {
            channel
                .chunks_exact(pool)
                .map(|w| w.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .collect()
        })
        .collect()
}

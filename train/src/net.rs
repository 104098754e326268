//! The paper's two-branch model in tch, built from and read back into hark's exporter types
//! (`AudioWeights`, `LinearWeights`, PyTorch layouts), so what trains here is exactly what
//! hark's ONNX exporter writes and the daemon runs.

use hark::model::export::{same_padding, AudioWeights, Conv1dWeights, LinearWeights, AUDIO_POOLS};
use tch::{nn, Device, Kind, Tensor};

/// Why weights could not move between tch and hark's types.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// hark's exporter types rejected the weights.
    #[error(transparent)]
    Model(#[from] hark::model::ModelError),
}

/// One convolution's trainable tensors.
struct Conv {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
}

/// The audio branch (five 1-D convolutions over time, mel bands as channels) and the word
/// branch (one dense layer G → D), with their variables in a `VarStore`.
pub struct ZeroShotNet {
    convs: Vec<Conv>,
    word_weight: Tensor,
    word_bias: Tensor,
}

fn tensor_from(values: &[f32], shape: &[i64], device: Device) -> Tensor {
    Tensor::from_slice(values).reshape(shape).to_device(device)
}

impl ZeroShotNet {
    /// Creates the variables under `root`, initialised from `audio` and `word`.
    pub fn new(root: &nn::Path, audio: &AudioWeights, word: &LinearWeights) -> Self {
        let device = root.device();
        let convs = audio
            .convs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let shape = [c.out_channels as i64, c.in_channels as i64, c.kernel as i64];
                Conv {
                    weight: (root / format!("conv{}", i + 1))
                        .var_copy("weight", &tensor_from(&c.weight, &shape, device)),
                    bias: (root / format!("conv{}", i + 1)).var_copy(
                        "bias",
                        &tensor_from(&c.bias, &[c.out_channels as i64], device),
                    ),
                    kernel: c.kernel,
                }
            })
            .collect();
        let w_shape = [word.out_features as i64, word.in_features as i64];
        Self {
            convs,
            word_weight: (root / "word")
                .var_copy("weight", &tensor_from(&word.weight, &w_shape, device)),
            word_bias: (root / "word").var_copy(
                "bias",
                &tensor_from(&word.bias, &[word.out_features as i64], device),
            ),
        }
    }

    /// Audio embeddings `[N, D]` of standardised windows `[N, frames, mels]`.
    pub fn audio(&self, mel: &Tensor) -> Tensor {
        let mut x = mel.transpose(1, 2);
        for (i, conv) in self.convs.iter().enumerate() {
            let (left, right) = same_padding(conv.kernel);
            x = x.constant_pad_nd([left as i64, right as i64]).conv1d(
                &conv.weight,
                Some(&conv.bias),
                [1],
                [0],
                [1],
                1,
            );
            if let Some(&pool) = AUDIO_POOLS.get(i) {
                let p = pool as i64;
                x = x.relu().max_pool1d([p], [p], [0], [1], false);
            }
        }
        x.mean_dim([2i64].as_slice(), false, Kind::Float)
    }

    /// Word embeddings `[N, D]` of GloVe vectors `[N, G]`.
    pub fn word(&self, glove: &Tensor) -> Tensor {
        glove.linear(&self.word_weight, Some(&self.word_bias))
    }

    /// Copies the current weights out into hark's exporter types.
    pub fn to_weights(&self) -> Result<(AudioWeights, LinearWeights), NetError> {
        let convs = self
            .convs
            .iter()
            .map(|c| {
                let size = c.weight.size();
                Ok(Conv1dWeights {
                    out_channels: size[0] as usize,
                    in_channels: size[1] as usize,
                    kernel: c.kernel,
                    weight: to_vec(&c.weight)?,
                    bias: to_vec(&c.bias)?,
                })
            })
            .collect::<Result<Vec<_>, NetError>>()?;
        let audio = AudioWeights { convs };
        audio.validate()?;
        let size = self.word_weight.size();
        let word = LinearWeights {
            in_features: size[1] as usize,
            out_features: size[0] as usize,
            weight: to_vec(&self.word_weight)?,
            bias: to_vec(&self.word_bias)?,
        };
        word.validate()?;
        Ok((audio, word))
    }
}

/// A tensor's values as a flat f32 vector on the CPU.
pub fn to_vec(t: &Tensor) -> Result<Vec<f32>, NetError> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    Ok(Vec::<f32>::try_from(&flat)?)
}

/// The max-margin hinge loss of the paper: mean over crops and negatives of
/// max(0, margin − cos(audio, positive) + cos(audio, negative)).
/// `audio` is `[B, D]`, `positive` `[B, D]`, `negatives` `[B, K, D]`.
pub fn hinge_loss(audio: &Tensor, positive: &Tensor, negatives: &Tensor, margin: f64) -> Tensor {
    let pos = Tensor::cosine_similarity(audio, positive, 1, 1e-8).unsqueeze(1);
    let neg = Tensor::cosine_similarity(&audio.unsqueeze(1), negatives, 2, 1e-8);
    (neg - pos + margin).relu().mean(Kind::Float)
}

/// Cosine similarity of every row of `a` `[N, D]` with every row of `b` `[M, D]`: `[N, M]`.
pub fn cosine_matrix(a: &Tensor, b: &Tensor) -> Tensor {
    let an = a / a
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    let bn = b / b
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    an.matmul(&bn.transpose(0, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark::model::export::AUDIO_HIDDEN;

    #[test]
    fn hinge_loss_matches_hand_computation() {
        // cos(a, p) = 1, cos(a, n1) = 0, cos(a, n2) = 1/√2.
        let a = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let p = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2]);
        let n = Tensor::from_slice(&[0.0f32, 3.0, 1.0, 1.0]).view([1, 2, 2]);
        let loss = hinge_loss(&a, &p, &n, 0.4).double_value(&[]);
        // max(0, 0.4 − 1 + 0) = 0; max(0, 0.4 − 1 + 0.7071) = 0.1071; mean = 0.05355.
        let expected = (0.4 - 1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn weights_round_trip_through_tch() {
        let audio = AudioWeights::he_uniform(1, 128, AUDIO_HIDDEN, 16);
        let word = LinearWeights::he_uniform(2, 50, 16);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ZeroShotNet::new(&vs.root(), &audio, &word);
        let (a, w) = net.to_weights().expect("weights");
        assert_eq!(a, audio);
        assert_eq!(w, word);
    }

    #[test]
    fn audio_branch_matches_hark_reference() {
        let audio = AudioWeights::he_uniform(3, 128, AUDIO_HIDDEN, 8);
        let word = LinearWeights::he_uniform(4, 50, 8);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ZeroShotNet::new(&vs.root(), &audio, &word);
        let window: Vec<f32> = (0..130 * 128)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let reference =
            hark::model::reference::audio_forward(&audio, &window, 130, 128).expect("reference");
        let ours =
            to_vec(&net.audio(&Tensor::from_slice(&window).view([1, 130, 128]))).expect("tch");
        let diff = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "tch differs from hark's reference by {diff}");
        let cos = cosine_matrix(
            &Tensor::from_slice(&[1.0f32, 0.0, 0.0, 2.0]).view([2, 2]),
            &Tensor::from_slice(&[3.0f32, 0.0]).view([1, 2]),
        );
        assert_eq!(to_vec(&cos).expect("cos"), vec![1.0, 0.0]);
    }
}

//! Training crops made to sound as a box hears music: a level, a tilted EQ, the band limits
//! of a small speaker, a cheap microphone or FM radio, and steady background noise. Applied
//! to the cached log-mel frames (hark's front-end, undone and redone with its own
//! compression), seeded, so a run and its resumption draw the same.

use hark::frontend::{compress, uncompress};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How crops are augmented (`[train.augment]`); a probability of 0 leaves training as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Chance that a crop is augmented at all.
    pub probability: f64,
    /// Level change, uniform in ± this many dB.
    pub gain_db: f32,
    /// EQ tilt from the lowest to the highest band, uniform in ± this many dB.
    pub tilt_db: f32,
    /// Chance of band limits: a low cut at 60–400 Hz and a high cut at 3.5–11 kHz.
    pub band_limit_probability: f64,
    /// Chance of steady pink-ish background noise.
    pub noise_probability: f64,
    /// The noise's signal-to-noise ratio, uniform in this range of dB.
    pub noise_snr_db: [f32; 2],
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            probability: 0.0,
            gain_db: 10.0,
            tilt_db: 12.0,
            band_limit_probability: 0.5,
            noise_probability: 0.5,
            noise_snr_db: [5.0, 30.0],
        }
    }
}

/// Roll-off of the band limits beyond their corner, in dB per octave (a gentle 4th order).
const ROLLOFF_DB_PER_OCTAVE: f64 = 24.0;

/// Applies [`AugmentConfig`] to crops of one front-end's mel frames.
pub struct Augmenter {
    config: AugmentConfig,
    /// Each band's centre frequency.
    centres_hz: Vec<f64>,
}

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

impl Augmenter {
    /// An augmenter for frames of `n_mels` bands centred at `centres_hz`.
    pub fn new(config: AugmentConfig, centres_hz: Vec<f64>) -> Self {
        Self { config, centres_hz }
    }

    /// Whether it ever changes a crop.
    pub fn is_active(&self) -> bool {
        self.config.probability > 0.0
    }

    /// Augments one crop of unstandardised log-mel frames (`[frames × n_mels]`) in place.
    pub fn apply(&self, crop: &mut [f32], rng: &mut ChaCha8Rng) {
        let c = &self.config;
        if !self.is_active() || !rng.random_bool(c.probability.clamp(0.0, 1.0)) {
            return;
        }
        let n = self.centres_hz.len();
        let gain_db = f64::from(c.gain_db) * rng.random_range(-1.0..=1.0);
        let tilt_db = f64::from(c.tilt_db) * rng.random_range(-1.0..=1.0);
        let limits = rng
            .random_bool(c.band_limit_probability.clamp(0.0, 1.0))
            .then(|| {
                (
                    rng.random_range(60.0..400.0),
                    rng.random_range(3_500.0..11_000.0),
                )
            });
        let snr_db = rng
            .random_bool(c.noise_probability.clamp(0.0, 1.0))
            .then(|| {
                rng.random_range(
                    c.noise_snr_db[0].min(c.noise_snr_db[1])
                        ..=c.noise_snr_db[1].max(c.noise_snr_db[0]),
                )
            });
        // One gain per band: level, tilt and band limits together.
        let band_gain: Vec<f32> = self
            .centres_hz
            .iter()
            .enumerate()
            .map(|(b, &hz)| {
                let position = if n > 1 {
                    b as f64 / (n - 1) as f64 - 0.5
                } else {
                    0.0
                };
                let mut db = gain_db + tilt_db * position;
                if let Some((low, high)) = limits {
                    if hz < low {
                        db -= ROLLOFF_DB_PER_OCTAVE * (low / hz.max(1.0)).log2();
                    }
                    if hz > high {
                        db -= ROLLOFF_DB_PER_OCTAVE * (hz / high).log2();
                    }
                }
                db_to_gain(db)
            })
            .collect();
        for frame in crop.chunks_exact_mut(n) {
            for (v, g) in frame.iter_mut().zip(&band_gain) {
                *v = uncompress(*v).max(0.0) * g;
            }
        }
        if let Some(snr_db) = snr_db {
            // Pink-ish: equal power per octave, so a band's magnitude falls as 1/√f. Scaled so
            // its mean power sits `snr_db` below the crop's.
            let shape: Vec<f32> = self
                .centres_hz
                .iter()
                .map(|&hz| (1_000.0 / hz.max(20.0)).sqrt() as f32)
                .collect();
            let frames = (crop.len() / n).max(1) as f32;
            let signal: f32 = crop.iter().map(|v| v * v).sum::<f32>() / frames;
            let noise: f32 = shape.iter().map(|s| s * s).sum();
            if signal > 0.0 && noise > 0.0 {
                let scale = (signal / noise).sqrt() * db_to_gain(-f64::from(snr_db));
                for frame in crop.chunks_exact_mut(n) {
                    for (v, s) in frame.iter_mut().zip(&shape) {
                        let level = s * scale * rng.random_range(0.8..1.2f32);
                        // Uncorrelated sources add in power.
                        *v = (*v * *v + level * level).sqrt();
                    }
                }
            }
        }
        for v in crop.iter_mut() {
            *v = compress(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark::frontend::{mel_band_centres_hz, FrontendParams};
    use rand::SeedableRng;

    fn augmenter(config: AugmentConfig) -> Augmenter {
        Augmenter::new(config, mel_band_centres_hz(&FrontendParams::default()))
    }

    /// A flat crop: every band at the same magnitude.
    fn flat_crop(frames: usize, magnitude: f32) -> Vec<f32> {
        vec![compress(magnitude); frames * 128]
    }

    #[test]
    fn off_by_default_and_seeded_when_on() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let crop = flat_crop(4, 0.5);
        let mut same = crop.clone();
        augmenter(AugmentConfig::default()).apply(&mut same, &mut rng);
        assert_eq!(same, crop, "probability 0 leaves a crop alone");

        let on = AugmentConfig {
            probability: 1.0,
            ..AugmentConfig::default()
        };
        let run = |seed| {
            let mut c = crop.clone();
            augmenter(on.clone()).apply(&mut c, &mut ChaCha8Rng::seed_from_u64(seed));
            c
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert!(run(3).iter().all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn tilt_and_band_limits_shape_the_spectrum_as_asked() {
        let config = AugmentConfig {
            probability: 1.0,
            gain_db: 0.0,
            tilt_db: 12.0,
            band_limit_probability: 1.0,
            noise_probability: 0.0,
            ..AugmentConfig::default()
        };
        let a = augmenter(config);
        for seed in 0..20 {
            let mut crop = flat_crop(2, 1.0);
            a.apply(&mut crop, &mut ChaCha8Rng::seed_from_u64(seed));
            let magnitude: Vec<f32> = crop[..128].iter().map(|&v| uncompress(v)).collect();
            // The lowest band (~43 Hz) is below every low cut and the highest (~11 kHz) is
            // above every high cut: both lose more than the tilt alone could give them.
            let mid = magnitude[64];
            assert!(
                magnitude[0] < mid * db_to_gain(6.0),
                "seed {seed}: {magnitude:?}"
            );
            assert!(magnitude[127] < mid * db_to_gain(6.0), "seed {seed}");
            // Within the pass band the tilt is smooth: neighbours differ by well under 1 dB.
            for b in 60..70 {
                let step_db = 20.0 * (magnitude[b + 1] / magnitude[b]).log10();
                assert!(step_db.abs() < 1.0, "seed {seed} band {b}: {step_db} dB");
            }
        }
    }

    #[test]
    fn noise_sits_at_the_drawn_signal_to_noise_ratio() {
        let config = AugmentConfig {
            probability: 1.0,
            gain_db: 0.0,
            tilt_db: 0.0,
            band_limit_probability: 0.0,
            noise_probability: 1.0,
            noise_snr_db: [10.0, 10.0],
        };
        // Silence but for one band: the added noise is what every other band now holds.
        let mut crop = flat_crop(8, 0.0);
        for frame in crop.chunks_exact_mut(128) {
            frame[40] = compress(2.0);
        }
        augmenter(config).apply(&mut crop, &mut ChaCha8Rng::seed_from_u64(9));
        let power: f32 = crop.iter().map(|&v| uncompress(v).powi(2)).sum::<f32>() / 8.0;
        let signal = 4.0;
        let noise = power - signal;
        let snr_db = 10.0 * (signal / noise).log10();
        assert!((snr_db - 10.0).abs() < 1.0, "SNR {snr_db} dB");
    }
}

//! Training crops made to sound as a box hears music: a level, a tilted EQ, the band limits
//! of a small speaker, a cheap microphone or FM radio, steady background noise, a room's
//! reverb, a small pitch or tempo change, and a second piece mixed in. Applied to the cached
//! log-mel frames (hark's front-end, undone and redone with its own compression), seeded, so
//! a run and its resumption draw the same.

use hark::frontend::{compress, mel_band_centres_hz, uncompress, FrontendParams};
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
    /// Pitch shift of an augmented crop, uniform in ± this many semitones (0: none).
    pub pitch_semitones: f32,
    /// Tempo change of an augmented crop, uniform in ± this fraction (0.08: 8 % slower to
    /// 8 % faster; 0: none).
    pub tempo_fraction: f32,
    /// Chance that an augmented crop plays in a reverberant room.
    pub reverb_probability: f64,
    /// The room's reverberation time (RT60), uniform in this range of seconds.
    pub reverb_seconds: [f32; 2],
    /// The reverb's level against the dry sound, uniform in this range of dB.
    pub reverb_level_db: [f32; 2],
    /// Chance that any crop (augmented or not) gets a second training crop mixed in; the
    /// example then carries the union of both tracks' labels.
    pub mix_probability: f64,
    /// The second crop's level against the first, uniform in this range of dB.
    pub mix_level_db: [f32; 2],
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
            pitch_semitones: 0.0,
            tempo_fraction: 0.0,
            reverb_probability: 0.0,
            reverb_seconds: [0.3, 1.5],
            reverb_level_db: [-12.0, 0.0],
            mix_probability: 0.0,
            mix_level_db: [-8.0, 0.0],
        }
    }
}

/// A range `[a, b]` as a `(low, high)` pair whatever its order.
fn ordered(range: [f32; 2]) -> (f32, f32) {
    (range[0].min(range[1]), range[0].max(range[1]))
}

impl AugmentConfig {
    /// The first field whose value makes no sense, as (field, problem).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        for (field, p) in [
            ("train.augment.probability", self.probability),
            (
                "train.augment.band_limit_probability",
                self.band_limit_probability,
            ),
            ("train.augment.noise_probability", self.noise_probability),
            ("train.augment.reverb_probability", self.reverb_probability),
            ("train.augment.mix_probability", self.mix_probability),
        ] {
            if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                return Some((field, format!("{p} is not a probability in [0, 1]")));
            }
        }
        if !(self.pitch_semitones.is_finite() && (0.0..=12.0).contains(&self.pitch_semitones)) {
            return Some((
                "train.augment.pitch_semitones",
                format!("{} is not in [0, 12]", self.pitch_semitones),
            ));
        }
        if !(self.tempo_fraction.is_finite() && (0.0..0.5).contains(&self.tempo_fraction)) {
            return Some((
                "train.augment.tempo_fraction",
                format!("{} is not in [0, 0.5)", self.tempo_fraction),
            ));
        }
        let (low, high) = ordered(self.reverb_seconds);
        if !(low.is_finite() && high.is_finite() && low > 0.0) {
            return Some((
                "train.augment.reverb_seconds",
                format!(
                    "{:?} is not a range of positive seconds",
                    self.reverb_seconds
                ),
            ));
        }
        for (field, range) in [
            ("train.augment.noise_snr_db", self.noise_snr_db),
            ("train.augment.reverb_level_db", self.reverb_level_db),
            ("train.augment.mix_level_db", self.mix_level_db),
        ] {
            if !range.iter().all(|v| v.is_finite()) {
                return Some((field, format!("{range:?} is not a range of finite dB")));
            }
        }
        None
    }
}

/// One crop's drawn augmentation; [`Augmenter::plan`] draws it, [`Augmenter::apply_plan`]
/// applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct CropPlan {
    gain_db: f64,
    tilt_db: f64,
    limits: Option<(f64, f64)>,
    snr_db: Option<f32>,
    semitones: f64,
    /// Source frames read per output frame (above 1: faster).
    pub rate: f64,
    /// RT60 in seconds and the reverb's level in dB.
    reverb: Option<(f64, f64)>,
}

/// Roll-off of the band limits beyond their corner, in dB per octave (a gentle 4th order).
const ROLLOFF_DB_PER_OCTAVE: f64 = 24.0;

/// Applies [`AugmentConfig`] to crops of one front-end's mel frames.
pub struct Augmenter {
    config: AugmentConfig,
    /// Each band's centre frequency.
    centres_hz: Vec<f64>,
    /// Seconds between frames.
    hop_seconds: f64,
}

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

impl Augmenter {
    /// An augmenter for the frames of `frontend` (its bands and hop).
    pub fn new(config: AugmentConfig, frontend: &FrontendParams) -> Self {
        Self {
            config,
            centres_hz: mel_band_centres_hz(frontend),
            hop_seconds: frontend.hop_length as f64 / f64::from(frontend.sample_rate.max(1)),
        }
    }

    /// Whether it ever changes a crop (by itself or by mixing).
    pub fn is_active(&self) -> bool {
        self.config.probability > 0.0 || self.config.mix_probability > 0.0
    }

    /// Augments one crop of unstandardised log-mel frames (`[frames × n_mels]`) in place
    /// (no tempo change: that needs frames beyond the crop, see [`Augmenter::stretch`]).
    pub fn apply(&self, crop: &mut [f32], rng: &mut ChaCha8Rng) {
        if let Some(plan) = self.plan(rng) {
            self.apply_plan(crop, &plan, rng);
        }
    }

    /// The level of a second crop to mix in, in dB against the first, or `None` for none.
    pub fn draw_mix(&self, rng: &mut ChaCha8Rng) -> Option<f32> {
        let c = &self.config;
        if c.mix_probability <= 0.0 || !rng.random_bool(c.mix_probability.clamp(0.0, 1.0)) {
            return None;
        }
        let (low, high) = ordered(c.mix_level_db);
        Some(rng.random_range(low..=high))
    }

    /// Draws one crop's augmentation, or `None` when this crop is left as it is. Settings at
    /// 0 draw nothing, so adding them left older configurations' draws unchanged.
    pub fn plan(&self, rng: &mut ChaCha8Rng) -> Option<CropPlan> {
        let c = &self.config;
        if c.probability <= 0.0 || !rng.random_bool(c.probability.clamp(0.0, 1.0)) {
            return None;
        }
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
                let (low, high) = ordered(c.noise_snr_db);
                rng.random_range(low..=high)
            });
        let semitones = if c.pitch_semitones > 0.0 {
            f64::from(c.pitch_semitones) * rng.random_range(-1.0..=1.0)
        } else {
            0.0
        };
        let rate = if c.tempo_fraction > 0.0 {
            1.0 + f64::from(c.tempo_fraction) * rng.random_range(-1.0..=1.0)
        } else {
            1.0
        };
        let reverb = (c.reverb_probability > 0.0
            && rng.random_bool(c.reverb_probability.clamp(0.0, 1.0)))
        .then(|| {
            let (low, high) = ordered(c.reverb_seconds);
            let (level_low, level_high) = ordered(c.reverb_level_db);
            (
                f64::from(rng.random_range(low..=high)),
                f64::from(rng.random_range(level_low..=level_high)),
            )
        });
        Some(CropPlan {
            gain_db,
            tilt_db,
            limits,
            snr_db,
            semitones,
            rate,
            reverb,
        })
    }

    /// Applies a drawn augmentation (all but its tempo) to one crop in place; `rng` gives
    /// the noise its grain.
    pub fn apply_plan(&self, crop: &mut [f32], plan: &CropPlan, rng: &mut ChaCha8Rng) {
        let n = self.centres_hz.len();
        let (gain_db, tilt_db, limits, snr_db) =
            (plan.gain_db, plan.tilt_db, plan.limits, plan.snr_db);
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
        for v in crop.iter_mut() {
            *v = uncompress(*v).max(0.0);
        }
        if plan.semitones != 0.0 {
            self.shift_pitch(crop, plan.semitones);
        }
        if let Some((rt60, level_db)) = plan.reverb {
            self.reverberate(crop, rt60, level_db);
        }
        for frame in crop.chunks_exact_mut(n) {
            for (v, g) in frame.iter_mut().zip(&band_gain) {
                *v *= g;
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

    /// Moves every band's magnitude `semitones` up (or down) the frequency axis, reading
    /// each band from the frequency it came from, interpolated on log frequency between
    /// band centres; past the lowest or highest band the edge band's value holds.
    fn shift_pitch(&self, magnitudes: &mut [f32], semitones: f64) {
        let n = self.centres_hz.len();
        let ratio = 2f64.powf(semitones / 12.0);
        let log_centres: Vec<f64> = self.centres_hz.iter().map(|hz| hz.max(1.0).ln()).collect();
        // Per output band: the source bands and the weight of the upper one.
        let taps: Vec<(usize, usize, f32)> = log_centres
            .iter()
            .map(|&log_hz| {
                let from = log_hz - ratio.ln();
                let upper = log_centres.partition_point(|&c| c < from);
                if upper == 0 {
                    (0, 0, 0.0)
                } else if upper >= n {
                    (n - 1, n - 1, 0.0)
                } else {
                    let (a, b) = (log_centres[upper - 1], log_centres[upper]);
                    let w = if b > a { (from - a) / (b - a) } else { 0.0 };
                    (upper - 1, upper, w as f32)
                }
            })
            .collect();
        let mut source = vec![0.0f32; n];
        for frame in magnitudes.chunks_exact_mut(n) {
            source.copy_from_slice(frame);
            for (v, &(lo, hi, w)) in frame.iter_mut().zip(&taps) {
                *v = source[lo] * (1.0 - w) + source[hi] * w;
            }
        }
    }

    /// Adds a room's reverberant tail: each band's power decays by 60 dB over `rt60`
    /// seconds, the tail `level_db` against the dry sound, as if the music had played before
    /// the crop began.
    fn reverberate(&self, magnitudes: &mut [f32], rt60: f64, level_db: f64) {
        let n = self.centres_hz.len();
        let decay = 10f64.powf(-6.0 * self.hop_seconds / rt60.max(1e-3)) as f32;
        let wet = 10f64.powf(level_db / 10.0) as f32;
        let Some(first) = magnitudes.get(..n) else {
            return;
        };
        // The tail is a one-pole average of past power, so a steady tone's tail holds its power.
        let mut tail: Vec<f32> = first.iter().map(|v| v * v).collect();
        for frame in magnitudes.chunks_exact_mut(n) {
            for (v, t) in frame.iter_mut().zip(tail.iter_mut()) {
                let power = *v * *v;
                let out = power + wet * *t;
                *t = decay * *t + (1.0 - decay) * power;
                *v = out.sqrt();
            }
        }
    }

    /// Mixes `other` (a crop of the same shape) into `crop` at `level_db` against it, in
    /// power, as two uncorrelated sources add; both unstandardised log-mel.
    pub fn mix(&self, crop: &mut [f32], other: &[f32], level_db: f32) {
        let g = db_to_gain(f64::from(level_db));
        for (v, &o) in crop.iter_mut().zip(other) {
            let (a, b) = (uncompress(*v).max(0.0), uncompress(o).max(0.0) * g);
            *v = compress((a * a + b * b).sqrt());
        }
    }

    /// `frames` (`[m × n_mels]`, unstandardised) resampled in time to `out_frames` frames,
    /// linearly between neighbours: a tempo change by `m / out_frames`.
    pub fn stretch(&self, frames: &[f32], out_frames: usize) -> Vec<f32> {
        let n = self.centres_hz.len();
        let m = frames.len() / n.max(1);
        let mut out = Vec::with_capacity(out_frames * n);
        if m == 0 {
            out.resize(out_frames * n, 0.0);
            return out;
        }
        let step = m as f64 / out_frames.max(1) as f64;
        for i in 0..out_frames {
            let at = (i as f64 * step).min((m - 1) as f64);
            let lo = at.floor() as usize;
            let hi = (lo + 1).min(m - 1);
            let w = (at - lo as f64) as f32;
            for b in 0..n {
                out.push(frames[lo * n + b] * (1.0 - w) + frames[hi * n + b] * w);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn augmenter(config: AugmentConfig) -> Augmenter {
        Augmenter::new(config, &FrontendParams::default())
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
            ..AugmentConfig::default()
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

    /// Magnitudes (uncompressed) of one frame.
    fn magnitudes(frame: &[f32]) -> Vec<f32> {
        frame.iter().map(|&v| uncompress(v)).collect()
    }

    /// Only pitch (or only reverb) when the others are switched off.
    fn only(config: AugmentConfig) -> AugmentConfig {
        AugmentConfig {
            probability: 1.0,
            gain_db: 0.0,
            tilt_db: 0.0,
            band_limit_probability: 0.0,
            noise_probability: 0.0,
            ..config
        }
    }

    #[test]
    fn pitch_shift_moves_a_partial_by_the_drawn_interval() {
        let a = augmenter(only(AugmentConfig {
            pitch_semitones: 12.0,
            ..AugmentConfig::default()
        }));
        let centres = &a.centres_hz;
        let band_1k = centres.partition_point(|&hz| hz < 1_000.0);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let plan = a.plan(&mut rng).expect("probability 1");
            let mut crop = flat_crop(2, 0.0);
            for frame in crop.chunks_exact_mut(128) {
                frame[band_1k] = compress(1.0);
            }
            a.apply_plan(&mut crop, &plan, &mut rng);
            let m = magnitudes(&crop[..128]);
            let peak = (0..128)
                .max_by(|&x, &y| m[x].total_cmp(&m[y]))
                .expect("bands");
            let expected = centres[band_1k] * 2f64.powf(plan.semitones / 12.0);
            // The peak lands within a band of where the interval puts it.
            let width = centres[peak + 1] - centres[peak - 1];
            assert!(
                (centres[peak] - expected).abs() <= width,
                "seed {seed}: {} semitones put the peak at {} Hz, expected {expected} Hz",
                plan.semitones,
                centres[peak]
            );
        }
    }

    #[test]
    fn reverb_tail_decays_sixty_db_over_its_rt60_and_keeps_a_steady_tone_steady() {
        let config = only(AugmentConfig {
            reverb_probability: 1.0,
            reverb_seconds: [1.0, 1.0],
            reverb_level_db: [0.0, 0.0],
            ..AugmentConfig::default()
        });
        let a = augmenter(config);
        let frames_per_second = (1.0 / a.hop_seconds).round() as usize;
        let frames = frames_per_second + 4;
        // A clap: one loud frame, then silence (the tail starts from silence before it).
        let mut crop = flat_crop(frames, 0.0);
        for v in &mut crop[128..256] {
            *v = compress(1.0);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        a.apply(&mut crop, &mut rng);
        let level_db = |f: usize| 20.0 * uncompress(crop[f * 128 + 64]).max(1e-12).log10();
        assert!(level_db(0) < -100.0, "nothing before the clap");
        for f in 3..frames - 1 {
            assert!(level_db(f + 1) < level_db(f), "the tail falls at frame {f}");
        }
        let fall = level_db(2) - level_db(2 + frames_per_second);
        assert!((fall - 60.0).abs() < 2.0, "{fall} dB over one RT60");

        let mut steady = flat_crop(20, 0.5);
        a.apply(&mut steady, &mut rng);
        // Dry and tail at the same level: twice the power, +3 dB, in every frame.
        for v in steady.iter().step_by(128) {
            let gain_db = 20.0 * (uncompress(*v) / 0.5).log10();
            assert!((gain_db - 3.01).abs() < 0.05, "{gain_db} dB");
        }
    }

    #[test]
    fn mixing_adds_the_second_crop_in_power_at_its_level() {
        let a = augmenter(AugmentConfig::default());
        let mut crop = flat_crop(2, 1.0);
        a.mix(&mut crop, &flat_crop(2, 2.0), -6.0206);
        // 1² + (2 · ½)² = 2.
        for v in magnitudes(&crop) {
            assert!((v - 2f32.sqrt()).abs() < 1e-3, "{v}");
        }
        let never = augmenter(AugmentConfig {
            probability: 1.0,
            ..AugmentConfig::default()
        });
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!((0..100).all(|_| never.draw_mix(&mut rng).is_none()));
        let always = augmenter(AugmentConfig {
            mix_probability: 1.0,
            mix_level_db: [-8.0, -2.0],
            ..AugmentConfig::default()
        });
        assert!(
            always.is_active(),
            "mixing alone makes the augmenter active"
        );
        for _ in 0..100 {
            let level = always.draw_mix(&mut rng).expect("probability 1");
            assert!((-8.0..=-2.0).contains(&level), "{level}");
        }
    }

    #[test]
    fn stretch_resamples_time_linearly() {
        let a = augmenter(AugmentConfig::default());
        // Frame i holds i in every band: 20 frames read as 10 is twice the tempo.
        let frames: Vec<f32> = (0..20).flat_map(|i| vec![i as f32; 128]).collect();
        let fast = a.stretch(&frames, 10);
        assert_eq!(fast.len(), 10 * 128);
        for (i, frame) in fast.chunks_exact(128).enumerate() {
            assert!(
                (frame[7] - 2.0 * i as f32).abs() < 1e-5,
                "frame {i}: {}",
                frame[7]
            );
        }
        let slow = a.stretch(&frames[..10 * 128], 20);
        assert!(
            (slow[3 * 128] - 1.5).abs() < 1e-5,
            "halfway between frames 1 and 2"
        );
        assert!((slow[19 * 128] - 9.0).abs() < 1e-5, "the last frame holds");
    }

    #[test]
    fn settings_that_make_no_sense_are_named() {
        let bad = [
            (
                AugmentConfig {
                    mix_probability: 1.5,
                    ..AugmentConfig::default()
                },
                "train.augment.mix_probability",
            ),
            (
                AugmentConfig {
                    pitch_semitones: -1.0,
                    ..AugmentConfig::default()
                },
                "train.augment.pitch_semitones",
            ),
            (
                AugmentConfig {
                    tempo_fraction: 0.5,
                    ..AugmentConfig::default()
                },
                "train.augment.tempo_fraction",
            ),
            (
                AugmentConfig {
                    reverb_seconds: [0.0, 1.0],
                    ..AugmentConfig::default()
                },
                "train.augment.reverb_seconds",
            ),
            (
                AugmentConfig {
                    mix_level_db: [f32::NAN, 0.0],
                    ..AugmentConfig::default()
                },
                "train.augment.mix_level_db",
            ),
        ];
        for (config, field) in bad {
            assert_eq!(config.problem().map(|(f, _)| f), Some(field));
        }
        assert_eq!(AugmentConfig::default().problem(), None);
    }
}

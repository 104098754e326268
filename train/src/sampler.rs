//! Which training track each crop comes from: every track equally likely, or weighted per
//! source so that a recipe decides each source's share of the crops instead of its track count.

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;
use std::collections::BTreeMap;

/// Why the source weights cannot be used with this run's training tracks.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// A weight names a source none of the training tracks comes from.
    #[error("train.source_weights names source {0:?}, but no training track comes from it (held out, misspelt, or not in the dataset)")]
    UnknownSource(String),
    /// Every training track would have weight 0.
    #[error("train.source_weights gives every training track weight 0")]
    AllZero,
}

/// Draws training tracks for crops.
#[derive(Debug, Clone)]
pub struct TrackSampler {
    tracks: Vec<usize>,
    weighted: Option<WeightedIndex<f64>>,
    shares: BTreeMap<String, f64>,
}

impl TrackSampler {
    /// A sampler over `tracks` (indices into `sources`); with no weights every track is equally
    /// likely and the draws are exactly those of a plain uniform index.
    pub fn new(
        tracks: Vec<usize>,
        sources: &[String],
        weights: &BTreeMap<String, f64>,
    ) -> Result<Self, SamplerError> {
        if let Some(unknown) = weights
            .keys()
            .find(|s| !tracks.iter().any(|&t| &sources[t] == *s))
        {
            return Err(SamplerError::UnknownSource(unknown.clone()));
        }
        let track_weight: Vec<f64> = tracks
            .iter()
            .map(|&t| weights.get(&sources[t]).copied().unwrap_or(1.0))
            .collect();
        let total: f64 = track_weight.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return Err(SamplerError::AllZero);
        }
        let mut shares = BTreeMap::new();
        for (&t, w) in tracks.iter().zip(&track_weight) {
            *shares.entry(sources[t].clone()).or_insert(0.0) += w / total;
        }
        let weighted = if weights.is_empty() {
            None
        } else {
            Some(WeightedIndex::new(&track_weight).map_err(|_| SamplerError::AllZero)?)
        };
        Ok(Self {
            tracks,
            weighted,
            shares,
        })
    }

    /// One track.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> usize {
        match &self.weighted {
            None => self.tracks[rng.random_range(0..self.tracks.len())],
            Some(index) => self.tracks[index.sample(rng)],
        }
    }

    /// Each source's expected share of the crops (sums to 1).
    pub fn shares(&self) -> &BTreeMap<String, f64> {
        &self.shares
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sources() -> Vec<String> {
        // Tracks 0-5 from "big", 6-7 from "small", 8 held out.
        let mut s = vec!["big".to_string(); 6];
        s.extend(["small".to_string(), "small".to_string(), "held".to_string()]);
        s
    }

    #[test]
    fn no_weights_draws_exactly_as_a_uniform_index() {
        let tracks: Vec<usize> = (0..8).collect();
        let sampler = TrackSampler::new(tracks.clone(), &sources(), &BTreeMap::new()).unwrap();
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(7), ChaCha8Rng::seed_from_u64(7));
        for _ in 0..100 {
            assert_eq!(
                sampler.draw(&mut a),
                tracks[b.random_range(0..tracks.len())]
            );
        }
        assert!((sampler.shares()["big"] - 0.75).abs() < 1e-12);
    }

    #[test]
    fn weights_set_each_sources_share_of_the_crops() {
        let weights = BTreeMap::from([("small".to_string(), 3.0)]);
        let sampler = TrackSampler::new((0..8).collect(), &sources(), &weights).unwrap();
        // 6 tracks x 1 against 2 tracks x 3: half the crops each.
        assert!((sampler.shares()["small"] - 0.5).abs() < 1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let small = (0..n).filter(|_| sampler.draw(&mut rng) >= 6).count();
        let share = small as f64 / n as f64;
        assert!((share - 0.5).abs() < 0.02, "drawn share {share}");
    }

    #[test]
    fn a_weight_for_a_source_with_no_training_track_is_an_error() {
        let weights = BTreeMap::from([("held".to_string(), 2.0)]);
        let err = TrackSampler::new((0..8).collect(), &sources(), &weights).unwrap_err();
        assert!(err.to_string().contains("\"held\""), "{err}");
        let zero = BTreeMap::from([("big".to_string(), 0.0), ("small".to_string(), 0.0)]);
        assert!(matches!(
            TrackSampler::new((0..8).collect(), &sources(), &zero),
            Err(SamplerError::AllZero)
        ));
    }
}

//! The multi-label zero-shot data split of Choi et al. (2019), §3.2, deterministic with a seed.
//!
//! 1. **Labels** ([`split_labels`]) are split into seen (X) and unseen (Y): the
//!    `forced_unseen` labels go to Y, then labels drawn at random join them until Y holds
//!    `unseen_fraction` of all labels (rounded); `forced_seen` labels are never drawn.
//! 2. **Subsets** ([`make_split`]): a track whose tags include a seen label and no unseen one
//!    is in A, one with both is in B, one with only unseen labels is in C. Tags outside X∪Y
//!    are ignored; a track with no tag in X∪Y has no subset and is [`Part::Unused`].
//! 3. **Test**: C is never trained on, so every group holding a C track is a test group.
//!    Of the other groups, `test_fraction` (rounded; at least one when the fraction is above
//!    zero and there are two or more such groups) are drawn at random as test groups too.
//!    Every track of a test group (A, B or C) is [`Part::Test`]. The draw does not depend on
//!    the train setup, so every setup is evaluated on the same test tracks, as the paper's
//!    tables compare setups on the same tests.
//! 4. **Train and validation**: the remaining A and B tracks form the train pool. Those in
//!    the setup's subsets ([`TrainSetup`]: A-X, B-X or (A+B)-X) are [`Part::Train`], except
//!    `validation_fraction` of their groups (rounded, at least one when above zero and there
//!    are two or more) drawn as [`Part::Validation`]; pool tracks of a subset the setup does
//!    not use are [`Part::Unused`].
//!
//! 5. **Cross-source** ([`hold_out_sources`]): tracks may name their source (a package,
//!    soundfont or sample library). Every group holding a track of a held-out source is a
//!    test group, whatever its subset, before the draws in 3 and 4, which then draw among the
//!    remaining sources only. Test tracks of held-out sources are *cross-source*, the others
//!    *in-source*: a model is judged on both, since tracks of a source it trained on share a
//!    composer, a mix and a palette with its training tracks and overstate what it does on
//!    music from elsewhere.
//!
//! Groups (e.g. clips of one song) never straddle train, validation and test. The same
//! inputs and seed give the same split. Draws use ChaCha8 with one stream per purpose and
//! an in-module shuffle built on its raw output, so a split depends on the seed and the
//! inputs alone and not on how the `rand` crate happens to sample ranges.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// ChaCha stream of the label split's draw.
const STREAM_LABELS: u64 = 1;
/// ChaCha stream of the test groups' draw.
const STREAM_TEST: u64 = 2;
/// ChaCha stream of the validation groups' draw.
const STREAM_VALIDATION: u64 = 3;
/// ChaCha stream of the held-out sources' draw.
const STREAM_SOURCES: u64 = 4;

/// The paper's test set names (Tables 2 and 3), all accepted by [`parse_test_name`].
pub const PAPER_TEST_NAMES: [&str; 7] = [
    "B-Y",
    "C-Y",
    "(B+C)-Y",
    "B-(X+Y)",
    "C-(X+Y)",
    "(B+C)-(X+Y)",
    "(A+B+C)-Y",
];

/// Why a split could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// A fraction is not a number in [0, 1].
    #[error("{name} = {value} is not a fraction in [0, 1]")]
    BadFraction {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// There is no label to split.
    #[error("no labels to split")]
    NoLabels,
    /// Forced labels that are not among the labels.
    #[error("{which} names labels that are not in the label set: {}", labels.join(", "))]
    UnknownLabels {
        /// `forced_unseen` or `forced_seen`.
        which: &'static str,
        /// The unknown labels.
        labels: Vec<String>,
    },
    /// Labels forced both ways.
    #[error("labels both forced unseen and forced seen: {}", labels.join(", "))]
    ForcedBothWays {
        /// The labels.
        labels: Vec<String>,
    },
    /// The split would leave no seen label to train on.
    #[error("no seen label would be left to train on ({unseen} of {total} labels unseen); lower unseen_fraction")]
    NoSeenLabels {
        /// Unseen labels.
        unseen: usize,
        /// All labels.
        total: usize,
    },
    /// `forced_seen` keeps back more labels than the unseen fraction needs.
    #[error("unseen_fraction needs {wanted} unseen labels but only {available} can be drawn once forced_seen is kept back")]
    TooFewDrawable {
        /// Unseen labels wanted.
        wanted: usize,
        /// Labels available (all, less the forced ones).
        available: usize,
    },
    /// Held-out sources that no track names.
    #[error("held_out_sources names sources no track has: {} (sources: {})", unknown.join(", "), known.join(", "))]
    UnknownSources {
        /// The unknown names.
        unknown: Vec<String>,
        /// The sources the tracks name.
        known: Vec<String>,
    },
    /// More sources to draw than there are.
    #[error("cannot hold out {wanted} sources: the tracks name {available}")]
    TooFewSources {
        /// Sources wanted held out (named plus drawn).
        wanted: usize,
        /// Distinct sources the tracks name.
        available: usize,
    },
    /// Labels that are both seen and unseen.
    #[error("labels both seen and unseen: {}", labels.join(", "))]
    OverlappingLabels {
        /// The labels.
        labels: Vec<String>,
    },
    /// `track_tags` and `groups` differ in length.
    #[error("{tags} tracks' tags but {groups} groups; both must list every track")]
    LengthMismatch {
        /// Length of `track_tags`.
        tags: usize,
        /// Length of `groups`.
        groups: usize,
    },
    /// The split leaves nothing to train on.
    #[error("the {setup} setup has no training track (subset A: {a} tracks, B: {b} outside the test groups)")]
    NoTrainingTracks {
        /// The setup.
        setup: TrainSetup,
        /// A tracks in the train pool.
        a: usize,
        /// B tracks in the train pool.
        b: usize,
    },
    /// A test set name that does not parse.
    #[error("test set \"{name}\": {reason} (e.g. \"(B+C)-Y\", \"C-(X+Y)\", \"(A+B+C)-Y\")")]
    BadTestName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Labels split into seen (X) and unseen (Y), each sorted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabelSplit {
    /// X: labels trained on.
    pub seen: Vec<String>,
    /// Y: labels held out for zero-shot tests.
    pub unseen: Vec<String>,
}

/// A track's instance subset, from which of X and Y its tags fall in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Subset {
    /// At least one seen tag and no unseen one.
    A,
    /// At least one seen and one unseen tag.
    B,
    /// Only unseen tags.
    C,
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subset::A => "A",
            Subset::B => "B",
            Subset::C => "C",
        })
    }
}

/// Which subsets are trained on: the paper's A-X, B-X and (A+B)-X.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum TrainSetup {
    /// A-X: tracks with no unseen tag.
    A,
    /// B-X: tracks with both seen and unseen tags.
    B,
    /// (A+B)-X: both.
    AB,
}

impl TrainSetup {
    /// The subsets this setup trains on.
    pub fn subsets(self) -> &'static [Subset] {
        match self {
            TrainSetup::A => &[Subset::A],
            TrainSetup::B => &[Subset::B],
            TrainSetup::AB => &[Subset::A, Subset::B],
        }
    }
}

impl fmt::Display for TrainSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrainSetup::A => "A-X",
            TrainSetup::B => "B-X",
            TrainSetup::AB => "(A+B)-X",
        })
    }
}

/// The part of the split a track belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Trained on.
    Train,
    /// Held out from training to pick checkpoints.
    Validation,
    /// Held out for the paper's tests.
    Test,
    /// Neither (no usable tag, or a subset the setup does not train on).
    Unused,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
            Part::Unused => "unused",
        })
    }
}

/// Which labels a test scores: the seen ones (X, the paper's Table 4), the unseen ones (Y) or
/// all (X+Y, generalised zero-shot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LabelScope {
    /// X.
    Seen,
    /// Y.
    Unseen,
    /// X+Y.
    All,
}

impl fmt::Display for LabelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelScope::Seen => "X",
            LabelScope::Unseen => "Y",
            LabelScope::All => "(X+Y)",
        })
    }
}

/// A whole split: the labels and, for every track (indexed like the input), its subset and part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// The label split used.
    pub labels: LabelSplit,
    /// Each track's subset; `None` when it has no tag in X∪Y.
    pub subset: Vec<Option<Subset>>,
    /// Each track's part.
    pub part: Vec<Part>,
    /// Per track: whether it belongs to a held-out source (always a test track then); empty
    /// when no source is held out.
    #[serde(default)]
    pub cross_source: Vec<bool>,
}

/// How groups are held out of training: fractions drawn at random, and whole sources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holdout<'a> {
    /// Fraction of the in-source A/B groups drawn as test groups.
    pub test_fraction: f64,
    /// Fraction of the remaining training groups drawn for validation.
    pub validation_fraction: f64,
    /// Per track: whether its source is held out whole (empty: none is).
    pub cross_source: &'a [bool],
}

impl Holdout<'static> {
    /// Random test and validation fractions, no source held out (the paper's protocol).
    pub fn fractions(test_fraction: f64, validation_fraction: f64) -> Self {
        Self {
            test_fraction,
            validation_fraction,
            cross_source: &[],
        }
    }
}

/// Which test tracks a figure is computed on, by where they came from.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Every test track (no source is held out).
    #[default]
    All,
    /// Test tracks of sources the model also trained on.
    InSource,
    /// Test tracks of held-out sources: music from elsewhere.
    CrossSource,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::All => "all",
            Origin::InSource => "in-source",
            Origin::CrossSource => "cross-source",
        })
    }
}

/// Track counts per subset and part, for logs and run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitCounts {
    /// Seen labels (X).
    pub seen_labels: usize,
    /// Unseen labels (Y).
    pub unseen_labels: usize,
    /// Tracks per non-empty cell, keyed "`subset`/`part`" ("A/train", "C/test"; "none/unused"
    /// for tracks with no usable tag).
    pub tracks: BTreeMap<String, usize>,
}

impl SplitCounts {
    /// Tracks in `subset` (`None`: no usable tag) and `part`.
    pub fn get(&self, subset: Option<Subset>, part: Part) -> usize {
        self.tracks
            .get(&count_key(subset, part))
            .copied()
            .unwrap_or(0)
    }
}

fn count_key(subset: Option<Subset>, part: Part) -> String {
    match subset {
        Some(s) => format!("{s}/{part}"),
        None => format!("none/{part}"),
    }
}

impl Split {
    /// Indices of the tracks in `part` whose subset is one of `subsets`, ascending.
    pub fn tracks(&self, part: Part, subsets: &[Subset]) -> Vec<usize> {
        self.part
            .iter()
            .zip(&self.subset)
            .enumerate()
            .filter(|(_, (p, s))| **p == part && s.is_some_and(|s| subsets.contains(&s)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Like [`Split::tracks`], keeping only the tracks of `origin`.
    pub fn tracks_from(&self, part: Part, subsets: &[Subset], origin: Origin) -> Vec<usize> {
        let mut tracks = self.tracks(part, subsets);
        tracks.retain(|&i| match origin {
            Origin::All => true,
            Origin::InSource => !self.is_cross_source(i),
            Origin::CrossSource => self.is_cross_source(i),
        });
        tracks
    }

    /// Whether track `i` belongs to a held-out source.
    pub fn is_cross_source(&self, i: usize) -> bool {
        self.cross_source.get(i).copied().unwrap_or(false)
    }

    /// The origins a report shows: all test tracks when no source is held out, else
    /// in-source and cross-source side by side.
    pub fn origins(&self) -> &'static [Origin] {
        if self.cross_source.iter().any(|&c| c) {
            &[Origin::InSource, Origin::CrossSource]
        } else {
            &[Origin::All]
        }
    }

    /// Track counts per subset and part.
    pub fn counts(&self) -> SplitCounts {
        let mut tracks = BTreeMap::new();
        for (s, p) in self.subset.iter().zip(&self.part) {
            *tracks.entry(count_key(*s, *p)).or_insert(0) += 1;
        }
        SplitCounts {
            seen_labels: self.labels.seen.len(),
            unseen_labels: self.labels.unseen.len(),
            tracks,
        }
    }
}

fn check_fraction(name: &'static str, value: f64) -> Result<(), SplitError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SplitError::BadFraction { name, value })
    }
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform draw from `0..n` (`n` > 0), by rejection so no value is favoured.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    // 2^64 mod n values at the top of the range would make small results more likely.
    let excess = (u64::MAX % n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= u64::MAX - excess {
            return x % n;
        }
    }
}

/// Fisher–Yates shuffle of `items`.
fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// How many of `n` items a `fraction` takes: rounded, but at least one when the fraction is
/// above zero and there are two or more items.
fn portion(fraction: f64, n: usize) -> usize {
    let k = (fraction * n as f64).round() as usize;
    if fraction > 0.0 && n >= 2 {
        k.clamp(1, n)
    } else {
        k.min(n)
    }
}

/// `labels`: every label; `unseen_fraction` of them (rounded) go to Y at random (seeded, ChaCha8Rng::seed_from_u64), after `forced_unseen` (must be labels, else error listing the unknown) which always go to Y and count toward the fraction; forced_seen always stay in X. unseen_fraction 0 and no forced_unseen → Y empty (training on all tags).
pub fn split_labels(
    labels: &[String],
    unseen_fraction: f64,
    forced_unseen: &[String],
    forced_seen: &[String],
    seed: u64,
) -> Result<LabelSplit, SplitError> {
    check_fraction("unseen_fraction", unseen_fraction)?;
    // A set, so a label listed twice is neither drawn twice nor counted twice.
    let all: BTreeSet<&String> = labels.iter().collect();
    if all.is_empty() {
        return Err(SplitError::NoLabels);
    }
    let known = |which: &'static str, forced: &[String]| -> Result<BTreeSet<String>, SplitError> {
        let unknown: BTreeSet<String> = forced
            .iter()
            .filter(|l| !all.contains(l))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(forced.iter().cloned().collect())
        } else {
            Err(SplitError::UnknownLabels {
                which,
                labels: unknown.into_iter().collect(),
            })
        }
    };
    let forced_y = known("forced_unseen", forced_unseen)?;
    let forced_x = known("forced_seen", forced_seen)?;
    let both: Vec<String> = forced_y.intersection(&forced_x).cloned().collect();
    if !both.is_empty() {
        return Err(SplitError::ForcedBothWays { labels: both });
    }

    let wanted = portion_rounded(unseen_fraction, all.len()).max(forced_y.len());
    let mut drawable: Vec<&String> = all
        .iter()
        .copied()
        .filter(|l| !forced_y.contains(*l) && !forced_x.contains(*l))
        .collect();
    let to_draw = wanted - forced_y.len();
    if to_draw > drawable.len() {
        return Err(SplitError::TooFewDrawable {
            wanted,
            available: drawable.len() + forced_y.len(),
        });
    }
    shuffle(&mut drawable, &mut rng(seed, STREAM_LABELS));
    let mut unseen: BTreeSet<String> = forced_y;
    unseen.extend(drawable.into_iter().take(to_draw).cloned());
    let seen: Vec<String> = all
        .iter()
        .filter(|l| !unseen.contains(**l))
        .map(|l| (*l).clone())
        .collect();
    if seen.is_empty() {
        return Err(SplitError::NoSeenLabels {
            unseen: unseen.len(),
            total: all.len(),
        });
    }
    Ok(LabelSplit {
        seen,
        unseen: unseen.into_iter().collect(),
    })
}

/// `fraction` of `n`, rounded (no minimum: a label fraction of 0.001 of 10 labels is none).
fn portion_rounded(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).min(n)
}

/// The sources held out whole: every name in `named` (each must be one of `sources`, the
/// tracks' sources; an empty source means "unknown" and is never held out), plus `draw`
/// more drawn at random (seeded) from the rest. Sorted.
pub fn hold_out_sources(
    sources: &[String],
    named: &[String],
    draw: usize,
    seed: u64,
) -> Result<Vec<String>, SplitError> {
    let known: BTreeSet<&str> = sources
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let unknown: BTreeSet<String> = named
        .iter()
        .filter(|n| !known.contains(n.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(SplitError::UnknownSources {
            unknown: unknown.into_iter().collect(),
            known: known.iter().map(|s| s.to_string()).collect(),
        });
    }
    let named: BTreeSet<&str> = named.iter().map(String::as_str).collect();
    let mut drawable: Vec<&str> = known
        .iter()
        .copied()
        .filter(|s| !named.contains(s))
        .collect();
    if draw > drawable.len() {
        return Err(SplitError::TooFewSources {
            wanted: named.len() + draw,
            available: known.len(),
        });
    }
    shuffle(&mut drawable, &mut rng(seed, STREAM_SOURCES));
    let held: BTreeSet<&str> = named
        .into_iter()
        .chain(drawable.into_iter().take(draw))
        .collect();
    Ok(held.into_iter().map(String::from).collect())
}

/// `track_tags[i]`: track i's tags (already mapped to usable labels); `groups[i]`: its group.
/// Assigns every track a subset and a part by the rules in the module documentation.
pub fn make_split(
    track_tags: &[Vec<String>],
    groups: &[String],
    labels: LabelSplit,
    setup: TrainSetup,
    holdout: &Holdout<'_>,
    seed: u64,
) -> Result<Split, SplitError> {
    let Holdout {
        test_fraction,
        validation_fraction,
        cross_source,
    } = *holdout;
    check_fraction("test_fraction", test_fraction)?;
    check_fraction("validation_fraction", validation_fraction)?;
    // An empty `cross_source` holds no source out; a full one must list every track.
    let lengths = [groups.len()]
        .into_iter()
        .chain((!cross_source.is_empty()).then_some(cross_source.len()));
    for other in lengths {
        if other != track_tags.len() {
            return Err(SplitError::LengthMismatch {
                tags: track_tags.len(),
                groups: other,
            });
        }
    }
    let is_cross = |i: usize| cross_source.get(i).copied().unwrap_or(false);
    let seen: BTreeSet<&str> = labels.seen.iter().map(String::as_str).collect();
    let unseen: BTreeSet<&str> = labels.unseen.iter().map(String::as_str).collect();
    let overlap: Vec<String> = seen.intersection(&unseen).map(|l| l.to_string()).collect();
    if !overlap.is_empty() {
        return Err(SplitError::OverlappingLabels { labels: overlap });
    }

    let subset: Vec<Option<Subset>> = track_tags
        .iter()
        .map(|tags| {
            let has_seen = tags.iter().any(|t| seen.contains(t.as_str()));
            let has_unseen = tags.iter().any(|t| unseen.contains(t.as_str()));
            match (has_seen, has_unseen) {
                (true, false) => Some(Subset::A),
                (true, true) => Some(Subset::B),
                (false, true) => Some(Subset::C),
                (false, false) => None,
            }
        })
        .collect();

    // Groups of usable tracks only: a group of unlabelled tracks must not use up a test slot.
    // A group is a test group whole when any of its tracks is C or of a held-out source.
    let mut held_whole: BTreeMap<&str, bool> = BTreeMap::new();
    for (i, (g, s)) in groups.iter().zip(&subset).enumerate() {
        if s.is_some() {
            *held_whole.entry(g.as_str()).or_insert(false) |= *s == Some(Subset::C) || is_cross(i);
        }
    }
    let mut ab_groups: Vec<&str> = held_whole
        .iter()
        .filter(|(_, held)| !**held)
        .map(|(g, _)| *g)
        .collect();
    shuffle(&mut ab_groups, &mut rng(seed, STREAM_TEST));
    let n_test = portion(test_fraction, ab_groups.len());
    let test_groups: BTreeSet<&str> = held_whole
        .iter()
        .filter(|(_, held)| **held)
        .map(|(g, _)| *g)
        .chain(ab_groups.into_iter().take(n_test))
        .collect();
    // Every track of a group that holds a held-out source's track is cross-source.
    let cross_groups: BTreeSet<&str> = (0..groups.len())
        .filter(|&i| is_cross(i))
        .map(|i| groups[i].as_str())
        .collect();

    let used = setup.subsets();
    let mut part = vec![Part::Unused; subset.len()];
    let mut pool_groups: BTreeSet<&str> = BTreeSet::new();
    let (mut pool_a, mut pool_b) = (0, 0);
    for (i, s) in subset.iter().enumerate() {
        let Some(s) = s else { continue };
        let g = groups[i].as_str();
        if test_groups.contains(g) {
            part[i] = Part::Test;
            continue;
        }
        match s {
            Subset::A => pool_a += 1,
            Subset::B => pool_b += 1,
            // Groups holding a C track are all test groups, so none reaches here.
            Subset::C => continue,
        }
        if used.contains(s) {
            part[i] = Part::Train;
            pool_groups.insert(g);
        }
    }
    if pool_groups.is_empty() {
        return Err(SplitError::NoTrainingTracks {
            setup,
            a: pool_a,
            b: pool_b,
        });
    }

    let mut pool_groups: Vec<&str> = pool_groups.into_iter().collect();
    shuffle(&mut pool_groups, &mut rng(seed, STREAM_VALIDATION));
    let n_validation = portion(validation_fraction, pool_groups.len());
    let validation_groups: BTreeSet<&str> = pool_groups.into_iter().take(n_validation).collect();
    for (p, g) in part.iter_mut().zip(groups) {
        if *p == Part::Train && validation_groups.contains(g.as_str()) {
            *p = Part::Validation;
        }
    }

    let cross_source: Vec<bool> = if cross_groups.is_empty() {
        Vec::new()
    } else {
        groups
            .iter()
            .zip(&part)
            .map(|(g, p)| *p == Part::Test && cross_groups.contains(g.as_str()))
            .collect()
    };
    let split = Split {
        labels,
        subset,
        part,
        cross_source,
    };
    tracing::info!(
        setup = %setup,
        counts = ?split.counts().tracks,
        cross_source_tests = split.cross_source.iter().filter(|&&c| c).count(),
        "split made"
    );
    Ok(split)
}

/// Parses a test set name of the paper ("(B+C)-Y", "C-(X+Y)", …): the instance subsets and the
/// labels scored. Subsets may be listed in any order; A alone is refused (it has no unseen tag).
pub fn parse_test_name(name: &str) -> Result<(Vec<Subset>, LabelScope), SplitError> {
    let bad = |reason: &str| SplitError::BadTestName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let compact: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let Some((instances, scope)) = compact.split_once('-') else {
        return Err(bad("expected <subsets>-<labels>"));
    };
    let scope = match scope {
        "X" => LabelScope::Seen,
        "Y" => LabelScope::Unseen,
        "(X+Y)" | "(Y+X)" => LabelScope::All,
        _ => return Err(bad("the labels must be X, Y or (X+Y)")),
    };
    let letters = match instances
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
    {
        Some(inner) if inner.contains('+') => inner,
        Some(_) => return Err(bad("parentheses are for two or more subsets, e.g. (B+C)")),
        None if instances.len() == 1 => instances,
        None => return Err(bad("write two or more subsets as (B+C)")),
    };
    let mut subsets = BTreeSet::new();
    for letter in letters.split('+') {
        let s = match letter {
            "A" => Subset::A,
            "B" => Subset::B,
            "C" => Subset::C,
            _ => return Err(bad("subsets are A, B and C")),
        };
        if !subsets.insert(s) {
            return Err(bad("a subset is listed twice"));
        }
    }
    if subsets.len() == 1 && subsets.contains(&Subset::A) && scope != LabelScope::Seen {
        return Err(bad("A has no unseen tag, so it cannot be a test set alone"));
    }
    Ok((subsets.into_iter().collect(), scope))
}

/// The paper's name for the test set of `subsets` (non-empty) scored on `scope` ("(B+C)-Y");
/// the inverse of [`parse_test_name`].
pub fn format_test_name(subsets: &[Subset], scope: LabelScope) -> String {
    let sorted: BTreeSet<Subset> = subsets.iter().copied().collect();
    let letters: Vec<String> = sorted.iter().map(Subset::to_string).collect();
    match letters.as_slice() {
        [one] => format!("{one}-{scope}"),
        many => format!("({})-{scope}", many.join("+")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn numbered(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:03}")).collect()
    }

    fn label_split(seen: &[&str], unseen: &[&str]) -> LabelSplit {
        LabelSplit {
            seen: strings(seen),
            unseen: strings(unseen),
        }
    }

    /// Parts each group's tracks fall in (Unused ignored).
    fn parts_per_group(split: &Split, groups: &[String]) -> HashMap<String, BTreeSet<Part>> {
        let mut out: HashMap<String, BTreeSet<Part>> = HashMap::new();
        for (p, g) in split.part.iter().zip(groups) {
            if *p != Part::Unused {
                out.entry(g.clone()).or_default().insert(*p);
            }
        }
        out
    }

    /// A synthetic multi-label dataset: 3000 tracks in groups of 1 to 4, each with 1 to 4 of
    /// 60 labels, and a 20% unseen label split.
    fn synthetic() -> (Vec<Vec<String>>, Vec<String>, LabelSplit) {
        let labels = numbered("tag", 60);
        let mut r = rng(7, 99);
        let mut tags = Vec::new();
        let mut groups = Vec::new();
        let mut group = 0;
        while tags.len() < 3000 {
            let size = 1 + below(&mut r, 4);
            for _ in 0..size {
                let n = 1 + below(&mut r, 4);
                let t: Vec<String> = (0..n)
                    .map(|_| labels[below(&mut r, 60) as usize].clone())
                    .collect();
                tags.push(t);
                groups.push(format!("song{group}"));
            }
            group += 1;
        }
        let split = split_labels(&labels, 0.2, &[], &[], 3).unwrap();
        (tags, groups, split)
    }

    #[test]
    fn subsets_follow_the_tags() {
        let labels = label_split(&["pop", "rock"], &["jazz"]);
        let tags = vec![
            strings(&["rock"]),
            strings(&["rock", "jazz"]),
            strings(&["jazz"]),
            strings(&["polka"]),
            strings(&[]),
            strings(&["pop", "polka"]),
            strings(&["jazz", "polka"]),
        ];
        let groups = numbered("g", tags.len());
        let split = make_split(
            &tags,
            &groups,
            labels,
            TrainSetup::AB,
            &Holdout::fractions(0.0, 0.0),
            1,
        )
        .unwrap();
        assert_eq!(
            split.subset,
            vec![
                Some(Subset::A),
                Some(Subset::B),
                Some(Subset::C),
                None,
                None,
                Some(Subset::A),
                Some(Subset::C),
            ]
        );
        assert_eq!(
            split.part,
            vec![
                Part::Train,
                Part::Train,
                Part::Test,
                Part::Unused,
                Part::Unused,
                Part::Train,
                Part::Test,
            ]
        );
        assert_eq!(split.tracks(Part::Train, &[Subset::A]), vec![0, 5]);
        assert_eq!(
            split.tracks(Part::Test, &[Subset::B, Subset::C]),
            vec![2, 6]
        );
        let counts = split.counts();
        assert_eq!(counts.get(Some(Subset::A), Part::Train), 2);
        assert_eq!(counts.get(Some(Subset::C), Part::Test), 2);
        assert_eq!(counts.get(None, Part::Unused), 2);
        assert_eq!(counts.get(Some(Subset::B), Part::Test), 0);
        assert_eq!((counts.seen_labels, counts.unseen_labels), (2, 1));
        let json = serde_json::to_string(&counts).unwrap();
        assert!(json.contains("\"A/train\":2"), "{json}");
    }

    #[test]
    fn a_group_with_a_c_track_is_all_test() {
        let labels = label_split(&["rock"], &["jazz"]);
        let tags = vec![
            strings(&["rock"]),
            strings(&["jazz"]),
            strings(&["rock", "jazz"]),
            strings(&["rock"]),
        ];
        let groups = strings(&["song1", "song1", "song1", "song2"]);
        let split = make_split(
            &tags,
            &groups,
            labels,
            TrainSetup::AB,
            &Holdout::fractions(0.0, 0.0),
            1,
        )
        .unwrap();
        assert_eq!(
            split.part,
            vec![Part::Test, Part::Test, Part::Test, Part::Train]
        );
    }

    #[test]
    fn same_seed_same_split_and_other_seeds_differ() {
        let (tags, groups, labels) = synthetic();
        let make = |seed| {
            make_split(
                &tags,
                &groups,
                labels.clone(),
                TrainSetup::AB,
                &Holdout::fractions(0.2, 0.1),
                seed,
            )
            .unwrap()
        };
        assert_eq!(make(11), make(11));
        assert_ne!(make(11).part, make(12).part);

        let all = numbered("l", 100);
        let a = split_labels(&all, 0.2, &[], &[], 5).unwrap();
        assert_eq!(a, split_labels(&all, 0.2, &[], &[], 5).unwrap());
        assert_ne!(a, split_labels(&all, 0.2, &[], &[], 6).unwrap());
    }

    #[test]
    fn the_label_draw_is_pinned_to_the_seed() {
        // Saved splits must stay reproducible: a change here changes every published split.
        let all = numbered("l", 10);
        let split = split_labels(&all, 0.3, &[], &[], 42).unwrap();
        assert_eq!(split.unseen, strings(&["l000", "l003", "l005"]));
    }

    #[test]
    fn groups_never_straddle_parts_and_c_is_always_test() {
        let (tags, groups, labels) = synthetic();
        for setup in [TrainSetup::A, TrainSetup::B, TrainSetup::AB] {
            let split = make_split(
                &tags,
                &groups,
                labels.clone(),
                setup,
                &Holdout::fractions(0.2, 0.1),
                9,
            )
            .unwrap();
            for (g, parts) in parts_per_group(&split, &groups) {
                assert_eq!(parts.len(), 1, "{setup}: group {g} is in {parts:?}");
            }
            for (s, p) in split.subset.iter().zip(&split.part) {
                if *s == Some(Subset::C) {
                    assert_eq!(*p, Part::Test);
                }
                if s.is_none() {
                    assert_eq!(*p, Part::Unused);
                }
            }
            assert!(split.counts().get(Some(Subset::C), Part::Test) > 0);
        }
    }

    #[test]
    fn setups_share_the_test_set_and_leave_the_other_pool_unused() {
        let (tags, groups, labels) = synthetic();
        let make = |setup| {
            make_split(
                &tags,
                &groups,
                labels.clone(),
                setup,
                &Holdout::fractions(0.2, 0.1),
                4,
            )
            .unwrap()
        };
        let (a, b, ab) = (
            make(TrainSetup::A),
            make(TrainSetup::B),
            make(TrainSetup::AB),
        );
        let every = [Subset::A, Subset::B, Subset::C];
        assert_eq!(a.tracks(Part::Test, &every), b.tracks(Part::Test, &every));
        assert_eq!(a.tracks(Part::Test, &every), ab.tracks(Part::Test, &every));

        let trained = |s: &Split, subset| {
            s.tracks(Part::Train, &[subset]).len() + s.tracks(Part::Validation, &[subset]).len()
        };
        assert_eq!(trained(&a, Subset::B), 0);
        assert!(trained(&a, Subset::A) > 0);
        assert_eq!(trained(&b, Subset::A), 0);
        assert!(trained(&b, Subset::B) > 0);
        assert!(trained(&ab, Subset::A) > 0 && trained(&ab, Subset::B) > 0);
        // Setup A's unused B tracks are exactly the B tracks (A+B) trains or validates on.
        let unused_b: Vec<usize> = (0..tags.len())
            .filter(|&i| a.subset[i] == Some(Subset::B) && a.part[i] == Part::Unused)
            .collect();
        let mut pool_b = ab.tracks(Part::Train, &[Subset::B]);
        pool_b.extend(ab.tracks(Part::Validation, &[Subset::B]));
        pool_b.sort_unstable();
        assert_eq!(unused_b, pool_b);
    }

    #[test]
    fn test_and_validation_take_their_fraction_of_groups() {
        let (tags, groups, labels) = synthetic();
        let split = make_split(
            &tags,
            &groups,
            labels.clone(),
            TrainSetup::AB,
            &Holdout::fractions(0.2, 0.1),
            8,
        )
        .unwrap();
        let per_group = parts_per_group(&split, &groups);
        let count = |part| per_group.values().filter(|p| p.contains(&part)).count();
        let (train, validation) = (count(Part::Train), count(Part::Validation));
        assert_eq!(
            validation,
            ((train + validation) as f64 * 0.1).round() as usize
        );

        let mut has_c: HashMap<&str, bool> = HashMap::new();
        for (g, s) in groups.iter().zip(&split.subset) {
            if s.is_some() {
                *has_c.entry(g).or_default() |= *s == Some(Subset::C);
            }
        }
        let ab_groups = has_c.values().filter(|c| !**c).count();
        let ab_test = per_group
            .iter()
            .filter(|(g, p)| !has_c[g.as_str()] && p.contains(&Part::Test))
            .count();
        assert_eq!(ab_test, (ab_groups as f64 * 0.2).round() as usize);
    }

    #[test]
    fn a_small_positive_fraction_still_takes_one_group() {
        let labels = label_split(&["rock"], &["jazz"]);
        let tags = vec![strings(&["rock"]); 5];
        let groups = numbered("g", 5);
        let split = make_split(
            &tags,
            &groups,
            labels,
            TrainSetup::A,
            &Holdout::fractions(0.01, 0.01),
            2,
        )
        .unwrap();
        let counts = split.counts();
        assert_eq!(counts.get(Some(Subset::A), Part::Test), 1);
        assert_eq!(counts.get(Some(Subset::A), Part::Validation), 1);
        assert_eq!(counts.get(Some(Subset::A), Part::Train), 3);
    }

    #[test]
    fn make_split_rejects_bad_input() {
        let labels = label_split(&["rock"], &["jazz"]);
        let tags = vec![strings(&["rock"]), strings(&["jazz"])];
        let groups = numbered("g", 2);
        assert_eq!(
            make_split(
                &tags,
                &groups[..1],
                labels.clone(),
                TrainSetup::A,
                &Holdout::fractions(0.1, 0.1),
                1
            ),
            Err(SplitError::LengthMismatch { tags: 2, groups: 1 })
        );
        assert!(matches!(
            make_split(
                &tags,
                &groups,
                labels.clone(),
                TrainSetup::A,
                &Holdout::fractions(1.5, 0.1),
                1
            ),
            Err(SplitError::BadFraction {
                name: "test_fraction",
                ..
            })
        ));
        assert!(matches!(
            make_split(
                &tags,
                &groups,
                labels.clone(),
                TrainSetup::A,
                &Holdout::fractions(0.1, f64::NAN),
                1
            ),
            Err(SplitError::BadFraction {
                name: "validation_fraction",
                ..
            })
        ));
        assert_eq!(
            make_split(
                &tags,
                &groups,
                labels.clone(),
                TrainSetup::B,
                &Holdout::fractions(0.0, 0.0),
                1
            ),
            Err(SplitError::NoTrainingTracks {
                setup: TrainSetup::B,
                a: 1,
                b: 0
            })
        );
        let overlapping = label_split(&["rock", "jazz"], &["jazz"]);
        assert_eq!(
            make_split(
                &tags,
                &groups,
                overlapping,
                TrainSetup::A,
                &Holdout::fractions(0.0, 0.0),
                1
            ),
            Err(SplitError::OverlappingLabels {
                labels: strings(&["jazz"])
            })
        );
    }

    #[test]
    fn split_labels_takes_the_rounded_fraction() {
        let all = numbered("l", 10);
        let split = split_labels(&all, 0.25, &[], &[], 1).unwrap();
        assert_eq!(split.unseen.len(), 3);
        assert_eq!(split.seen.len(), 7);
        let mut union: Vec<String> = split.seen.iter().chain(&split.unseen).cloned().collect();
        union.sort();
        assert_eq!(union, all);
        assert!(split.seen.windows(2).all(|w| w[0] < w[1]));
        assert!(split.unseen.windows(2).all(|w| w[0] < w[1]));

        let none = split_labels(&all, 0.0, &[], &[], 1).unwrap();
        assert_eq!((none.seen, none.unseen.len()), (all.clone(), 0));
    }

    #[test]
    fn forced_labels_count_toward_the_fraction() {
        let all = numbered("l", 10);
        // l001..l008 are kept seen, so the one label left to draw must be l009.
        let split = split_labels(&all, 0.2, &strings(&["l000"]), &all[1..9], 3).unwrap();
        assert_eq!(split.unseen, strings(&["l000", "l009"]));
        // More forced than the fraction asks for: all of them go, nothing is drawn.
        let split = split_labels(&all, 0.1, &strings(&["l002", "l007"]), &[], 3).unwrap();
        assert_eq!(split.unseen, strings(&["l002", "l007"]));
    }

    #[test]
    fn split_labels_rejects_unknown_and_impossible_requests() {
        let all = numbered("l", 4);
        let err = split_labels(&all, 0.5, &strings(&["zzz", "l001", "nope"]), &[], 1).unwrap_err();
        assert_eq!(
            err,
            SplitError::UnknownLabels {
                which: "forced_unseen",
                labels: strings(&["nope", "zzz"])
            }
        );
        assert!(err.to_string().contains("nope, zzz"), "{err}");
        assert!(matches!(
            split_labels(&all, 0.5, &[], &strings(&["x"]), 1),
            Err(SplitError::UnknownLabels {
                which: "forced_seen",
                ..
            })
        ));
        assert!(matches!(
            split_labels(&all, 0.5, &strings(&["l001"]), &strings(&["l001"]), 1),
            Err(SplitError::ForcedBothWays { .. })
        ));
        assert_eq!(
            split_labels(&all, 1.0, &[], &[], 1),
            Err(SplitError::NoSeenLabels {
                unseen: 4,
                total: 4
            })
        );
        assert_eq!(
            split_labels(&all, 0.75, &[], &all[..2], 1),
            Err(SplitError::TooFewDrawable {
                wanted: 3,
                available: 2
            })
        );
        assert_eq!(
            split_labels(&[], 0.5, &[], &[], 1),
            Err(SplitError::NoLabels)
        );
    }

    #[test]
    fn test_names_round_trip() {
        for name in PAPER_TEST_NAMES {
            let (subsets, scope) = parse_test_name(name).unwrap();
            assert_eq!(format_test_name(&subsets, scope), name);
        }
        assert_eq!(
            parse_test_name("(B+C)-(X+Y)").unwrap(),
            (vec![Subset::B, Subset::C], LabelScope::All)
        );
        assert_eq!(
            parse_test_name(" (c + b)-y ").unwrap(),
            (vec![Subset::B, Subset::C], LabelScope::Unseen)
        );
        assert_eq!(
            parse_test_name("(A+B)-X").unwrap(),
            (vec![Subset::A, Subset::B], LabelScope::Seen)
        );
        assert_eq!(
            parse_test_name("A-X").unwrap(),
            (vec![Subset::A], LabelScope::Seen)
        );
        assert_eq!(
            format_test_name(&[Subset::A, Subset::B], LabelScope::Seen),
            "(A+B)-X"
        );
        for bad in ["A-Y", "B-Z", "(B)-Y", "B+C-Y", "D-Y", "(B+B)-Y", "BY", "B-"] {
            assert!(
                matches!(parse_test_name(bad), Err(SplitError::BadTestName { .. })),
                "{bad} parsed"
            );
        }
    }

    #[test]
    fn names_of_setups_and_parts() {
        let shown: Vec<String> = [TrainSetup::A, TrainSetup::B, TrainSetup::AB]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, strings(&["A-X", "B-X", "(A+B)-X"]));
        assert_eq!(serde_json::to_string(&TrainSetup::AB).unwrap(), "\"AB\"");
        assert_eq!(
            serde_json::from_str::<TrainSetup>("\"B\"").unwrap(),
            TrainSetup::B
        );
        assert_eq!(
            serde_json::to_string(&Part::Validation).unwrap(),
            "\"validation\""
        );
    }

    /// Sources for [`synthetic`]'s tracks: song `n` belongs to package `n % 6`.
    fn sources_of(groups: &[String]) -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                let n: usize = g.trim_start_matches("song").parse().unwrap();
                format!("pkg{}", n % 6)
            })
            .collect()
    }

    #[test]
    fn held_out_sources_are_named_or_drawn_and_never_unknown() {
        let sources = strings(&["pkg1", "pkg2", "", "pkg3", "pkg2", "pkg4"]);
        assert_eq!(
            hold_out_sources(&sources, &strings(&["pkg3"]), 0, 1).unwrap(),
            strings(&["pkg3"])
        );
        let drawn = hold_out_sources(&sources, &strings(&["pkg3"]), 2, 5).unwrap();
        assert_eq!(drawn.len(), 3);
        assert!(drawn.contains(&"pkg3".to_string()));
        assert!(!drawn.contains(&String::new()), "unknown is never a source");
        assert_eq!(
            drawn,
            hold_out_sources(&sources, &strings(&["pkg3"]), 2, 5).unwrap()
        );
        let draws: BTreeSet<Vec<String>> = (0..20)
            .map(|seed| hold_out_sources(&sources, &[], 1, seed).unwrap())
            .collect();
        assert!(draws.len() > 1, "the seed picks the source: {draws:?}");
        assert_eq!(
            hold_out_sources(&sources, &strings(&["pkg9", "pkg1", "fluid"]), 0, 1),
            Err(SplitError::UnknownSources {
                unknown: strings(&["fluid", "pkg9"]),
                known: strings(&["pkg1", "pkg2", "pkg3", "pkg4"]),
            })
        );
        assert_eq!(
            hold_out_sources(&sources, &strings(&["pkg1"]), 4, 1),
            Err(SplitError::TooFewSources {
                wanted: 5,
                available: 4
            })
        );
    }

    #[test]
    fn a_held_out_source_is_tested_whole_and_never_trained_on() {
        let (tags, groups, labels) = synthetic();
        let sources = sources_of(&groups);
        let held = hold_out_sources(&sources, &strings(&["pkg2"]), 1, 11).unwrap();
        let cross: Vec<bool> = sources.iter().map(|s| held.contains(s)).collect();
        let holdout = Holdout {
            test_fraction: 0.2,
            validation_fraction: 0.1,
            cross_source: &cross,
        };
        let split =
            make_split(&tags, &groups, labels.clone(), TrainSetup::AB, &holdout, 3).unwrap();
        let mut in_source_tests = 0;
        for i in 0..tags.len() {
            if split.subset[i].is_none() {
                continue;
            }
            if cross[i] {
                assert_eq!(split.part[i], Part::Test, "track {i} of {}", sources[i]);
                assert!(split.is_cross_source(i));
            } else {
                assert!(!split.is_cross_source(i), "track {i} of {}", sources[i]);
                in_source_tests += usize::from(split.part[i] == Part::Test);
            }
        }
        let trained: BTreeSet<&String> = (0..tags.len())
            .filter(|&i| matches!(split.part[i], Part::Train | Part::Validation))
            .map(|i| &sources[i])
            .collect();
        assert!(trained.iter().all(|s| !held.contains(*s)), "{trained:?}");
        assert_eq!(trained.len(), 4, "the other four packages train");
        // The in-source test draw takes its fraction of the remaining sources' groups.
        let in_source = split.tracks_from(
            Part::Test,
            &[Subset::A, Subset::B, Subset::C],
            Origin::InSource,
        );
        assert_eq!(in_source.len(), in_source_tests);
        assert!(in_source_tests > 300, "{in_source_tests}");
        let cross_tests = split.tracks_from(
            Part::Test,
            &[Subset::A, Subset::B, Subset::C],
            Origin::CrossSource,
        );
        assert_eq!(
            cross_tests.len(),
            (0..tags.len())
                .filter(|&i| cross[i] && split.subset[i].is_some())
                .count()
        );
        assert_eq!(split.origins(), &[Origin::InSource, Origin::CrossSource]);
        for (g, parts) in parts_per_group(&split, &groups) {
            assert_eq!(parts.len(), 1, "group {g} is in {parts:?}");
        }
        // Same inputs and seed, same split.
        assert_eq!(
            split,
            make_split(&tags, &groups, labels, TrainSetup::AB, &holdout, 3).unwrap()
        );
    }

    #[test]
    fn a_group_that_straddles_a_held_out_source_is_held_out_whole() {
        let labels = label_split(&["pop", "rock"], &["jazz"]);
        let tags = vec![
            strings(&["rock"]),
            strings(&["pop"]),
            strings(&["rock"]),
            strings(&["pop"]),
        ];
        let groups = strings(&["song1", "song1", "song2", "song3"]);
        // Track 1 is of the held-out source; its group-mate 0 is not.
        let cross = [false, true, false, false];
        let holdout = Holdout {
            test_fraction: 0.0,
            validation_fraction: 0.0,
            cross_source: &cross,
        };
        let split = make_split(&tags, &groups, labels, TrainSetup::AB, &holdout, 1).unwrap();
        assert_eq!(
            split.part,
            vec![Part::Test, Part::Test, Part::Train, Part::Train]
        );
        assert_eq!(split.cross_source, vec![true, true, false, false]);
        assert_eq!(
            make_split(
                &tags,
                &groups,
                label_split(&["pop", "rock"], &["jazz"]),
                TrainSetup::AB,
                &Holdout {
                    cross_source: &cross[..3],
                    ..holdout
                },
                1
            ),
            Err(SplitError::LengthMismatch { tags: 4, groups: 3 })
        );
    }

    #[test]
    fn without_held_out_sources_every_test_track_is_of_one_origin() {
        let (tags, groups, labels) = synthetic();
        let split = make_split(
            &tags,
            &groups,
            labels,
            TrainSetup::AB,
            &Holdout::fractions(0.2, 0.1),
            8,
        )
        .unwrap();
        assert!(split.cross_source.is_empty());
        assert_eq!(split.origins(), &[Origin::All]);
        let all = [Subset::A, Subset::B, Subset::C];
        assert_eq!(
            split.tracks_from(Part::Test, &all, Origin::All),
            split.tracks(Part::Test, &all)
        );
        assert!(split
            .tracks_from(Part::Test, &all, Origin::CrossSource)
            .is_empty());
    }

    #[test]
    fn below_is_uniform() {
        let mut r = rng(1, 0);
        let mut hits = [0usize; 3];
        for _ in 0..30_000 {
            hits[below(&mut r, 3) as usize] += 1;
        }
        for h in hits {
            assert!((9_500..10_500).contains(&h), "{hits:?}");
        }
    }
}

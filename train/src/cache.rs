//! The mel cache: every track's log-mel computed once with hark's own front-end (the daemon's
//! code, not a copy), stored unstandardised as one flat little-endian f32 file with a JSON
//! index, and memory-mapped for training so the corpus never has to fit in RAM.

use crate::dataset::{Loaded, TrackRecord};
use hark::frontend::FrontendParams;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Name of the index file inside a cache folder.
pub const INDEX_FILE: &str = "index.json";
/// Name of the frame data file inside a cache folder.
pub const DATA_FILE: &str = "mels.f32";

/// Why the cache could not be built or opened.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The index is not valid JSON for a cache.
    #[error("{path}: not a mel cache index: {message}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What serde said.
        message: String,
    },
    /// The data file does not match the index.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// What does not match.
        problem: String,
    },
    /// Audio files that could not be decoded, every one listed.
    #[error("{} audio file(s) could not be read:\n{}", .0.len(), .0.join("\n"))]
    Audio(Vec<String>),
    /// No track made it into the cache.
    #[error("no track could be cached")]
    Empty,
}

/// One cached track: where its frames are and what it is tagged with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedTrack {
    /// The dataset's id.
    pub id: String,
    /// The audio file it was computed from.
    pub path: PathBuf,
    /// Tracks of one group stay in one split part.
    pub group: String,
    /// Where the track came from (package, soundfont, sample library); empty when unknown.
    #[serde(default)]
    pub source: String,
    /// Raw tags from the dataset.
    pub tags: Vec<String>,
    /// The dataset's weight of each of `tags`; empty when it gives none (all count fully).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_weights: Vec<f32>,
    /// First frame in the data file.
    pub offset: u64,
    /// Number of frames.
    pub frames: usize,
}

/// The index written beside the frame data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheIndex {
    /// Front-end the frames were computed with (mean 0, std 1: unstandardised).
    pub frontend: FrontendParams,
    /// hark's [`hark::frontend::NUMERICS_REVISION`] when they were computed (0: before it
    /// was recorded).
    #[serde(default)]
    pub frontend_revision: u32,
    /// Tracks in data-file order.
    pub tracks: Vec<CachedTrack>,
    /// Audio files the dataset named that did not exist (skipped on request).
    pub missing_audio: Vec<PathBuf>,
    /// Dataset entries with no tag at all.
    pub untagged: usize,
    /// Audio files that could not be decoded (skipped on request).
    pub undecodable: Vec<String>,
}

/// The front-end the cache uses: hark's defaults (the paper's), before standardisation.
pub fn cache_frontend() -> FrontendParams {
    FrontendParams {
        mean: 0.0,
        std: 1.0,
        ..FrontendParams::default()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether an existing cache already holds exactly these tracks with this front-end.
pub fn is_current(dir: &Path, loaded: &Loaded) -> bool {
    let Ok(cache) = MelCache::open(dir) else {
        return false;
    };
    let index = cache.index();
    index.frontend == cache_frontend()
        && index.frontend_revision == hark::frontend::NUMERICS_REVISION
        && index.tracks.len() + index.undecodable.len() == loaded.tracks.len()
        && index.tracks.iter().all(|t| {
            loaded
                .tracks
                .iter()
                .any(|r| r.id == t.id && r.path == t.path)
        })
}

/// Copies the dataset's current tags, groups and sources into a current cache's index (a
/// manifest edit that leaves the audio alone must not force decoding every file again).
/// Returns how many tracks changed; the index is rewritten only when some did.
pub fn refresh_annotations(dir: &Path, loaded: &Loaded) -> Result<usize, CacheError> {
    let mut index = MelCache::open(dir)?.index().clone();
    let records: std::collections::HashMap<(&str, &Path), &TrackRecord> = loaded
        .tracks
        .iter()
        .map(|r| ((r.id.as_str(), r.path.as_path()), r))
        .collect();
    let mut changed = 0;
    for track in &mut index.tracks {
        let Some(record) = records.get(&(track.id.as_str(), track.path.as_path())) else {
            continue;
        };
        if track.tags != record.tags
            || track.tag_weights != record.tag_weights
            || track.group != record.group
            || track.source != record.source
        {
            track.tags.clone_from(&record.tags);
            track.tag_weights.clone_from(&record.tag_weights);
            track.group.clone_from(&record.group);
            track.source.clone_from(&record.source);
            changed += 1;
        }
    }
    if changed > 0 {
        let index_path = dir.join(INDEX_FILE);
        let json = serde_json::to_vec_pretty(&index).map_err(|e| CacheError::Index {
            path: index_path.clone(),
            message: e.to_string(),
        })?;
        hark::fsutil::write_atomic(&index_path, &json).map_err(io_err(&index_path))?;
    }
    Ok(changed)
}

/// Decodes every track with `threads` workers and writes the cache folder; with
/// `skip_undecodable`, files that fail are listed in the index instead of failing the run.
pub fn build(
    dir: &Path,
    loaded: &Loaded,
    threads: usize,
    skip_undecodable: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<CacheIndex, CacheError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let params = cache_frontend();
    let data_path = dir.join(DATA_FILE);
    // hark's atomic file: removed if the build fails, renamed into place whole if it succeeds.
    let mut out = std::io::BufWriter::new(
        hark::fsutil::AtomicFile::create(&data_path).map_err(io_err(&data_path))?,
    );
    let threads = threads.max(1);
    let mut tracks = Vec::with_capacity(loaded.tracks.len());
    let mut failures = Vec::new();
    let mut offset = 0u64;
    let done = AtomicUsize::new(0);
    // Chunks keep the data file in dataset order while workers decode in parallel.
    for chunk in loaded.tracks.chunks(threads * 4) {
        let results = log_mels_in_parallel(chunk, threads, &params, &done, progress);
        for (record, result) in chunk.iter().zip(results) {
            match result {
                Some(Ok(mel)) => {
                    let frames = mel.len() / params.n_mels;
                    for v in &mel[..frames * params.n_mels] {
                        out.write_all(&v.to_le_bytes())
                            .map_err(io_err(&data_path))?;
                    }
                    tracks.push(cached(record, offset, frames));
                    offset += frames as u64;
                }
                Some(Err(message)) => failures.push(message),
                None => failures.push(format!("{}: not processed", record.path.display())),
            }
        }
    }
    let data = out
        .into_inner()
        .map_err(|e| io_err(&data_path)(e.into_error()))?;
    if !failures.is_empty() && !skip_undecodable {
        return Err(CacheError::Audio(failures));
    }
    if tracks.is_empty() {
        return Err(CacheError::Empty);
    }
    let index = CacheIndex {
        frontend: params,
        frontend_revision: hark::frontend::NUMERICS_REVISION,
        tracks,
        missing_audio: loaded.missing_audio.clone(),
        untagged: loaded.untagged,
        undecodable: failures,
    };
    let index_path = dir.join(INDEX_FILE);
    let json = serde_json::to_vec_pretty(&index).map_err(|e| CacheError::Index {
        path: index_path.clone(),
        message: e.to_string(),
    })?;
    // Data first, then the index: an index always describes a complete data file.
    data.commit().map_err(io_err(&data_path))?;
    hark::fsutil::write_atomic(&index_path, &json).map_err(io_err(&index_path))?;
    Ok(index)
}

/// The log-mel of each record of `chunk`, in its order, computed by up to `threads` workers;
/// `None` for a record whose worker panicked. `done` counts finished tracks for `progress`.
fn log_mels_in_parallel(
    chunk: &[TrackRecord],
    threads: usize,
    params: &FrontendParams,
    done: &AtomicUsize,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Option<Result<Vec<f32>, String>>> {
    let next = AtomicUsize::new(0);
    let decoded: Vec<(usize, Result<Vec<f32>, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(chunk.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(record) = chunk.get(i) else { break };
                        let result = hark::frontend::file_log_mel(&record.path, params)
                            .map(|(mel, _)| mel)
                            .map_err(|e| e.to_string());
                        mine.push((i, result));
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                    mine
                })
            })
            .collect();
        // A worker that panicked loses its tracks; they are reported as not processed.
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut results: Vec<Option<Result<Vec<f32>, String>>> = vec![None; chunk.len()];
    for (i, result) in decoded {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    results
}

fn cached(record: &TrackRecord, offset: u64, frames: usize) -> CachedTrack {
    CachedTrack {
        id: record.id.clone(),
        path: record.path.clone(),
        group: record.group.clone(),
        source: record.source.clone(),
        tags: record.tags.clone(),
        tag_weights: record.tag_weights.clone(),
        offset,
        frames,
    }
}

/// An opened cache: the index plus the memory-mapped frames.
pub struct MelCache {
    index: CacheIndex,
    data: Mmap,
}

impl MelCache {
    /// Opens a cache folder and checks the data file against the index.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        let index_path = dir.join(INDEX_FILE);
        let text = std::fs::read(&index_path).map_err(io_err(&index_path))?;
        let index: CacheIndex = serde_json::from_slice(&text).map_err(|e| CacheError::Index {
            path: index_path.clone(),
            message: e.to_string(),
        })?;
        let data_path = dir.join(DATA_FILE);
        let file = std::fs::File::open(&data_path).map_err(io_err(&data_path))?;
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapping cannot change under us while this process holds it.
        let data = unsafe { Mmap::map(&file) }.map_err(io_err(&data_path))?;
        let corrupt = |problem: String| CacheError::Corrupt {
            path: data_path.clone(),
            problem,
        };
        if cfg!(target_endian = "big") {
            return Err(corrupt(
                "the cache is little-endian; this host is not".into(),
            ));
        }
        let n_mels = index.frontend.n_mels as u64;
        let expected: u64 = index.tracks.iter().map(|t| t.frames as u64).sum::<u64>() * n_mels * 4;
        if data.len() as u64 != expected {
            return Err(corrupt(format!(
                "{} bytes, the index describes {expected}",
                data.len()
            )));
        }
        let mut next = 0u64;
        for t in &index.tracks {
            if t.offset != next {
                return Err(corrupt(format!(
                    "track {} starts at frame {}, expected {next}",
                    t.id, t.offset
                )));
            }
            next += t.frames as u64;
        }
        Ok(Self { index, data })
    }

    /// The index.
    pub fn index(&self) -> &CacheIndex {
        &self.index
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.index.tracks.len()
    }

    /// Whether the cache holds no track.
    pub fn is_empty(&self) -> bool {
        self.index.tracks.is_empty()
    }

    /// Mel bands per frame.
    pub fn n_mels(&self) -> usize {
        self.index.frontend.n_mels
    }

    /// Track `i`'s frames, row-major `[frames × n_mels]`, unstandardised.
    pub fn frames(&self, i: usize) -> &[f32] {
        let t = &self.index.tracks[i];
        let all: &[f32] = bytemuck::cast_slice(&self.data[..]);
        let start = t.offset as usize * self.n_mels();
        &all[start..start + t.frames * self.n_mels()]
    }

    /// Mean and standard deviation over every frame value of the given tracks (f64 sums).
    pub fn stats(&self, tracks: &[usize]) -> (f32, f32) {
        let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0u64);
        for &i in tracks {
            for &v in self.frames(i) {
                let v = f64::from(v);
                sum += v;
                sum_sq += v * v;
                n += 1;
            }
        }
        if n == 0 {
            return (0.0, 1.0);
        }
        let mean = sum / n as f64;
        let var = (sum_sq / n as f64 - mean * mean).max(0.0);
        let std = var.sqrt();
        (mean as f32, if std > 1e-6 { std as f32 } else { 1.0 })
    }

    /// Copies a `window_frames` window starting at `start` into `out`, zero-padding past the
    /// end (silence is 0 in log10(1 + 10·mel)), then standardises it with hark's
    /// [`hark::frontend::standardize`].
    pub fn window_into(
        &self,
        track: usize,
        start: usize,
        window_frames: usize,
        mean: f32,
        std: f32,
        out: &mut Vec<f32>,
    ) {
        let n_mels = self.n_mels();
        let frames = self.frames(track);
        let available = (frames.len() / n_mels)
            .saturating_sub(start)
            .min(window_frames);
        let from = start * n_mels;
        let at = out.len();
        out.extend_from_slice(&frames[from..from + available * n_mels]);
        out.resize(at + window_frames * n_mels, 0.0);
        // hark's standardisation, not a copy: the same arithmetic as the daemon's front-end,
        // so a cached window equals the streaming window bit for bit.
        let params = FrontendParams {
            mean,
            std,
            ..self.index.frontend.clone()
        };
        hark::frontend::standardize(&mut out[at..], &params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark::audio::FileDecoder;
    use hark::frontend::{window_starts, StreamingFrontend};

    /// A 12-second 44.1 kHz chirp with a little seeded noise: resampled on the way in.
    fn write_wav(path: &Path) -> u32 {
        let rate = 44_100;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("wav");
        let mut noise = 1u32;
        for i in 0..12 * rate {
            let t = f64::from(i) / f64::from(rate);
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = f64::from(noise >> 16) / 65_536.0 - 0.5;
            let v = 0.5 * (2.0 * std::f64::consts::PI * (200.0 + 400.0 * t) * t).sin() + 0.05 * n;
            w.write_sample((v * 32_767.0) as i16).expect("sample");
        }
        w.finalize().expect("finalize");
        rate
    }

    #[test]
    fn a_cache_from_an_older_front_end_revision_is_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("chirp.wav");
        write_wav(&wav);
        let loaded = Loaded {
            tracks: vec![TrackRecord {
                id: "chirp".into(),
                path: wav,
                tags: vec!["rock".into()],
                tag_weights: Vec::new(),
                group: "chirp".into(),
                source: String::new(),
            }],
            missing_audio: Vec::new(),
            untagged: 0,
        };
        let cache = dir.path().join("cache");
        build(&cache, &loaded, 1, false, &|_| {}).expect("cache");
        assert!(is_current(&cache, &loaded));
        // An index written before the revision was recorded has none: the frames are stale.
        let index_path = cache.join(INDEX_FILE);
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).expect("read")).expect("json");
        index
            .as_object_mut()
            .expect("object")
            .remove("frontend_revision");
        std::fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("write");
        assert!(!is_current(&cache, &loaded));
    }

    #[test]
    fn a_manifest_edit_reaches_a_current_cache_without_decoding_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("chirp.wav");
        write_wav(&wav);
        let mut loaded = Loaded {
            tracks: vec![TrackRecord {
                id: "chirp".into(),
                path: wav,
                tags: vec!["rock".into()],
                tag_weights: Vec::new(),
                group: "chirp".into(),
                source: String::new(),
            }],
            missing_audio: Vec::new(),
            untagged: 0,
        };
        let cache = dir.path().join("cache");
        build(&cache, &loaded, 1, false, &|_| {}).expect("cache");
        let data_before = std::fs::read(cache.join(DATA_FILE)).expect("data");
        assert_eq!(refresh_annotations(&cache, &loaded).expect("refresh"), 0);

        loaded.tracks[0].tags = vec!["jazz".into(), "piano".into()];
        loaded.tracks[0].tag_weights = vec![0.4, 1.0];
        loaded.tracks[0].source = "fluid-soundfont-gm".into();
        assert!(is_current(&cache, &loaded), "only the annotations changed");
        assert_eq!(refresh_annotations(&cache, &loaded).expect("refresh"), 1);
        let reopened = MelCache::open(&cache).expect("open");
        let track = &reopened.index().tracks[0];
        assert_eq!(track.tags, ["jazz", "piano"]);
        assert_eq!(track.tag_weights, [0.4, 1.0]);
        assert_eq!(track.source, "fluid-soundfont-gm");
        assert_eq!(
            std::fs::read(cache.join(DATA_FILE)).expect("data"),
            data_before,
            "the frames are left as they were"
        );
    }

    #[test]
    fn cached_windows_equal_the_streaming_front_ends_windows_for_the_same_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("chirp.wav");
        let rate = write_wav(&wav);
        let loaded = Loaded {
            tracks: vec![TrackRecord {
                id: "chirp".into(),
                path: wav.clone(),
                tags: vec!["rock".into()],
                tag_weights: Vec::new(),
                group: "chirp".into(),
                source: String::new(),
            }],
            missing_audio: Vec::new(),
            untagged: 0,
        };
        build(&dir.path().join("cache"), &loaded, 1, false, &|_| {}).expect("cache");
        assert!(is_current(&dir.path().join("cache"), &loaded));
        let cache = MelCache::open(&dir.path().join("cache")).expect("open");
        let (mean, std) = cache.stats(&[0]);
        let params = FrontendParams {
            mean,
            std,
            ..cache_frontend()
        };
        let window = params.window_frames;
        let frames = cache.index().tracks[0].frames;
        for hop in [65, 130] {
            let mut streaming = StreamingFrontend::new(&params, rate, hop).expect("frontend");
            let mut streamed: Vec<Vec<f32>> = Vec::new();
            let mut decoder = FileDecoder::open(&wav).expect("decode");
            while let Some(block) = decoder.next_block().expect("block") {
                streaming
                    .push(&block, |w| streamed.push(w.to_vec()))
                    .expect("push");
            }
            streaming
                .finish(|w| streamed.push(w.to_vec()))
                .expect("finish");
            let starts = window_starts(frames, window, hop);
            assert!(starts.len() > 2, "{frames} frames give windows");
            assert_eq!(streamed.len(), starts.len(), "hop {hop}: window count");
            for (w, &start) in streamed.iter().zip(&starts) {
                let mut cached = Vec::new();
                cache.window_into(0, start, window, mean, std, &mut cached);
                assert!(cached == *w, "hop {hop}: window at frame {start} differs");
            }
        }
    }
}

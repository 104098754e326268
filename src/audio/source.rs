//! Live audio sources for the daemon: an ALSA capture device (cpal), an audio file paced in
//! real time or read as fast as possible, and raw PCM on stdin. Each runs on its own thread
//! and sends mono f32 chunks at the source's own rate; the daemon resamples.

use crate::audio::settings::{RawFormat, SourceKind, SourceSettings};
use crate::audio::{finite_sample, FileDecoder};
use crossbeam_channel::{Sender, TrySendError};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Mono audio at the source's own sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: u32,
}

/// What a source sends downstream.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// A chunk of audio.
    Audio(AudioChunk),
    /// Audio was lost (device gone, or the pipeline was full): this many seconds.
    Gap(f64),
    /// The source ended (file or stdin finished); devices never send this.
    End,
}

/// Counters a source keeps for the logs and the status message.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Samples delivered downstream.
    pub samples: AtomicU64,
    /// Samples dropped because the pipeline was full.
    pub dropped_samples: AtomicU64,
    /// Times the device stream failed or vanished and was reopened.
    pub restarts: AtomicU64,
    /// Samples sent but not yet taken by the pipeline: a live device drops audio past
    /// `SourceSettings`'s limit instead of waiting.
    pub queued: AtomicU64,
}

impl SourceStats {
    /// The pipeline took `event` off the queue.
    pub fn taken(&self, event: &SourceEvent) {
        if let SourceEvent::Audio(chunk) = event {
            let n = chunk.samples.len() as u64;
            let _ = self
                .queued
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                    Some(q.saturating_sub(n))
                });
        }
    }
}

/// Why a source could not start or went on failing.
#[derive(Debug, Error)]
pub enum SourceError {
    /// Decoding the audio file failed.
    #[error(transparent)]
    File(#[from] crate::audio::AudioError),
    /// Reading stdin failed.
    #[error("stdin: {0}")]
    Stdin(#[source] std::io::Error),
    /// No capture device matched the configured name.
    #[error("no ALSA capture device matches {wanted:?}; devices seen: {seen}")]
    NoDevice {
        /// The configured name.
        wanted: String,
        /// The names found.
        seen: String,
    },
    /// More than one device matched a partial name.
    #[error("ALSA device name {wanted:?} is ambiguous: {matches}")]
    Ambiguous {
        /// The configured name.
        wanted: String,
        /// The names it matched.
        matches: String,
    },
    /// The device offers no I16 or F32 capture format that delivered audio.
    #[error("ALSA device {device:?}: no usable capture format ({detail})")]
    NoFormat {
        /// Device name.
        device: String,
        /// What was tried.
        detail: String,
    },
    /// cpal reported an error.
    #[error("ALSA device {device:?}: {detail}")]
    Device {
        /// Device name.
        device: String,
        /// cpal's message.
        detail: String,
    },
}

/// Runs the configured source on the calling thread until it ends or `stop` is set. A live
/// device lets at most `queue_s` seconds of audio wait for the pipeline; files and pipes wait.
pub fn run_source(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
    queue_s: f64,
) -> Result<(), SourceError> {
    match settings.kind {
        SourceKind::File => run_file(settings, tx, stop, stats),
        SourceKind::Stdin => run_stdin(settings, std::io::stdin().lock(), tx, stop, stats),
        SourceKind::Alsa => run_device(settings, tx, stop, stats, queue_s),
    }
}

/// Sends a chunk downstream; a file or pipe may wait for room (nothing is lost by waiting).
fn send_blocking(tx: &Sender<SourceEvent>, stop: &AtomicBool, event: SourceEvent) -> bool {
    let mut event = event;
    loop {
        match tx.send_timeout(event, Duration::from_millis(200)) {
            Ok(()) => return true,
            Err(crossbeam_channel::SendTimeoutError::Timeout(e)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                event = e;
            }
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

fn run_file(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
) -> Result<(), SourceError> {
    loop {
        let mut decoder = FileDecoder::open(&settings.file)?;
        let rate = decoder.sample_rate();
        tracing::info!(file = %settings.file.display(), rate, realtime = settings.realtime, "file source started");
        let started = Instant::now();
        let mut sent: u64 = 0;
        while let Some(block) = decoder.next_block()? {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if settings.realtime {
                // Pace by the audio clock: sleep until this block's first sample is due.
                let due = Duration::from_secs_f64(sent as f64 / f64::from(rate));
                let elapsed = started.elapsed();
                if due > elapsed {
                    std::thread::sleep(due - elapsed);
                }
            }
            sent += block.len() as u64;
            stats
                .samples
                .fetch_add(block.len() as u64, Ordering::Relaxed);
            if !send_blocking(
                tx,
                stop,
                SourceEvent::Audio(AudioChunk {
                    samples: block,
                    rate,
                }),
            ) {
                return Ok(());
            }
        }
        if sent == 0 && settings.repeat {
            // Repeating a file with no audio would reopen it as fast as the disk allows.
            tracing::warn!(file = %settings.file.display(), "file source has no audio; not repeating it");
        }
        if !settings.repeat || sent == 0 || stop.load(Ordering::Relaxed) {
            send_blocking(tx, stop, SourceEvent::End);
            return Ok(());
        }
    }
}

/// Reads interleaved raw PCM and sends mono chunks; public so tests can feed any reader.
pub fn run_stdin(
    settings: &SourceSettings,
    mut input: impl Read,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
) -> Result<(), SourceError> {
    let channels = usize::from(settings.stdin_channels.max(1));
    let bytes_per_sample = match settings.stdin_format {
        RawFormat::S16le => 2,
        RawFormat::F32le => 4,
    };
    let frame_bytes = channels * bytes_per_sample;
    // About 50 ms per read keeps latency low without many tiny chunks.
    let frames_per_read = (settings.stdin_rate as usize / 20).max(64);
    let mut buf = vec![0u8; frames_per_read * frame_bytes];
    let mut carry: Vec<u8> = Vec::with_capacity(frame_bytes);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = match input.read(&mut buf) {
            Ok(0) => {
                send_blocking(tx, stop, SourceEvent::End);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SourceError::Stdin(e)),
        };
        carry.extend_from_slice(&buf[..n]);
        let whole = carry.len() / frame_bytes * frame_bytes;
        let mono: Vec<f32> = carry[..whole]
            .chunks_exact(frame_bytes)
            .map(|frame| {
                let sum: f32 = frame
                    .chunks_exact(bytes_per_sample)
                    .map(|b| match settings.stdin_format {
                        RawFormat::S16le => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
                        RawFormat::F32le => {
                            finite_sample(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        }
                    })
                    .sum();
                sum / channels as f32
            })
            .collect();
        carry.drain(..whole);
        if mono.is_empty() {
            continue;
        }
        stats
            .samples
            .fetch_add(mono.len() as u64, Ordering::Relaxed);
        let chunk = AudioChunk {
            samples: mono,
            rate: settings.stdin_rate,
        };
        if !send_blocking(tx, stop, SourceEvent::Audio(chunk)) {
            return Ok(());
        }
    }
}

/// Captures from an ALSA device, reopening it with backoff whenever it fails or vanishes.
/// The pipeline hears of a loss at once (a gap closes the track in progress) and, when audio
/// flows again, of the rest of the hole, so the stream clock keeps pace with wall time.
fn run_device(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
    queue_s: f64,
) -> Result<(), SourceError> {
    let mut backoff = Duration::from_millis(500);
    let max_backoff = Duration::from_secs_f64(settings.retry_max_s);
    let mut lost_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match capture_once(settings, tx, stop, stats, lost_at, queue_s) {
            Ok(()) => return Ok(()),
            Err(CaptureEnd {
                error,
                delivered,
                owed_since,
            }) => {
                stats.restarts.fetch_add(1, Ordering::Relaxed);
                if delivered || lost_at.is_none() {
                    backoff = Duration::from_millis(500);
                    let now = Instant::now();
                    lost_at = Some(owed_since.map_or(now, |t| t.min(now)));
                    tracing::warn!(error = %error, "capture device lost; the track in progress ends here");
                    let _ = tx.try_send(SourceEvent::Gap(0.0));
                }
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "capture device unavailable; retrying");
            }
        }
        let deadline = Instant::now() + backoff;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(max_backoff);
    }
    Ok(())
}

/// Why one capture ended, and whether it had delivered audio (a new loss) or never started.
struct CaptureEnd {
    error: SourceError,
    delivered: bool,
    /// Where audio dropped before the end (queue full) began: the hole starts there.
    owed_since: Option<Instant>,
}

impl From<SourceError> for CaptureEnd {
    fn from(error: SourceError) -> Self {
        Self {
            error,
            delivered: false,
            owed_since: None,
        }
    }
}

/// A device's clock may run this far ahead of the wall clock (seconds) before it counts as
/// lost: more than one buffer's burst at start, far less than a runaway stream delivers.
const MAX_AHEAD_S: f64 = 0.5;
/// …plus this fraction of the time it has run, far above any real crystal's drift.
const MAX_DRIFT: f64 = 0.01;

/// Checks in the device callback that audio arrives no faster than real time. A device that
/// runs ahead is not a live clock any more: ALSA's `file` plugin repeats stale buffers at
/// full speed once its input ends, a broken driver's clock runs away. Caught in the
/// callback, before delivery, so at most `MAX_AHEAD_S` of that audio reaches a track.
#[derive(Debug)]
pub struct PaceCheck {
    rate: u32,
    started: Option<Instant>,
    frames: u64,
}

impl PaceCheck {
    /// A check for a stream of `rate` frames per second.
    pub fn new(rate: u32) -> Self {
        Self {
            rate: rate.max(1),
            started: None,
            frames: 0,
        }
    }

    /// Counts `frames` arriving at `now`; returns how far ahead of real time the stream is,
    /// in seconds, once that is beyond what a live device does.
    pub fn arrived(&mut self, frames: usize, now: Instant) -> Option<f64> {
        let started = *self.started.get_or_insert(now);
        self.frames += frames as u64;
        let elapsed = now.saturating_duration_since(started).as_secs_f64();
        let ahead = self.frames as f64 / f64::from(self.rate) - elapsed;
        (ahead > MAX_AHEAD_S + MAX_DRIFT * elapsed).then_some(ahead)
    }
}

/// What the capture thread watches of a running stream.
#[derive(Debug, Default)]
struct StreamProbe {
    failed: AtomicBool,
    produced: AtomicU64,
    /// Seconds ahead of real time (as f64 bits) when the pace check tripped; 0 if it did not.
    ran_ahead: AtomicU64,
}

/// Opens the device once and captures until the stream fails (Err) or `stop` is set (Ok).
fn capture_once(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
    hole_since: Option<Instant>,
    queue_s: f64,
) -> Result<(), CaptureEnd> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let host = cpal::default_host();
    let device = pick_device(&host, &settings.device)?;
    let name = device.name().unwrap_or_else(|_| "?".into());
    let candidates = candidate_configs(&device, &name)?;
    let mut tried = Vec::new();
    for (config, format) in candidates {
        let rate = config.sample_rate.0;
        let probe = Arc::new(StreamProbe::default());
        let owed = Arc::new(std::sync::Mutex::new(None));
        let delivery = LossyDelivery::new(tx.clone(), rate, stats.clone(), queue_s, hole_since)
            .leaving_owed_hole_in(owed.clone());
        let stream = match build_stream(&device, &config, format, delivery, &probe) {
            Ok(s) => s,
            Err(e) => {
                tried.push(format!("{format:?}@{rate}Hz×{}: {e}", config.channels));
                continue;
            }
        };
        if let Err(e) = stream.play() {
            tried.push(format!("{format:?}@{rate}Hz: {e}"));
            continue;
        }
        // Advertised ranges are not promises: keep this format only if audio really arrives.
        let probe_end = Instant::now() + Duration::from_secs(2);
        while probe.produced.load(Ordering::Relaxed) == 0
            && !probe.failed.load(Ordering::Relaxed)
            && Instant::now() < probe_end
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if probe.produced.load(Ordering::Relaxed) == 0 {
            tried.push(format!("{format:?}@{rate}Hz: no audio within 2 s"));
            continue;
        }
        tracing::info!(device = %name, rate, channels = config.channels, format = ?format, "capture started");
        let ended = watch_stream(&name, rate, &probe, stop);
        // Dropping the stream drops its delivery, which leaves any hole it still owed.
        drop(stream);
        return ended.map_err(|end| CaptureEnd {
            owed_since: owed.lock().ok().and_then(|o| *o),
            ..end
        });
    }
    Err(SourceError::NoFormat {
        device: name,
        detail: tried.join("; "),
    }
    .into())
}

/// Waits while the stream runs; ends it when it reports an error or runs away from its clock.
fn watch_stream(
    name: &str,
    rate: u32,
    probe: &StreamProbe,
    stop: &AtomicBool,
) -> Result<(), CaptureEnd> {
    while !stop.load(Ordering::Relaxed) {
        if probe.failed.load(Ordering::Relaxed) {
            let ahead = f64::from_bits(probe.ran_ahead.load(Ordering::Relaxed));
            let detail = if ahead > 0.0 {
                format!("delivers audio faster than real time ({ahead:.1} s ahead): its input stopped or its clock is broken")
            } else {
                "stream stopped with an error".to_string()
            };
            // A stream that ran ahead from the start never was live: a retry of a broken
            // device, not a new loss, so the backoff grows instead of starting over.
            let delivered = probe.produced.load(Ordering::Relaxed) >= u64::from(rate);
            return Err(CaptureEnd {
                error: SourceError::Device {
                    device: name.to_string(),
                    detail,
                },
                delivered,
                owed_since: None,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Drop for LossyDelivery {
    fn drop(&mut self) {
        if let (Some(slot), Some(since)) = (&self.owed_to, self.owed_since(Instant::now())) {
            if let Ok(mut owed) = slot.lock() {
                *owed = Some(since);
            }
        }
    }
}

/// Hands device audio downstream without ever blocking the device's callback. Audio that
/// finds more than the queue limit waiting is dropped and counted, and the pipeline hears of
/// the hole as a gap before the next audio that fits, so its clock stays on wall time.
#[derive(Debug)]
pub struct LossyDelivery {
    tx: Sender<SourceEvent>,
    rate: u32,
    stats: Arc<SourceStats>,
    limit: u64,
    lost: u64,
    hole_since: Option<Instant>,
    owed_to: Option<Arc<std::sync::Mutex<Option<Instant>>>>,
}

impl LossyDelivery {
    /// Delivers audio at `rate` with at most `queue_s` seconds waiting; `hole_since` is when
    /// the audio stopped, if this delivery resumes after a loss.
    pub fn new(
        tx: Sender<SourceEvent>,
        rate: u32,
        stats: Arc<SourceStats>,
        queue_s: f64,
        hole_since: Option<Instant>,
    ) -> Self {
        let limit = (queue_s.max(0.0) * f64::from(rate)).max(f64::from(rate) * 0.1) as u64;
        Self {
            tx,
            rate: rate.max(1),
            stats,
            limit,
            lost: 0,
            hole_since,
            owed_to: None,
        }
    }

    /// When this delivery ends (its stream dropped) with a hole not yet reported, where that
    /// hole began is left in `slot`, so the next stream's delivery reports it whole.
    pub fn leaving_owed_hole_in(mut self, slot: Arc<std::sync::Mutex<Option<Instant>>>) -> Self {
        self.owed_to = Some(slot);
        self
    }

    /// Where the hole not yet reported began, if there is one.
    fn owed_since(&self, now: Instant) -> Option<Instant> {
        let dropped = Duration::from_secs_f64(self.lost as f64 / f64::from(self.rate));
        self.hole_since
            .or_else(|| (self.lost > 0).then(|| now.checked_sub(dropped).unwrap_or(now)))
    }

    /// Sends one chunk, or drops it (and remembers the hole) if the queue is over its limit.
    pub fn deliver(&mut self, mono: Vec<f32>) {
        let n = mono.len() as u64;
        if !self.report_hole() || self.stats.queued.load(Ordering::Relaxed) + n > self.limit {
            return self.drop_audio(n);
        }
        let chunk = AudioChunk {
            samples: mono,
            rate: self.rate,
        };
        match self.tx.try_send(SourceEvent::Audio(chunk)) {
            Ok(()) => {
                self.stats.samples.fetch_add(n, Ordering::Relaxed);
                self.stats.queued.fetch_add(n, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.drop_audio(n),
        }
    }

    /// Sends the gap owed, if any; false if the queue had no room for it either.
    fn report_hole(&mut self) -> bool {
        let waited = self.hole_since.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let seconds = waited + self.lost as f64 / f64::from(self.rate);
        if seconds <= 0.0 {
            return true;
        }
        match self.tx.try_send(SourceEvent::Gap(seconds)) {
            Ok(()) => {
                self.lost = 0;
                self.hole_since = None;
                true
            }
            Err(_) => false,
        }
    }

    fn drop_audio(&mut self, n: u64) {
        // While a hole is timed by the clock, dropped audio is already inside it.
        if self.hole_since.is_none() {
            self.lost += n;
        }
        self.stats.dropped_samples.fetch_add(n, Ordering::Relaxed);
    }
}

fn pick_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, SourceError> {
    use cpal::traits::{DeviceTrait, HostTrait};
    if wanted.is_empty() {
        return host
            .default_input_device()
            .ok_or_else(|| SourceError::NoDevice {
                wanted: "(default)".into(),
                seen: String::new(),
            });
    }
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| SourceError::Device {
            device: wanted.into(),
            detail: e.to_string(),
        })?
        .collect();
    let names: Vec<String> = devices
        .iter()
        .map(|d| d.name().unwrap_or_default())
        .collect();
    if let Some(i) = names.iter().position(|n| n == wanted) {
        let mut devices = devices;
        return Ok(devices.swap_remove(i));
    }
    let matches: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].contains(wanted))
        .collect();
    match matches.as_slice() {
        &[i] => {
            let mut devices = devices;
            Ok(devices.swap_remove(i))
        }
        [] => Err(SourceError::NoDevice {
            wanted: wanted.into(),
            seen: names.join(", "),
        }),
        many => Err(SourceError::Ambiguous {
            wanted: wanted.into(),
            matches: many
                .iter()
                .map(|&i| names[i].as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Native I16/F32 configurations to try, the device's default first, then common rates.
fn candidate_configs(
    device: &cpal::Device,
    name: &str,
) -> Result<Vec<(cpal::StreamConfig, cpal::SampleFormat)>, SourceError> {
    use cpal::traits::DeviceTrait;
    use cpal::SampleFormat;
    let usable = |f: SampleFormat| matches!(f, SampleFormat::I16 | SampleFormat::F32);
    let mut out: Vec<(cpal::StreamConfig, SampleFormat)> = Vec::new();
    if let Ok(def) = device.default_input_config() {
        if usable(def.sample_format()) {
            out.push((def.config(), def.sample_format()));
        }
    }
    let ranges = device
        .supported_input_configs()
        .map_err(|e| SourceError::Device {
            device: name.into(),
            detail: e.to_string(),
        })?;
    for range in ranges.filter(|r| usable(r.sample_format())) {
        for rate in [22_050u32, 44_100, 48_000, 16_000, 32_000] {
            if (range.min_sample_rate().0..=range.max_sample_rate().0).contains(&rate) {
                let channels = range.channels();
                let cfg = cpal::StreamConfig {
                    channels,
                    sample_rate: cpal::SampleRate(rate),
                    buffer_size: cpal::BufferSize::Default,
                };
                if !out
                    .iter()
                    .any(|(c, f)| c == &cfg && *f == range.sample_format())
                {
                    out.push((cfg, range.sample_format()));
                }
            }
        }
    }
    // Fewer channels first: less to mix down, and mono is what the model wants.
    let first = 1.min(out.len());
    out[first..].sort_by_key(|(c, f)| (c.channels, *f != SampleFormat::I16));
    Ok(out)
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    mut delivery: LossyDelivery,
    probe: &Arc<StreamProbe>,
) -> Result<cpal::Stream, cpal::BuildStreamError> {
    use cpal::traits::DeviceTrait;
    let channels = usize::from(config.channels.max(1));
    let on_error = {
        let probe = probe.clone();
        move |e: cpal::StreamError| {
            tracing::warn!(error = %e, "capture stream error");
            probe.failed.store(true, Ordering::Relaxed);
        }
    };
    let probe = probe.clone();
    let mut pace = PaceCheck::new(config.sample_rate.0);
    // The callback must never block: `LossyDelivery` drops and counts instead.
    let mut deliver = move |mono: Vec<f32>| {
        if probe.failed.load(Ordering::Relaxed) {
            return;
        }
        if let Some(ahead) = pace.arrived(mono.len(), Instant::now()) {
            probe.ran_ahead.store(ahead.to_bits(), Ordering::Relaxed);
            probe.failed.store(true, Ordering::Relaxed);
            return;
        }
        probe
            .produced
            .fetch_add(mono.len() as u64, Ordering::Relaxed);
        delivery.deliver(mono);
    };
    match format {
        cpal::SampleFormat::I16 => device.build_input_stream(
            config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| {
                deliver(mix_down(data, channels, |s| f32::from(s) / 32768.0));
            },
            on_error,
            None,
        ),
        _ => device.build_input_stream(
            config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                deliver(mix_down(data, channels, finite_sample));
            },
            on_error,
            None,
        ),
    }
}

/// Averages interleaved channels into mono.
fn mix_down<T: Copy>(data: &[T], channels: usize, to_f32: impl Fn(T) -> f32) -> Vec<f32> {
    data.chunks_exact(channels)
        .map(|frame| frame.iter().map(|&s| to_f32(s)).sum::<f32>() / channels as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(
        capacity: usize,
        queue_s: f64,
        hole: Option<Instant>,
    ) -> (
        LossyDelivery,
        crossbeam_channel::Receiver<SourceEvent>,
        Arc<SourceStats>,
    ) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let stats = Arc::new(SourceStats::default());
        (
            LossyDelivery::new(tx, 1000, stats.clone(), queue_s, hole),
            rx,
            stats,
        )
    }

    fn take(rx: &crossbeam_channel::Receiver<SourceEvent>, stats: &SourceStats) -> SourceEvent {
        let e = rx.try_recv().expect("an event is waiting");
        stats.taken(&e);
        e
    }

    #[test]
    fn a_repeating_file_with_no_audio_is_an_error_not_a_spin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.wav");
        // A valid 22.05 kHz mono 16-bit WAV whose data chunk is empty.
        let mut wav = b"RIFF".to_vec();
        wav.extend(36u32.to_le_bytes());
        wav.extend(b"WAVEfmt ");
        wav.extend(16u32.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(22_050u32.to_le_bytes());
        wav.extend(44_100u32.to_le_bytes());
        wav.extend(2u16.to_le_bytes());
        wav.extend(16u16.to_le_bytes());
        wav.extend(b"data");
        wav.extend(0u32.to_le_bytes());
        std::fs::write(&file, wav).unwrap();
        let settings = SourceSettings {
            file,
            repeat: true,
            realtime: false,
            ..SourceSettings::default()
        };
        let (tx, rx) = crossbeam_channel::bounded(16);
        let stats = Arc::new(SourceStats::default());
        let done = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            run_file(&settings, &tx, &stop, &stats).map_err(|e| e.to_string())
        });
        // Refused when opened (so never reopened in a loop), naming the file.
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());
        let ended = done.join().unwrap();
        assert!(
            ended
                .as_ref()
                .is_err_and(|e| e.contains("empty.wav") && e.contains("no audio")),
            "{ended:?}"
        );
    }

    #[test]
    fn a_delivery_that_ends_owing_a_hole_leaves_where_it_began() {
        // A full queue drops half a second at 1 kHz, and then the device is lost.
        let (d, rx, stats) = delivery(1, 10.0, None);
        let slot = Arc::new(std::sync::Mutex::new(None));
        let mut d = d.leaving_owed_hole_in(slot.clone());
        d.deliver(vec![0.1; 100]);
        d.deliver(vec![0.1; 500]);
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 500);
        let dropped_at = Instant::now();
        drop(d);
        let since = slot
            .lock()
            .unwrap()
            .expect("the hole is left for the next stream");
        let owed = dropped_at.saturating_duration_since(since).as_secs_f64();
        assert!(
            (0.45..0.6).contains(&owed),
            "hole began {owed} s before the end"
        );
        // Nothing owed, nothing left.
        let (d, _rx2, _) = delivery(4, 10.0, None);
        let clean = Arc::new(std::sync::Mutex::new(None));
        drop(d.leaving_owed_hole_in(clean.clone()));
        assert_eq!(*clean.lock().unwrap(), None);
        drop(rx);
    }

    #[test]
    fn pace_check_allows_a_live_clock_and_trips_on_a_stream_that_runs_ahead() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        // Live: 100 ms buffers at 1 kHz, one per 100 ms, with a whole buffer's burst at start
        // and a clock 0.5 % fast, over ten minutes.
        let mut live = PaceCheck::new(1000);
        assert_eq!(live.arrived(100, at(0.0)), None);
        for i in 1..6000 {
            assert_eq!(
                live.arrived(100, at(f64::from(i) * 0.1 / 1.005)),
                None,
                "buffer {i}"
            );
        }
        // Runaway: an input that ended, repeating buffers as fast as it can.
        let mut runaway = PaceCheck::new(1000);
        let tripped = (0..100).find_map(|i| runaway.arrived(100, at(f64::from(i) * 0.001)));
        let ahead = tripped.expect("a stream 100x real time trips the check");
        assert!((0.5..0.7).contains(&ahead), "tripped at {ahead} s ahead");
    }

    #[test]
    fn audio_dropped_on_a_full_queue_reaches_the_pipeline_as_a_gap_of_its_length() {
        let (mut d, rx, stats) = delivery(2, 10.0, None);
        d.deliver(vec![0.1; 500]);
        d.deliver(vec![0.2; 250]);
        d.deliver(vec![0.3; 250]); // both slots are taken: dropped
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 250);
        assert!(matches!(take(&rx, &stats), SourceEvent::Audio(c) if c.samples[0] == 0.1));
        assert!(matches!(take(&rx, &stats), SourceEvent::Audio(c) if c.samples[0] == 0.2));
        d.deliver(vec![0.4; 100]);
        // The hole comes first, then the audio after it: the pipeline's clock skips 0.25 s.
        assert_eq!(take(&rx, &stats), SourceEvent::Gap(0.25));
        assert!(matches!(take(&rx, &stats), SourceEvent::Audio(c) if c.samples[0] == 0.4));
        d.deliver(vec![0.5; 100]);
        assert!(
            matches!(take(&rx, &stats), SourceEvent::Audio(c) if c.samples[0] == 0.5),
            "the gap is reported once"
        );
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 250);
    }

    #[test]
    fn audio_beyond_the_queue_limit_is_dropped_even_when_the_channel_has_room() {
        let (mut d, rx, stats) = delivery(64, 1.0, None);
        d.deliver(vec![0.0; 800]);
        d.deliver(vec![0.0; 800]); // 1.6 s would wait: over the 1 s limit
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 800);
        take(&rx, &stats);
        d.deliver(vec![0.0; 800]);
        assert_eq!(take(&rx, &stats), SourceEvent::Gap(0.8));
        assert!(matches!(take(&rx, &stats), SourceEvent::Audio(_)));
    }

    #[test]
    fn a_device_that_comes_back_first_reports_how_long_it_was_away() {
        let lost_at = Instant::now() - Duration::from_secs(3);
        let (mut d, rx, stats) = delivery(8, 10.0, Some(lost_at));
        d.deliver(vec![0.0; 10]);
        match take(&rx, &stats) {
            SourceEvent::Gap(s) => assert!((3.0..4.0).contains(&s), "gap of {s} s"),
            other => panic!("expected a gap first, got {other:?}"),
        }
        assert!(matches!(take(&rx, &stats), SourceEvent::Audio(_)));
        d.deliver(vec![0.0; 10]);
        assert!(
            matches!(take(&rx, &stats), SourceEvent::Audio(_)),
            "the gap is reported once"
        );
    }
}

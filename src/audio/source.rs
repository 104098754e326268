//! Live audio sources for the daemon: an ALSA capture device (cpal), an audio file paced in
//! real time or read as fast as possible, and raw PCM on stdin. Each runs on its own thread
//! and sends mono f32 chunks at the source's own rate; the daemon resamples.

use crate::audio::{finite_sample, FileDecoder};
use crate::config::{RawFormat, SourceKind, SourceSettings};
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

/// Runs the configured source on the calling thread until it ends or `stop` is set.
pub fn run_source(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
) -> Result<(), SourceError> {
    match settings.kind {
        SourceKind::File => run_file(settings, tx, stop, stats),
        SourceKind::Stdin => run_stdin(settings, std::io::stdin().lock(), tx, stop, stats),
        SourceKind::Alsa => run_device(settings, tx, stop, stats),
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
        if !settings.repeat || stop.load(Ordering::Relaxed) {
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
fn run_device(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
) -> Result<(), SourceError> {
    let mut backoff = Duration::from_millis(500);
    let max_backoff = Duration::from_secs_f64(settings.retry_max_s);
    let mut lost_since: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match capture_once(settings, tx, stop, stats) {
            Ok(()) => return Ok(()),
            Err(e) => {
                stats.restarts.fetch_add(1, Ordering::Relaxed);
                lost_since.get_or_insert_with(Instant::now);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "capture device unavailable; retrying");
            }
        }
        let deadline = Instant::now() + backoff;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(max_backoff);
        if let Some(since) = lost_since {
            // Tell the pipeline how long the gap is so far, so a track does not span it.
            let _ = tx.try_send(SourceEvent::Gap(since.elapsed().as_secs_f64()));
            lost_since = Some(Instant::now());
        }
    }
    Ok(())
}

/// Opens the device once and captures until the stream fails (Err) or `stop` is set (Ok).
fn capture_once(
    settings: &SourceSettings,
    tx: &Sender<SourceEvent>,
    stop: &AtomicBool,
    stats: &Arc<SourceStats>,
) -> Result<(), SourceError> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let host = cpal::default_host();
    let device = pick_device(&host, &settings.device)?;
    let name = device.name().unwrap_or_else(|_| "?".into());
    let candidates = candidate_configs(&device, &name)?;
    let mut tried = Vec::new();
    for (config, format) in candidates {
        let failed = Arc::new(AtomicBool::new(false));
        let got_audio = Arc::new(AtomicBool::new(false));
        let stream = build_stream(&device, &config, format, tx, stats, &failed, &got_audio);
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tried.push(format!(
                    "{format:?}@{}Hz×{}: {e}",
                    config.sample_rate.0, config.channels
                ));
                continue;
            }
        };
        if let Err(e) = stream.play() {
            tried.push(format!("{format:?}@{}Hz: {e}", config.sample_rate.0));
            continue;
        }
        // Advertised ranges are not promises: keep this format only if audio really arrives.
        let probe_end = Instant::now() + Duration::from_secs(2);
        while !got_audio.load(Ordering::Relaxed)
            && !failed.load(Ordering::Relaxed)
            && Instant::now() < probe_end
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !got_audio.load(Ordering::Relaxed) {
            tried.push(format!(
                "{format:?}@{}Hz: no audio within 2 s",
                config.sample_rate.0
            ));
            continue;
        }
        tracing::info!(device = %name, rate = config.sample_rate.0, channels = config.channels, format = ?format, "capture started");
        while !stop.load(Ordering::Relaxed) {
            if failed.load(Ordering::Relaxed) {
                return Err(SourceError::Device {
                    device: name,
                    detail: "stream stopped with an error".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        return Ok(());
    }
    Err(SourceError::NoFormat {
        device: name,
        detail: tried.join("; "),
    })
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
    tx: &Sender<SourceEvent>,
    stats: &Arc<SourceStats>,
    failed: &Arc<AtomicBool>,
    got_audio: &Arc<AtomicBool>,
) -> Result<cpal::Stream, cpal::BuildStreamError> {
    use cpal::traits::DeviceTrait;
    let channels = usize::from(config.channels.max(1));
    let rate = config.sample_rate.0;
    let err_flag = failed.clone();
    let on_error = move |e: cpal::StreamError| {
        tracing::warn!(error = %e, "capture stream error");
        err_flag.store(true, Ordering::Relaxed);
    };
    // The callback must never block: a full pipeline means the chunk is dropped and counted.
    let deliver = {
        let tx = tx.clone();
        let got = got_audio.clone();
        let stats = stats.clone();
        move |mono: Vec<f32>| {
            got.store(true, Ordering::Relaxed);
            let n = mono.len() as u64;
            match tx.try_send(SourceEvent::Audio(AudioChunk {
                samples: mono,
                rate,
            })) {
                Ok(()) => {
                    stats.samples.fetch_add(n, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    stats.dropped_samples.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
    };
    match format {
        cpal::SampleFormat::I16 => {
            let deliver = deliver;
            device.build_input_stream(
                config,
                move |data: &[i16], _: &cpal::InputCallbackInfo| {
                    deliver(mix_down(data, channels, |s| f32::from(s) / 32768.0));
                },
                on_error,
                None,
            )
        }
        _ => {
            let deliver = deliver;
            device.build_input_stream(
                config,
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    deliver(mix_down(data, channels, finite_sample));
                },
                on_error,
                None,
            )
        }
    }
}

/// Averages interleaved channels into mono.
fn mix_down<T: Copy>(data: &[T], channels: usize, to_f32: impl Fn(T) -> f32) -> Vec<f32> {
    data.chunks_exact(channels)
        .map(|frame| frame.iter().map(|&s| to_f32(s)).sum::<f32>() / channels as f32)
        .collect()
}

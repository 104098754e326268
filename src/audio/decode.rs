//! File decoding with symphonia (OGG Vorbis, MP3, FLAC, WAV) to mono f32.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{
    CodecType, Decoder, DecoderOptions, CODEC_TYPE_FLAC, CODEC_TYPE_MP1, CODEC_TYPE_MP2,
    CODEC_TYPE_MP3, CODEC_TYPE_NULL,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use tracing::{debug, warn};

/// Consecutive undecodable packets tolerated (lossy streams often carry a few) before giving up.
const MAX_CONSECUTIVE_BAD_PACKETS: usize = 16;

/// Frames a lossy stream may fall short of its stated length (encoder padding, last-packet
/// rounding) before it counts as truncated.
const LOSSY_SHORTFALL_FRAMES: u64 = 4096;

/// Most frames `decode_file` reserves up front from the header's stated length (~6 min at 44.1 kHz).
const MAX_PREALLOC_FRAMES: u64 = 1 << 24;

/// Highest sample rate accepted from a header: the fastest rate common converters offer.
/// Beyond it the number is damage, and the resampler would be asked for an absurd ratio.
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Chunks walked looking for a WAV file's `fmt ` and `data` chunks before giving up the
/// check (and leaving the verdict to the demuxer).
const MAX_WAV_CHUNKS: usize = 1024;

/// Why an audio file could not be decoded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("{}: cannot read audio file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The file is not audio in a format and codec hark can decode.
    #[error("{}: unsupported audio: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is missing or not supported.
        reason: String,
    },
    /// The file's audio data is corrupt.
    #[error("{}: corrupt audio data: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the demuxer or decoder reported.
        reason: String,
    },
    /// The file ends before the audio its header promises.
    #[error("{}: file is truncated: expected {expected}, got {got}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the container promised (frames or bytes).
        expected: String,
        /// What was actually there.
        got: String,
    },
    /// The file decoded to no audio at all.
    #[error("{}: file contains no audio frames", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// A whole file decoded to mono f32 at its native sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Mono samples (average of the channels), nominally in [-1, 1].
    pub samples: Vec<f32>,
    /// Sample rate of `samples` in Hz.
    pub sample_rate: u32,
}

/// Streaming decoder for one audio file, yielding mono f32 blocks packet by packet.
pub struct FileDecoder {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate: u32,
    /// Frame count the container states, if it states one.
    expected_frames: Option<u64>,
    /// Lossless codecs must deliver exactly `expected_frames`.
    exact_length: bool,
    decoded_frames: u64,
    consecutive_bad: usize,
    /// Undecodable packets skipped in the whole file.
    skipped_packets: usize,
    interleaved: Option<SampleBuffer<f32>>,
    finished: bool,
}

impl std::fmt::Debug for FileDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDecoder")
            .field("path", &self.path)
            .field("sample_rate", &self.sample_rate)
            .field("expected_frames", &self.expected_frames)
            .field("decoded_frames", &self.decoded_frames)
            .finish_non_exhaustive()
    }
}

impl FileDecoder {
    /// Opens and probes `path`, choosing its first decodable audio track.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| AudioError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_err)?;
        if file.metadata().map_err(io_err)?.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not an audio file",
            )));
        }
        // Ogg first: symphonia's Ogg probe itself may hit the cut and report only "EOF".
        check_tail(&path, None)?;
        // symphonia's WAV reader divides by the header's block size and builds a time base
        // from its sample rate: zeros there panic instead of failing, so refuse them first.
        check_wav_header(&path)?;

        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let format_opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &format_opts, &MetadataOptions::default())
            .map_err(|e| probe_error(&path, e))?;
        let format = probed.format;

        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Unsupported {
                path: path.clone(),
                reason: "no audio track".into(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let sample_rate = params
            .sample_rate
            .ok_or_else(|| "sample rate not stated".to_string())
            .and_then(usable_sample_rate)
            .map_err(|reason| AudioError::Unsupported {
                path: path.clone(),
                reason,
            })?;
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| sym_error(&path, e, "creating the decoder"))?;
        check_tail(&path, Some(params.codec))?;
        // PCM and FLAC state their exact length; lossy codecs round to packets and padding.
        let exact_length = params.codec == CODEC_TYPE_FLAC
            || symphonia::default::get_codecs()
                .get_codec(params.codec)
                .is_some_and(|d| d.short_name.starts_with("pcm"));
        debug!(
            path = %path.display(),
            codec = ?params.codec,
            sample_rate,
            channels = params.channels.map(|c| c.count()),
            n_frames = params.n_frames,
            "opened audio file"
        );
        Ok(Self {
            path,
            format,
            decoder,
            track_id,
            sample_rate,
            expected_frames: params.n_frames,
            exact_length,
            decoded_frames: 0,
            consecutive_bad: 0,
            skipped_packets: 0,
            interleaved: None,
            finished: false,
        })
    }

    /// The file's sample rate in Hz (blocks are at this rate).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The file being decoded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames the container says the file holds, if it says.
    pub fn expected_frames(&self) -> Option<u64> {
        self.expected_frames
    }

    /// Decodes the next packet to a mono block; `Ok(None)` at a complete end of stream.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        while !self.finished {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.finished = true;
                    self.check_complete()?;
                    return Ok(None);
                }
                Err(SymError::ResetRequired) => {
                    return Err(AudioError::Unsupported {
                        path: self.path.clone(),
                        reason: "the stream changes its tracks mid-file (chained stream)".into(),
                    })
                }
                Err(e) => return Err(sym_error(&self.path, e, "reading a packet")),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            if packet.buf().is_empty() {
                // The RIFF reader hands out empty packets when the data chunk runs past EOF.
                self.finished = true;
                return Err(self.truncated_error());
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(reason)) => {
                    self.consecutive_bad += 1;
                    self.skipped_packets += 1;
                    warn!(
                        path = %self.path.display(),
                        ts = packet.ts(),
                        reason,
                        "skipping undecodable packet"
                    );
                    if self.consecutive_bad > MAX_CONSECUTIVE_BAD_PACKETS {
                        return Err(AudioError::Corrupt {
                            path: self.path.clone(),
                            reason: format!(
                                "{} consecutive undecodable packets, last: {reason}",
                                self.consecutive_bad
                            ),
                        });
                    }
                    continue;
                }
                Err(e) => return Err(sym_error(&self.path, e, "decoding a packet")),
            };
            self.consecutive_bad = 0;
            let spec = *decoded.spec();
            if spec.rate != self.sample_rate {
                return Err(AudioError::Unsupported {
                    path: self.path.clone(),
                    reason: format!(
                        "sample rate changes mid-stream from {} Hz to {} Hz",
                        self.sample_rate, spec.rate
                    ),
                });
            }
            if decoded.frames() == 0 {
                continue;
            }
            let channels = spec.channels.count();
            if channels == 0 {
                return Err(AudioError::Unsupported {
                    path: self.path.clone(),
                    reason: "decoded audio has no channels".into(),
                });
            }
            let mono = if let AudioBufferRef::F32(planar) = &decoded {
                // Vorbis and MP3 decode to planar f32: mix the planes, no interleaved copy.
                mix_planes_to_mono(planar.planes().planes())
            } else {
                let needed = decoded.capacity() as u64;
                let buf = match &mut self.interleaved {
                    Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
                    slot => slot.insert(SampleBuffer::new(needed, spec)),
                };
                buf.copy_interleaved_ref(decoded);
                mix_to_mono(buf.samples(), channels)
            };
            self.decoded_frames += mono.len() as u64;
            return Ok(Some(mono));
        }
        Ok(None)
    }

    /// Fails if fewer frames decoded than the container promised.
    fn check_complete(&self) -> Result<(), AudioError> {
        if let Some(expected) = self.expected_frames {
            let slack = if self.exact_length {
                0
            } else {
                LOSSY_SHORTFALL_FRAMES
            };
            if self.decoded_frames + slack < expected {
                if self.skipped_packets > 0 {
                    return Err(AudioError::Corrupt {
                        path: self.path.clone(),
                        reason: format!(
                            "{} undecodable packets skipped; decoded {} of {expected} frames",
                            self.skipped_packets, self.decoded_frames
                        ),
                    });
                }
                return Err(self.truncated_error());
            }
        }
        if self.decoded_frames == 0 {
            return Err(AudioError::Empty {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn truncated_error(&self) -> AudioError {
        AudioError::Truncated {
            path: self.path.clone(),
            expected: match self.expected_frames {
                Some(n) => format!("{n} frames"),
                None => "a complete final packet".into(),
            },
            got: format!("{} frames", self.decoded_frames),
        }
    }
}

/// Decodes a whole file to mono f32 at its native rate.
pub fn decode_file(path: impl AsRef<Path>) -> Result<DecodedAudio, AudioError> {
    let mut decoder = FileDecoder::open(path)?;
    // The header's length is a hint only: a hostile one must not trigger a huge allocation.
    let hint = decoder
        .expected_frames()
        .unwrap_or(0)
        .min(MAX_PREALLOC_FRAMES);
    let mut samples = Vec::with_capacity(hint as usize);
    while let Some(block) = decoder.next_block()? {
        samples.extend_from_slice(&block);
    }
    Ok(DecodedAudio {
        samples,
        sample_rate: decoder.sample_rate(),
    })
}

/// Averages interleaved channels, with non-finite samples (float files can hold them) made
/// silent so they cannot poison the front-end.
fn mix_to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved
            .iter()
            .map(|&s| super::finite_sample(s))
            .collect();
    }
    let n = channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().map(|&s| super::finite_sample(s)).sum::<f32>() / n)
        .collect()
}

/// The mean of the channel planes, each sample made finite; the same sums, in the same
/// order, as [`mix_to_mono`] over the interleaved frames.
fn mix_planes_to_mono(planes: &[&[f32]]) -> Vec<f32> {
    let Some((first, rest)) = planes.split_first() else {
        return Vec::new();
    };
    let mut mono: Vec<f32> = first.iter().map(|&s| super::finite_sample(s)).collect();
    for plane in rest {
        for (m, &s) in mono.iter_mut().zip(plane.iter()) {
            *m += super::finite_sample(s);
        }
    }
    if !rest.is_empty() {
        let n = planes.len() as f32;
        for m in &mut mono {
            *m /= n;
        }
    }
    mono
}

/// Explains why probing failed: a cut header in a known container, or not audio we read.
fn probe_error(path: &Path, err: SymError) -> AudioError {
    let path_buf = path.to_path_buf();
    let eof = matches!(&err, SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof);
    if eof && known_magic(path) {
        return AudioError::Truncated {
            path: path_buf,
            expected: "a complete container header".into(),
            got: "end of file while reading it".into(),
        };
    }
    let detail = match err {
        SymError::IoError(source) if !eof => {
            return AudioError::Io {
                path: path_buf,
                source,
            }
        }
        _ if eof => "no format signature found".to_string(),
        other => other.to_string(),
    };
    AudioError::Unsupported {
        path: path_buf,
        reason: format!(
            "not a recognised audio file (hark reads OGG Vorbis, MP3, FLAC and WAV): {detail}"
        ),
    }
}

fn sym_error(path: &Path, err: SymError, doing: &str) -> AudioError {
    let path = path.to_path_buf();
    match err {
        SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => AudioError::Truncated {
            path,
            expected: format!("more data while {doing}"),
            got: "end of file".into(),
        },
        SymError::IoError(source) => AudioError::Io { path, source },
        SymError::Unsupported(what) => AudioError::Unsupported {
            path,
            reason: format!("{what} (while {doing})"),
        },
        other => AudioError::Corrupt {
            path,
            reason: format!("{other} (while {doing})"),
        },
    }
}

/// Finds a cut final unit in a file's tail: `Some((unit_len, bytes_present))`.
type CutFinder = fn(&[u8]) -> Option<(u64, u64)>;

/// Checks that a container without a stated length does not end mid-packet.
///
/// symphonia treats a page or frame cut short as a clean end of stream, so a truncated Ogg or
/// MP3 file would otherwise decode silently short. WAV and FLAC state their frame count and
/// are checked against it after decoding instead. Without a `codec` (before probing) only the
/// Ogg check runs; with one, only the MPEG check.
fn check_tail(path: &Path, codec: Option<CodecType>) -> Result<(), AudioError> {
    let io_err = |source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let len = file.seek(SeekFrom::End(0)).map_err(io_err)?;
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    if file.read_exact(&mut magic).is_err() {
        return Ok(());
    }
    let is_mpeg =
        codec.is_some_and(|c| [CODEC_TYPE_MP1, CODEC_TYPE_MP2, CODEC_TYPE_MP3].contains(&c));
    let (unit, max_unit, cut): (&str, u64, CutFinder) = if codec.is_none() && &magic == b"OggS" {
        ("Ogg page", MAX_OGG_PAGE, ogg_cut_page)
    } else if is_mpeg && &magic != b"RIFF" {
        ("MPEG audio frame", MPEG_TAIL_SCAN, mpeg_cut_frame)
    } else {
        return Ok(());
    };
    let start = len.saturating_sub(max_unit);
    file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut tail).map_err(io_err)?;
    match cut(&tail) {
        None => Ok(()),
        Some((unit_len, left)) => Err(AudioError::Truncated {
            path: path.to_path_buf(),
            expected: format!("a complete final {unit} of {unit_len} bytes"),
            got: format!("{left} bytes"),
        }),
    }
}

/// `rate` if a header's sample rate is one hark can decode and resample, else why not.
fn usable_sample_rate(rate: u32) -> Result<u32, String> {
    if (1..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "sample rate {rate} Hz is outside [1, {MAX_SAMPLE_RATE}] Hz"
        ))
    }
}

/// Reads as many bytes as `buf` holds or the file has left; returns how many.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Refuses a RIFF/WAVE header whose numbers symphonia would panic on: a `fmt ` chunk with
/// zero channels, sample rate or block size, a block size that does not hold one frame, an
/// ADPCM format (no decoder here, and its block arithmetic underflows), or audio data with
/// no `fmt ` chunk before it. Walks the chunks the way symphonia does; anything else odd is
/// left to symphonia, which reports it as an error.
fn check_wav_header(path: &Path) -> Result<(), AudioError> {
    let io_err = |source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |reason: String| {
        Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            reason: format!("WAV header: {reason}"),
        })
    };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut head = [0u8; 12];
    if read_up_to(&mut file, &mut head).map_err(io_err)? < head.len()
        || &head[0..4] != b"RIFF"
        || &head[8..12] != b"WAVE"
    {
        return Ok(());
    }
    let riff_len = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
    let mut consumed: u64 = 0;
    let mut fmt_ok = false;
    for _ in 0..MAX_WAV_CHUNKS {
        if consumed & 1 == 1 {
            file.seek(SeekFrom::Current(1)).map_err(io_err)?;
            consumed += 1;
        }
        if consumed + 8 > riff_len {
            return Ok(());
        }
        let mut chunk = [0u8; 8];
        if read_up_to(&mut file, &mut chunk).map_err(io_err)? < chunk.len() {
            return Ok(());
        }
        consumed += 8;
        let len = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        let streamed = riff_len == len && len == u64::from(u32::MAX);
        if riff_len - consumed < len && !streamed {
            return Ok(());
        }
        match &chunk[0..4] {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                if len < 16 || read_up_to(&mut file, &mut fmt).map_err(io_err)? < fmt.len() {
                    return Ok(());
                }
                if let Err(reason) = check_wav_fmt(&fmt) {
                    return refuse(reason);
                }
                fmt_ok = true;
                file.seek(SeekFrom::Current((len - 16) as i64))
                    .map_err(io_err)?;
            }
            b"data" => {
                if !fmt_ok {
                    return refuse("audio data before any fmt chunk".into());
                }
                return Ok(());
            }
            other => {
                // symphonia reads such a chunk whole into memory (LIST) before noticing the
                // file ended: a lying length is an allocation of up to 4 GiB.
                let end = file.stream_position().map_err(io_err)? + len;
                if end > file_len {
                    return refuse(format!(
                        "chunk {:?} of {len} bytes runs past the end of the file",
                        String::from_utf8_lossy(other)
                    ));
                }
                file.seek(SeekFrom::Current(len as i64)).map_err(io_err)?;
            }
        }
        // symphonia saturates its count here and then adds to it: past u32 it would overflow.
        consumed = (consumed + len).min(u64::from(u32::MAX));
        if consumed >= u64::from(u32::MAX) - 8 {
            return refuse("chunk lengths run past the RIFF length".into());
        }
    }
    Ok(())
}

/// The numbers of a `fmt ` chunk's first 16 bytes that symphonia divides by or builds frames
/// from: what is wrong with them, if anything.
fn check_wav_fmt(fmt: &[u8; 16]) -> Result<(), String> {
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let (format, channels, block_align, bits) = (u16_at(0), u16_at(2), u16_at(12), u16_at(14));
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    if channels == 0 {
        return Err("0 channels".into());
    }
    usable_sample_rate(rate)?;
    if block_align == 0 {
        return Err("block size (block_align) is 0".into());
    }
    // PCM, float and extensible frames hold one container sample per channel; A-law and
    // mu-law one byte per channel.
    let frame = match format {
        0x0001 | 0x0003 | 0xFFFE => u32::from(channels) * u32::from(bits).div_ceil(8),
        0x0006 | 0x0007 => u32::from(channels),
        0x0002 | 0x0011 => return Err("ADPCM is not supported".into()),
        _ => u32::from(block_align),
    };
    if u32::from(block_align) != frame {
        return Err(format!(
            "block size (block_align) {block_align} does not match {channels} channel(s) of \
             {bits} bits"
        ));
    }
    Ok(())
}

/// Whether the file starts with the signature of a container hark reads.
fn known_magic(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && [b"OggS", b"RIFF", b"fLaC", b"ID3\x03", b"ID3\x04"].contains(&&magic)
}

/// Largest Ogg page: 27-byte header, 255 lacing values, 255 × 255 bytes of body.
const MAX_OGG_PAGE: u64 = 27 + 255 + 255 * 255;

/// In the last `MAX_OGG_PAGE` bytes of an Ogg file, finds whether the final page is cut:
/// `Some((page_len, bytes_present))`, or `None` if a page ends exactly at EOF.
fn ogg_cut_page(tail: &[u8]) -> Option<(u64, u64)> {
    // A chance "OggS" inside a payload will not line up with EOF, so keep looking back;
    // report the cut page nearest the end.
    let mut nearest_cut: Option<(u64, u64)> = None;
    for pos in (0..tail.len().saturating_sub(3)).rev() {
        if &tail[pos..pos + 4] != b"OggS" {
            continue;
        }
        let left = (tail.len() - pos) as u64;
        match ogg_page_len(&tail[pos..]) {
            Some(page_len) if page_len == left => return None,
            Some(page_len) => {
                nearest_cut.get_or_insert((page_len, left));
            }
            None => {
                nearest_cut.get_or_insert((27, left));
            }
        }
    }
    Some(nearest_cut.unwrap_or((27, tail.len() as u64)))
}

/// Length of the Ogg page starting at `buf`, if its header and lacing table are present.
fn ogg_page_len(buf: &[u8]) -> Option<u64> {
    if buf.len() < 27 || buf[4] != 0 {
        return None;
    }
    let n_segments = buf[26] as usize;
    let table = buf.get(27..27 + n_segments)?;
    Some(27 + n_segments as u64 + table.iter().map(|&b| u64::from(b)).sum::<u64>())
}

/// Bytes at the end of an MP3 file searched for its frame chain (hundreds of frames).
const MPEG_TAIL_SCAN: u64 = 256 * 1024;

/// MPEG audio frame header fields that must stay constant along a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MpegHeader {
    version: u8,
    layer: u8,
    sample_rate: u32,
    frame_len: u64,
}

/// Parses the 4-byte MPEG audio frame header at the start of `b`.
fn mpeg_header(b: &[u8]) -> Option<MpegHeader> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b[1] >> 3) & 3; // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
    let layer = (b[1] >> 1) & 3; // 1: III, 2: II, 3: I
    let bitrate_idx = usize::from(b[2] >> 4);
    let rate_idx = usize::from((b[2] >> 2) & 3);
    let padding = u64::from((b[2] >> 1) & 1);
    if version == 1 || layer == 0 || bitrate_idx == 0 || bitrate_idx == 15 || rate_idx == 3 {
        return None;
    }
    const V1: [[u32; 15]; 3] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const V2: [[u32; 15]; 2] = [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let layer_row = usize::from(3 - layer); // 0: I, 1: II, 2: III
    let kbps = if version == 3 {
        V1[layer_row][bitrate_idx]
    } else {
        V2[layer_row.min(1)][bitrate_idx]
    };
    let base_rate = [44_100, 48_000, 32_000][rate_idx];
    let sample_rate = match version {
        3 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let bps = u64::from(kbps) * 1000;
    let sr = u64::from(sample_rate);
    let frame_len = match (layer, version) {
        (3, _) => (12 * bps / sr + padding) * 4,
        (1, 0 | 2) => 72 * bps / sr + padding,
        _ => 144 * bps / sr + padding,
    };
    Some(MpegHeader {
        version,
        layer,
        sample_rate,
        frame_len,
    })
}

/// Walks the MPEG frame chain through `tail` (the end of an MP3 file) and reports a final
/// frame that runs past EOF as `Some((frame_len, bytes_present))`.
///
/// The walk starts only where three frames chain consistently, so sync-like bytes inside
/// tags or audio data do not start it; trailing tags (ID3v1, APE) end it without complaint.
fn mpeg_cut_frame(tail: &[u8]) -> Option<(u64, u64)> {
    let len = tail.len() as u64;
    let same = |a: &MpegHeader, b: &MpegHeader| {
        (a.version, a.layer, a.sample_rate) == (b.version, b.layer, b.sample_rate)
    };
    let chained_from = |p: u64| -> Option<MpegHeader> {
        let h0 = mpeg_header(&tail[p as usize..])?;
        let mut q = p + h0.frame_len;
        for _ in 0..2 {
            if q >= len {
                return Some(h0);
            }
            let h = mpeg_header(&tail[q as usize..])?;
            if !same(&h0, &h) {
                return None;
            }
            q += h.frame_len;
        }
        Some(h0)
    };
    let (mut pos, first) = (0..len).find_map(|p| chained_from(p).map(|h| (p, h)))?;
    loop {
        if pos == len {
            return None;
        }
        let h = mpeg_header(&tail[pos as usize..]).filter(|h| same(&first, h))?;
        if pos + h.frame_len > len {
            return Some((h.frame_len, len - pos));
        }
        pos += h.frame_len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_planes_gives_the_interleaved_mix_bit_for_bit() {
        let left = [0.25f32, -0.5, f32::NAN, 1.5, 0.1];
        let right = [0.75f32, 0.3, 0.2, f32::NEG_INFINITY, -0.7];
        let centre = [0.0f32, 0.9, -0.4, 0.6, 0.33];
        for planes in [
            &[&left[..]][..],
            &[&left, &right],
            &[&left, &right, &centre],
        ] {
            let interleaved: Vec<f32> = (0..left.len())
                .flat_map(|i| planes.iter().map(move |p| p[i]))
                .collect();
            let want = mix_to_mono(&interleaved, planes.len());
            let got = mix_planes_to_mono(planes);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{} channels", planes.len());
        }
    }
}

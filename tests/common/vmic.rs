//! A virtual ALSA microphone that behaves like a device: the `file` plugin reads a FIFO that
//! a test thread writes at the audio's own pace, so capture is clocked by the writer. A
//! writer that finishes closes the FIFO, which is what a device unplugged looks like to the
//! daemon; a new writer is the device plugged back in.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sample rate the virtual microphone plays at.
pub const RATE: u32 = 44_100;
/// Channels the virtual microphone plays (interleaved).
pub const CHANNELS: u16 = 2;
/// Frames per write: exactly one capture read.
///
/// alsa-lib's `file` plugin (1.2.8) fills a whole read from the FIFO but does not check for
/// a short read, so a read that finds less than it asked for returns stale buffer contents
/// as audio. Over the `null` slave every read asks for the whole buffer, which cpal sets
/// to 100 ms; writing exactly that much at a time keeps every read full and the capture
/// clocked by the writer.
const CHUNK_FRAMES: usize = (RATE / 10) as usize;
/// Room in the FIFO, so that a chunk always fits whole while the reader is busy.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// An ALSA configuration (in its own HOME) naming the capture device `hark_vmic`.
pub struct VirtualMic {
    home: tempfile::TempDir,
    fifo: PathBuf,
}

impl VirtualMic {
    /// Makes the FIFO and the `.asoundrc` that turns it into the device `hark_vmic`.
    pub fn new() -> VirtualMic {
        let home = tempfile::tempdir().expect("home dir");
        let fifo = home.path().join("vmic.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", fifo.display());
        // `file` reads the FIFO as whatever format the client opened it with: `null` accepts
        // every format and cpal opens such a device at its default (F32, stereo, 44.1 kHz),
        // which is what `play` writes. A `plug` in front would convert, but alsa-lib's rate
        // converter loses half of what `file` reads, so there is none; the test checks the
        // daemon's logged format instead. The hint makes it a listed capture device.
        let asoundrc = format!(
            r#"pcm.hark_vmic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{}"
    format "raw"
    hint {{ show on description "hark virtual mic" }}
}}
"#,
            fifo.display()
        );
        std::fs::write(home.path().join(".asoundrc"), asoundrc).expect("write .asoundrc");
        VirtualMic { home, fifo }
    }

    /// The HOME whose `.asoundrc` defines the device.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Plays mono `audio` at `rate` ([-1, 1] floats; a divisor of [`RATE`], interpolated up
    /// to it, on both channels) into the microphone in real time on a thread, waiting up to
    /// `within` for the daemon to open the device; the FIFO closes when it is done.
    pub fn play(&self, audio: &[f32], rate: u32, within: Duration) -> Player {
        let samples = upsample(audio, rate);
        let fifo = self.fifo.clone();
        let opened = Arc::new(Mutex::new(None));
        let first_open = opened.clone();
        let thread = std::thread::spawn(move || {
            write_paced(&fifo, &samples, Instant::now() + within, &first_open)
        });
        Player { thread, opened }
    }
}

/// One writer of the microphone.
pub struct Player {
    thread: JoinHandle<usize>,
    opened: Arc<Mutex<Option<Instant>>>,
}

impl Player {
    /// When a reader (the daemon) first had the FIFO open with this writer.
    pub fn opened_at(&self) -> Option<Instant> {
        *self.opened.lock().unwrap()
    }

    /// Waits for the end of the audio; returns how many frames (at [`RATE`]) a reader took.
    pub fn finish(self) -> usize {
        self.thread.join().expect("the writer thread")
    }
}

/// Opens the FIFO for writing without blocking: fails while no reader has it open.
fn open_writer(fifo: &Path) -> Option<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .ok()?;
    // SAFETY: F_SETPIPE_SZ on a descriptor this function owns; failure only leaves 64 KiB.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
    Some(file)
}

/// Bytes written and not yet read.
fn unread(file: &std::fs::File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer given.
    let ok = unsafe { libc::ioctl(file.as_raw_fd(), libc::FIONREAD, &mut n) } == 0;
    if ok {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

fn write_paced(
    fifo: &Path,
    samples: &[f32],
    deadline: Instant,
    opened: &Mutex<Option<Instant>>,
) -> usize {
    let mut file: Option<std::fs::File> = None;
    let mut start: Option<Instant> = None;
    let mut pos = 0usize;
    while pos < samples.len() && Instant::now() < deadline {
        let Some(f) = file.as_mut() else {
            file = open_writer(fifo);
            if file.is_some() {
                opened.lock().unwrap().get_or_insert_with(Instant::now);
                // Paced afresh from every (re)open: the time a probing reader left it closed
                // must not come out as a burst, which the daemon would rightly take for a
                // device running ahead of its clock.
                start = Some(Instant::now() - secs(pos));
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        };
        let due = start.unwrap_or_else(Instant::now) + secs(pos);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let end = (pos + CHUNK_FRAMES).min(samples.len());
        let mut bytes: Vec<u8> = Vec::with_capacity(CHUNK_FRAMES * 4 * usize::from(CHANNELS));
        for i in pos..pos + CHUNK_FRAMES {
            // The last chunk is padded with silence: a short read would be stale audio.
            let x = samples.get(i).copied().unwrap_or(0.0);
            for _ in 0..CHANNELS {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        // A whole chunk or nothing: wait while the reader still has most of the FIFO.
        if unread(f) + bytes.len() > PIPE_BYTES as usize {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match f.write(&bytes) {
            Ok(n) if n == bytes.len() => pos = end,
            Ok(n) => panic!(
                "a write of {} bytes into a FIFO with room was split at {n}",
                bytes.len()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            // The reader closed it (device probing reopens it): wait for the next reader.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => file = None,
            Err(e) => panic!("writing {}: {e}", fifo.display()),
        }
    }
    pos
}

/// Linear interpolation from `rate` up to [`RATE`].
fn upsample(audio: &[f32], rate: u32) -> Vec<f32> {
    assert!(
        rate > 0 && RATE.is_multiple_of(rate),
        "{rate} Hz does not divide {RATE} Hz"
    );
    let factor = (RATE / rate) as usize;
    let mut out = Vec::with_capacity(audio.len() * factor);
    for (i, &x) in audio.iter().enumerate() {
        let next = audio.get(i + 1).copied().unwrap_or(x);
        for k in 0..factor {
            out.push(x + (next - x) * k as f32 / factor as f32);
        }
    }
    out
}

fn secs(samples: usize) -> Duration {
    Duration::from_secs_f64(samples as f64 / f64::from(RATE))
}

//! A virtual ALSA microphone that behaves like a device: the `file` plugin reads a FIFO that
//! a test thread writes at the audio's own pace, so capture is clocked by the writer. A
//! writer that finishes closes the FIFO, which is what a device unplugged looks like to the
//! daemon; a new writer is the device plugged back in.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sample rate of the virtual microphone (mono S16_LE).
pub const RATE: u32 = 22_050;
/// Samples per write: 2,000 bytes, under PIPE_BUF, so every write is all or nothing.
const CHUNK: usize = 1_000;

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
        // `file` reads the FIFO in whatever format its slave runs at, so the slave is pinned
        // to the recording's format; `plug` in front converts to whatever the daemon asks for,
        // as a sound card's default device does. The hint makes it a listed capture device.
        let asoundrc = format!(
            r#"pcm.hark_vmic_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{}"
    format "raw"
}}
pcm.hark_vmic {{
    type plug
    slave {{ pcm "hark_vmic_file" format S16_LE rate {RATE} channels 1 }}
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

    /// Plays `audio` ([-1, 1] floats) into the microphone in real time on a thread, waiting
    /// up to `within` for the daemon to open the device; the FIFO closes when it is done.
    pub fn play(&self, audio: &[f32], within: Duration) -> Player {
        let samples: Vec<i16> = audio
            .iter()
            .map(|x| (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
            .collect();
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

    /// Waits for the end of the audio; returns how many samples a reader took.
    pub fn finish(self) -> usize {
        self.thread.join().expect("the writer thread")
    }
}

/// Opens the FIFO for writing without blocking: fails while no reader has it open.
fn open_writer(fifo: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .ok()
}

fn write_paced(
    fifo: &Path,
    samples: &[i16],
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
                start.get_or_insert_with(|| Instant::now() - secs(pos));
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        };
        let due = start.unwrap_or_else(Instant::now) + secs(pos);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let end = (pos + CHUNK).min(samples.len());
        let bytes: Vec<u8> = samples[pos..end]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        match f.write(&bytes) {
            Ok(n) if n == bytes.len() => pos = end,
            Ok(_) => panic!("a write under PIPE_BUF was split"),
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

fn secs(samples: usize) -> Duration {
    Duration::from_secs_f64(samples as f64 / f64::from(RATE))
}

//! Window ring: collects frames and hands out model windows every `hop_frames` frames.

use super::FrontendError;

/// Frames at which model windows start in a signal of `frames` frames: 0, hop, 2·hop, …
/// while a whole window fits. This is where [`WindowRing`] emits windows (the daemon and
/// `hark tag`), and where hark-train takes its evaluation windows from the mel cache. A
/// signal shorter than one window has none; `hark tag` and hark-train then pad it with
/// silence to one window starting at 0.
pub fn window_starts(frames: usize, window_frames: usize, hop_frames: usize) -> Vec<usize> {
    if window_frames == 0 || hop_frames == 0 || frames < window_frames {
        return Vec::new();
    }
    (0..=frames - window_frames).step_by(hop_frames).collect()
}

/// Whether a window of `window_frames` ending after `seen` frames starts at one of
/// [`window_starts`]: the ring's emission rule, stated once.
fn ends_a_window(seen: u64, window_frames: u64, hop_frames: u64) -> bool {
    seen >= window_frames && (seen - window_frames).is_multiple_of(hop_frames)
}

/// Collects frames and yields a `[window_frames × n_mels]` time-major window (the model's
/// `[130, 128]` layout) once full and then every `hop_frames` frames.
///
/// Windows start at frames 0, hop, 2·hop, …; with a hop larger than the window the frames in
/// between are dropped.
#[derive(Debug, Clone)]
pub struct WindowRing {
    window_frames: usize,
    n_mels: usize,
    hop_frames: usize,
    /// Linear storage of 2·window frames; the newest frame ends at `end` (in frames).
    buf: Vec<f32>,
    end: usize,
    /// Frames pushed since construction or the last reset.
    seen: u64,
}

impl WindowRing {
    /// A ring for `window_frames` frames of `n_mels` values, emitting every `hop_frames`.
    pub fn new(
        window_frames: usize,
        n_mels: usize,
        hop_frames: usize,
    ) -> Result<Self, FrontendError> {
        let bad = |field: &'static str| FrontendError::InvalidParam {
            field,
            reason: "must be > 0".into(),
        };
        if window_frames == 0 {
            return Err(bad("window_frames"));
        }
        if n_mels == 0 {
            return Err(bad("n_mels"));
        }
        if hop_frames == 0 {
            return Err(bad("hop_frames"));
        }
        Ok(Self {
            window_frames,
            n_mels,
            hop_frames,
            buf: vec![0.0; 2 * window_frames * n_mels],
            end: 0,
            seen: 0,
        })
    }

    /// Frames per window.
    pub fn window_frames(&self) -> usize {
        self.window_frames
    }

    /// Frames between the starts of consecutive windows.
    pub fn hop_frames(&self) -> usize {
        self.hop_frames
    }

    /// Values per frame.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Adds one frame; returns the window ending with it when one is due.
    ///
    /// # Panics
    /// If `frame.len() != n_mels` (frames come from the front-end, never from users).
    pub fn push_frame(&mut self, frame: &[f32]) -> Option<&[f32]> {
        assert_eq!(
            frame.len(),
            self.n_mels,
            "WindowRing frame length must equal n_mels"
        );
        let capacity = self.buf.len() / self.n_mels;
        if self.end == capacity {
            // Keep the newest window − 1 frames at the front; amortised over window pushes.
            let keep = self.window_frames - 1;
            let from = (self.end - keep) * self.n_mels;
            self.buf.copy_within(from.., 0);
            self.end = keep;
        }
        let at = self.end * self.n_mels;
        self.buf[at..at + self.n_mels].copy_from_slice(frame);
        self.end += 1;
        self.seen += 1;

        if ends_a_window(self.seen, self.window_frames as u64, self.hop_frames as u64) {
            let start = (self.end - self.window_frames) * self.n_mels;
            Some(&self.buf[start..self.end * self.n_mels])
        } else {
            None
        }
    }

    /// Forgets all frames (e.g. at a track boundary); the next window starts afresh.
    pub fn reset(&mut self) {
        self.end = 0;
        self.seen = 0;
    }
}

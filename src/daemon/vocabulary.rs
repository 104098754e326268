//! The vocabulary in service: the slot the pipeline scores with, the file watcher, and the
//! reload that swaps a checked vocabulary in or reports why it was refused.

use super::messages::DiagnosticMessage;
use crate::model::Model;
use crate::vocab::glove::GloveStore;
use crate::vocab::{load_scorer, VocabularyScorer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The vocabulary the pipeline scores with. A swap is a store into this slot, never a
/// message that a full queue could drop: once `replace` returns, the next score uses it.
#[derive(Debug)]
pub struct VocabularySlot {
    current: Mutex<Arc<VocabularyScorer>>,
}

impl VocabularySlot {
    /// A slot holding `scorer`.
    pub fn new(scorer: VocabularyScorer) -> Self {
        Self {
            current: Mutex::new(Arc::new(scorer)),
        }
    }

    /// The vocabulary in service now.
    pub fn current(&self) -> Arc<VocabularyScorer> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts `scorer` in service and returns the one it replaced.
    pub fn replace(&self, scorer: VocabularyScorer) -> Arc<VocabularyScorer> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *current, Arc::new(scorer))
    }
}

/// The reason the file watcher gives: a reload for it is skipped when the file holds the
/// vocabulary the last reload already put in service (a web save, then its own rename's echo).
pub const FILE_CHANGED: &str = "file changed";

/// What a vocabulary reload needs: the loaded model and store, the file and the slot.
#[derive(Debug, Clone)]
pub struct Reloader {
    /// The model whose word branch embeds the tags.
    pub model: Arc<Model>,
    /// The GloVe store the words resolve in.
    pub glove: Arc<GloveStore>,
    /// The vocabulary file.
    pub path: PathBuf,
    /// Where the result goes into service.
    pub slot: Arc<VocabularySlot>,
    /// Held through each reload, so two (watcher, SIGHUP, web) never race to the slot; holds
    /// the identity the last reload put in service (None after a refusal).
    last_applied: Arc<Mutex<Option<String>>>,
}

impl Reloader {
    /// A reloader of `path` into `slot`.
    pub fn new(
        model: Arc<Model>,
        glove: Arc<GloveStore>,
        path: PathBuf,
        slot: Arc<VocabularySlot>,
    ) -> Self {
        Self {
            model,
            glove,
            path,
            slot,
            last_applied: Arc::new(Mutex::new(None)),
        }
    }

    /// Reads the file again: a good vocabulary goes into service before this returns; a bad
    /// one leaves the old in service. Either way the diagnostic says what really happened.
    /// For [`FILE_CHANGED`], `None` when the file is what the last reload put in service.
    pub fn reload(&self, why: &str) -> Option<DiagnosticMessage> {
        let mut last = self.last_applied.lock().unwrap_or_else(|e| e.into_inner());
        match load_scorer(&self.model, &self.glove, &self.path) {
            Ok(scorer) => {
                if why == FILE_CHANGED && last.as_deref() == Some(scorer.identity.as_str()) {
                    tracing::debug!(vocabulary = %scorer.identity, "vocabulary file unchanged since its last reload");
                    return None;
                }
                let message = DiagnosticMessage::applied(&scorer);
                *last = Some(scorer.identity.clone());
                self.slot.replace(scorer);
                tracing::info!(reason = why, tags = message.tags, vocabulary = %message.vocabulary, "vocabulary reloaded");
                Some(message)
            }
            Err(e) => {
                *last = None;
                let errors: Vec<String> = e.to_string().lines().map(str::to_string).collect();
                for line in &errors {
                    tracing::error!(reason = why, error = %line, "vocabulary edit rejected; the previous vocabulary stays in service");
                }
                let in_service = self.slot.current().identity.clone();
                Some(DiagnosticMessage::rejected(&self.path, errors, in_service))
            }
        }
    }
}

/// Calls `changed` once per burst of events on `path` (an editor's save is several), 250 ms
/// after the burst's last event. Watches the directory: editors replace files by renaming.
pub fn watch(
    path: &Path,
    changed: impl Fn() + Send + Sync + 'static,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(|n| n.to_os_string());
    let debounce = Arc::new(Debounce::new(Duration::from_millis(250), changed));
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        let ours = event
            .paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
        if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
            Debounce::poke(&debounce);
        }
    };
    let watcher = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the vocabulary; SIGHUP still reloads");
            None
        }
    }
}

/// Runs an action once after a quiet spell following any number of pokes. The pending flag
/// is cleared before the action runs, so an edit arriving during it schedules another run:
/// no edit can fall between a read and the end of the quiet window and be lost.
struct Debounce<F> {
    quiet: Duration,
    action: F,
    state: Mutex<(Instant, bool)>,
}

impl<F: Fn() + Send + Sync + 'static> Debounce<F> {
    fn new(quiet: Duration, action: F) -> Self {
        Self {
            quiet,
            action,
            state: Mutex::new((Instant::now(), false)),
        }
    }

    fn poke(this: &Arc<Self>) {
        let mut state = this.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = Instant::now();
        if std::mem::replace(&mut state.1, true) {
            return;
        }
        let this = Arc::clone(this);
        std::thread::spawn(move || loop {
            std::thread::sleep(this.quiet);
            let mut state = this.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.0.elapsed() >= this.quiet {
                state.1 = false;
                drop(state);
                (this.action)();
                return;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_burst_of_pokes_runs_the_action_once_and_a_later_poke_runs_it_again() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let d = Arc::new(Debounce::new(Duration::from_millis(30), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        for _ in 0..5 {
            Debounce::poke(&d);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while runs.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run per burst");
        Debounce::poke(&d);
        while runs.load(Ordering::SeqCst) == 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a later edit is not lost");
    }
}

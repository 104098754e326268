//! `hark run` as a child process for integration tests: a generated config file, raw PCM
//! fed on stdin, track lines (stdout) and the log (stderr) collected by reader threads,
//! signals by pid. Every wait is bounded; dropping a `Daemon` kills the process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const HARK: &str = env!("CARGO_BIN_EXE_hark");

/// Poll interval of every wait here.
const POLL: Duration = Duration::from_millis(20);

/// A daemon configuration built key by key (`"source.kind"`), rendered as TOML.
#[derive(Debug, Clone, Default)]
pub struct Config {
    tables: BTreeMap<String, toml::Table>,
}

impl Config {
    /// An empty configuration: every key at the daemon's default.
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets `table.key` (one level of table, as in hark.toml; `mqtt.tls` is not needed here).
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Config {
        let (table, name) = key.split_once('.').expect("key is table.name");
        self.tables
            .entry(table.to_string())
            .or_default()
            .insert(name.to_string(), value.into());
        self
    }

    /// Sets a path-valued key.
    pub fn path(self, key: &str, value: &Path) -> Config {
        let text = value.to_str().expect("test paths are UTF-8").to_string();
        self.set(key, text)
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut root = toml::Table::new();
        for (name, table) in &self.tables {
            root.insert(name.clone(), toml::Value::Table(table.clone()));
        }
        toml::to_string(&root).expect("config renders as TOML")
    }
}

/// A running (or finished) `hark run`.
pub struct Daemon {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    config_path: PathBuf,
    _dir: TempDir,
}

fn reader(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    })
}

impl Daemon {
    /// Starts `hark run --config FILE` with stdin, stdout and stderr piped, the log at `info`
    /// (tests read it) and no `HARK_…` or systemd variables leaking in from the environment.
    pub fn start(config: &Config, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("config dir");
        let config_path = dir.path().join("hark.toml");
        std::fs::write(&config_path, config.render()).expect("write config");
        let mut cmd = Command::new(HARK);
        cmd.arg("run").arg("--config").arg(&config_path);
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("HARK_")
                || [
                    "STATE_DIRECTORY",
                    "CREDENTIALS_DIRECTORY",
                    "NOTIFY_SOCKET",
                    "WATCHDOG_USEC",
                    "WATCHDOG_PID",
                ]
                .contains(&name.as_ref())
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("RUST_LOG", "info");
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {HARK}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            reader(child.stdout.take().expect("stdout piped"), stdout.clone()),
            reader(child.stderr.take().expect("stderr piped"), stderr.clone()),
        ];
        Daemon {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            status: None,
            config_path,
            _dir: dir,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The config file it was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Writes mono f32 samples as little-endian bytes to stdin (`source.kind = "stdin"`,
    /// `stdin_format = "f32le"`); blocks while the daemon pushes back, as a pipe does.
    pub fn feed(&mut self, samples: &[f32]) {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.feed_bytes(&bytes);
    }

    /// Writes raw bytes to stdin.
    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        if let Err(e) = stdin.write_all(bytes).and_then(|()| stdin.flush()) {
            panic!("writing to the daemon's stdin: {e}\n{}", self.log());
        }
    }

    /// Closes stdin: a stdin source sees the end of its input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The track messages printed so far.
    pub fn tracks(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until at least `n` tracks were printed; panics (with the log) when the wait
    /// runs out or the daemon exits first.
    pub fn wait_tracks(&mut self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let tracks = self.tracks();
            if tracks.len() >= n {
                return tracks;
            }
            if self.exited() {
                // The readers may still hold the last lines of a process that just ended.
                self.join_readers();
                let tracks = self.tracks();
                if tracks.len() >= n {
                    return tracks;
                }
                panic!(
                    "daemon exited with {} of {n} tracks:\n{}\n{}",
                    tracks.len(),
                    self.lines().join("\n"),
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} of {n} tracks within {within:?}:\n{}\n{}",
                    tracks.len(),
                    self.lines().join("\n"),
                    self.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until a log line contains every one of `needles`; returns that line.
    pub fn wait_log(&mut self, needles: &[&str], within: Duration) -> String {
        self.wait_log_count(needles, 1, within)
    }

    /// Waits until `n` log lines contain every one of `needles`; returns the `n`th.
    pub fn wait_log_count(&mut self, needles: &[&str], n: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .filter(|l| needles.iter().all(|x| l.contains(x)))
                .nth(n.saturating_sub(1))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            if self.exited() || Instant::now() >= deadline {
                panic!(
                    "not {n} log lines with {needles:?} within {within:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        !self.exited()
    }

    /// Sends a signal (`"-TERM"`, `"-HUP"`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(sig)
            .arg(self.pid().to_string())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill {sig} {} failed",
            self.pid()
        );
    }

    fn exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_some()
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// Waits for the process to end and for its output to be read; panics (with the log)
    /// after `within`, killing it.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        while !self.exited() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("daemon still running after {within:?}:\n{}", self.log());
            }
            std::thread::sleep(POLL);
        }
        self.stdin = None;
        self.join_readers();
        self.status.expect("exited")
    }

    /// SIGKILL: no flush, no clean MQTT disconnect; then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        self.stdin = None;
        self.join_readers();
    }

    /// CPU time (user + system) the process has used so far, from /proc.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/PID/stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // The kernel reports clock ticks, 100 per second on every Linux port hark targets.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Files waiting in the daemon's MQTT outbox (`{state_dir}/outbox/*.json`).
pub fn outbox_files(state_dir: &Path) -> usize {
    super::outbox_files(&state_dir.join("outbox"))
}

/// Polls `cond` until it holds or `within` passes; returns whether it held.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(POLL);
    }
    cond()
}

//! A real mosquitto broker for integration tests: free loopback port, generated config in a
//! temporary directory, kill / stop / restart on the same ports with the same persistence.
//!
//! The binary is `/usr/sbin/mosquitto` unless `HARK_MOSQUITTO` names another.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a broker may take to open its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The mosquitto binary to run.
pub fn mosquitto_bin() -> PathBuf {
    std::env::var_os("HARK_MOSQUITTO")
        .map_or_else(|| PathBuf::from("/usr/sbin/mosquitto"), PathBuf::from)
}

/// A TLS listener beside the plain one.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// CA that signed the server and client certificates.
    pub ca_file: PathBuf,
    /// Server certificate (PEM).
    pub cert_file: PathBuf,
    /// Server key (PEM).
    pub key_file: PathBuf,
    /// Demand a client certificate signed by the CA (mutual TLS).
    pub require_certificate: bool,
}

/// What the generated mosquitto.conf holds.
#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    /// Save sessions and queued messages to disk (every second and on SIGTERM).
    pub persistence: bool,
    /// A mosquitto password file; anonymous clients are refused when set.
    pub password_file: Option<PathBuf>,
    /// An extra TLS listener.
    pub tls: Option<TlsListener>,
    /// Raw lines appended to the config.
    pub extra: String,
}

/// A running (or stopped) mosquitto owned by a test; killed on drop.
#[derive(Debug)]
pub struct Mosquitto {
    dir: TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
    starts: u32,
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

impl Mosquitto {
    /// Writes the config and starts the broker, waiting until its ports accept connections.
    pub fn start(config: BrokerConfig) -> Mosquitto {
        let mut broker = Mosquitto::configure(config);
        broker.restart();
        broker
    }

    /// Writes the config on fresh ports without starting (for a broker that is down at first).
    pub fn configure(config: BrokerConfig) -> Mosquitto {
        let dir = tempfile::tempdir().expect("broker temp dir");
        let port = free_port();
        let tls_port = config.tls.as_ref().map(|_| free_port());
        let mut conf = String::new();
        conf.push_str("per_listener_settings false\n");
        // Running as root, mosquitto would switch to user `mosquitto`, who cannot read the
        // temp dir; stay as we are (ignored when not root).
        conf.push_str("user root\n");
        conf.push_str(&format!(
            "log_dest file {}\n",
            dir.path().join("mosquitto.log").display()
        ));
        conf.push_str("log_type all\nconnection_messages true\nlog_timestamp_format %H:%M:%S\n");
        // No limits on queues: tests count every message.
        conf.push_str("max_queued_messages 0\nmax_inflight_messages 0\n");
        match &config.password_file {
            Some(path) => conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                path.display()
            )),
            None => conf.push_str("allow_anonymous true\n"),
        }
        if config.persistence {
            let db = dir.path().join("db");
            fs::create_dir_all(&db).expect("persistence dir");
            conf.push_str(&format!(
                "persistence true\npersistence_location {}/\nautosave_interval 1\n",
                db.display()
            ));
        }
        conf.push_str(&format!("listener {port} 127.0.0.1\n"));
        if let (Some(tls), Some(tls_port)) = (&config.tls, tls_port) {
            conf.push_str(&format!("listener {tls_port} 127.0.0.1\n"));
            conf.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                tls.ca_file.display(),
                tls.cert_file.display(),
                tls.key_file.display(),
                tls.require_certificate
            ));
        }
        conf.push_str(&config.extra);
        conf.push('\n');
        fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        Mosquitto {
            dir,
            port,
            tls_port,
            child: None,
            starts: 0,
        }
    }

    /// The plain listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS listener's port, if configured.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The broker's working directory (config, log, persistence).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker log so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts (again) on the same ports, config and persistence; waits until ready.
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "broker already running");
        let conf = self.dir.path().join("mosquitto.conf");
        let stderr = fs::File::create(self.dir.path().join(format!("stderr.{}", self.starts)))
            .expect("stderr file");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", mosquitto_bin().display()));
        self.child = Some(child);
        self.starts += 1;
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        let deadline = Instant::now() + READY_TIMEOUT;
        for port in ports {
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if !self.is_running() {
                    let stderr = fs::read_to_string(
                        self.dir.path().join(format!("stderr.{}", self.starts - 1)),
                    )
                    .unwrap_or_default();
                    panic!("mosquitto exited at start:\n{stderr}\n{}", self.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "mosquitto not ready on port {port}:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: no persistence save, no clean socket close by the broker.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the broker freezes; the kernel still takes bytes into its socket buffers, so
    /// clients can write but get no answers (messages in flight, never acknowledged).
    pub fn pause(&mut self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Mosquitto::pause`].
    pub fn resume(&mut self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(sig)
                .arg(child.id().to_string())
                .status();
            assert!(status.is_ok_and(|s| s.success()), "kill {sig} failed");
        }
    }

    /// SIGTERM: mosquitto saves its persistence file and exits; SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if self.child.is_some() {
            self.signal("-TERM");
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes a mosquitto password file line for `user` with the salted SHA-512 (`$6$`) format
/// mosquitto 1.x and 2.x read, so tests need no `mosquitto_passwd`.
pub fn write_password_file(path: &Path, users: &[(&str, &str)]) {
    use sha2::{Digest, Sha512};
    let mut text = String::new();
    for (i, (user, password)) in users.iter().enumerate() {
        // Any 12 bytes will do as a salt; derive them so the file is reproducible.
        let salt: Vec<u8> = (0..12u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(i as u8 * 11 + 5))
            .collect();
        let mut hasher = Sha512::new();
        hasher.update(password.as_bytes());
        hasher.update(&salt);
        let hash = hasher.finalize();
        text.push_str(&format!("{user}:$6${}${}\n", base64(&salt), base64(&hash)));
    }
    fs::write(path, text).expect("write password file");
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

//! The systemd side of the daemon, against real parts: the unit file through
//! `systemd-analyze verify`, and the notify protocol through a datagram socket standing in
//! for systemd's NOTIFY_SOCKET (READY=1 after loading, WATCHDOG=1 while the pipeline runs,
//! STOPPING=1 on SIGTERM).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HARK: &str = env!("CARGO_BIN_EXE_hark");

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/hark.service"))
            .unwrap();
    // verify insists that ExecStart exists; point it at the binary under test.
    let unit = unit.replace("/usr/bin/hark", HARK);
    let path = dir.path().join("hark.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is part of systemd, installed by tests/setup.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Warnings (an unknown key, bad device rights, ...) print without failing the command.
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hark.service"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{text}"
    );
}

#[test]
fn notify_protocol_ready_watchdog_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let state = dir.path().join("state");
    // WATCHDOG_PID must be the daemon's own pid; `exec` keeps the shell's pid for hark.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("WATCHDOG_PID=$$ exec {HARK} run"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env("HARK_DAEMON__STATE_DIR", &state)
        .env("HARK_SOURCE__REALTIME", "true")
        .env("HARK_SOURCE__REPEAT", "true")
        .env("HARK_DAEMON__PRINT_TRACKS", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent_term = false;
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
        }
        let watchdogs = seen.iter().filter(|m| m.contains("WATCHDOG=1")).count();
        if !sent_term && watchdogs >= 3 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            sent_term = true;
        }
        if seen.iter().any(|m| m.contains("STOPPING=1")) {
            break;
        }
    }
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let ready = seen.iter().position(|m| m.contains("READY=1"));
    let first_watchdog = seen.iter().position(|m| m.contains("WATCHDOG=1"));
    assert!(ready.is_some(), "no READY=1; got {seen:?}");
    assert!(
        first_watchdog.is_some_and(|w| w > ready.unwrap_or(usize::MAX)),
        "watchdog before READY: {seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.contains("STOPPING=1")),
        "no STOPPING=1 after SIGTERM: {seen:?}"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "daemon did not exit cleanly on SIGTERM"
    );
}

fn wait_bounded(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

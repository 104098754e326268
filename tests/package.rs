//! The Debian package on this machine, as an operator meets it: built by cargo-deb from the
//! binary under test, checked by lintian, installed with `dpkg -i`, run from the installed
//! paths, upgraded over itself with edited conffiles, removed and purged.
//!
//! It changes the system (`/usr/bin/hark`, `/etc/hark`, `/var/lib/hark`), so it runs only as
//! root on a machine where no hark package is installed; elsewhere it says why and passes,
//! unless `REQUIRE_HARK_PACKAGE_TEST=1` (set by `tests/run.sh` for root) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HARK: &str = env!("CARGO_BIN_EXE_hark");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> Output {
    // The installed daemon reads HARK_* as configuration: only what a test sets applies.
    let chosen: Vec<std::ffi::OsString> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HARK_") && !chosen.contains(&key) {
            cmd.env_remove(key);
        }
    }
    let shown = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(out.status.success(), "{shown} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(script: &str) -> String {
    ok(Command::new("sh").arg("-c").arg(script))
}

/// Why this machine cannot run the package test, if it cannot.
fn unsuitable() -> Option<String> {
    if !sh("id -u").trim().eq("0") {
        return Some("not root".into());
    }
    let status = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "hark"]));
    if String::from_utf8_lossy(&status.stdout).contains("installed") {
        return Some("a hark package is already installed here".into());
    }
    if Path::new("/var/lib/hark").exists() || Path::new("/etc/hark").exists() {
        return Some("/var/lib/hark or /etc/hark exists without the package".into());
    }
    if !run(Command::new("cargo").args(["deb", "--version"]))
        .status
        .success()
    {
        return Some("cargo-deb is not installed (bash cross/deb-tools.sh)".into());
    }
    None
}

/// Purges the package however the test ends, so a failure leaves the machine as it was.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "hark"]).output();
    }
}

/// Builds the package from the binary under test (the test profile, not `dist`: the
/// packaging is what is under test, and CI builds no second profile).
fn build_package(out_dir: &Path, version: &str) -> PathBuf {
    let profile_dir = Path::new(HARK)
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .expect("the binary lives in target/<profile>/");
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir
    };
    let stdout = ok(Command::new("bash")
        .arg(Path::new(REPO).join("cross/build.sh"))
        .args(["amd64", "--deb", "--no-build", "--profile", profile, "--"])
        .args(["--fast", "--deb-version", version])
        .env("HARK_DEB_OUT", out_dir));
    let deb = PathBuf::from(stdout.lines().last().expect("the .deb's path").trim());
    assert!(deb.is_file(), "{}", deb.display());
    deb
}

#[test]
fn the_amd64_package_installs_runs_upgrades_keeping_conffiles_and_purges() {
    if let Some(why) = unsuitable() {
        assert!(
            std::env::var_os("REQUIRE_HARK_PACKAGE_TEST").is_none(),
            "REQUIRE_HARK_PACKAGE_TEST is set but the package test cannot run: {why}"
        );
        eprintln!("package test skipped: {why}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let v1 = build_package(&work.path().join("v1"), "0.1.0-1");
    let v2 = build_package(&work.path().join("v2"), "0.1.0-2");
    assert_eq!(
        v1.file_name().unwrap().to_str().unwrap(),
        "hark_0.1.0-1_amd64.deb"
    );

    // What the package declares, before anything is installed.
    let fields = ok(Command::new("dpkg-deb").args(["-f"]).arg(&v1));
    assert!(fields.contains("Package: hark"), "{fields}");
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("Depends:") && l.contains("libasound2")),
        "{fields}"
    );
    let control = work.path().join("control");
    ok(Command::new("dpkg-deb").arg("-e").arg(&v1).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    let mut listed: Vec<&str> = conffiles.lines().map(str::trim).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        ["/etc/hark/hark.toml", "/etc/hark/vocabulary.txt"],
        "conffiles"
    );

    // lintian: no errors (warnings, such as a missing manual page, are reported, not fatal).
    let lintian = run(Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&v1));
    let report = text(&lintian);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{report}");
    eprintln!("lintian:\n{report}");

    let _purge = Purge;
    let installed = ok(Command::new("dpkg").arg("-i").arg(&v1));
    assert!(
        installed.contains("enabled but not started"),
        "no broker configured: enabled, not started, and the operator told what to set:\n{installed}"
    );
    for path in [
        "/usr/bin/hark",
        "/usr/share/hark/models/default/model.toml",
        "/usr/share/hark/models/default/audio.onnx",
        "/usr/share/hark/models/default/word.onnx",
        "/usr/share/hark/models/glove/glove-6b-50d.hgv",
        "/usr/share/hark/models/demo/demo.ogg",
        "/usr/share/hark/models/vocabulary.txt",
        "/lib/systemd/system/hark.service",
        "/etc/hark/hark.toml",
        "/etc/hark/vocabulary.txt",
        "/usr/share/doc/hark/copyright",
        "/usr/share/doc/hark/changelog.Debian.gz",
        "/usr/share/doc/hark/MODEL_CARD.md",
        "/usr/share/doc/hark/GloVe.md",
        "/usr/share/doc/hark/demo.md",
        // deb-systemd-helper enables the unit even where systemd is not running.
        "/etc/systemd/system/multi-user.target.wants/hark.service",
    ] {
        assert!(Path::new(path).exists(), "{path} not installed");
    }
    let verify =
        run(Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/hark.service"]));
    let verify_text = text(&verify);
    assert!(
        verify.status.success() && !verify_text.lines().any(|l| l.contains("hark.service")),
        "systemd-analyze verify:\n{verify_text}"
    );

    // The installed binary, from the installed paths, from a folder with no checkout in it.
    let tagged = ok(Command::new("/usr/bin/hark")
        .args(["tag", "/usr/share/hark/models/demo/demo.ogg"])
        .current_dir(work.path()));
    let report: serde_json::Value = serde_json::from_str(tagged.trim()).unwrap();
    assert!(
        report["model"]
            .as_str()
            .unwrap()
            .starts_with("hark-default@"),
        "{tagged}"
    );
    assert!(report["windows"].as_u64().unwrap() > 40, "{tagged}");
    let config = ok(Command::new("/usr/bin/hark")
        .args(["config", "check", "--config", "/etc/hark/hark.toml"])
        .current_dir(work.path()));
    for line in [
        "dir = \"/usr/share/hark/models/default\"",
        "glove = \"/usr/share/hark/models/glove/glove-6b-50d.hgv\"",
        "vocabulary = \"/etc/hark/vocabulary.txt\"",
    ] {
        assert!(config.contains(line), "{line} in:\n{config}");
    }

    // An operator edits both conffiles, and the daemon has state; an upgrade keeps all three.
    sh("echo 'kazoo' >> /etc/hark/vocabulary.txt");
    sh("sed -i 's/^top_k = 5$/top_k = 3/' /etc/hark/hark.toml");
    sh(
        "mkdir -p /var/lib/private/hark/outbox && echo '{}' > /var/lib/private/hark/outbox/1.json \
        && ln -s private/hark /var/lib/hark",
    );
    let upgraded = ok(Command::new("dpkg").arg("-i").arg(&v2));
    assert!(
        !upgraded.contains("enabled but not started"),
        "an upgrade restarts a running daemon and says nothing else:\n{upgraded}"
    );
    let version = sh("dpkg-query -W -f='${Version}' hark");
    assert_eq!(version, "0.1.0-2");
    assert!(std::fs::read_to_string("/etc/hark/vocabulary.txt")
        .unwrap()
        .lines()
        .any(|l| l == "kazoo"));
    assert!(std::fs::read_to_string("/etc/hark/hark.toml")
        .unwrap()
        .lines()
        .any(|l| l == "top_k = 3"));
    let config = ok(Command::new("/usr/bin/hark").args([
        "config",
        "check",
        "--config",
        "/etc/hark/hark.toml",
    ]));
    assert!(config.contains("top_k = 3"), "{config}");
    assert!(Path::new("/var/lib/hark/outbox/1.json").exists());

    // Remove: the program goes; the operator's configuration and the unsent tracks stay.
    ok(Command::new("dpkg").args(["--remove", "hark"]));
    assert!(!Path::new("/usr/bin/hark").exists());
    assert!(!Path::new("/usr/share/hark").exists());
    assert!(Path::new("/etc/hark/vocabulary.txt").exists());
    assert!(Path::new("/var/lib/hark/outbox/1.json").exists());
    // Purge: nothing of hark is left.
    ok(Command::new("dpkg").args(["--purge", "hark"]));
    for path in [
        "/etc/hark",
        "/var/lib/hark",
        "/var/lib/private/hark",
        "/etc/systemd/system/multi-user.target.wants/hark.service",
    ] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{path} left after purge"
        );
    }
    let status = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "hark"]));
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("installed"),
        "{}",
        text(&status)
    );
}

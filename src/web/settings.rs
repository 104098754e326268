//! The `[web]` table: whether the page and API are served, where, and who may use them.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Name of the systemd credential holding the web password (`LoadCredential=web_password`).
pub const CREDENTIAL: &str = "web_password";

/// The `[web]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Serve the web page, `/api/` and `/metrics`.
    pub enabled: bool,
    /// Address and port to listen on (`127.0.0.1:8323`, `[::1]:8323`, `0.0.0.0:8323`).
    pub listen: String,
    /// User name for HTTP basic auth (asked only when a password is set).
    pub username: String,
    /// Password for HTTP basic auth; prefer `password_file` or the systemd credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// File whose first line is the password; read into `password` at load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Serve beyond loopback without a password: only behind a proxy that authenticates.
    pub allow_remote_without_auth: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8323".into(),
            username: "hark".into(),
            password: None,
            password_file: None,
            allow_remote_without_auth: false,
        }
    }
}

/// A `[web]` key holding a value it does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettingsError {
    /// The key inside `[web]`.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The password file named by `web.password_file` (or the credential) could not be read.
#[derive(Debug, thiserror::Error)]
#[error("web.{key}: cannot read secret file {}: {source}", path.display())]
pub struct SecretError {
    /// The key naming the file.
    pub key: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

impl WebSettings {
    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, WebSettingsError> {
        self.listen
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| WebSettingsError {
                key: "listen",
                problem: format!(
                    "{:?} is not an IP address and port like 127.0.0.1:8323 or [::]:8323",
                    self.listen
                ),
            })
    }

    /// Checks the address and the credentials, and refuses to serve beyond loopback without
    /// a password unless `allow_remote_without_auth` says so.
    pub fn validate(&self) -> Result<(), WebSettingsError> {
        let bad = |key, problem: String| Err(WebSettingsError { key, problem });
        let addr = self.listen_addr()?;
        if self.username.is_empty() || self.username.contains(':') {
            return bad(
                "username",
                "must be non-empty and without ':' (basic auth splits at the first colon)".into(),
            );
        }
        if self.password.as_ref().is_some_and(|p| p.is_empty()) {
            return bad(
                "password",
                "is empty; remove it to serve without auth, or set one".into(),
            );
        }
        if self.enabled
            && !addr.ip().is_loopback()
            && self.password.is_none()
            && !self.allow_remote_without_auth
        {
            return bad(
                "listen",
                format!(
                    "{addr} is reachable beyond this machine and no web.password (or \
                     web.password_file, or the {CREDENTIAL} credential) is set; set one, listen \
                     on 127.0.0.1, or set web.allow_remote_without_auth = true"
                ),
            );
        }
        Ok(())
    }

    /// Reads the password from `password_file`, or from the `web_password` systemd credential
    /// in `credentials_dir` when that file exists, as `mqtt.password` is read.
    pub fn read_secret(&mut self, credentials_dir: Option<&Path>) -> Result<(), SecretError> {
        let from_credentials = credentials_dir
            .map(|dir| dir.join(CREDENTIAL))
            .filter(|p| p.exists());
        if let Some(path) = self.password_file.clone().or(from_credentials) {
            let text = std::fs::read_to_string(&path).map_err(|source| SecretError {
                key: "password_file",
                path: path.clone(),
                source,
            })?;
            self.password = Some(text.lines().next().unwrap_or_default().to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(listen: &str) -> WebSettings {
        WebSettings {
            enabled: true,
            listen: listen.into(),
            ..WebSettings::default()
        }
    }

    #[test]
    fn loopback_is_served_without_a_password_and_the_rest_is_not() {
        assert_eq!(on("127.0.0.1:8323").validate(), Ok(()));
        assert_eq!(on("[::1]:9000").validate(), Ok(()));
        for remote in ["0.0.0.0:8323", "[::]:8323", "192.168.1.20:80"] {
            let e = on(remote).validate().unwrap_err();
            assert_eq!(e.key, "listen", "{remote}: {e:?}");
            let mut with_password = on(remote);
            with_password.password = Some("s3cret".into());
            assert_eq!(with_password.validate(), Ok(()), "{remote}");
            let mut allowed = on(remote);
            allowed.allow_remote_without_auth = true;
            assert_eq!(allowed.validate(), Ok(()), "{remote}");
        }
        // Off, the address only has to parse.
        let mut off = on("0.0.0.0:8323");
        off.enabled = false;
        assert_eq!(off.validate(), Ok(()));
    }

    #[test]
    fn bad_addresses_and_credentials_are_named_by_their_key() {
        assert_eq!(on("localhost").validate().unwrap_err().key, "listen");
        assert_eq!(on("127.0.0.1").validate().unwrap_err().key, "listen");
        let mut s = on("127.0.0.1:1");
        s.username = "a:b".into();
        assert_eq!(s.validate().unwrap_err().key, "username");
        let mut s = on("127.0.0.1:1");
        s.password = Some(String::new());
        assert_eq!(s.validate().unwrap_err().key, "password");
    }

    #[test]
    fn the_password_comes_from_its_file_or_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREDENTIAL), "from-credential\nignored\n").unwrap();
        let mut s = WebSettings::default();
        s.read_secret(Some(dir.path())).unwrap();
        assert_eq!(s.password.as_deref(), Some("from-credential"));

        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut s = WebSettings {
            password_file: Some(file),
            ..WebSettings::default()
        };
        s.read_secret(Some(dir.path())).unwrap();
        assert_eq!(s.password.as_deref(), Some("from-file"));

        let mut missing = WebSettings {
            password_file: Some(dir.path().join("absent")),
            ..WebSettings::default()
        };
        assert_eq!(missing.read_secret(None).unwrap_err().key, "password_file");
    }
}

//! TLS with rustls (ring): a CA file or the bundled webpki roots, optional client certificate.
//!
//! The material is loaded once at start so that a wrong path or a bad PEM file is reported
//! immediately with its name, not retried forever by the reconnect loop.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{crypto::ring, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::{MqttError, TlsSettings};

/// Builds the connector for the given settings.
pub(crate) fn connector(settings: &TlsSettings) -> Result<TlsConnector, MqttError> {
    let roots = match &settings.ca_file {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(path, "CA file")? {
                roots.add(cert).map_err(|e| MqttError::Tls {
                    what: "CA file",
                    path: path.clone(),
                    reason: format!("certificate refused: {e}"),
                })?;
            }
            roots
        }
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert, "client certificate")?;
            let key = load_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| MqttError::TlsConfig(format!("client certificate and key: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(MqttError::Settings {
                field: "tls",
                reason: "client_cert and client_key must be given together".to_string(),
            })
        }
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn open(path: &Path, what: &'static str) -> Result<BufReader<File>, MqttError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| MqttError::Tls {
            what,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn load_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let mut reader = open(path, what)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MqttError::Tls {
            what,
            path: path.to_path_buf(),
            reason: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(MqttError::Tls {
            what,
            path: path.to_path_buf(),
            reason: "holds no certificate".to_string(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, MqttError> {
    let what = "client key";
    let mut reader = open(path, what)?;
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(MqttError::Tls {
            what,
            path: path.to_path_buf(),
            reason: "holds no private key".to_string(),
        }),
        Err(e) => Err(MqttError::Tls {
            what,
            path: path.to_path_buf(),
            reason: format!("bad PEM: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsSettings {
            ca_file: Some(dir.path().join("nope.pem")),
            ..TlsSettings::default()
        };
        let err = connector(&missing).err().unwrap().to_string();
        assert!(err.contains("nope.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        let err = connector(&TlsSettings {
            ca_file: Some(empty),
            ..TlsSettings::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("holds no certificate"), "{err}");
        // The bundled roots need no file.
        assert!(connector(&TlsSettings::default()).is_ok());
    }
}

//! A throw-away PKI made with rcgen at test time: a CA, a server certificate for
//! 127.0.0.1 / localhost and a client certificate, all written as PEM files.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM files of one test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate (SAN 127.0.0.1 and localhost), signed by the CA.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Client certificate, signed by the CA.
    pub client_cert: PathBuf,
    /// Client key.
    pub client_key: PathBuf,
}

/// Generates a CA, a server and a client certificate into `dir` (file names get `tag`).
pub fn generate(dir: &Path, tag: &str) -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("hark test CA {tag}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server cert");

    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client_params
        .distinguished_name
        .push(DnType::CommonName, "hark-test-client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().expect("client key");
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .expect("client cert");

    let write = |name: &str, pem: String| {
        let path = dir.join(format!("{tag}-{name}.pem"));
        fs::write(&path, pem).expect("write PEM");
        path
    };
    TestPki {
        ca: write("ca", ca_cert.pem()),
        server_cert: write("server", server_cert.pem()),
        server_key: write("server-key", server_key.serialize_pem()),
        client_cert: write("client", client_cert.pem()),
        client_key: write("client-key", client_key.serialize_pem()),
    }
}

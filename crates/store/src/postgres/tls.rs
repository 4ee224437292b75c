//! TLS for PostgreSQL connections, with rustls. The database URL's `sslmode` and `sslrootcert`
//! parameters keep libpq's names and meanings (docs/operations.md), but for one decision: with no
//! `sslmode` a connection is not encrypted (libpq's default, `prefer`, encrypts without checking
//! who answers; wabagate does that only when asked).
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` (the default) | no | — |
//! | `allow`, `prefer` | if the server offers it | no |
//! | `require` | yes | no; with `sslrootcert`, as `verify-ca` (as libpq) |
//! | `verify-ca` | yes | signed by a trusted CA |
//! | `verify-full` | yes | signed by a trusted CA and issued to the host connected to |
//!
//! The trusted CAs are those of the PEM file `sslrootcert=PATH`, or with `sslrootcert=system` or
//! none, Mozilla's (the webpki-roots crate): the CAs of the public managed services.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Result, StoreError};

/// What a PostgreSQL connection runs over: TCP, or TLS on TCP.
pub type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// How a connection checks the server (libpq's `sslmode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where the trusted CAs come from (libpq's `sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's CAs.
    System,
    /// The certificates of a PEM file.
    File(String),
}

/// A URL's TLS settings, and the URL without them (tokio-postgres knows neither `verify-ca`,
/// `verify-full` nor `sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub url: String,
    pub mode: Mode,
    pub roots: Option<Roots>,
}

/// Splits `sslmode` and `sslrootcert` off a `postgres://` URL.
pub fn settings(url: &str) -> Result<Settings> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut roots) = (None, None);
    let mut rest = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "sslmode" => {
                mode = Some(match value.as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(StoreError::new(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )));
                    }
                })
            }
            "sslrootcert" if value.is_empty() => {
                return Err(StoreError::new("sslrootcert needs a PEM file's path (or `system`)"));
            }
            "sslrootcert" if value == "system" => roots = Some(Roots::System),
            "sslrootcert" => roots = Some(Roots::File(value)),
            _ => rest.push(kv),
        }
    }
    let mut mode = mode.unwrap_or(Mode::Disable);
    // As libpq: `require` with a root certificate checks the chain.
    if mode == Mode::Require && roots.is_some() {
        mode = Mode::VerifyCa;
    }
    let url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    Ok(Settings { url, mode, roots })
}

/// The connection settings of a libpq-style `postgres://` URL, and the TLS connector its
/// `sslmode` and `sslrootcert` ask for (what a connection pool is built from).
pub fn config(url: &str) -> Result<(Config, MakeRustlsConnect)> {
    let settings = settings(url)?;
    let mut config: Config = settings.url.parse()?;
    config.ssl_mode(match settings.mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok((config, MakeRustlsConnect::new(client_config(&settings)?)))
}

/// Opens a connection to the database of a libpq-style `postgres://` URL, over TLS as its
/// `sslmode` asks. The caller polls (or spawns) the connection.
pub async fn connect(url: &str) -> Result<(Client, Connection<Socket, Stream>)> {
    let (config, tls) = config(url)?;
    config.connect(tls).await.map_err(|e| error(&e))
}

/// A connection's error with its reasons: tokio-postgres names only the step that failed; why (a
/// certificate refused, and why) is in the error's sources.
pub fn error(e: &tokio_postgres::Error) -> StoreError {
    let mut message = format!("postgres: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.ends_with(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    if message.contains("invalid peer certificate") {
        message.push_str(
            " (the server's certificate must be signed by a CA of sslrootcert and, for verify-full, \
             name the URL's host)",
        );
    }
    StoreError::new(message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for these settings.
fn client_config(settings: &Settings) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::new(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match settings.mode {
        Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Unchecked(provider)),
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = roots(settings.roots.as_ref().unwrap_or(&Roots::System))?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| StoreError::new(format!("TLS: {e}")))?;
            if settings.mode == Mode::VerifyCa { Arc::new(AnyName(webpki)) } else { webpki }
        }
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

fn roots(roots: &Roots) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::new(format!("cannot read the CA certificates of sslrootcert={path}: {e}"))
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| unreadable(&e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| unreadable(&e))?;
            if certs.is_empty() {
                return Err(unreadable(&"the file holds no PEM certificate"));
            }
            for cert in certs {
                store.add(cert).map_err(|e| unreadable(&e))?;
            }
        }
    }
    Ok(store)
}

/// `prefer` and `require`: any certificate, but the handshake's signatures are checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name in the certificate is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn sslmode_and_sslrootcert_are_read_as_libpq_reads_them() {
        let s = settings("postgres://u@h/db").unwrap();
        assert_eq!((s.url.as_str(), s.mode, s.roots), ("postgres://u@h/db", Mode::Disable, None));
        let s = settings("postgres://u@h/db?sslmode=require&application_name=x").unwrap();
        assert_eq!((s.url.as_str(), s.mode, s.roots), ("postgres://u@h/db?application_name=x", Mode::Require, None));
        let s = settings("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem").unwrap();
        assert_eq!((s.mode, s.roots), (Mode::VerifyFull, Some(Roots::File("/etc/ca.pem".into()))));
        let s = settings("postgres://u@h/db?sslrootcert=/ca.pem&sslmode=require").unwrap();
        assert_eq!(s.mode, Mode::VerifyCa, "require with a root certificate checks the chain");
        assert_eq!(
            settings("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").unwrap().roots,
            Some(Roots::System)
        );
        assert_eq!(settings("postgres://u@h/db?sslmode=allow").unwrap().mode, Mode::Prefer);
        let err = settings("postgres://u@h/db?sslmode=always").unwrap_err();
        assert!(err.message.contains("sslmode=always is not one of"), "{err}");
    }

    /// A PostgreSQL of its own on a free port, with TLS on (a certificate for `localhost` signed by
    /// a test CA), plain connections still allowed; stopped when dropped.
    struct TlsServer {
        dir: tempfile::TempDir,
        port: u16,
        pg_ctl: std::path::PathBuf,
        as_postgres: bool,
    }

    fn run(as_postgres: bool, program: &std::path::Path, args: &[&str]) -> std::result::Result<(), String> {
        let mut command = if as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        let out = command.args(args).output().map_err(|e| format!("{}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!("{} {args:?}: {}", program.display(), String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    impl TlsServer {
        /// `None` (and why) where PostgreSQL's server binaries or openssl are missing.
        fn start() -> std::result::Result<TlsServer, String> {
            let bin = std::fs::read_dir("/usr/lib/postgresql")
                .map_err(|e| format!("no PostgreSQL server binaries in /usr/lib/postgresql: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
                .max()
                .ok_or("no initdb and pg_ctl under /usr/lib/postgresql/*/bin")?;
            let openssl = std::path::Path::new("openssl");
            run(false, openssl, &["version"]).map_err(|e| format!("no openssl: {e}"))?;
            // initdb refuses root: the cluster then belongs to the `postgres` user.
            let root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n"));
            let as_postgres = root.unwrap_or(false);
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let d = dir.path().to_str().ok_or("a temporary directory that is not UTF-8")?.to_string();
            let f = |name: &str| format!("{d}/{name}");
            let ca = ["-days", "2", "-addext", "basicConstraints=critical,CA:TRUE"];
            let new_ca = |name: &str, cn: &str| {
                let (key, pem, subject) = (f(&format!("{name}.key")), f(&format!("{name}.pem")), format!("/CN={cn}"));
                let mut args = vec!["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem];
                args.extend(["-subj", &subject]);
                args.extend(ca);
                run(false, openssl, &args)
            };
            new_ca("ca", "wabagate test CA")?;
            new_ca("wrong_ca", "another CA")?;
            let (key, csr, pem, ext, ca_pem, ca_key) =
                (f("server.key"), f("server.csr"), f("server.pem"), f("ext.cnf"), f("ca.pem"), f("ca.key"));
            std::fs::write(
                &ext,
                "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .map_err(|e| e.to_string())?;
            run(
                false,
                openssl,
                &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
            )?;
            let sign =
                ["x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial", "-out", &pem];
            run(false, openssl, &[&sign[..], &["-days", "2", "-extfile", &ext]].concat())?;
            if as_postgres {
                run(false, std::path::Path::new("chown"), &["-R", "postgres", &d])?;
            }
            let data = f("data");
            run(as_postgres, &bin.join("initdb"), &["-D", &data, "-U", "postgres", "--auth=trust", "-N"])?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let conf = format!(
                "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{d}'\nssl = on\n\
                 ssl_cert_file = '{pem}'\nssl_key_file = '{key}'\nfsync = off\n"
            );
            let mut postgresql_conf =
                std::fs::read_to_string(format!("{data}/postgresql.conf")).map_err(|e| e.to_string())?;
            postgresql_conf.push_str(&conf);
            std::fs::write(format!("{data}/postgresql.conf"), postgresql_conf).map_err(|e| e.to_string())?;
            let pg_ctl = bin.join("pg_ctl");
            let server = TlsServer { dir, port, pg_ctl, as_postgres };
            run(as_postgres, &server.pg_ctl, &["-D", &data, "-l", &f("log"), "-w", "-t", "120", "start"])?;
            Ok(server)
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).to_str().unwrap().to_string()
        }

        fn url(&self, host: &str, params: &str) -> String {
            format!("postgres://postgres@{host}:{}/postgres?{params}", self.port)
        }
    }

    impl Drop for TlsServer {
        fn drop(&mut self) {
            let _ = run(self.as_postgres, &self.pg_ctl, &["-D", &self.path("data"), "-m", "immediate", "stop"]);
        }
    }

    /// Whether the connection at `url` is encrypted, as the server sees it.
    async fn encrypted(url: &str) -> Result<bool> {
        let (client, connection) = connect(url).await?;
        tokio::spawn(connection);
        let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?;
        Ok(row.get(0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sslmode_require_and_verify_full_connect_over_tls_and_a_wrong_ca_is_refused() {
        let server = match TlsServer::start() {
            Ok(s) => s,
            Err(why) => {
                eprintln!("skipped: cannot start a PostgreSQL with TLS here ({why})");
                return;
            }
        };
        let (ca, wrong) = (server.path("ca.pem"), server.path("wrong_ca.pem"));
        // Plain, as before: no sslmode, or sslmode=disable.
        assert!(!encrypted(&server.url("127.0.0.1", "")).await.unwrap());
        assert!(!encrypted(&server.url("127.0.0.1", "sslmode=disable")).await.unwrap());
        // Encrypted, the certificate unchecked.
        assert!(encrypted(&server.url("127.0.0.1", "sslmode=require")).await.unwrap());
        assert!(encrypted(&server.url("127.0.0.1", "sslmode=prefer")).await.unwrap());
        // Checked against the CA, and the name against the host.
        assert!(encrypted(&server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"))).await.unwrap());
        let err =
            encrypted(&server.url("localhost", &format!("sslmode=verify-full&sslrootcert={wrong}"))).await.unwrap_err();
        assert!(err.message.contains("invalid peer certificate") && err.message.contains("UnknownIssuer"), "{err}");
        let err = encrypted(&server.url("localhost", "sslmode=verify-full")).await.unwrap_err();
        eprintln!("{err}");
        assert!(err.message.contains("UnknownIssuer"), "a test CA is none of Mozilla's: {err}");
        // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca does not.
        let err =
            encrypted(&server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"))).await.unwrap_err();
        assert!(
            err.message.contains("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
            "{err}"
        );
        assert!(encrypted(&server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"))).await.unwrap());
        let err =
            encrypted(&server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={wrong}"))).await.unwrap_err();
        assert!(err.message.contains("UnknownIssuer"), "{err}");

        // The whole store over verify-full: migrations, writes, and the notification connection.
        let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}&schema=tls_test"));
        let store = super::super::PgStore::open(&url).await.unwrap();
        let started = std::time::Instant::now();
        while store.listening().is_none() {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "the LISTEN connection never started");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let ping = tokio::task::spawn_blocking(move || store.ping()).await.unwrap();
        ping.unwrap();
    }

    #[test]
    fn an_unreadable_ca_file_is_named_in_the_error() {
        let s = settings("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let err = client_config(&s).unwrap_err();
        assert!(err.message.contains("sslrootcert=/nonexistent/ca.pem"), "{err}");
    }
}

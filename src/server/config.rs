//! Server configuration: command-line values, an optional configuration
//! file in `postgresql.conf` syntax, and TLS set-up.

use crate::error::{Error, Result, SqlState};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Certificate chain and private key files (PEM) for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How `heliosdb serve` runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address and port to listen on (default 127.0.0.1:5432).
    pub listen: SocketAddr,
    /// Connections beyond this are refused with 53300.
    pub max_connections: usize,
    /// TLS, so clients can use `sslmode=require`.
    pub tls: Option<TlsFiles>,
    /// Refuse connections that are not encrypted (28000), as a `hostssl`
    /// rule does in PostgreSQL; needs `tls`.
    pub tls_required: bool,
    /// Session settings every connection starts with (for example
    /// `idle_session_timeout` or `statement_timeout`), from the
    /// configuration file.
    pub session_defaults: Vec<(String, String)>,
    /// Where to serve the tenants' quota figures as Prometheus text
    /// (`--metrics`; off by default).
    pub metrics: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5432".parse().expect("a valid address"),
            max_connections: 100,
            tls: None,
            tls_required: false,
            session_defaults: Vec::new(),
            metrics: None,
        }
    }
}

fn config_error(path: &Path, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::new(
        SqlState::CONFIG_FILE_ERROR,
        format!("{}:{line}: {msg}", path.display()),
    )
}

/// Parses `postgresql.conf`-style lines: `name = value` (the `=` is
/// optional), values bare or in single quotes, `#` comments.
pub fn parse_conf(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim().to_string();
        if line.is_empty() {
            continue;
        }
        let split = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .ok_or_else(|| config_error(path, i + 1, "expected \"name = value\""))?;
        let name = line[..split].trim().to_lowercase();
        let rest = line[split..].trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
        let value = if let Some(q) = rest.strip_prefix('\'') {
            let body = q
                .strip_suffix('\'')
                .ok_or_else(|| config_error(path, i + 1, "unterminated quoted string"))?;
            body.replace("''", "'").replace("\\'", "'")
        } else {
            rest.to_string()
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Drops a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

impl ServerConfig {
    /// Applies a configuration file: server keys (`listen`, `max_connections`,
    /// `tls_cert`, `tls_key`, `tls_required`, `data_dir` is read by the caller) and any other
    /// key as a session setting default. Returns the `data_dir` if given.
    pub fn apply_file(&mut self, path: &Path) -> Result<Option<PathBuf>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                SqlState::CONFIG_FILE_ERROR,
                format!(
                    "could not read configuration file \"{}\": {e}",
                    path.display()
                ),
            )
        })?;
        let mut data_dir = None;
        let (mut cert, mut key) = (None, None);
        for (name, value) in parse_conf(&text, path)? {
            match name.as_str() {
                "listen" | "listen_address" => {
                    self.listen = value.parse().map_err(|_| {
                        config_error(path, 0, format!("invalid listen address \"{value}\""))
                    })?;
                }
                "metrics" | "metrics_listen" => {
                    self.metrics = Some(value.parse().map_err(|_| {
                        config_error(path, 0, format!("invalid metrics address \"{value}\""))
                    })?);
                }
                "max_connections" => {
                    self.max_connections = value.parse().map_err(|_| {
                        config_error(path, 0, format!("invalid max_connections \"{value}\""))
                    })?;
                }
                "tls_cert" | "ssl_cert_file" => cert = Some(PathBuf::from(value)),
                "tls_key" | "ssl_key_file" => key = Some(PathBuf::from(value)),
                "tls_required" => {
                    self.tls_required = match value.to_lowercase().as_str() {
                        "on" | "true" | "yes" | "1" => true,
                        "off" | "false" | "no" | "0" => false,
                        _ => {
                            return Err(config_error(
                                path,
                                0,
                                format!("invalid tls_required \"{value}\" (on or off)"),
                            ));
                        }
                    }
                }
                "data_dir" | "data_directory" => data_dir = Some(PathBuf::from(value)),
                _ => {
                    // Checked now, so a typo fails at start-up and not per connection.
                    crate::session::Settings::default().set(&name, &value, false)?;
                    self.session_defaults.push((name, value));
                }
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => self.tls = Some(TlsFiles { cert, key }),
            (None, None) => {}
            _ => {
                return Err(config_error(
                    path,
                    0,
                    "tls_cert and tls_key must be given together",
                ));
            }
        }
        Ok(data_dir)
    }
}

/// The certificate file's PEM text (SCRAM channel binding hashes the first
/// certificate).
pub fn read_cert(files: &TlsFiles) -> Result<Vec<u8>> {
    std::fs::read(&files.cert).map_err(|e| {
        Error::new(
            SqlState::CONFIG_FILE_ERROR,
            format!(
                "could not load TLS certificate \"{}\": {e}",
                files.cert.display()
            ),
        )
    })
}

/// Loads the certificate chain and key into a TLS acceptor.
pub fn tls_acceptor(files: &TlsFiles) -> Result<pgwire::tokio::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Error::new(
            SqlState::CONFIG_FILE_ERROR,
            format!("could not load TLS {what} \"{}\": {e}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("certificate", &files.cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", &files.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("key", &files.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("configuration", &files.cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate", &files.cert, &e))?;
    // PostgreSQL's ALPN name: direct TLS (`sslnegotiation=direct`, without
    // the SSLRequest round trip) requires it, and a client offering only
    // other protocols is refused, as PostgreSQL 17 does.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_syntax() {
        let text = "# comment\nlisten = '0.0.0.0:6543'  # trailing\nmax_connections 7\napp.name = 'it''s'\n\n";
        let kv = parse_conf(text, Path::new("x.conf")).unwrap();
        assert_eq!(
            kv,
            vec![
                ("listen".into(), "0.0.0.0:6543".into()),
                ("max_connections".into(), "7".into()),
                ("app.name".into(), "it's".into()),
            ]
        );
        assert!(parse_conf("x = 'open", Path::new("x.conf")).is_err());
    }
}

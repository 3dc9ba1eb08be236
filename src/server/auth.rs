//! Password authentication: SCRAM-SHA-256 against the verifiers stored in
//! the role catalog.
//!
//! A client never learns why a login failed: an unknown role, a role
//! without LOGIN, an expired one (VALID UNTIL) or one without a password all
//! run the same SCRAM exchange against a random verifier and end in the same
//! 28P01 as a wrong password.

use crate::session::Database;
use async_trait::async_trait;
use pgwire::api::auth::sasl::SaslMechanisms;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use ring::rand::{SecureRandom, SystemRandom};

/// Looks SCRAM verifiers up in the role catalog.
pub(crate) struct RoleVerifiers {
    pub db: Database,
}

impl std::fmt::Debug for RoleVerifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoleVerifiers")
    }
}

/// A verifier no password matches, indistinguishable from a real one.
fn decoy() -> ScramSecret {
    let rng = SystemRandom::new();
    let mut bytes = [0u8; 16 + 32 + 32];
    let _ = rng.fill(&mut bytes);
    ScramSecret::Verifier {
        salt: bytes[..16].to_vec(),
        iterations: 4096,
        stored_key: bytes[16..48].to_vec(),
        server_key: bytes[48..].to_vec(),
    }
}

#[async_trait]
impl AuthSource for RoleVerifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered; plaintext passwords are never recoverable.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let role = self.db.login_role(user).ok().flatten();
        let usable =
            role.filter(|r| r.can_login && r.valid_until.is_none_or(|t| t > chrono::Utc::now()));
        let secret = match usable.and_then(|r| r.scram) {
            Some(v) => ScramSecret::Verifier {
                salt: v.salt,
                iterations: v.iterations as usize,
                stored_key: v.stored_key,
                server_key: v.server_key,
            },
            None => decoy(),
        };
        Ok((secret, None))
    }
}

/// The SASL mechanisms offered: SCRAM-SHA-256, and for TLS connections also
/// SCRAM-SHA-256-PLUS with `tls-server-end-point` channel binding to the
/// server's certificate (as PostgreSQL offers it; libpq then prefers it).
/// A certificate whose signature algorithm channel binding cannot hash
/// leaves TLS connections with plain SCRAM.
pub(crate) fn scram_mechanisms(
    db: &Database,
    cert_pem: Option<&[u8]>,
) -> (SaslMechanisms, Option<SaslMechanisms>) {
    let verifiers = std::sync::Arc::new(RoleVerifiers { db: db.clone() });
    let plain = SaslMechanisms::new(vec![std::sync::Arc::new(ScramAuth::new(verifiers.clone()))]);
    let tls = cert_pem.and_then(|pem| {
        let mut auth = ScramAuth::new(verifiers);
        match auth.configure_certificate(pem) {
            Ok(()) => Some(SaslMechanisms::new(vec![std::sync::Arc::new(auth)])),
            Err(e) => {
                tracing::warn!("SCRAM channel binding is off for TLS connections: {e}");
                None
            }
        }
    });
    (plain, tls)
}

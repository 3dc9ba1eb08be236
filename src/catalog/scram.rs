//! SCRAM-SHA-256 password verifiers, the only form in which passwords are stored.
//!
//! A verifier is what PostgreSQL keeps in `pg_authid.rolpassword`:
//!
//! ```text
//! SCRAM-SHA-256$<iterations>:<salt, base64>$<StoredKey, base64>:<ServerKey, base64>
//! ```
//!
//! with (RFC 5802 / RFC 7677) `SaltedPassword = PBKDF2-HMAC-SHA-256(password,
//! salt, iterations)`, `StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key"))`
//! and `ServerKey = HMAC(SaltedPassword, "Server Key")`. The plain password is
//! never stored; a verifier is enough for a server to run the SCRAM exchange
//! and to check a cleartext password. New verifiers use PostgreSQL's defaults
//! (4096 iterations, 16 random bytes of salt), so verifiers move between
//! HeliosDB and PostgreSQL unchanged in both directions.
//!
//! The password bytes are hashed as given. PostgreSQL first applies SASLprep
//! (NFKC normalization and mapping of some non-ASCII spaces); for ASCII
//! passwords that is the identity, so the verifiers agree.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::fmt;
use std::num::NonZeroU32;

/// PostgreSQL's `scram_iterations` default.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length for new verifiers.
pub const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;
const PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramVerifier {
    /// Leaves the keys out, so a verifier in a log cannot be replayed offline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("salt", &B64.encode(&self.salt))
            .finish_non_exhaustive()
    }
}

impl ScramVerifier {
    /// Parses PostgreSQL's text form; `None` if `s` is not a well-formed verifier.
    pub fn parse(s: &str) -> Option<ScramVerifier> {
        let rest = s.strip_prefix(PREFIX)?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|&n| n > 0)?;
        let salt = B64.decode(salt).ok()?;
        let stored_key = B64.decode(stored).ok()?;
        let server_key = B64.decode(server).ok()?;
        if salt.is_empty() || stored_key.len() != KEY_LEN || server_key.len() != KEY_LEN {
            return None;
        }
        Some(ScramVerifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// A new verifier for `password` with a fresh random salt and PostgreSQL's
    /// default iteration count.
    pub fn from_password(password: &str) -> ScramVerifier {
        let mut salt = vec![0u8; SALT_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .expect("the operating system's random source is available");
        Self::with_salt(password, &salt, DEFAULT_ITERATIONS)
    }

    /// The verifier for `password` with a given salt and iteration count
    /// (deterministic; `iterations` 0 is treated as 1).
    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            iterations: iterations.max(1),
            salt: salt.to_vec(),
            stored_key: digest::digest(&digest::SHA256, &client_key)
                .as_ref()
                .to_vec(),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// True if `password` is the password this verifier was made from
    /// (compared in constant time).
    pub fn verify_password(&self, password: &str) -> bool {
        let other = Self::with_salt(password, &self.salt, self.iterations);
        constant_time_eq(&other.stored_key, &self.stored_key)
            && constant_time_eq(&other.server_key, &self.server_key)
    }
}

impl fmt::Display for ScramVerifier {
    /// PostgreSQL's text form, as stored in the catalog.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }
}

/// PBKDF2-HMAC-SHA-256 of the password (RFC 5802's `Hi`).
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    let n = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by PostgreSQL 15 for `CREATE ROLE ... PASSWORD 'secret'`.
    const PG_SECRET: &str = "SCRAM-SHA-256$4096:7aAHxenJXZZg8k+dallmow==$OdUK5jsLV/GFZXCBvnCrIV5iKWbdNqpu6pAdiGalnaI=:MwkYNjzJN2W3MD5XuMlEgKhQnqE3tHUIKJYUh+Nj8fQ=";

    #[test]
    fn postgresql_verifier_verifies_and_recomputes() {
        let v = ScramVerifier::parse(PG_SECRET).expect("valid verifier");
        assert_eq!(v.iterations, 4096);
        assert_eq!(v.salt.len(), 16);
        assert!(v.verify_password("secret"));
        assert!(!v.verify_password("Secret"));
        assert!(!v.verify_password(""));
        // The same password and salt give PostgreSQL's exact text.
        let again = ScramVerifier::with_salt("secret", &v.salt, 4096);
        assert_eq!(again.to_string(), PG_SECRET);
    }

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 rounds.
        // ServerSignature there is HMAC(ServerKey, AuthMessage); check the keys by
        // recomputing the client proof and server signature from the exchange.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = ScramVerifier::with_salt("pencil", &salt, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
                    r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
                    c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature = hmac_sha256(&v.server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let client_signature = hmac_sha256(&v.stored_key, auth.as_bytes());
        let proof = B64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        assert_eq!(
            digest::digest(&digest::SHA256, &client_key).as_ref(),
            v.stored_key.as_slice()
        );
    }

    #[test]
    fn round_trip_and_fresh_salts() {
        let a = ScramVerifier::from_password("hunter2");
        let b = ScramVerifier::from_password("hunter2");
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.salt.len(), SALT_LEN);
        assert_eq!(a.iterations, DEFAULT_ITERATIONS);
        let text = a.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        let parsed = ScramVerifier::parse(&text).unwrap();
        assert_eq!(parsed, a);
        assert!(parsed.verify_password("hunter2"));
        assert!(!parsed.verify_password("hunter3"));
    }

    #[test]
    fn malformed_verifiers_are_rejected() {
        for bad in [
            "",
            "secret",
            "md5d1b2",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$4096:c2FsdA==$abc=:def=",
            "SCRAM-SHA-256$0:7aAHxenJXZZg8k+dallmow==$OdUK5jsLV/GFZXCBvnCrIV5iKWbdNqpu6pAdiGalnaI=:MwkYNjzJN2W3MD5XuMlEgKhQnqE3tHUIKJYUh+Nj8fQ=",
            "SCRAM-SHA-256$x:7aAHxenJXZZg8k+dallmow==$OdUK5jsLV/GFZXCBvnCrIV5iKWbdNqpu6pAdiGalnaI=:MwkYNjzJN2W3MD5XuMlEgKhQnqE3tHUIKJYUh+Nj8fQ=",
        ] {
            assert!(ScramVerifier::parse(bad).is_none(), "{bad}");
        }
    }
}

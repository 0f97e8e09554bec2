//! Stored passwords, as PostgreSQL stores them in `pg_authid.rolpassword`:
//! a SCRAM-SHA-256 verifier (RFC 5802 / RFC 7677)
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64
//! fields), or an MD5 hash `md5` + hex(md5(password + role name)).
//!
//! Guarantees: a clear password never leaves [`encrypt`]; a password given
//! already hashed (what `pg_dump` writes) is stored as given. Checks compare
//! in constant time.
//!
//! Not done: SASLprep (RFC 4013) normalisation of non-ASCII passwords. The
//! password's UTF-8 bytes are used as they are, which is what PostgreSQL
//! does for ASCII passwords (and for any it cannot normalise); a non-ASCII
//! password that NFKC would change hashes differently from PostgreSQL's.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::SecureRandom;
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

use tessera_types::{sqlstate, Error, Result};

/// PBKDF2 rounds of a new verifier (PostgreSQL's `scram_iterations` default).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// Bytes of random salt in a new verifier (PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`).
pub const SCRAM_SALT_BYTES: usize = 16;

/// The most PBKDF2 rounds a verifier given by a client may ask for: each
/// login with it costs that many HMACs on the server.
pub const SCRAM_ITERATIONS_MAX: u32 = 1 << 20;

/// The longest clear password accepted (PostgreSQL's authentication
/// packets stop well below this).
pub const PASSWORD_BYTES_MAX: usize = 1024;

/// How new passwords are stored: the `password_encryption` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordEncryption {
    ScramSha256,
    Md5,
}

impl PasswordEncryption {
    /// Reads a `password_encryption` value; `None` for anything else.
    pub fn parse(value: &str) -> Option<PasswordEncryption> {
        match value.trim().to_ascii_lowercase().as_str() {
            "scram-sha-256" => Some(PasswordEncryption::ScramSha256),
            "md5" => Some(PasswordEncryption::Md5),
            _ => None,
        }
    }
}

/// The setting's default and its allowed values, for SHOW and errors.
pub const PASSWORD_ENCRYPTION_DEFAULT: &str = "scram-sha-256";

/// A parsed SCRAM-SHA-256 verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl ScramVerifier {
    /// The verifier of `password` with `salt` and `iterations`.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password, salt, iterations);
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac_sha256(&salted, b"Client Key")),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// Reads `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> Option<ScramVerifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if iterations == 0 || iterations > SCRAM_ITERATIONS_MAX {
            return None;
        }
        let salt = BASE64.decode(salt).ok()?;
        if salt.is_empty() {
            return None;
        }
        Some(ScramVerifier {
            iterations,
            salt,
            stored_key: BASE64.decode(stored).ok()?.try_into().ok()?,
            server_key: BASE64.decode(server).ok()?.try_into().ok()?,
        })
    }

    /// The text form stored in the catalog.
    pub fn to_text(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }

    /// Whether `password` is the one this verifier was made from.
    pub fn matches(&self, password: &str) -> bool {
        let other = ScramVerifier::derive(password, &self.salt, self.iterations);
        constant_time_eq(&other.server_key, &self.server_key)
    }
}

/// Whether `text` is a stored MD5 hash (`md5` and 32 hex digits).
pub fn is_md5_hash(text: &str) -> bool {
    text.len() == 35 && text.starts_with("md5") && text[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `md5` + hex(md5(password + role name)), PostgreSQL's MD5 hash.
pub fn md5_hash(password: &str, role: &str) -> String {
    let mut input = Vec::with_capacity(password.len() + role.len());
    input.extend_from_slice(password.as_bytes());
    input.extend_from_slice(role.as_bytes());
    format!("md5{}", tessera_types::md5::hex(&input))
}

/// What to store for `password` given in CREATE/ALTER ROLE for role `role`:
/// a hash given as such is kept (as PostgreSQL keeps it); a clear password
/// is hashed as `method` says, with a fresh random salt for SCRAM. An empty
/// password is refused by the caller (PostgreSQL stores NULL for it).
pub fn encrypt(password: &str, role: &str, method: PasswordEncryption) -> Result<String> {
    if is_md5_hash(password) || ScramVerifier::parse(password).is_some() {
        return Ok(password.to_string());
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "password is {} bytes; the limit is {PASSWORD_BYTES_MAX}",
                password.len()
            ),
        ));
    }
    Ok(match method {
        PasswordEncryption::Md5 => md5_hash(password, role),
        PasswordEncryption::ScramSha256 => {
            let mut salt = [0u8; SCRAM_SALT_BYTES];
            random_bytes(&mut salt)?;
            ScramVerifier::derive(password, &salt, SCRAM_ITERATIONS).to_text()
        }
    })
}

/// Whether clear `password` matches what is stored for role `role` (the
/// `password` method, and checks of either kind of stored secret).
pub fn check(stored: &str, role: &str, password: &str) -> bool {
    if let Some(verifier) = ScramVerifier::parse(stored) {
        verifier.matches(password)
    } else if is_md5_hash(stored) {
        constant_time_eq(md5_hash(password, role).as_bytes(), stored.as_bytes())
    } else {
        false
    }
}

/// Fills `out` from the operating system's secure random source.
pub fn random_bytes(out: &mut [u8]) -> Result<()> {
    ring::rand::SystemRandom::new()
        .fill(out)
        .map_err(|_| Error::internal("the system's random source failed"))
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let iterations = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Equal lengths and bytes, in time that depends only on the length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example: user "user", password "pencil", salt
    /// "W22ZaJ0SNY7soEsUEjb6gQ==", 4096 iterations; its ServerKey signs
    /// the exchange to "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".
    #[test]
    fn verifier_of_the_rfc_7677_example() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = ScramVerifier::derive("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac_sha256(&v.server_key, auth_message.as_bytes());
        assert_eq!(
            BASE64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let text = v.to_text();
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
        assert_eq!(ScramVerifier::parse(&text), Some(v.clone()));
        assert!(v.matches("pencil"));
        assert!(!v.matches("pencil2"));
        assert!(check(&text, "user", "pencil"));
    }

    #[test]
    fn md5_hash_is_postgres_rolpassword() {
        // SELECT 'md5' || md5('secret' || 'alice') in PostgreSQL.
        assert_eq!(
            md5_hash("secret", "alice"),
            "md54a0a68b43b6cd5cf266fa02f196e2371"
        );
        assert!(is_md5_hash(&md5_hash("secret", "alice")));
        assert!(check(&md5_hash("secret", "alice"), "alice", "secret"));
        assert!(!check(&md5_hash("secret", "alice"), "bob", "secret"));
    }

    #[test]
    fn hashed_passwords_are_kept_and_clear_ones_hashed() {
        let md5 = md5_hash("x", "r");
        assert_eq!(
            encrypt(&md5, "r", PasswordEncryption::ScramSha256).unwrap(),
            md5
        );
        let scram = encrypt("pw", "r", PasswordEncryption::ScramSha256).unwrap();
        assert!(ScramVerifier::parse(&scram).is_some());
        assert_eq!(
            encrypt(&scram, "r", PasswordEncryption::Md5).unwrap(),
            scram
        );
        // Two verifiers of one password differ by their salts.
        assert_ne!(
            scram,
            encrypt("pw", "r", PasswordEncryption::ScramSha256).unwrap()
        );
        assert_eq!(
            encrypt("pw", "r", PasswordEncryption::Md5).unwrap(),
            md5_hash("pw", "r")
        );
        let long = "x".repeat(PASSWORD_BYTES_MAX + 1);
        let error = encrypt(&long, "r", PasswordEncryption::Md5).unwrap_err();
        assert_eq!(error.code, sqlstate::PROGRAM_LIMIT_EXCEEDED);
    }

    #[test]
    fn malformed_verifiers_do_not_parse() {
        for text in [
            "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA",
            "SCRAM-SHA-256$x:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$99999999:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-1$4096:c2FsdA==$AAAA:AAAA",
            "plain",
        ] {
            assert_eq!(ScramVerifier::parse(text), None, "{text}");
        }
    }
}

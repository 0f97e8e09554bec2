//! The cluster secret and the handshake that proves both ends know it.
//!
//! Every internal connection starts with a mutual challenge: each side
//! sends a fresh random nonce and answers the other's with an HMAC-SHA256
//! over both nonces, keyed by the secret. A peer without the secret can
//! neither join nor send a command, and a recorded handshake is worthless
//! because the nonces change. (The traffic after it is not encrypted;
//! internal TLS is a later step, see docs/ARCHITECTURE.md "Cluster".)

use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tessera_types::{sqlstate, Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes of a secret created at bootstrap (hex in the file).
const CREATED_SECRET_BYTES: usize = 32;
/// A secret given by the operator must be at least this long.
pub const MIN_SECRET_BYTES: usize = 16;
/// A secret file larger than this is not a secret file.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

const MAGIC: &[u8; 4] = b"TSRA";
const PROTOCOL_VERSION: u16 = 1;
const NONCE_BYTES: usize = 32;

#[derive(Clone)]
pub struct ClusterSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    pub fn from_bytes(bytes: &[u8]) -> Result<ClusterSecret> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!(
                    "the cluster secret is {} bytes; it must be at least {MIN_SECRET_BYTES}",
                    bytes.len()
                ),
            ));
        }
        Ok(ClusterSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }

    /// Reads the secret file (its contents, surrounding whitespace
    /// trimmed, are the secret).
    pub fn load(path: &Path) -> Result<ClusterSecret> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(&format!("reading the cluster secret {}", path.display()), e))?;
        if meta.len() > MAX_SECRET_FILE_BYTES {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!(
                    "the cluster secret file {} is {} bytes, more than {MAX_SECRET_FILE_BYTES}",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        let text = std::fs::read(path)
            .map_err(|e| Error::io(&format!("reading the cluster secret {}", path.display()), e))?;
        ClusterSecret::from_bytes(text.trim_ascii())
    }

    /// Creates a new random secret in `path` (readable by the owner only),
    /// failing if the file exists.
    pub fn create(path: &Path) -> Result<ClusterSecret> {
        let mut raw = [0u8; CREATED_SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| Error::internal("no randomness for the cluster secret"))?;
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Error::io("creating the cluster secret", e))?;
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io("writing the cluster secret", e))?;
        }
        // A hard link fails if the file appeared meanwhile: never replace a
        // secret other nodes may already hold.
        std::fs::hard_link(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(
                &format!("creating the cluster secret {}", path.display()),
                e,
            )
        })?;
        let _ = std::fs::remove_file(&tmp);
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        ClusterSecret::from_bytes(hex.as_bytes())
    }

    fn proof(&self, role: &[u8], first: &[u8], second: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(role);
        ctx.update(first);
        ctx.update(second);
        ctx.sign()
    }

    fn verify(&self, role: &[u8], first: &[u8], second: &[u8], tag: &[u8]) -> bool {
        let mut msg = Vec::with_capacity(role.len() + first.len() + second.len());
        msg.extend_from_slice(role);
        msg.extend_from_slice(first);
        msg.extend_from_slice(second);
        hmac::verify(&self.key, &msg, tag).is_ok()
    }
}

fn nonce() -> Result<[u8; NONCE_BYTES]> {
    let mut n = [0u8; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| Error::internal("no randomness for a handshake"))?;
    Ok(n)
}

fn refused(what: &str) -> Error {
    Error::new(
        sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
        format!("cluster handshake failed: {what}"),
    )
}

const TAG_BYTES: usize = 32;

/// The connecting side's half of the handshake.
pub async fn handshake_client(stream: &mut TcpStream, secret: &ClusterSecret) -> Result<()> {
    let ours = nonce()?;
    let mut hello = Vec::with_capacity(4 + 2 + NONCE_BYTES);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    hello.extend_from_slice(&ours);
    stream
        .write_all(&hello)
        .await
        .map_err(|e| Error::io("cluster handshake", e))?;
    let mut answer = [0u8; NONCE_BYTES + TAG_BYTES];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|_| refused("the peer closed the connection (a different cluster secret?)"))?;
    let (theirs, tag) = answer.split_at(NONCE_BYTES);
    if !secret.verify(b"server", &ours, theirs, tag) {
        return Err(refused("the peer does not know the cluster secret"));
    }
    let proof = secret.proof(b"client", &ours, theirs);
    stream
        .write_all(proof.as_ref())
        .await
        .map_err(|e| Error::io("cluster handshake", e))?;
    Ok(())
}

/// The accepting side's half: fails (and the caller drops the
/// connection) unless the peer proves it knows the secret.
pub async fn handshake_server(stream: &mut TcpStream, secret: &ClusterSecret) -> Result<()> {
    let mut hello = [0u8; 4 + 2 + NONCE_BYTES];
    stream
        .read_exact(&mut hello)
        .await
        .map_err(|e| Error::io("cluster handshake", e))?;
    if &hello[..4] != MAGIC {
        return Err(refused("not a tessera cluster connection"));
    }
    let version = u16::from_be_bytes([hello[4], hello[5]]);
    if version != PROTOCOL_VERSION {
        return Err(refused(&format!(
            "protocol version {version}, this node speaks {PROTOCOL_VERSION}"
        )));
    }
    let theirs = &hello[6..];
    let ours = nonce()?;
    let proof = secret.proof(b"server", theirs, &ours);
    let mut answer = Vec::with_capacity(NONCE_BYTES + TAG_BYTES);
    answer.extend_from_slice(&ours);
    answer.extend_from_slice(proof.as_ref());
    stream
        .write_all(&answer)
        .await
        .map_err(|e| Error::io("cluster handshake", e))?;
    let mut tag = [0u8; TAG_BYTES];
    stream
        .read_exact(&mut tag)
        .await
        .map_err(|e| Error::io("cluster handshake", e))?;
    if !secret.verify(b"client", theirs, &ours, &tag) {
        return Err(refused("the peer does not know the cluster secret"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(a: ClusterSecret, b: ClusterSecret) -> (Result<()>, Result<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            handshake_server(&mut s, &b).await
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let client = handshake_client(&mut c, &a).await;
        drop(c);
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn the_same_secret_passes_and_a_different_one_fails_on_both_sides() {
        let s = ClusterSecret::from_bytes(b"0123456789abcdef0123").unwrap();
        let (c, v) = pair(s.clone(), s).await;
        assert!(c.is_ok() && v.is_ok());
        let a = ClusterSecret::from_bytes(b"0123456789abcdef0123").unwrap();
        let b = ClusterSecret::from_bytes(b"0123456789abcdef0124").unwrap();
        let (c, v) = pair(a, b).await;
        assert!(
            c.is_err(),
            "the client must not trust a server without the secret"
        );
        assert!(v.is_err());
    }

    #[test]
    fn short_secrets_are_refused_and_created_ones_load() {
        assert!(ClusterSecret::from_bytes(b"short").is_err());
        let dir = std::env::temp_dir().join(format!("tessera-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.secret");
        ClusterSecret::create(&path).unwrap();
        assert!(ClusterSecret::create(&path).is_err(), "never replaced");
        ClusterSecret::load(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

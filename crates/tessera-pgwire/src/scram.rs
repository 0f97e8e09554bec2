//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL
//! speaks it in SASL authentication: `SCRAM-SHA-256`, and over TLS also
//! `SCRAM-SHA-256-PLUS` with `tls-server-end-point` channel binding (RFC
//! 5929: a hash of the server's certificate, which a client that checks it
//! knows no man in the middle replaced); the user name in the SCRAM message
//! is ignored in favour of the startup packet's, as PostgreSQL does.
//!
//! Sans-IO: [`ScramServer::client_first`] and [`ScramServer::client_final`]
//! take a client message and return the server's answer; the caller moves
//! the bytes and supplies the randomness (the server nonce, and the fake
//! verifier used for a role that has no SCRAM secret, so that the exchange
//! looks the same whether or not the role exists and fails only at the
//! end). A malformed message is an 08P01 error; a wrong proof is
//! [`Final::Rejected`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tessera_sql::password::{constant_time_eq, hmac_sha256, sha256, ScramVerifier};
use tessera_types::{sqlstate, Error};

pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// The only channel-binding type served.
const TLS_SERVER_END_POINT: &str = "tls-server-end-point";

/// What the client's final message leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Final {
    /// The proof is right: send this server-final-message (`v=…`).
    Accepted(Vec<u8>),
    /// Wrong password, or no SCRAM secret for the role.
    Rejected,
}

#[derive(Debug)]
enum State {
    /// Waiting for client-first-message.
    Start,
    /// server-first-message sent.
    SentFirst {
        /// client-first-message-bare "," server-first-message.
        auth_prefix: String,
        nonce: String,
        /// The gs2 header the client sent, which `c=` must repeat.
        gs2_header: String,
    },
    Done,
}

pub struct ScramServer {
    /// The `tls-server-end-point` data when SCRAM-SHA-256-PLUS was offered
    /// (the connection is TLS).
    channel_binding: Option<Vec<u8>>,
    /// Whether the client chose SCRAM-SHA-256-PLUS.
    plus: bool,
    verifier: ScramVerifier,
    /// Whether `verifier` is made up (no such role, no SCRAM secret): the
    /// exchange then always ends in [`Final::Rejected`].
    mock: bool,
    server_nonce: String,
    state: State,
}

fn malformed(detail: impl Into<String>) -> Error {
    Error::new(sqlstate::PROTOCOL_VIOLATION, "malformed SCRAM message").with_detail(detail.into())
}

impl ScramServer {
    /// An exchange against `verifier`; `None` runs it against `mock` and
    /// rejects it at the end. `server_nonce` is printable ASCII without
    /// commas (the caller's random bytes in base64).
    /// `channel_binding`: the certificate hash when the connection is TLS
    /// and SCRAM-SHA-256-PLUS is offered.
    pub fn new(
        verifier: Option<ScramVerifier>,
        mock: ScramVerifier,
        server_nonce: String,
        channel_binding: Option<Vec<u8>>,
    ) -> ScramServer {
        debug_assert!(server_nonce
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b','));
        let (verifier, mock) = match verifier {
            Some(v) => (v, false),
            None => (mock, true),
        };
        ScramServer {
            channel_binding,
            plus: false,
            verifier,
            mock,
            server_nonce,
            state: State::Start,
        }
    }

    /// The mechanisms to offer in AuthenticationSASL, PostgreSQL's order.
    pub fn mechanisms(&self) -> &'static [&'static str] {
        if self.channel_binding.is_some() {
            &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        } else {
            &[SCRAM_SHA_256]
        }
    }

    /// Reads SASLInitialResponse's mechanism and client-first-message
    /// (`n,,n=user,r=nonce`; `p=tls-server-end-point,,…` with PLUS) and
    /// returns server-first-message (`r=…,s=…,i=…`).
    pub fn client_first(&mut self, mechanism: &str, message: &[u8]) -> Result<Vec<u8>, Error> {
        if !matches!(self.state, State::Start) {
            return Err(malformed("unexpected client-first-message"));
        }
        self.plus = match mechanism {
            SCRAM_SHA_256 => false,
            SCRAM_SHA_256_PLUS if self.channel_binding.is_some() => true,
            _ => {
                return Err(Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    "client selected an invalid SASL authentication mechanism",
                ))
            }
        };
        let text = std::str::from_utf8(message)
            .map_err(|_| malformed("the message is not valid UTF-8"))?;
        let mut rest = text;
        let flag = take_char(&mut rest)?;
        let violation = |message: &str| Error::new(sqlstate::PROTOCOL_VIOLATION, message);
        match flag {
            'n' | 'y' if self.plus => {
                return Err(violation(
                    "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
                ))
            }
            // The client could bind but believes the server cannot,
            // while it was offered PLUS: someone removed it on the way.
            'y' if self.channel_binding.is_some() => {
                return Err(violation("SCRAM channel binding negotiation error").with_detail(
                    "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.",
                ))
            }
            'n' | 'y' => {}
            'p' if !self.plus => {
                return Err(violation(
                    "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
                ))
            }
            'p' => {
                expect_char(&mut rest, '=')?;
                let (name, after) = rest
                    .split_once(',')
                    .ok_or_else(|| malformed("Expected \",\" after the channel-binding type."))?;
                if name != TLS_SERVER_END_POINT {
                    return Err(violation("unsupported SCRAM channel-binding type")
                        .with_detail(format!("\"{name}\"")));
                }
                // From the comma that ends the cbind-flag field.
                rest = &text[text.len() - after.len() - 1..];
            }
            other => {
                return Err(malformed(format!(
                    "Unexpected channel-binding flag \"{other}\"."
                )))
            }
        }
        expect_char(&mut rest, ',')?;
        if rest.starts_with("a=") {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "client uses authorization identity, but it is not supported",
            ));
        }
        expect_char(&mut rest, ',')?;
        let gs2_header = text[..text.len() - rest.len()].to_string();
        let bare = rest;
        let mut fields = bare.split(',');
        // The user name: PostgreSQL takes the startup packet's and ignores it.
        let user = fields.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "client requires an unsupported SCRAM extension",
            ));
        }
        if !user.starts_with("n=") {
            return Err(malformed("Expected attribute \"n\"."));
        }
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or_else(|| malformed("Expected attribute \"r\"."))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(malformed("The client nonce is not printable."));
        }
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        self.state = State::SentFirst {
            auth_prefix: format!("{bare},{server_first}"),
            nonce,
            gs2_header,
        };
        Ok(server_first.into_bytes())
    }

    /// Reads client-final-message (`c=…,r=…,p=…`) and checks the proof.
    pub fn client_final(&mut self, message: &[u8]) -> Result<Final, Error> {
        let State::SentFirst {
            auth_prefix,
            nonce,
            gs2_header,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(malformed("unexpected client-final-message"));
        };
        let text = std::str::from_utf8(message)
            .map_err(|_| malformed("the message is not valid UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("Expected attribute \"p\"."))?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or_else(|| malformed("Expected attribute \"c\"."))?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| malformed("Invalid channel binding data."))?;
        let mut expected = gs2_header.into_bytes();
        if self.plus {
            expected.extend_from_slice(self.channel_binding.as_deref().unwrap_or_default());
        }
        if binding != expected {
            return Err(Error::new(
                sqlstate::PROTOCOL_VIOLATION,
                "unexpected SCRAM channel-binding attribute in client-final-message",
            ));
        }
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or_else(|| malformed("Expected attribute \"r\"."))?;
        if client_nonce != nonce {
            return Err(malformed("Final nonce does not match."));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("Malformed proof in client-final-message."))?;
        if proof.len() != 32 {
            return Err(malformed("Malformed proof in client-final-message."));
        }
        let auth_message = format!("{auth_prefix},{without_proof}");
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let proof_ok = constant_time_eq(&sha256(&client_key), &self.verifier.stored_key);
        if self.mock || !proof_ok {
            return Ok(Final::Rejected);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(Final::Accepted(
            format!("v={}", BASE64.encode(server_signature)).into_bytes(),
        ))
    }
}

fn take_char(rest: &mut &str) -> Result<char, Error> {
    let mut chars = rest.chars();
    let c = chars
        .next()
        .ok_or_else(|| malformed("The message is empty."))?;
    *rest = chars.as_str();
    Ok(c)
}

fn expect_char(rest: &mut &str, want: char) -> Result<(), Error> {
    match take_char(rest)? {
        c if c == want => Ok(()),
        c => Err(malformed(format!("Expected \"{want}\", found \"{c}\"."))),
    }
}

/// The `tls-server-end-point` channel-binding data of a certificate (RFC
/// 5929): its DER hashed with the hash of its signature algorithm (SHA-256
/// for MD5 and SHA-1). `None` for an algorithm without one hash (RSA-PSS,
/// Ed25519) or a certificate that does not parse: PLUS is then not offered.
pub fn tls_server_end_point(certificate_der: &[u8]) -> Option<Vec<u8>> {
    /// Reads one DER element with tag `tag`: its content and what follows.
    fn element(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = bytes.split_first()?;
        if first != tag {
            return None;
        }
        let (&length, mut rest) = rest.split_first()?;
        let length = if length < 0x80 {
            length as usize
        } else {
            let count = (length & 0x7f) as usize;
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let value = rest[..count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            rest = &rest[count..];
            value
        };
        (rest.len() >= length).then(|| rest.split_at(length))
    }
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (certificate, _) = element(certificate_der, SEQUENCE)?;
    let (_, after_tbs) = element(certificate, SEQUENCE)?;
    let (algorithm, _) = element(after_tbs, SEQUENCE)?;
    let (oid, _) = element(algorithm, OID)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    use ring::digest::{SHA256, SHA384, SHA512};
    let hash = match oid {
        [rsa @ .., 0x04 | 0x05 | 0x0b] if rsa == RSA => &SHA256,
        [rsa @ .., 0x0c] if rsa == RSA => &SHA384,
        [rsa @ .., 0x0d] if rsa == RSA => &SHA512,
        o if o == ECDSA_SHA1 => &SHA256,
        [ecdsa @ .., 0x02] if ecdsa == ECDSA_SHA2 => &SHA256,
        [ecdsa @ .., 0x03] if ecdsa == ECDSA_SHA2 => &SHA384,
        [ecdsa @ .., 0x04] if ecdsa == ECDSA_SHA2 => &SHA512,
        _ => return None,
    };
    Some(
        ring::digest::digest(hash, certificate_der)
            .as_ref()
            .to_vec(),
    )
}

/// SASLInitialResponse's body: the mechanism and the client's first
/// message (length -1: none).
pub fn parse_initial_response(body: &[u8]) -> Result<(&str, &[u8]), Error> {
    let invalid = || {
        Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            "invalid SASL initial response",
        )
    };
    let end = body.iter().position(|b| *b == 0).ok_or_else(invalid)?;
    let mechanism = std::str::from_utf8(&body[..end]).map_err(|_| invalid())?;
    let rest = &body[end + 1..];
    let (length, data) = rest.split_first_chunk::<4>().ok_or_else(invalid)?;
    let length = i32::from_be_bytes(*length);
    if length == -1 {
        return Ok((mechanism, &[]));
    }
    if length < 0 || length as usize != data.len() {
        return Err(invalid());
    }
    Ok((mechanism, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3, with the user's verifier for "pencil".
    #[test]
    fn the_rfc_7677_exchange() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = ScramVerifier::derive("pencil", &salt, 4096);
        let mut server = ScramServer::new(
            Some(verifier.clone()),
            verifier.clone(),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
            None,
        );
        let first = server
            .client_first(SCRAM_SHA_256, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            .unwrap();
        assert_eq!(
            String::from_utf8(first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let last = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            last,
            Final::Accepted(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        );
        // The same exchange with a wrong proof, or against a mock verifier.
        for (v, proof) in [
            (
                Some(verifier.clone()),
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            (None, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
        ] {
            let mut server = ScramServer::new(
                v,
                verifier.clone(),
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
                None,
            );
            server
                .client_first(SCRAM_SHA_256, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
                .unwrap();
            let message =
                format!("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p={proof}");
            assert_eq!(
                server.client_final(message.as_bytes()).unwrap(),
                Final::Rejected
            );
        }
    }

    #[test]
    fn malformed_messages_are_protocol_violations() {
        let verifier = ScramVerifier::derive("pw", b"salt", 16);
        let server = || {
            ScramServer::new(
                Some(verifier.clone()),
                verifier.clone(),
                "SERVER".into(),
                None,
            )
        };
        for first in [
            &b""[..],
            b"x,,n=u,r=abc",
            b"n,,r=abc",
            b"n,,n=u",
            b"n,,n=u,r=",
            b"n",
            b"\xff,,n=u,r=a",
            b"p=tls-server-end-point,,n=u,r=abc",
        ] {
            let error = server().client_first(SCRAM_SHA_256, first).unwrap_err();
            assert_eq!(error.code, sqlstate::PROTOCOL_VIOLATION, "{first:?}");
        }
        assert_eq!(
            server()
                .client_first(SCRAM_SHA_256, b"n,a=admin,n=u,r=abc")
                .unwrap_err()
                .code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        for last in [
            &b"c=biws,r=abcSERVER"[..],
            b"c=biws,r=abcOTHER,p=AAAA",
            b"c=eSws,r=abcSERVER,p=AAAA",
            b"r=abcSERVER,p=AAAA",
            b"c=biws,r=abcSERVER,p=AAAA",
            b"c=biws,r=abcSERVER,p=!!",
        ] {
            let mut s = server();
            s.client_first(SCRAM_SHA_256, b"n,,n=u,r=abc").unwrap();
            let error = s.client_final(last).unwrap_err();
            assert_eq!(error.code, sqlstate::PROTOCOL_VIOLATION, "{last:?}");
        }
        // Out of order.
        assert!(server().client_final(b"c=biws,r=x,p=AAAA").is_err());
        // PLUS was not offered (no TLS).
        let error = server()
            .client_first(SCRAM_SHA_256_PLUS, b"p=tls-server-end-point,,n=u,r=abc")
            .unwrap_err();
        assert_eq!(error.code, sqlstate::PROTOCOL_VIOLATION);
    }

    /// An exchange with tls-server-end-point binding, the client's proof
    /// computed here as a client would.
    #[test]
    fn channel_binding_over_tls() {
        let verifier = ScramVerifier::derive("pw", b"salt-salt", 32);
        let binding = vec![7u8; 32];
        let server = || {
            ScramServer::new(
                Some(verifier.clone()),
                verifier.clone(),
                "SRV".into(),
                Some(binding.clone()),
            )
        };
        assert_eq!(server().mechanisms(), [SCRAM_SHA_256_PLUS, SCRAM_SHA_256]);
        let gs2 = "p=tls-server-end-point,,";
        let mut s = server();
        s.client_first(SCRAM_SHA_256_PLUS, format!("{gs2}n=,r=cli").as_bytes())
            .unwrap();
        let mut c = gs2.as_bytes().to_vec();
        c.extend_from_slice(&binding);
        let without_proof = format!("c={},r=cliSRV", BASE64.encode(&c));
        let auth_message = format!(
            "n=,r=cli,r=cliSRV,s={},i=32,{without_proof}",
            BASE64.encode(b"salt-salt")
        );
        let salted = {
            let mut out = [0u8; 32];
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(32).unwrap(),
                b"salt-salt",
                b"pw",
                &mut out,
            );
            out
        };
        let client_key = hmac_sha256(&salted, b"Client Key");
        let signature = hmac_sha256(&sha256(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let last = format!("{without_proof},p={}", BASE64.encode(&proof));
        assert!(matches!(
            s.client_final(last.as_bytes()).unwrap(),
            Final::Accepted(_)
        ));
        // The same proof with another certificate's hash is refused.
        let mut s = server();
        s.client_first(SCRAM_SHA_256_PLUS, format!("{gs2}n=,r=cli").as_bytes())
            .unwrap();
        let mut other = gs2.as_bytes().to_vec();
        other.extend_from_slice(&[8u8; 32]);
        let forged = format!(
            "c={},r=cliSRV,p={}",
            BASE64.encode(&other),
            BASE64.encode(&proof)
        );
        assert_eq!(
            s.client_final(forged.as_bytes()).unwrap_err().code,
            sqlstate::PROTOCOL_VIOLATION
        );
        // Downgrades and mismatches.
        for (mechanism, first) in [
            (SCRAM_SHA_256, "y,,n=,r=cli"),
            (SCRAM_SHA_256_PLUS, "n,,n=,r=cli"),
            (SCRAM_SHA_256, "p=tls-server-end-point,,n=,r=cli"),
            (SCRAM_SHA_256_PLUS, "p=tls-unique,,n=,r=cli"),
        ] {
            let error = server()
                .client_first(mechanism, first.as_bytes())
                .unwrap_err();
            assert_eq!(
                error.code,
                sqlstate::PROTOCOL_VIOLATION,
                "{mechanism} {first}"
            );
        }
        // Without binding over TLS ("n": the client cannot bind) is fine.
        assert!(server().client_first(SCRAM_SHA_256, b"n,,n=,r=cli").is_ok());
    }

    /// A certificate's outline: tbs, signature algorithm `oid`, signature.
    fn certificate(oid: &[u8]) -> Vec<u8> {
        let mut algorithm = vec![0x06, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        let mut body = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        body.push(0x30);
        body.push(algorithm.len() as u8);
        body.extend_from_slice(&algorithm);
        body.extend_from_slice(&[0x03, 0x02, 0x00, 0xff]);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend_from_slice(&body);
        der
    }

    #[test]
    fn end_point_hashes_follow_the_signature_algorithm() {
        let rsa = |last: u8| [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last];
        for (oid, bytes) in [
            (rsa(0x0b).to_vec(), 32),
            (rsa(0x05).to_vec(), 32),
            (rsa(0x0c).to_vec(), 48),
            (rsa(0x0d).to_vec(), 64),
            (vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02], 32),
            (vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03], 48),
        ] {
            let der = certificate(&oid);
            let hash = tls_server_end_point(&der).unwrap();
            assert_eq!(hash.len(), bytes, "{oid:x?}");
            if bytes == 32 {
                assert_eq!(hash, sha256(&der));
            }
        }
        // Ed25519 and RSA-PSS name no single hash; broken DER none at all.
        assert_eq!(
            tls_server_end_point(&certificate(&[0x2b, 0x65, 0x70])),
            None
        );
        assert_eq!(tls_server_end_point(&certificate(&rsa(0x0a))), None);
        let der = certificate(&rsa(0x0b));
        assert_eq!(tls_server_end_point(&der[..der.len() - 6]), None);
        assert_eq!(
            tls_server_end_point(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(tls_server_end_point(&[]), None);
    }

    #[test]
    fn initial_responses_parse() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(b"abc");
        assert_eq!(
            parse_initial_response(&body).unwrap(),
            ("SCRAM-SHA-256", &b"abc"[..])
        );
        let mut short = b"SCRAM-SHA-256\0".to_vec();
        short.extend_from_slice(&9i32.to_be_bytes());
        short.extend_from_slice(b"abc");
        assert!(parse_initial_response(&short).is_err());
        assert!(parse_initial_response(b"SCRAM").is_err());
    }
}

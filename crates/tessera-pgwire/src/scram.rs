//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL
//! speaks it in SASL authentication: mechanism `SCRAM-SHA-256` only, no
//! channel binding (`-PLUS` is not offered), the user name in the SCRAM
//! message ignored in favour of the startup packet's, as PostgreSQL does.
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
    pub fn new(
        verifier: Option<ScramVerifier>,
        mock: ScramVerifier,
        server_nonce: String,
    ) -> ScramServer {
        debug_assert!(server_nonce
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b','));
        let (verifier, mock) = match verifier {
            Some(v) => (v, false),
            None => (mock, true),
        };
        ScramServer {
            verifier,
            mock,
            server_nonce,
            state: State::Start,
        }
    }

    /// Reads client-first-message (`n,,n=user,r=nonce`) and returns
    /// server-first-message (`r=…,s=…,i=…`).
    pub fn client_first(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if !matches!(self.state, State::Start) {
            return Err(malformed("unexpected client-first-message"));
        }
        let text = std::str::from_utf8(message)
            .map_err(|_| malformed("the message is not valid UTF-8"))?;
        let mut rest = text;
        let flag = take_char(&mut rest)?;
        match flag {
            'n' | 'y' => {}
            'p' => {
                return Err(Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    "client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data",
                ))
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
        if binding != gs2_header.as_bytes() {
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
        );
        let first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
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
            let mut server =
                ScramServer::new(v, verifier.clone(), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into());
            server
                .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
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
        let server = || ScramServer::new(Some(verifier.clone()), verifier.clone(), "SERVER".into());
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
            let error = server().client_first(first).unwrap_err();
            assert_eq!(error.code, sqlstate::PROTOCOL_VIOLATION, "{first:?}");
        }
        assert_eq!(
            server()
                .client_first(b"n,a=admin,n=u,r=abc")
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
            s.client_first(b"n,,n=u,r=abc").unwrap();
            let error = s.client_final(last).unwrap_err();
            assert_eq!(error.code, sqlstate::PROTOCOL_VIOLATION, "{last:?}");
        }
        // Out of order.
        assert!(server().client_final(b"c=biws,r=x,p=AAAA").is_err());
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

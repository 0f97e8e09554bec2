//! What the node decides about a client before its session starts: the
//! rules ([`crate::hba`]), the TLS configuration, and a record of failed
//! logins per address that slows down password guessing.
//!
//! [`AuthFailures`]: after [`AUTH_FAILURES_FREE`] failures from one address
//! within [`AUTH_FAILURE_WINDOW`], each further failure is answered only
//! after a delay that doubles from [`AUTH_FAILURE_DELAY_BASE`] up to the
//! configured maximum (`--auth-failure-delay-max`), so a guesser gets a
//! handful of tries per second at first and one every few seconds after;
//! a success from the address forgets its failures. At most
//! [`AUTH_FAILURE_ADDRESSES_MAX`] addresses are remembered; past that the
//! one whose last failure is oldest is forgotten.

use crate::hba::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hba::HbaRules;

/// Failures from one address answered at once before delays start.
pub const AUTH_FAILURES_FREE: u32 = 3;

/// A failure older than this (since the address's last one) is forgotten.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The first delay; each further failure doubles it.
pub const AUTH_FAILURE_DELAY_BASE: Duration = Duration::from_millis(250);

/// The default of the longest delay (`--auth-failure-delay-max`).
pub const AUTH_FAILURE_DELAY_MAX_DEFAULT: Duration = Duration::from_secs(10);

/// The default of [`AuthConfig::timeout`] (PostgreSQL's default too).
pub const AUTHENTICATION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// Addresses whose failures are remembered at once.
pub const AUTH_FAILURE_ADDRESSES_MAX: usize = 10_000;

/// How clients are let in; shared by every connection of the node.
#[derive(Clone)]
pub struct AuthConfig {
    pub rules: Arc<HbaRules>,
    /// Answers SSLRequest with 'S' and TLS when set.
    pub tls: Option<TlsConfig>,
    pub failures: Arc<AuthFailures>,
    /// How long a client may take from connecting to being authenticated
    /// (startup, TLS, password); then it is disconnected
    /// (`--authentication-timeout`, PostgreSQL's `authentication_timeout`).
    pub timeout: Duration,
    /// A random key of this process: the salt SCRAM shows for a role that
    /// does not exist (or has no SCRAM secret) is derived from it and the
    /// name, so it stays the same from one attempt to the next like a real
    /// role's and does not tell which roles exist (PostgreSQL's mock salt).
    mock_salt_key: [u8; 32],
}

/// TLS on the PostgreSQL port.
#[derive(Clone)]
pub struct TlsConfig {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The certificate's `tls-server-end-point` hash, when it has one:
    /// SCRAM-SHA-256-PLUS is offered over TLS then.
    pub end_point: Option<Vec<u8>>,
}

impl AuthConfig {
    pub fn new(
        rules: HbaRules,
        tls: Option<TlsConfig>,
        failures: AuthFailures,
    ) -> Result<AuthConfig, tessera_types::Error> {
        let mut mock_salt_key = [0u8; 32];
        tessera_sql::password::random_bytes(&mut mock_salt_key)?;
        Ok(AuthConfig {
            rules: Arc::new(rules),
            tls,
            failures: Arc::new(failures),
            timeout: AUTHENTICATION_TIMEOUT_DEFAULT,
            mock_salt_key,
        })
    }

    /// The salt shown for `user` when it has no SCRAM secret.
    pub fn mock_salt(&self, user: &str) -> Vec<u8> {
        let tag = tessera_sql::password::hmac_sha256(&self.mock_salt_key, user.as_bytes());
        tag[..tessera_sql::password::SCRAM_SALT_BYTES].to_vec()
    }
}

impl Default for AuthConfig {
    /// The built-in rules, no TLS, the default delays.
    fn default() -> AuthConfig {
        let failures = AuthFailures::new(AUTH_FAILURE_DELAY_MAX_DEFAULT);
        AuthConfig::new(HbaRules::default(), None, failures)
            .expect("the system's random source works")
    }
}

/// Failed logins per client address (see the module comment).
pub struct AuthFailures {
    delay_max: Duration,
    by_address: Mutex<HashMap<Peer, (u32, Instant)>>,
}

impl AuthFailures {
    /// `delay_max` zero: no delays.
    pub fn new(delay_max: Duration) -> AuthFailures {
        AuthFailures {
            delay_max,
            by_address: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure from `address` at `now`; returns how long to wait
    /// before answering it. Clients of the Unix socket count as one address.
    pub fn failed(&self, address: Peer, now: Instant) -> Duration {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= AUTH_FAILURE_ADDRESSES_MAX && !map.contains_key(&address) {
            map.retain(|_, (_, last)| now.duration_since(*last) < AUTH_FAILURE_WINDOW);
            if map.len() >= AUTH_FAILURE_ADDRESSES_MAX {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(a, _)| *a)
                {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(address).or_insert((0, now));
        if now.duration_since(entry.1) >= AUTH_FAILURE_WINDOW {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let over = entry.0.saturating_sub(AUTH_FAILURES_FREE);
        if over == 0 || self.delay_max.is_zero() {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(over - 1).unwrap_or(u32::MAX);
        AUTH_FAILURE_DELAY_BASE
            .saturating_mul(factor)
            .min(self.delay_max)
    }

    /// A login from `address` succeeded: its failures are forgotten.
    pub fn succeeded(&self, address: Peer) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&address);
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.by_address.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_address_and_reset() {
        let failures = AuthFailures::new(Duration::from_secs(2));
        let a = Peer::Host("10.0.0.1".parse().unwrap());
        let b = Peer::Host("10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        let delays: Vec<u128> = (0..8).map(|_| failures.failed(a, t0).as_millis()).collect();
        assert_eq!(delays, [0, 0, 0, 250, 500, 1000, 2000, 2000]);
        assert_eq!(failures.failed(b, t0), Duration::ZERO);
        // Forgotten after a quiet window, or after a success.
        assert_eq!(failures.failed(a, t0 + AUTH_FAILURE_WINDOW), Duration::ZERO);
        for _ in 0..5 {
            failures.failed(b, t0);
        }
        failures.succeeded(b);
        assert_eq!(failures.failed(b, t0), Duration::ZERO);
        let off = AuthFailures::new(Duration::ZERO);
        for _ in 0..10 {
            assert_eq!(off.failed(a, t0), Duration::ZERO);
        }
    }

    #[test]
    fn mock_salts_are_stable_per_name_and_per_process() {
        let config = AuthConfig::default();
        assert_eq!(config.mock_salt("ghost"), config.mock_salt("ghost"));
        assert_ne!(config.mock_salt("ghost"), config.mock_salt("ghost2"));
        assert_ne!(
            config.mock_salt("ghost"),
            AuthConfig::default().mock_salt("ghost")
        );
        assert_eq!(config.mock_salt("ghost").len(), 16);
    }

    #[test]
    fn the_table_is_bounded() {
        let failures = AuthFailures::new(Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..(AUTH_FAILURE_ADDRESSES_MAX as u32 + 50) {
            let address = Peer::Host(std::net::Ipv4Addr::from(0x0a00_0000 + i).into());
            failures.failed(address, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(failures.remembered(), AUTH_FAILURE_ADDRESSES_MAX);
    }
}

//! Which clients may connect and how they prove who they are: rules in the
//! spirit of PostgreSQL's `pg_hba.conf`, one per line,
//!
//! ```text
//! # type      database  user   address          method
//! hostssl     all       all    0.0.0.0/0        scram-sha-256
//! host        sales     alice  10.0.0.0/8       md5
//! hostnossl   all       all    ::1/128          trust
//! ```
//!
//! `type` is `host` (TLS or not), `hostssl` (TLS only) or `hostnossl`,
//! all over TCP, or `local` (the Unix-domain socket; such a line has no
//! address field); `database` and `user` are `all` or comma-separated
//! names; `address` is `all` or an IPv4/IPv6 address with a `/prefix` (a
//! bare address is the host alone); `method` is `trust`, `reject`,
//! `scram-sha-256`, `md5`, `password` or, on `local` lines, `peer` (the
//! client process's OS user has the role's name). `#` starts a comment.
//! The first rule that matches decides; a connection no rule matches is
//! refused (28000).
//!
//! Without a rule file ([`HbaRules::default`]): the Unix-domain socket and
//! loopback addresses are trusted, every other address must use
//! SCRAM-SHA-256.

use std::net::IpAddr;

/// Where a client connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Over TCP, from this address.
    Host(IpAddr),
    /// Over the node's Unix-domain socket, from a process of this OS user
    /// id (the socket's peer credentials; `None` if they could not be read).
    Local { uid: Option<u32> },
}

impl Peer {
    /// The client's address, as `pg_stat_activity.client_addr` shows it
    /// (NULL over the Unix socket).
    pub fn address(self) -> Option<IpAddr> {
        match self {
            Peer::Host(address) => Some(address),
            Peer::Local { .. } => None,
        }
    }
}

impl From<IpAddr> for Peer {
    fn from(address: IpAddr) -> Peer {
        Peer::Host(address)
    }
}

impl std::fmt::Display for Peer {
    /// As PostgreSQL names it in its messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Host(address) => address.fmt(f),
            Peer::Local { .. } => f.write_str("[local]"),
        }
    }
}

/// The longest rule file read.
pub const HBA_FILE_BYTES_MAX: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
    ScramSha256,
    /// MD5 challenge-response; a role whose password is stored as a SCRAM
    /// verifier is asked for SCRAM instead, as PostgreSQL does.
    Md5,
    /// The clear password (only sensible over TLS).
    Password,
    /// The client process's OS user must have the role's name (`local`
    /// rules only; no user name maps).
    Peer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Names {
    All,
    List(Vec<String>),
}

impl Names {
    fn parse(text: &str) -> Names {
        if text == "all" {
            Names::All
        } else {
            Names::List(
                text.split(',')
                    .map(|s| s.trim_matches('"').to_string())
                    .collect(),
            )
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Names::All => true,
            Names::List(names) => names.iter().any(|n| n == name),
        }
    }
}

/// An address and prefix length; `None`: every address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network(Option<(IpAddr, u8)>);

impl Network {
    fn parse(text: &str) -> Result<Network, String> {
        if text == "all" {
            return Ok(Network(None));
        }
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("invalid IP address \"{address}\""))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("invalid CIDR mask in address \"{text}\""))?,
        };
        Ok(Network(Some((address, prefix))))
    }

    fn contains(&self, peer: IpAddr) -> bool {
        let Some((network, prefix)) = self.0 else {
            return true;
        };
        match (network, peer.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(p)) => {
                let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(p) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(p)) => {
                let mask = u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(p) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    kind: Kind,
    databases: Names,
    users: Names,
    address: Network,
    pub method: Method,
    /// Where the rule came from (1-based line; 0 for the built-in rules).
    pub line: usize,
}

/// The rules, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRules(Vec<Rule>);

impl Default for HbaRules {
    /// The Unix socket and loopback trusted, everything else SCRAM-SHA-256.
    fn default() -> HbaRules {
        HbaRules::parse(
            "local all all trust\n\
             host all all 127.0.0.0/8 trust\n\
             host all all ::1/128 trust\n\
             host all all all scram-sha-256\n",
        )
        .map(|mut rules| {
            for rule in &mut rules.0 {
                rule.line = 0;
            }
            rules
        })
        .expect("the built-in rules parse")
    }
}

impl HbaRules {
    /// Reads a rule file's text; the error names the line.
    pub fn parse(text: &str) -> Result<HbaRules, String> {
        if text.len() > HBA_FILE_BYTES_MAX {
            return Err(format!(
                "the rule file is larger than {HBA_FILE_BYTES_MAX} bytes"
            ));
        }
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.split('#').next().unwrap_or_default();
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let fail = |message: String| format!("line {line_no}: {message}");
            let (kind, databases, users, address, method) = match fields[..] {
                ["local", databases, users, method] => {
                    (Kind::Local, databases, users, "all", method)
                }
                ["local", ..] => {
                    return Err(fail(format!(
                        "expected 4 fields for a local rule (local database user method), found {}",
                        fields.len()
                    )))
                }
                [kind, databases, users, address, method] => {
                    let kind = match kind {
                        "host" => Kind::Host,
                        "hostssl" => Kind::HostSsl,
                        "hostnossl" => Kind::HostNoSsl,
                        other => {
                            return Err(fail(format!(
                                "invalid connection type \"{other}\" (local, host, hostssl or hostnossl)"
                            )))
                        }
                    };
                    (kind, databases, users, address, method)
                }
                _ => {
                    return Err(fail(format!(
                        "expected 5 fields (type database user address method), found {}",
                        fields.len()
                    )))
                }
            };
            let method = match method {
                "trust" => Method::Trust,
                "reject" => Method::Reject,
                "scram-sha-256" => Method::ScramSha256,
                "md5" => Method::Md5,
                "password" => Method::Password,
                "peer" if kind == Kind::Local => Method::Peer,
                "peer" => {
                    return Err(fail(
                        "peer authentication is only supported on local sockets".to_string(),
                    ))
                }
                other => {
                    return Err(fail(format!(
                        "invalid authentication method \"{other}\" (trust, reject, scram-sha-256, md5, password or peer)"
                    )))
                }
            };
            rules.push(Rule {
                kind,
                databases: Names::parse(databases),
                users: Names::parse(users),
                address: Network::parse(address).map_err(fail)?,
                method,
                line: line_no,
            });
        }
        Ok(HbaRules(rules))
    }

    /// The first rule for a connection from `peer` (over TLS when `ssl`)
    /// to `database` as `user`.
    pub fn find(&self, ssl: bool, database: &str, user: &str, peer: Peer) -> Option<&Rule> {
        self.0.iter().find(|r| {
            let place = match (r.kind, peer) {
                (Kind::Local, Peer::Local { .. }) => true,
                (Kind::Local, Peer::Host(_)) | (_, Peer::Local { .. }) => false,
                (Kind::Host, Peer::Host(address)) => r.address.contains(address),
                (Kind::HostSsl, Peer::Host(address)) => ssl && r.address.contains(address),
                (Kind::HostNoSsl, Peer::Host(address)) => !ssl && r.address.contains(address),
            };
            place && r.databases.matches(database) && r.users.matches(user)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Peer = Peer::Local { uid: Some(1000) };

    fn ip(text: &str) -> Peer {
        Peer::Host(text.parse().unwrap())
    }

    #[test]
    fn the_default_trusts_loopback_only() {
        let rules = HbaRules::default();
        let method = |peer| rules.find(false, "db", "u", ip(peer)).map(|r| r.method);
        assert_eq!(method("127.0.0.1"), Some(Method::Trust));
        assert_eq!(method("127.9.9.9"), Some(Method::Trust));
        assert_eq!(method("::1"), Some(Method::Trust));
        assert_eq!(method("::ffff:127.0.0.1"), Some(Method::Trust));
        assert_eq!(method("10.0.0.1"), Some(Method::ScramSha256));
        assert_eq!(method("2001:db8::1"), Some(Method::ScramSha256));
        assert_eq!(
            rules.find(false, "db", "u", LOCAL).map(|r| r.method),
            Some(Method::Trust)
        );
    }

    #[test]
    fn local_rules_match_only_the_unix_socket() {
        let rules = HbaRules::parse(
            "local sales all md5\n\
             local all   all reject\n\
             host  all   all all trust\n",
        )
        .unwrap();
        let find = |db, peer| rules.find(false, db, "u", peer).map(|r| (r.method, r.line));
        assert_eq!(find("sales", LOCAL), Some((Method::Md5, 1)));
        assert_eq!(find("other", LOCAL), Some((Method::Reject, 2)));
        assert_eq!(find("sales", ip("127.0.0.1")), Some((Method::Trust, 3)));
        let tcp_only = HbaRules::parse("host all all all trust").unwrap();
        assert_eq!(tcp_only.find(false, "x", "u", LOCAL), None);
        assert_eq!(LOCAL.to_string(), "[local]");
        assert_eq!(LOCAL.address(), None);
        let peer = HbaRules::parse("local all all peer").unwrap();
        assert_eq!(
            peer.find(false, "x", "u", LOCAL).map(|r| r.method),
            Some(Method::Peer)
        );
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = HbaRules::parse(
            "# comment\n\
             hostssl all  all        all          scram-sha-256 \n\
             host    sales alice,bob 10.1.0.0/16  md5  # trailing\n\
             hostnossl all bob       10.0.0.0/8   reject\n\
             host    all  all        10.2.3.4     password\n",
        )
        .unwrap();
        let find = |ssl, db, user, peer| {
            rules
                .find(ssl, db, user, ip(peer))
                .map(|r| (r.method, r.line))
        };
        assert_eq!(
            find(true, "x", "y", "1.2.3.4"),
            Some((Method::ScramSha256, 2))
        );
        assert_eq!(
            find(false, "sales", "bob", "10.1.2.3"),
            Some((Method::Md5, 3))
        );
        assert_eq!(
            find(false, "other", "bob", "10.1.2.3"),
            Some((Method::Reject, 4))
        );
        assert_eq!(
            find(false, "x", "y", "10.2.3.4"),
            Some((Method::Password, 5))
        );
        assert_eq!(find(false, "x", "y", "10.2.3.5"), None);
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, expected) in [
            ("host all all", "line 1: expected 5 fields"),
            (
                "\nlocal all all all trust",
                "line 2: expected 4 fields for a local rule",
            ),
            (
                "hostx all all all trust",
                "line 1: invalid connection type \"hostx\"",
            ),
            ("host all all 1.2.3.4/33 trust", "invalid CIDR mask"),
            ("host all all ::1/129 trust", "invalid CIDR mask"),
            ("host all all example.com trust", "invalid IP address"),
            (
                "host all all all ident",
                "invalid authentication method \"ident\"",
            ),
            (
                "host all all all peer",
                "line 1: peer authentication is only supported on local sockets",
            ),
        ] {
            let error = HbaRules::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let big = "#".repeat(HBA_FILE_BYTES_MAX + 1);
        assert!(HbaRules::parse(&big).is_err());
    }
}

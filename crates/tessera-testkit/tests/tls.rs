//! TLS on the PostgreSQL port (`--pg-tls-cert`, `--pg-tls-key`) with the
//! real psql: `sslmode=require`, `sslmode=verify-full` against a test CA
//! (made at test time with the `openssl` command), `hostssl` rules that
//! refuse plain connections, and the handshake's bad input over raw TCP.
//!
//! Skips with a message when `psql` or `openssl` is missing;
//! `scripts/test.sh` installs both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tessera_testkit::{find_program, TestServer};

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1.
fn make_certificates(openssl: &Path, dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new(openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write extensions");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Tessera test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    // A CA the server's certificate does not chain to.
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Other CA",
    ]);
}

struct Setup {
    psql: PathBuf,
    dir: PathBuf,
    server: TestServer,
}

fn setup(name: &str) -> Option<Setup> {
    if std::env::var_os("TESSERA_TEST_EXTERNAL_PG").is_some() {
        eprintln!("skipping: Tessera's own TLS flags and rule file");
        return None;
    }
    let (Some(psql), Some(openssl)) = (find_program("psql"), find_program("openssl")) else {
        eprintln!("skipping: psql or openssl not found");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("tessera-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    make_certificates(&openssl, &dir);
    // Over TLS every role needs its password; without TLS only the
    // administrator may connect, trusted.
    std::fs::write(
        dir.join("hba.conf"),
        "hostssl all all 127.0.0.1/32 scram-sha-256\n\
         hostnossl all postgres 127.0.0.1/32 trust\n",
    )
    .expect("rules");
    let path = |f: &str| dir.join(f).to_str().expect("utf-8").to_string();
    let (cert, key, hba) = (path("server.crt"), path("server.key"), path("hba.conf"));
    let server = TestServer::start_with_args(
        2,
        &[
            "--pg-tls-cert",
            &cert,
            "--pg-tls-key",
            &key,
            "--pg-hba",
            &hba,
        ],
    );
    Some(Setup { psql, dir, server })
}

impl Setup {
    fn psql(&self, conninfo: &str, password: Option<&str>, sql: &str) -> Output {
        let conninfo = format!(
            "port={} dbname={} {conninfo}",
            self.server.port(),
            self.server.dbname()
        );
        let mut command = Command::new(&self.psql);
        command
            .args(["-X", "-A", "-t", "-w", "-d", &conninfo, "-c", sql])
            .env_remove("PGPASSWORD")
            .env_remove("PGSSLMODE")
            .env_remove("PGHOST")
            .env_remove("PGPASSFILE")
            .env("PGCONNECT_TIMEOUT", "30");
        if let Some(p) = password {
            command.env("PGPASSWORD", p);
        }
        command.output().expect("run psql")
    }

    #[track_caller]
    fn ok(&self, conninfo: &str, password: Option<&str>, sql: &str) -> String {
        let out = self.psql(conninfo, password, sql);
        assert!(
            out.status.success(),
            "psql {conninfo:?} -c {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    fn fails(&self, conninfo: &str, password: Option<&str>) -> String {
        let out = self.psql(conninfo, password, "SELECT 1");
        assert!(!out.status.success(), "psql {conninfo:?} connected");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn psql_connects_with_sslmode_require_and_verify_full() {
    let Some(s) = setup("modes") else { return };
    // The administrator over plain TCP (hostnossl trust) creates a role.
    s.ok(
        "host=127.0.0.1 user=postgres sslmode=disable",
        None,
        "CREATE USER tina PASSWORD 'tls-pass'",
    );
    let ca = s.dir.join("ca.crt");
    let ca = ca.to_str().expect("utf-8");
    assert_eq!(
        s.ok(
            "host=127.0.0.1 user=tina sslmode=require",
            Some("tls-pass"),
            "SELECT 1"
        ),
        "1\n"
    );
    for host in ["127.0.0.1", "localhost"] {
        let conninfo = format!("host={host} user=tina sslmode=verify-full sslrootcert={ca}");
        assert_eq!(
            s.ok(&conninfo, Some("tls-pass"), "SELECT 2"),
            "2\n",
            "{host}"
        );
    }
    // SCRAM-SHA-256-PLUS: the password exchange is bound to the server's
    // certificate (libpq checks it when channel_binding=require).
    let conninfo = format!(
        "host=127.0.0.1 user=tina sslmode=verify-full sslrootcert={ca} channel_binding=require"
    );
    assert_eq!(s.ok(&conninfo, Some("tls-pass"), "SELECT 3"), "3\n");
    // Without TLS there is no channel to bind to.
    let stderr = s.fails(
        "host=127.0.0.1 user=postgres sslmode=disable channel_binding=require",
        None,
    );
    assert!(stderr.contains("channel binding"), "{stderr}");
    // verify-full refuses a certificate from another CA, and a name the
    // certificate does not carry.
    let other = s.dir.join("other.crt");
    let conninfo = format!(
        "host=127.0.0.1 user=tina sslmode=verify-full sslrootcert={}",
        other.to_str().expect("utf-8")
    );
    let stderr = s.fails(&conninfo, Some("tls-pass"));
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    let conninfo = format!(
        "host=wrong.example hostaddr=127.0.0.1 user=tina sslmode=verify-full sslrootcert={ca}"
    );
    let stderr = s.fails(&conninfo, Some("tls-pass"));
    assert!(stderr.contains("does not match host name"), "{stderr}");
    // The hostssl rule: without TLS the role has no rule at all.
    let stderr = s.fails("host=127.0.0.1 user=tina sslmode=disable", Some("tls-pass"));
    assert!(
        stderr.contains(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"tina\", database \"tessera\", no encryption"
        ),
        "{stderr}"
    );
    // A wrong password over TLS.
    let stderr = s.fails("host=127.0.0.1 user=tina sslmode=require", Some("nope"));
    assert!(
        stderr.contains("password authentication failed for user \"tina\""),
        "{stderr}"
    );
}

fn request(code: u32) -> Vec<u8> {
    let mut packet = 8u32.to_be_bytes().to_vec();
    packet.extend_from_slice(&code.to_be_bytes());
    packet
}

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;

#[test]
fn the_tls_handshake_refuses_bad_input() {
    let Some(s) = setup("raw") else { return };
    let open = || {
        let stream = TcpStream::connect((s.server.host(), s.server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream
    };
    // SSLRequest is answered 'S'; GSSENCRequest 'N'.
    let mut stream = open();
    stream
        .write_all(&request(GSSENC_REQUEST_CODE))
        .expect("send");
    let mut byte = [0u8];
    stream.read_exact(&mut byte).expect("answer");
    assert_eq!(&byte, b"N");
    stream.write_all(&request(SSL_REQUEST_CODE)).expect("send");
    stream.read_exact(&mut byte).expect("answer");
    assert_eq!(&byte, b"S");
    // Plain bytes where the TLS ClientHello belongs: the connection ends.
    stream
        .write_all(&tessera_testkit::startup_packet("tessera"))
        .expect("send");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        !rest.starts_with(b"R"),
        "a session started without TLS: {rest:?}"
    );

    // Data sent after SSLRequest before the answer would be read as if it
    // came through TLS: refused, as PostgreSQL does.
    let mut stream = open();
    let mut both = request(SSL_REQUEST_CODE);
    both.extend_from_slice(&tessera_testkit::startup_packet("tessera"));
    stream.write_all(&both).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("C08P01\0"), "{text}");
    assert!(
        text.contains("received unencrypted data after SSL request"),
        "{text}"
    );

    // The server still serves.
    s.ok(
        "host=127.0.0.1 user=postgres sslmode=disable",
        None,
        "SELECT 1",
    );
}

//! Roles and authentication end to end: CREATE/ALTER/DROP ROLE, logins
//! with SCRAM-SHA-256, md5 and clear passwords through tokio-postgres and
//! the real psql, the rule file, failures (28P01, 28000), the first start's
//! administrator, persistence across a restart, and malformed SASL
//! messages over raw TCP.
//!
//! The server listens on 127.0.0.1, which the built-in rules trust; each
//! test gives a rule file that trusts only `postgres` there and asks
//! everyone else for a password.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tessera_testkit::tokio_postgres::error::SqlState;
use tessera_testkit::tokio_postgres::{Client, NoTls};
use tessera_testkit::{assert_sqlstate, find_program, TestServer};

/// A fresh directory for a test's rule and password files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-auth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Starts a server with `rules` as its rule file and `args` besides;
/// `None` (the test skips) against an external reference server, whose
/// roles and rules these tests must not touch.
fn start(name: &str, rules: &str, args: &[&str]) -> Option<(TestServer, PathBuf)> {
    if std::env::var_os("TESSERA_TEST_EXTERNAL_PG").is_some() {
        eprintln!("skipping: Tessera's own rule file and roles");
        return None;
    }
    let dir = scratch(name);
    let hba = dir.join("hba.conf");
    std::fs::write(&hba, rules).expect("write rules");
    let hba = hba.to_str().expect("utf-8 path").to_string();
    let mut all = vec!["--pg-hba", hba.as_str()];
    all.extend_from_slice(args);
    Some((TestServer::start_with_args(2, &all), dir))
}

const RULES: &str = "\
host all postgres   127.0.0.1/32 trust
host all md5user    127.0.0.1/32 md5
host all clear      127.0.0.1/32 password
host all all        127.0.0.1/32 scram-sha-256
";

async fn login(
    server: &TestServer,
    user: &str,
    password: Option<&str>,
) -> Result<Client, tessera_testkit::tokio_postgres::Error> {
    let mut config = server.config();
    config.user(user);
    if let Some(p) = password {
        config.password(p);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// SHOW session_authorization and is_superuser.
async fn current_role(client: &Client) -> (String, String) {
    let mut shown = Vec::new();
    for name in ["session_authorization", "is_superuser"] {
        let row = client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .expect("SHOW");
        shown.push(row.get::<_, String>(0));
    }
    (shown[0].clone(), shown[1].clone())
}

#[tokio::test]
async fn passwords_are_checked_by_the_rule_that_matches() {
    let Some((mut server, _dir)) = start("methods", RULES, &["--auth-failure-delay-max", "0"])
    else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute(
            "CREATE ROLE alice LOGIN PASSWORD 'secret';
             SET password_encryption = 'md5';
             CREATE USER md5user PASSWORD 'm-pass';
             RESET password_encryption;
             CREATE USER clear PASSWORD 'c-pass';
             CREATE ROLE nologin PASSWORD 'x';
             CREATE USER old PASSWORD 'x' VALID UNTIL '2001-01-01';
             CREATE USER nopassword;",
        )
        .await
        .expect("create roles");

    // SCRAM-SHA-256 (the default method and storage).
    let alice = login(&server, "alice", Some("secret"))
        .await
        .expect("alice");
    assert_eq!(current_role(&alice).await, ("alice".into(), "off".into()));
    let row = alice
        .query_one("SELECT current_user, session_user, current_role", &[])
        .await
        .expect("current_user");
    let names: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(names, ("alice".into(), "alice".into(), "alice".into()));
    let wrong = login(&server, "alice", Some("Secret")).await;
    let message = assert_sqlstate(wrong, &SqlState::INVALID_PASSWORD, "wrong password");
    assert_eq!(message, "password authentication failed for user \"alice\"");
    // md5, with a role whose password is stored as md5.
    login(&server, "md5user", Some("m-pass"))
        .await
        .expect("md5 login");
    let wrong = login(&server, "md5user", Some("nope")).await;
    assert_sqlstate(wrong, &SqlState::INVALID_PASSWORD, "wrong md5 password");
    // The clear password method checks a SCRAM verifier too.
    login(&server, "clear", Some("c-pass"))
        .await
        .expect("password login");
    let wrong = login(&server, "clear", Some("C-pass")).await;
    assert_sqlstate(wrong, &SqlState::INVALID_PASSWORD, "wrong clear password");
    // Without LOGIN: the password is right, the role may not log in.
    let nologin = login(&server, "nologin", Some("x")).await;
    let message = assert_sqlstate(
        nologin,
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "NOLOGIN",
    );
    assert_eq!(message, "role \"nologin\" is not permitted to log in");
    // An expired password, no password at all, a role that does not exist.
    for (user, what) in [
        ("old", "VALID UNTIL past"),
        ("nopassword", "no password"),
        ("ghost", "no role"),
    ] {
        let result = login(&server, user, Some("x")).await;
        assert_sqlstate(result, &SqlState::INVALID_PASSWORD, what);
    }

    // What is stored: verifiers and hashes, never the password.
    let rows = admin
        .query(
            "SELECT rolname, rolpassword FROM pg_authid ORDER BY rolname",
            &[],
        )
        .await
        .expect("pg_authid");
    let stored: Vec<(String, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let of = |name: &str| {
        stored
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, p)| p.clone())
    };
    assert!(
        of("alice").unwrap().starts_with("SCRAM-SHA-256$4096:"),
        "{stored:?}"
    );
    let md5 = of("md5user").unwrap();
    assert!(md5.starts_with("md5") && md5.len() == 35, "{md5}");
    assert_eq!(of("nopassword"), None);
    assert!(!stored
        .iter()
        .any(|(_, p)| p.as_deref().is_some_and(|p| p.contains("secret"))));
    let roles: Vec<String> = admin
        // Built-in roles (pg_database_owner) are there, as in PostgreSQL.
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY oid",
            &[],
        )
        .await
        .expect("pg_roles")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        roles,
        [
            "postgres",
            "alice",
            "md5user",
            "clear",
            "nologin",
            "old",
            "nopassword"
        ]
    );
    let users: i64 = admin
        .query_one("SELECT count(*) FROM pg_user", &[])
        .await
        .expect("pg_user")
        .get(0);
    assert_eq!(users, 6, "every role but the NOLOGIN one");

    // The server logs each failure with the client's address.
    let log = server.log();
    assert!(
        log.contains("password authentication failed for user \"alice\" from 127.0.0.1"),
        "{log}"
    );

    // ALTER ROLE … PASSWORD, then DROP ROLE: the old password and then
    // the role stop working.
    admin
        .batch_execute("ALTER ROLE alice PASSWORD 'new secret'")
        .await
        .expect("alter password");
    let old = login(&server, "alice", Some("secret")).await;
    assert_sqlstate(old, &SqlState::INVALID_PASSWORD, "old password after ALTER");
    login(&server, "alice", Some("new secret"))
        .await
        .expect("new password");
    drop(alice);
    admin.batch_execute("DROP ROLE alice").await.expect("drop");
    let gone = login(&server, "alice", Some("new secret")).await;
    assert_sqlstate(gone, &SqlState::INVALID_PASSWORD, "dropped role");

    // Roles survive a restart.
    drop(admin);
    server.restart();
    login(&server, "md5user", Some("m-pass"))
        .await
        .expect("md5user after restart");
    login(&server, "clear", Some("c-pass"))
        .await
        .expect("clear after restart");
    let gone = login(&server, "alice", Some("new secret")).await;
    assert_sqlstate(
        gone,
        &SqlState::INVALID_PASSWORD,
        "still dropped after restart",
    );
}

#[tokio::test]
async fn role_statements_check_privileges_and_names() {
    let Some((server, _dir)) = start("ddl", RULES, &[]) else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute(
            "CREATE ROLE manager LOGIN CREATEROLE PASSWORD 'mgr';
             CREATE ROLE plain LOGIN PASSWORD 'pl';",
        )
        .await
        .expect("create roles");
    let dup = admin.batch_execute("CREATE ROLE plain").await;
    assert_eq!(
        assert_sqlstate(dup, &SqlState::DUPLICATE_OBJECT, "duplicate"),
        "role \"plain\" already exists"
    );
    let missing = admin.batch_execute("DROP ROLE nobody").await;
    assert_eq!(
        assert_sqlstate(missing, &SqlState::UNDEFINED_OBJECT, "missing"),
        "role \"nobody\" does not exist"
    );
    admin
        .batch_execute("DROP ROLE IF EXISTS nobody")
        .await
        .expect("IF EXISTS");
    let missing = admin.batch_execute("ALTER ROLE nobody LOGIN").await;
    assert_sqlstate(missing, &SqlState::UNDEFINED_OBJECT, "alter missing");
    for name in ["pg_x", "public", "none"] {
        let reserved = admin.batch_execute(&format!("CREATE ROLE {name}")).await;
        assert_sqlstate(reserved, &SqlState::RESERVED_NAME, name);
    }
    let current = admin.batch_execute("DROP ROLE postgres").await;
    assert_sqlstate(current, &SqlState::OBJECT_IN_USE, "drop the current user");
    let renamed = admin
        .batch_execute("ALTER ROLE postgres RENAME TO boss")
        .await;
    assert_sqlstate(
        renamed,
        &SqlState::FEATURE_NOT_SUPPORTED,
        "rename the session user",
    );

    // Without CREATEROLE: 42501, except for one's own password.
    let plain = login(&server, "plain", Some("pl")).await.expect("plain");
    for sql in [
        "CREATE ROLE x",
        "ALTER ROLE manager PASSWORD 'y'",
        "DROP ROLE manager",
        "ALTER ROLE plain CREATEDB",
    ] {
        let denied = plain.batch_execute(sql).await;
        assert_sqlstate(denied, &SqlState::INSUFFICIENT_PRIVILEGE, sql);
    }
    // Nor may it read the verifiers or become someone else.
    let denied = plain.query("SELECT rolpassword FROM pg_authid", &[]).await;
    assert_sqlstate(denied, &SqlState::INSUFFICIENT_PRIVILEGE, "pg_authid");
    let denied = plain
        .batch_execute("SET session_authorization = 'postgres'")
        .await;
    assert_sqlstate(
        denied,
        &SqlState::INSUFFICIENT_PRIVILEGE,
        "SET session_authorization",
    );
    let fixed = plain.batch_execute("SET is_superuser = on").await;
    assert_sqlstate(
        fixed,
        &SqlState::CANT_CHANGE_RUNTIME_PARAM,
        "SET is_superuser",
    );
    let visible = plain
        .query("SELECT rolname FROM pg_roles WHERE rolname = 'plain'", &[])
        .await
        .expect("pg_roles is readable");
    assert_eq!(visible.len(), 1);
    plain
        .batch_execute("ALTER ROLE plain PASSWORD 'pl2'")
        .await
        .expect("own password");
    login(&server, "plain", Some("pl2"))
        .await
        .expect("own new password");

    // CREATEROLE: ordinary roles yes, superusers no.
    let manager = login(&server, "manager", Some("mgr"))
        .await
        .expect("manager");
    manager
        .batch_execute("CREATE ROLE helper LOGIN PASSWORD 'h'; ALTER ROLE helper RENAME TO aide")
        .await
        .expect("manager creates and renames");
    login(&server, "aide", Some("h"))
        .await
        .expect("renamed role keeps its SCRAM password");
    for sql in [
        "CREATE ROLE boss SUPERUSER",
        "DROP ROLE postgres",
        "ALTER ROLE postgres PASSWORD 'x'",
    ] {
        let denied = manager.batch_execute(sql).await;
        assert!(denied.is_err(), "{sql} by a CREATEROLE role succeeded");
    }
    // A role that owns a schema cannot go; renaming it carries the
    // ownership along.
    admin
        .batch_execute("CREATE SCHEMA aides AUTHORIZATION aide")
        .await
        .expect("schema owned by aide");
    manager
        .batch_execute("ALTER ROLE aide RENAME TO aide2")
        .await
        .expect("rename the owner");
    let owned = manager.batch_execute("DROP ROLE aide2").await;
    let message = assert_sqlstate(owned, &SqlState::DEPENDENT_OBJECTS_STILL_EXIST, "owner");
    assert_eq!(
        message,
        "role \"aide2\" cannot be dropped because some objects depend on it"
    );
    admin
        .batch_execute("DROP SCHEMA aides")
        .await
        .expect("drop schema");
    manager
        .batch_execute("DROP ROLE aide2")
        .await
        .expect("drop aide2");

    // A password given already hashed is stored as given (pg_dump's form).
    let verifier = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
    admin
        .batch_execute(&format!("CREATE USER hashed PASSWORD '{verifier}'"))
        .await
        .expect("pre-hashed");
    let stored: String = admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'hashed'",
            &[],
        )
        .await
        .expect("stored")
        .get(0);
    assert_eq!(stored, verifier);
    login(&server, "hashed", Some("pencil"))
        .await
        .expect("login with the verifier's password");

    // Renaming a role with an md5 password clears it (the hash has the name in it).
    admin
        .batch_execute(
            "SET password_encryption = md5; CREATE USER m5 PASSWORD 'p'; RESET password_encryption",
        )
        .await
        .expect("md5 role");
    admin
        .batch_execute("ALTER ROLE m5 RENAME TO m6")
        .await
        .expect("rename");
    let cleared: Option<String> = admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'm6'",
            &[],
        )
        .await
        .expect("m6")
        .get(0);
    assert_eq!(cleared, None);
    // Role statements in a block take effect with its COMMIT only.
    admin
        .batch_execute("BEGIN; CREATE ROLE inside; CREATE ROLE kept_in; ROLLBACK")
        .await
        .expect("roles rolled back");
    admin
        .batch_execute("BEGIN; CREATE ROLE kept_in; COMMIT")
        .await
        .expect("role committed");
    let names: Vec<String> = admin
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('inside', 'kept_in')",
            &[],
        )
        .await
        .expect("roles")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, vec!["kept_in".to_string()]);
    let bad = admin
        .batch_execute("SET password_encryption = 'sha1'")
        .await;
    assert_sqlstate(
        bad,
        &SqlState::INVALID_PARAMETER_VALUE,
        "password_encryption",
    );
}

#[test]
fn psql_logs_in_with_a_password_and_the_first_admin_gets_its_password() {
    let Some(psql) = find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let dir = scratch("admin");
    let password_file = dir.join("admin-password");
    std::fs::write(&password_file, "first admin pw\n").expect("write password file");
    let rules = "host all all 127.0.0.1/32 scram-sha-256\n";
    let Some((server, _rules_dir)) = start(
        "admin-rules",
        rules,
        &[
            "--admin-user",
            "chief",
            "--admin-password-file",
            password_file.to_str().expect("utf-8"),
        ],
    ) else {
        return;
    };
    let run = |user: &str, password: Option<&str>, sql: &str| {
        let mut command = Command::new(&psql);
        command
            .args(["-X", "-A", "-t", "-w", "-h", server.host(), "-p"])
            .arg(server.port().to_string())
            .args(["-U", user, "-d", server.dbname(), "-c", sql])
            .env_remove("PGPASSWORD")
            .env_remove("PGSSLMODE")
            .env_remove("PGPASSFILE")
            .env("PGCONNECT_TIMEOUT", "30");
        if let Some(p) = password {
            command.env("PGPASSWORD", p);
        }
        command.output().expect("run psql")
    };
    let out = run(
        "chief",
        Some("first admin pw"),
        "CREATE USER carol PASSWORD 'c4rol'; \
         SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY oid",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CREATE ROLE\nchief\ncarol\n"
    );
    let out = run("carol", Some("c4rol"), "SELECT 42");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let out = run("carol", Some("wrong"), "SELECT 1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FATAL:  password authentication failed for user \"carol\""),
        "{stderr}"
    );
    // Without a password psql cannot answer (-w: never prompt).
    let out = run("chief", None, "SELECT 1");
    assert!(!out.status.success());
    // There is no `postgres` role on this node.
    let out = run("postgres", Some("first admin pw"), "SELECT 1");
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_reject_rule_and_a_missing_rule_refuse_before_any_password() {
    let rules = "\
host all postgres 127.0.0.1/32 trust
host sales all 127.0.0.1/32 reject
host all alice 127.0.0.1/32 scram-sha-256
";
    let Some((server, _dir)) = start("reject", rules, &[]) else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE USER alice PASSWORD 'a'; CREATE USER bob PASSWORD 'b'")
        .await
        .expect("roles");
    let mut config = server.config();
    config.user("alice").password("a").dbname("sales");
    let refused = config.connect(NoTls).await.map(|_| ());
    let message = assert_sqlstate(
        refused,
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "reject",
    );
    assert_eq!(
        message,
        "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\", database \"sales\", no encryption"
    );
    let unmatched = login(&server, "bob", Some("b")).await.map(|_| ());
    let message = assert_sqlstate(
        unmatched,
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "no rule",
    );
    assert!(
        message.starts_with("no pg_hba.conf entry for host \"127.0.0.1\", user \"bob\""),
        "{message}"
    );
    login(&server, "alice", Some("a"))
        .await
        .expect("alice elsewhere");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_slowed_down() {
    let Some((server, _dir)) = start("delay", RULES, &["--auth-failure-delay-max", "1000"]) else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE USER dave PASSWORD 'right'")
        .await
        .expect("role");
    let mut took = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let result = login(&server, "dave", Some("wrong")).await.map(|_| ());
        assert_sqlstate(result, &SqlState::INVALID_PASSWORD, "wrong password");
        took.push(started.elapsed());
    }
    // Three free failures, then 250 ms, then 500 ms.
    assert!(took[4] >= Duration::from_millis(500), "{took:?}");
    assert!(took[3] >= Duration::from_millis(250), "{took:?}");
    // A success forgets them.
    login(&server, "dave", Some("right"))
        .await
        .expect("right password");
    let started = Instant::now();
    let result = login(&server, "dave", Some("wrong")).await.map(|_| ());
    assert_sqlstate(result, &SqlState::INVALID_PASSWORD, "after a success");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

/// A startup packet for `user` on database `tessera`.
fn startup(user: &str) -> Vec<u8> {
    startup_with(196_608, &[("user", user), ("database", "tessera")])
}

fn startup_with(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (key, value) in params {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn read_message(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).ok()?;
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; length - 4];
    stream.read_exact(&mut body).ok()?;
    Some((header[0], body))
}

/// Connects as `user`, expects AuthenticationSASL offering SCRAM-SHA-256.
fn sasl_start(server: &TestServer, user: &str) -> TcpStream {
    let mut stream = TcpStream::connect((server.host(), server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(&startup(user)).expect("startup");
    let (kind, body) = read_message(&mut stream).expect("authentication request");
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &10i32.to_be_bytes(), "AuthenticationSASL");
    assert_eq!(&body[4..], b"SCRAM-SHA-256\0\0");
    stream
}

fn initial_response(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = mechanism.as_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&(data.len() as i32).to_be_bytes());
    body.extend_from_slice(data);
    message(b'p', &body)
}

/// Reads until the server closes; returns the SQLSTATE of the FATAL error.
fn fatal_code(stream: &mut TcpStream) -> String {
    let mut code = String::new();
    while let Some((kind, body)) = read_message(stream) {
        if kind == b'E' {
            let text = String::from_utf8_lossy(&body).into_owned();
            assert!(text.contains("SFATAL\0"), "{text}");
            code = text
                .split('\0')
                .find_map(|f| f.strip_prefix('C'))
                .unwrap_or_default()
                .to_string();
        }
    }
    code
}

#[tokio::test]
async fn malformed_sasl_messages_are_protocol_violations() {
    let Some((server, _dir)) = start("sasl", RULES, &[]) else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE USER erin PASSWORD 'e'")
        .await
        .expect("role");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown mechanism",
            initial_response("SCRAM-SHA-1", b"n,,n=,r=abc"),
            "08P01",
        ),
        (
            "no gs2 header",
            initial_response("SCRAM-SHA-256", b"n=,r=abc"),
            "08P01",
        ),
        (
            "channel binding asked",
            initial_response("SCRAM-SHA-256", b"p=tls-unique,,n=,r=abc"),
            "08P01",
        ),
        (
            "authorization identity",
            initial_response("SCRAM-SHA-256", b"n,a=root,n=,r=abc"),
            "0A000",
        ),
        (
            "length past the body",
            {
                let mut body = b"SCRAM-SHA-256\0".to_vec();
                body.extend_from_slice(&100i32.to_be_bytes());
                body.extend_from_slice(b"n,,");
                message(b'p', &body)
            },
            "08P01",
        ),
        (
            "not a password message",
            message(b'Q', b"SELECT 1\0"),
            "08P01",
        ),
        (
            "over the size limit",
            {
                let mut m = vec![b'p'];
                m.extend_from_slice(&(70_000u32).to_be_bytes());
                m
            },
            "08P01",
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut stream = sasl_start(&server, "erin");
        stream.write_all(&bytes).expect("send");
        assert_eq!(fatal_code(&mut stream), expected, "{what}");
    }
    // A right first message, then a final message with another nonce.
    let mut stream = sasl_start(&server, "erin");
    stream
        .write_all(&initial_response("SCRAM-SHA-256", b"n,,n=,r=clientnonce"))
        .expect("send");
    let (kind, body) = read_message(&mut stream).expect("SASLContinue");
    assert_eq!((kind, &body[..4]), (b'R', &11i32.to_be_bytes()[..]));
    let server_first = String::from_utf8(body[4..].to_vec()).expect("utf-8");
    assert!(server_first.starts_with("r=clientnonce"), "{server_first}");
    assert!(
        server_first.contains(",s=") && server_first.ends_with(",i=4096"),
        "{server_first}"
    );
    stream
        .write_all(&message(
            b'p',
            b"c=biws,r=othernonce,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        ))
        .expect("send");
    assert_eq!(fatal_code(&mut stream), "08P01", "nonce mismatch");
    // The salt shown for a role that does not exist stays the same from
    // one attempt to the next, as a real role's does: it does not tell
    // which roles exist.
    let salt_of = |user: &str| {
        let mut stream = sasl_start(&server, user);
        stream
            .write_all(&initial_response("SCRAM-SHA-256", b"n,,n=,r=abc"))
            .expect("send");
        let (_, body) = read_message(&mut stream).expect("SASLContinue");
        let text = String::from_utf8(body[4..].to_vec()).expect("utf-8");
        text.split(',')
            .find_map(|f| f.strip_prefix("s="))
            .expect("salt")
            .to_string()
    };
    assert_eq!(salt_of("ghost"), salt_of("ghost"));
    assert_eq!(salt_of("erin"), salt_of("erin"));
    assert_ne!(salt_of("ghost"), salt_of("ghost2"));
    // The server still serves.
    login(&server, "erin", Some("e")).await.expect("erin");
}

/// Protocol 3.2 with a `_pq_.` option gets NegotiateProtocolVersion (3.0
/// and the option) and then its session; an unknown setting in the startup
/// packet is 42704, as PostgreSQL answers both.
#[test]
fn newer_protocol_versions_and_unknown_settings() {
    let server = TestServer::start();
    let mut stream = TcpStream::connect((server.host(), server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let params = [
        ("user", "postgres"),
        ("database", "tessera"),
        ("_pq_.extension", "on"),
    ];
    stream
        .write_all(&startup_with(3 << 16 | 2, &params))
        .expect("startup");
    let (kind, body) = read_message(&mut stream).expect("NegotiateProtocolVersion");
    assert_eq!(kind, b'v');
    let mut expected = (3u32 << 16).to_be_bytes().to_vec();
    expected.extend_from_slice(&1u32.to_be_bytes());
    expected.extend_from_slice(b"_pq_.extension\0");
    assert_eq!(body, expected);
    let (kind, body) = read_message(&mut stream).expect("AuthenticationOk");
    assert_eq!((kind, body), (b'R', vec![0, 0, 0, 0]));

    let mut stream = TcpStream::connect((server.host(), server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let params = [("user", "postgres"), ("no_such_setting", "1")];
    stream
        .write_all(&startup_with(3 << 16, &params))
        .expect("startup");
    assert_eq!(fatal_code(&mut stream), "42704");
}

/// A client that stays silent before or during authentication is
/// disconnected after `--authentication-timeout`; one that logs in is not.
#[tokio::test]
async fn silent_clients_are_disconnected_after_the_authentication_timeout() {
    let Some((server, _dir)) = start("timeout", RULES, &["--authentication-timeout", "1"]) else {
        return;
    };
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE USER fay PASSWORD 'f'")
        .await
        .expect("role");
    let silent = TcpStream::connect((server.host(), server.port())).expect("connect");
    let asked = sasl_start(&server, "fay");
    for (what, mut stream) in [
        ("before the startup packet", silent),
        ("after AuthenticationSASL", asked),
    ] {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let started = Instant::now();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(read.is_ok() && rest.is_empty(), "{what}: {read:?} {rest:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: {:?}",
            started.elapsed()
        );
    }
    // A session outlives the timeout.
    let fay = login(&server, "fay", Some("f")).await.expect("fay");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fay.simple_query("SELECT 1").await.expect("still connected");
    admin
        .simple_query("SELECT 1")
        .await
        .expect("admin still connected");
}

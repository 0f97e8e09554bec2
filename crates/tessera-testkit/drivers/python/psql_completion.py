"""psql's tab completion against the server, through a pseudo-terminal as
a user types: table names after FROM, columns after WHERE and SET, names
in a schema, \\d's argument. psql completes by running catalog queries
(pg_class, pg_attribute, pg_namespace with quote_ident, substring,
pg_table_is_visible …); each check fails if a query fails or answers
differently from PostgreSQL.

Usage: psql_completion.py PSQL; the server comes from PGHOST, PGPORT,
PGUSER and PGDATABASE. Exits non-zero at the first check that fails.
"""

import os
import pty
import re
import select
import subprocess
import sys
import time

PSQL = sys.argv[1]
ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]|[\x07\x08]")


def sql(statement):
    subprocess.run(
        [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement],
        check=True,
    )


def start():
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PSQL_HISTORY"] = "/dev/null"
        os.environ["TERM"] = "dumb"
        os.execvp(PSQL, [PSQL, "-X"])
    return fd


def read_quiet(fd, want=None, limit=10.0):
    """Reads until `want` appears (then a short quiet spell) or `limit`."""
    out = b""
    end = time.time() + limit
    quiet_since = None
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            out += chunk
            quiet_since = None
        elif want is not None and want(ANSI.sub(b"", out).decode(errors="replace")):
            if quiet_since is None:
                quiet_since = time.time()
            elif time.time() - quiet_since > 0.3:
                break
    return ANSI.sub(b"", out).decode(errors="replace")


def check(fd, typed, tabs, expect, listing=False):
    """Types `typed` and `tabs` tabs; `expect` must show up: completed on
    the line, or (listing) every name among the candidates psql lists."""
    os.write(fd, b"\x15" + typed.encode() + b"\t" * tabs)
    if listing:
        def done(text):
            return all(re.search(r"(^|\s)" + re.escape(n) + r"(\s|$)", text) for n in expect)
    else:
        def done(text):
            return expect in text
    out = read_quiet(fd, done)
    if not done(out):
        print(f"FAIL: {typed!r} + {tabs} tab(s): expected {expect!r}, psql showed {out!r}")
        sys.exit(1)
    print(f"ok: {typed!r} -> {expect!r}")


sql("DROP SCHEMA IF EXISTS tabsch CASCADE")
sql("DROP TABLE IF EXISTS tabcomp_orders, tabcomp_order_lines, tabcomp_zeta")
sql("CREATE TABLE tabcomp_orders (order_id int PRIMARY KEY, customer_name text, created_at timestamptz)")
sql("CREATE TABLE tabcomp_order_lines (line_id int PRIMARY KEY, order_id int, quantity int)")
sql("CREATE TABLE tabcomp_zeta (z int)")
sql("CREATE SCHEMA tabsch")
sql("CREATE TABLE tabsch.inner_table (inner_col int)")

fd = start()
read_quiet(fd, lambda t: "=#" in t or "=>" in t)
check(fd, "SELECT * FROM tabcomp_z", 1, "tabcomp_zeta ")
check(fd, "SELECT * FROM tabcomp_order", 2, ["tabcomp_orders", "tabcomp_order_lines"], listing=True)
check(fd, "SELECT * FROM tabcomp_orders WHERE cust", 1, "customer_name ")
check(fd, "SELECT * FROM tabcomp_order_lines WHERE ", 2, ["line_id", "order_id", "quantity"], listing=True)
check(fd, "UPDATE tabcomp_order_lines SET quan", 1, "quantity ")
check(fd, "SELECT * FROM tabsch.inn", 1, "tabsch.inner_table ")
check(fd, "\\d tabcomp_ze", 1, "tabcomp_zeta ")
check(fd, "INSERT INTO tabcomp_orders (cre", 1, "created_at")
os.write(fd, b"\x15\\q\n")
read_quiet(fd, limit=1.0)

sql("DROP SCHEMA tabsch CASCADE")
sql("DROP TABLE tabcomp_orders, tabcomp_order_lines, tabcomp_zeta")
print("psql tab completion: all checks passed")

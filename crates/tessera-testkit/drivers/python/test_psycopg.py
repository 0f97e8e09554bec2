"""psycopg 3 against the server in PGHOST/PGPORT/PGUSER/PGDATABASE.

Sync and async connections: DDL, parameterised DML, every supported type
in text and in binary format (parameters in, values out), transactions
with rollback, errors and their SQLSTATE, COPY in text and binary,
server-side prepared statements, psycopg's type introspection and named
(server-side) cursors: DECLARE, FETCH in itersize chunks, MOVE, WITH HOLD.
Prints one line per check group; exits non-zero on the first failure.
"""

import asyncio
import datetime as dt
import math
import sys
import uuid
from decimal import Decimal

import psycopg
from psycopg import errors
from psycopg.types import TypeInfo
from psycopg.types.json import Json, Jsonb


def fail(what, expected, got):
    print(f"FAIL {what}: expected {expected!r}, got {got!r}")
    sys.exit(1)


def same(a, b):
    """Equality that also holds for NaN (float and Decimal), element-wise."""
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan():
        return b.is_nan()
    return type(a) is type(b) and a == b


def check(what, got, expected):
    if not same(got, expected):
        fail(what, expected, got)


def expect_error(what, sqlstate, fn):
    try:
        fn()
    except psycopg.Error as e:
        if e.sqlstate != sqlstate:
            fail(f"{what} sqlstate", sqlstate, f"{e.sqlstate} {e}")
        return e
    fail(what, f"error {sqlstate}", "no error")


def run_ddl(conn, *statements):
    """Runs DDL as psycopg does by default: in the transaction it opens,
    committed at the end."""
    for statement in statements:
        conn.execute(statement)
    conn.commit()


def check_ddl_rollback(conn):
    """DDL inside a transaction is undone by its rollback, with its rows."""
    conn.execute("CREATE TABLE ddl_undone (id serial PRIMARY KEY, v text UNIQUE)")
    conn.execute("INSERT INTO ddl_undone (v) VALUES ('a'), ('b')")
    cur = conn.execute("SELECT count(*) FROM ddl_undone")
    check("rows of a table created in the transaction", cur.fetchone(), (2,))
    conn.rollback()
    expect_error("table rolled back", "42P01",
                 lambda: conn.execute("SELECT * FROM ddl_undone"))
    conn.rollback()
    # A migration's flow: columns added and retyped in a transaction.
    conn.execute("CREATE TABLE ddl_migrated (id int PRIMARY KEY, n int)")
    conn.execute("INSERT INTO ddl_migrated VALUES (1, 10), (2, 20)")
    conn.commit()
    conn.execute("ALTER TABLE ddl_migrated ADD COLUMN note text DEFAULT 'new'")
    conn.execute("ALTER TABLE ddl_migrated ALTER COLUMN n TYPE numeric(8, 2)")
    conn.execute("UPDATE ddl_migrated SET note = 'two' WHERE id = 2")
    cur = conn.execute("SELECT n, note FROM ddl_migrated ORDER BY id")
    check("migrated rows in the transaction", cur.fetchall(),
          [(Decimal("10.00"), "new"), (Decimal("20.00"), "two")])
    conn.rollback()
    cur = conn.execute("SELECT * FROM ddl_migrated ORDER BY id")
    check("migration rolled back", cur.fetchall(), [(1, 10), (2, 20)])
    conn.execute("ALTER TABLE ddl_migrated ADD COLUMN note text DEFAULT 'x'")
    conn.commit()
    cur = conn.execute("SELECT * FROM ddl_migrated ORDER BY id")
    check("migration committed", cur.fetchall(), [(1, 10, "x"), (2, 20, "x")])
    conn.execute("DROP TABLE ddl_migrated")
    conn.commit()
    print("ok ddl rollback")


UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
U1 = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
U2 = uuid.UUID("00000000-0000-0000-0000-000000000000")

COLUMNS = [
    # name, SQL type, value of row 1 (edge values), value of row 2
    ("c_int2", "smallint", -32768, 32767),
    ("c_int4", "integer", -2147483648, 42),
    ("c_int8", "bigint", -9223372036854775808, 9223372036854775807),
    ("c_num", "numeric(40,20)", Decimal("-12345678901234567890.12345678901234567890"),
     Decimal("0.00000000000000000001")),
    ("c_numu", "numeric", Decimal("-0.0000000000012345678901234567890123456789"),
     Decimal("1234567890123456789012345678901234567890.5")),
    ("c_float4", "real", -3.25, float("inf")),
    ("c_float8", "double precision", float("nan"), -1.2345678901234567e-300),
    ("c_text", "text", "unicode ✓ 日本語 🚀 'quote' \"dq\" back\\slash", ""),
    ("c_varchar", "varchar(20)", "héllo wörld", "x"),
    ("c_char", "char(5)", "ab   ", "abcde"),
    ("c_bool", "boolean", True, False),
    ("c_bytea", "bytea", b"\x00\x01\xff\\x00\x00", b""),
    ("c_date", "date", dt.date(1999, 12, 31), dt.date(2024, 2, 29)),
    ("c_time", "time", dt.time(23, 59, 59, 999999), dt.time(0, 0)),
    ("c_ts", "timestamp", dt.datetime(2000, 2, 29, 12, 34, 56, 789012), dt.datetime(1970, 1, 1)),
    ("c_tstz", "timestamptz", dt.datetime(2021, 6, 1, 8, 0, 0, 123456, tzinfo=IST),
     dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("c_interval", "interval", dt.timedelta(days=-3, seconds=3661, microseconds=5),
     dt.timedelta(0)),
    ("c_uuid", "uuid", U1, U2),
    ("c_json", "json", {"a": [1, 2, {"b": None}], "u": "ü"}, []),
    ("c_jsonb", "jsonb", {"k": "v", "n": 1.5, "l": [True, None]}, "just a string"),
    ("a_int4", "int4[]", [1, None, -2147483648, 2147483647], []),
    ("a_int8", "int8[]", [], [9223372036854775807, None]),
    ("a_text", "text[]", ["a", None, "with,comma", 'quo"te', "back\\slash", "", "NULL", "ü {x}"],
     ["one"]),
    ("a_float8", "float8[]", [1.5, float("inf"), float("-inf"), 1e-300], [None]),
    ("a_num", "numeric[]", [Decimal("1.10"), None, Decimal("-99999999999999999999.99")],
     [Decimal("-0.5")]),
    ("a_bool", "bool[]", [True, False, None], []),
    ("a_date", "date[]", [dt.date(2024, 1, 1), None], [dt.date(1, 1, 1)]),
    ("a_tstz", "timestamptz[]", [dt.datetime(2020, 1, 1, tzinfo=UTC), None], []),
    ("a_uuid", "uuid[]", [U1, None, U2], []),
]
NAMES = [c[0] for c in COLUMNS]


def adapt(name, value):
    """Wraps the values psycopg cannot infer a type for."""
    if value is None:
        return None
    if name == "c_json":
        return Json(value)
    if name == "c_jsonb":
        return Jsonb(value)
    return value


def expected_rows():
    return [
        (1, *[c[2] for c in COLUMNS]),
        (2, *[c[3] for c in COLUMNS]),
        (3, *[None for _ in COLUMNS]),
    ]


def check_types(conn):
    ddl = ", ".join(f"{n} {t}" for n, t, _, _ in COLUMNS)
    run_ddl(conn, "DROP TABLE IF EXISTS all_types",
            f"CREATE TABLE all_types (id int PRIMARY KEY, {ddl})")
    cols = ", ".join(["id"] + NAMES)
    rows = expected_rows()
    # Row 1 with text parameters, row 2 with binary ones, row 3 all NULL
    # in the default (auto) format.
    for (row, mark) in ((rows[0], "%t"), (rows[1], "%b"), (rows[2], "%s")):
        marks = ", ".join([mark] * len(row))
        params = [row[0]] + [adapt(n, v) for n, v in zip(NAMES, row[1:])]
        conn.execute(f"INSERT INTO all_types ({cols}) VALUES ({marks})", params)
    for binary in (False, True):
        with conn.cursor(binary=binary) as cur:
            cur.execute(f"SELECT {cols} FROM all_types ORDER BY id")
            got = cur.fetchall()
            fmt = "binary" if binary else "text"
            check(f"{fmt} row count", len(got), 3)
            for want, have in zip(rows, got):
                for name, w, h in zip(["id"] + NAMES, want, have):
                    check(f"{fmt} row {want[0]} {name}", h, w)
    # Parameters compared on the server, in both formats.
    for binary in (False, True):
        mark = "%b" if binary else "%t"
        for name, value in zip(NAMES, rows[0][1:]):
            if name in ("c_json", "c_float8"):
                continue  # json has no equality; float8 NaN is checked below
            if name == "c_char" and binary:
                continue  # a binary str is text, and bpchar = text drops the padding
            cur = conn.execute(
                f"SELECT id FROM all_types WHERE {name} = {mark} ORDER BY id",
                [adapt(name, value)],
            )
            check(f"where {name} = param ({'binary' if binary else 'text'})",
                  cur.fetchall(), [(1,)])
    cur = conn.execute("SELECT id FROM all_types WHERE c_float8 = 'NaN'::float8")
    check("NaN = NaN on the server", cur.fetchall(), [(1,)])
    print("ok types: text and binary, parameters and results, NULLs")


def check_dml(conn):
    run_ddl(
        conn,
        "DROP TABLE IF EXISTS items",
        "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL UNIQUE, "
        "qty int DEFAULT 0 CHECK (qty >= 0), price numeric(10,2))"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO items (id, name, qty, price) VALUES (%s, %s, %s, %s)",
            [(i, f"item{i}", i * 10, Decimal(f"{i}.25")) for i in range(1, 21)],
        )
        check("executemany rowcount", cur.rowcount, 20)
        cur.executemany(
            "INSERT INTO items (id, name) VALUES (%s, %s) RETURNING id, qty",
            [(100, "x100"), (101, "x101")],
            returning=True,
        )
        got = []
        while True:
            got.extend(cur.fetchall())
            if not cur.nextset():
                break
        check("executemany returning", got, [(100, 0), (101, 0)])
        cur.execute("UPDATE items SET qty = qty + %s WHERE id BETWEEN %s AND %s", (1, 5, 9))
        check("update rowcount", cur.rowcount, 5)
        cur.execute("DELETE FROM items WHERE id > %(lim)s", {"lim": 18})
        check("delete rowcount", cur.rowcount, 4)
        cur.execute("SELECT count(*), sum(qty), sum(price) FROM items")
        check("aggregate", cur.fetchone(), (18, 1715, Decimal("175.50")))
        cur.execute("SELECT name FROM items WHERE name LIKE %s ORDER BY id LIMIT 3", ("item1%",))
        check("like param", cur.fetchall(), [("item1",), ("item10",), ("item11",)])
    conn.commit()
    print("ok DDL and DML: execute, executemany, returning, rowcount")


def check_transactions(conn):
    class Boom(Exception):
        pass

    try:
        with conn.transaction():
            conn.execute("INSERT INTO items (id, name) VALUES (200, 'gone')")
            raise Boom()
    except Boom:
        pass
    check("transaction() rolled back",
          conn.execute("SELECT count(*) FROM items WHERE id = 200").fetchone(), (0,))
    with conn.transaction():
        conn.execute("INSERT INTO items (id, name) VALUES (201, 'kept')")
        try:
            with conn.transaction():  # a savepoint
                conn.execute("INSERT INTO items (id, name) VALUES (202, 'inner')")
                raise Boom()
        except Boom:
            pass
    check("savepoint rolled back, outer kept",
          conn.execute("SELECT id FROM items WHERE id IN (201, 202)").fetchall(), [(201,)])
    conn.commit()
    conn.execute("UPDATE items SET qty = 999 WHERE id = 1")
    check("status in transaction", conn.info.transaction_status,
          psycopg.pq.TransactionStatus.INTRANS)
    conn.rollback()
    check("conn.rollback()",
          conn.execute("SELECT qty FROM items WHERE id = 1").fetchone(), (10,))
    conn.rollback()
    print("ok transactions: transaction() with savepoint, rollback()")


def check_errors(conn):
    expect_error("unique violation", "23505",
                 lambda: conn.execute("INSERT INTO items (id, name) VALUES (1, 'dup')"))
    expect_error("failed transaction", "25P02", lambda: conn.execute("SELECT 1"))
    conn.rollback()
    e = expect_error("division by zero", "22012", lambda: conn.execute("SELECT 1 / %s", (0,)))
    check("error class", type(e), errors.DivisionByZero)
    conn.rollback()
    e = expect_error("undefined table", "42P01", lambda: conn.execute("SELECT * FROM no_such"))
    check("error class", type(e), errors.UndefinedTable)
    conn.rollback()
    expect_error("check violation", "23514",
                 lambda: conn.execute("UPDATE items SET qty = -1 WHERE id = 2"))
    conn.rollback()
    expect_error("invalid text", "22P02", lambda: conn.execute("SELECT %s::int", ("x1",)))
    conn.rollback()
    expect_error("syntax error", "42601", lambda: conn.execute("SELEC 1"))
    conn.rollback()
    check("usable after errors", conn.execute("SELECT count(*) FROM items").fetchone(), (19,))
    conn.rollback()
    print("ok errors: sqlstate 23505 25P02 22012 42P01 23514 22P02 42601, connection usable")


def check_copy(conn):
    run_ddl(
        conn,
        "DROP TABLE IF EXISTS copied",
        "CREATE TABLE copied (id int PRIMARY KEY, t text, n numeric, ts timestamptz, "
        "b bytea, a int4[], j jsonb)"
    )
    conn.commit()
    rows = [
        (1, "tab\tnew\nline ✓", Decimal("-1.5"), dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
         b"\x00\\", [1, None], {"a": 1}),
        (2, None, None, None, None, None, None),
        (3, "\\N", Decimal("123456.789"), dt.datetime(1999, 1, 1, tzinfo=UTC), b"", [], [1, "x"]),
    ]
    cols = "id, t, n, ts, b, a, j"
    with conn.cursor() as cur:
        with cur.copy(f"COPY copied ({cols}) FROM STDIN") as copy:
            for r in rows[:2]:
                copy.write_row(r[:6] + (None if r[6] is None else Jsonb(r[6]),))
        with cur.copy(f"COPY copied ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "numeric", "timestamptz", "bytea", "int4[]", "jsonb"])
            copy.write_row(rows[2][:6] + (Jsonb(rows[2][6]),))
        check("copy in rowcount", cur.rowcount, 1)
    conn.commit()
    for binary in (False, True):
        with conn.cursor() as cur:
            fmt = " (FORMAT BINARY)" if binary else ""
            with cur.copy(f"COPY (SELECT {cols} FROM copied ORDER BY id) TO STDOUT{fmt}") as copy:
                copy.set_types(["int4", "text", "numeric", "timestamptz", "bytea", "int4[]", "jsonb"])
                got = list(copy.rows())
            check(f"copy out {'binary' if binary else 'text'}", got, rows)
    # COPY TO STDOUT of a table, raw text.
    with conn.cursor() as cur:
        with cur.copy("COPY copied (id, t) TO STDOUT") as copy:
            data = b"".join(bytes(b) for b in copy)
        check("copy out raw", data, b"1\ttab\\tnew\\nline \xe2\x9c\x93\n2\t\\N\n3\t\\\\N\n")
    conn.commit()

    # A bad row fails the whole COPY with its SQLSTATE and leaves nothing.
    def bad_copy(lines):
        with conn.cursor() as cur:
            with cur.copy("COPY copied (id, t) FROM STDIN") as copy:
                for line in lines:
                    copy.write(line)

    expect_error("copy bad integer", "22P02",
                 lambda: bad_copy([b"10\tok\n", b"11\tok\n", b"x\tbad\n"]))
    conn.rollback()
    expect_error("copy duplicate key", "23505",
                 lambda: bad_copy([b"12\tok\n", b"1\tdup\n"]))
    conn.rollback()
    expect_error("copy missing column", "22P04", lambda: bad_copy([b"13\n"]))
    conn.rollback()
    check("failed copies left nothing",
          conn.execute("SELECT id FROM copied ORDER BY id").fetchall(), [(1,), (2,), (3,)])
    conn.commit()
    print("ok COPY: text and binary in and out, bad rows 22P02/23505/22P04 leave nothing")


def check_prepared(conn):
    with conn.cursor() as cur:
        for i in range(3):
            cur.execute("SELECT name, qty FROM items WHERE id = %s", (i + 1,), prepare=True)
            check(f"prepared execution {i}", cur.fetchone(), (f"item{i + 1}", (i + 1) * 10))
        # The server lists psycopg's statement: Parsed (not from SQL PREPARE),
        # its int parameter sent as a smallint, executed three times.
        cur.execute(
            "SELECT statement, parameter_types::text, from_sql, generic_plans + custom_plans"
            " FROM pg_prepared_statements WHERE statement LIKE 'SELECT name, qty FROM items%'"
        )
        check("pg_prepared_statements", cur.fetchall(),
              [("SELECT name, qty FROM items WHERE id = $1", "{smallint}", False, 3)])
        # A rollback makes psycopg drop its statements with DEALLOCATE ALL.
        conn.rollback()
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        check("pg_prepared_statements after DEALLOCATE ALL", cur.fetchone(), (0,))
        conn.rollback()
        cur.execute("SELECT name, qty FROM items WHERE id = %s", (2,), prepare=True)
        check("prepared after DEALLOCATE ALL", cur.fetchone(), ("item2", 20))
        # SQL PREPARE / EXECUTE through psycopg, beside its own statements.
        cur.execute("PREPARE by_qty (int) AS SELECT name FROM items WHERE qty = $1")
        cur.execute("EXECUTE by_qty (30)")
        check("EXECUTE", cur.fetchall(), [("item3",)])
        check("EXECUTE rowcount", cur.rowcount, 1)
        cur.execute("SELECT from_sql FROM pg_prepared_statements WHERE name = 'by_qty'")
        check("PREPAREd is from SQL", cur.fetchall(), [(True,)])
        cur.execute("DEALLOCATE by_qty")
        # Automatic preparation after prepare_threshold executions.
        conn.prepare_threshold = 2
        for i in range(4):
            cur.execute("SELECT %s::int + 1", (i,))
            check("auto prepared", cur.fetchone(), (i + 1,))
        cur.execute("SELECT %b::bigint * 2", (21,), prepare=True)
        check("prepared binary param", cur.fetchone(), (42,))
    conn.rollback()
    print("ok prepared statements: prepare=True, prepare_threshold")


def check_introspection(conn):
    for name, oid, array_oid in (("int4", 23, 1007), ("text", 25, 1009),
                                 ("timestamptz", 1184, 1185), ("jsonb", 3802, 3807),
                                 ("uuid", 2950, 2951), ("numeric", 1700, 1231)):
        info = TypeInfo.fetch(conn, name)
        if info is None:
            fail(f"TypeInfo.fetch({name})", "a TypeInfo", None)
        check(f"{name} oid", info.oid, oid)
        check(f"{name} array oid", info.array_oid, array_oid)
    info = TypeInfo.fetch(conn, "int4[]")
    check("int4[] oid", info.oid, 1007)
    check("unknown type", TypeInfo.fetch(conn, "no_such_type"), None)
    conn.rollback()
    print("ok type introspection: TypeInfo.fetch")


BIG_ROWS = 10_000


def check_server_cursors(conn):
    """Named cursors: psycopg sends DECLARE, then FETCH FORWARD itersize
    until a short batch, MOVE for scroll(), CLOSE at close()."""
    run_ddl(conn, "DROP TABLE IF EXISTS big",
            "CREATE TABLE big (id int PRIMARY KEY, v text)",
            f"INSERT INTO big SELECT i, 'row ' || i FROM generate_series(1, {BIG_ROWS}) i")
    with conn.cursor(name="big_cur") as cur:
        cur.itersize = 1000
        cur.execute("SELECT id, v FROM big WHERE id > %s ORDER BY id", (0,))
        check("named cursor description", [d.name for d in cur.description], ["id", "v"])
        check("pg_cursors lists it",
              conn.execute("SELECT name, is_holdable, is_scrollable FROM pg_cursors").fetchall(),
              [("big_cur", False, True)])
        ids = [row[0] for row in cur]
        check("named cursor row count", len(ids), BIG_ROWS)
        check("named cursor order", ids, list(range(1, BIG_ROWS + 1)))
    conn.commit()
    with conn.cursor(name="many") as cur:
        cur.execute("SELECT id FROM big ORDER BY id")
        check("fetchone", cur.fetchone(), (1,))
        check("fetchmany", cur.fetchmany(3), [(2,), (3,), (4,)])
        cur.scroll(10)
        check("scroll relative", cur.fetchone(), (15,))
        cur.scroll(2, mode="absolute")
        check("scroll absolute", cur.fetchone(), (3,))
        cur.scroll(-2)
        check("scroll back", cur.fetchone(), (2,))
        check("fetchall rest", len(cur.fetchall()), BIG_ROWS - 2)
    conn.commit()
    with conn.cursor(name="noscroll", scrollable=False) as cur:
        cur.execute("SELECT id FROM big ORDER BY id")
        cur.fetchmany(5)
        expect_error("scroll back without SCROLL", "55000", lambda: cur.scroll(-1))
    conn.rollback()
    # The snapshot of DECLARE: rows changed after it are not seen.
    with conn.cursor(name="snap") as cur:
        cur.execute("SELECT id, v FROM big WHERE id <= 3 ORDER BY id")
        conn.execute("UPDATE big SET v = 'changed' WHERE id = 2")
        check("cursor snapshot", cur.fetchall(), [(1, "row 1"), (2, "row 2"), (3, "row 3")])
    conn.rollback()
    with conn.cursor(name="held", withhold=True) as cur:
        cur.execute("SELECT id FROM big WHERE id <= %s ORDER BY id", (5,))
        conn.commit()
        check("WITH HOLD after commit", cur.fetchall(), [(1,), (2,), (3,), (4,), (5,)])
    conn.commit()
    check("closed cursors are gone",
          conn.execute("SELECT count(*) FROM pg_cursors").fetchone(), (0,))
    conn.rollback()
    expect_error("FETCH from no cursor", "34000",
                 lambda: conn.execute("FETCH 1 FROM no_such_cursor"))
    conn.rollback()
    print("ok server cursors: itersize batches, scroll, WITH HOLD, snapshot")


async def check_async_cursors(aconn):
    async with aconn.cursor(name="async_big") as cur:
        cur.itersize = 777
        await cur.execute("SELECT id FROM big ORDER BY id")
        ids = [row[0] async for row in cur]
        check("async named cursor", ids, list(range(1, BIG_ROWS + 1)))
        await cur.scroll(0, mode="absolute")
        check("async scroll to start", await cur.fetchone(), (1,))
    await aconn.commit()


async def check_async():
    aconn = await psycopg.AsyncConnection.connect()
    try:
        # DDL in the transaction psycopg opens, as in run_ddl.
        await aconn.execute("DROP TABLE IF EXISTS async_t")
        await aconn.execute("CREATE TABLE async_t (id int PRIMARY KEY, v text, ts timestamptz)")
        await aconn.commit()
        async with aconn.cursor() as cur:
            await cur.executemany("INSERT INTO async_t VALUES (%s, %s, %s)",
                                  [(i, f"v{i}", dt.datetime(2020, 1, i, tzinfo=UTC))
                                   for i in range(1, 6)])
            await aconn.commit()
            await cur.execute("SELECT id, v, ts FROM async_t WHERE id >= %s ORDER BY id", (4,))
            check("async select", await cur.fetchall(),
                  [(4, "v4", dt.datetime(2020, 1, 4, tzinfo=UTC)),
                   (5, "v5", dt.datetime(2020, 1, 5, tzinfo=UTC))])
        async with aconn.cursor(binary=True) as cur:
            await cur.execute("SELECT %s::numeric[], %s::uuid, %s::bytea",
                              ([Decimal("-1.5"), None], U1, b"\x00"))
            check("async binary", await cur.fetchone(), ([Decimal("-1.5"), None], U1, b"\x00"))
        try:
            async with aconn.transaction():
                await aconn.execute("UPDATE async_t SET v = 'changed'")
                await aconn.execute("INSERT INTO async_t VALUES (1, 'dup', now())")
        except errors.UniqueViolation as e:
            check("async sqlstate", e.sqlstate, "23505")
        else:
            fail("async unique violation", "23505", "no error")
        cur = await aconn.execute("SELECT count(*) FROM async_t WHERE v = 'changed'")
        check("async rolled back", await cur.fetchone(), (0,))
        async with aconn.cursor() as cur:
            async with cur.copy("COPY async_t (id, v) FROM STDIN") as copy:
                await copy.write_row((10, "copied"))
            async with cur.copy("COPY (SELECT v FROM async_t WHERE id = 10) TO STDOUT") as copy:
                got = [r async for r in copy.rows()]
            check("async copy", got, [("copied",)])
        await aconn.rollback()
        await check_async_cursors(aconn)
        await aconn.set_autocommit(True)
        async with aconn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM async_t")
            check("async copy rolled back", await cur.fetchone(), (5,))
            await cur.execute("DROP TABLE async_t")
    finally:
        await aconn.close()
    print("ok async: AsyncConnection DML, binary, transaction, COPY")


def main():
    with psycopg.connect() as conn:
        check("server_version", conn.info.server_version // 10000, 15)
        check("select 1", conn.execute("SELECT 1").fetchone(), (1,))
        conn.rollback()
        print("ok connect")
        check_ddl_rollback(conn)
        check_dml(conn)
        check_transactions(conn)
        check_errors(conn)
        check_types(conn)
        conn.commit()
        check_copy(conn)
        check_prepared(conn)
        check_introspection(conn)
        check_server_cursors(conn)
    asyncio.run(check_async())
    with psycopg.connect(autocommit=True) as conn:
        for t in ("all_types", "items", "copied", "big"):
            conn.execute(f"DROP TABLE {t}")
    print("ok all")


if __name__ == "__main__":
    main()

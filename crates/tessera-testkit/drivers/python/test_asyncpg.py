"""asyncpg against the server in PGHOST/PGPORT/PGUSER/PGDATABASE.

Connect, DDL, fetch/execute/executemany with parameters, every supported
type (asyncpg uses the binary format for builtin types), arrays, jsonb with
the default and a custom codec, numerics, timestamps, its type
introspection (also of an enum type and an array of one), transactions
with rollback, errors and their SQLSTATE,
prepared statements, cursors, and its pool with the reset it runs on
release. Prints one line per check group; exits non-zero on the first
failure.
"""

import asyncio
import datetime as dt
import json
import math
import sys
import uuid
from decimal import Decimal

import asyncpg


def fail(what, expected, got):
    print(f"FAIL {what}: expected {expected!r}, got {got!r}")
    sys.exit(1)


def same(a, b):
    """Equality that also holds for NaN, element-wise over lists and tuples."""
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(b, uuid.UUID):
        # asyncpg returns its own subclass of uuid.UUID.
        return isinstance(a, uuid.UUID) and a == b
    return type(a) is type(b) and a == b


def check(what, got, expected):
    if not same(got, expected):
        fail(what, expected, got)


async def expect_error(what, sqlstate, coro):
    try:
        await coro
    except asyncpg.PostgresError as e:
        if e.sqlstate != sqlstate:
            fail(f"{what} sqlstate", sqlstate, f"{e.sqlstate} {e}")
        return e
    fail(what, f"error {sqlstate}", "no error")


UTC = dt.timezone.utc
PLUS3 = dt.timezone(dt.timedelta(hours=3))
U1 = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
U2 = uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")

COLUMNS = [
    # name, SQL type, value of row 1 (edge values), value of row 2
    ("c_int2", "smallint", -32768, 32767),
    ("c_int4", "integer", 2147483647, 0),
    ("c_int8", "bigint", -9223372036854775808, 1),
    ("c_num", "numeric(40,20)", Decimal("-12345678901234567890.12345678901234567890"),
     Decimal("0.00000000000000000001")),
    ("c_numu", "numeric", Decimal("-99999999999999999999999999999999999999999"),
     Decimal("0.000000000000000000000000000000000000001")),
    ("c_float4", "real", 1.5, float("-inf")),
    ("c_float8", "double precision", float("nan"), 2.2250738585072014e-308),
    ("c_text", "text", "unicode ✓ 日本語 🚀 'q' \"dq\" \\ \t\n", ""),
    ("c_varchar", "varchar(20)", "héllo", "y"),
    ("c_char", "char(5)", "ab   ", "abcde"),
    ("c_bool", "boolean", False, True),
    ("c_bytea", "bytea", b"\x00\xff\x00\\x", b""),
    ("c_date", "date", dt.date(2000, 1, 1), dt.date(1, 1, 1)),
    ("c_time", "time", dt.time(12, 0, 0, 1), dt.time(23, 59, 59, 999999)),
    ("c_ts", "timestamp", dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
     dt.datetime(2038, 1, 19, 3, 14, 8)),
    ("c_tstz", "timestamptz", dt.datetime(2021, 6, 1, 8, 0, 0, 123456, tzinfo=UTC),
     dt.datetime(1900, 1, 1, tzinfo=UTC)),
    ("c_interval", "interval", dt.timedelta(days=400, seconds=5, microseconds=7),
     dt.timedelta(days=-1, seconds=1)),
    ("c_uuid", "uuid", U1, U2),
    ("c_json", "json", '{"a": [1, 2, {"b": null}], "u": "ü"}', "[]"),
    ("c_jsonb", "jsonb", '{"k": "v", "l": [true, null], "n": 1.5}', '"s"'),
    ("a_int4", "int4[]", [1, None, -2147483648, 2147483647], []),
    ("a_int8", "int8[]", [], [9223372036854775807, None]),
    ("a_text", "text[]", ["a", None, "with,comma", 'quo"te', "back\\slash", "", "NULL", "ü {x}"],
     ["one"]),
    ("a_float8", "float8[]", [1.5, float("inf"), float("-inf"), 1e-300], [None]),
    ("a_num", "numeric[]", [Decimal("1.10"), None, Decimal("-99999999999999999999.99")],
     [Decimal("0")]),
    ("a_bool", "bool[]", [True, False, None], []),
    ("a_date", "date[]", [dt.date(2024, 2, 29), None], [dt.date(1970, 1, 1)]),
    ("a_tstz", "timestamptz[]", [dt.datetime(2020, 1, 1, tzinfo=UTC), None], []),
    ("a_uuid", "uuid[]", [U1, None, U2], []),
]
NAMES = [c[0] for c in COLUMNS]


async def check_types(conn):
    ddl = ", ".join(f"{n} {t}" for n, t, _, _ in COLUMNS)
    await conn.execute("DROP TABLE IF EXISTS all_types")
    await conn.execute(f"CREATE TABLE all_types (id int PRIMARY KEY, {ddl})")
    cols = ", ".join(["id"] + NAMES)
    marks = ", ".join(f"${i + 1}" for i in range(len(NAMES) + 1))
    rows = [
        (1, *[c[2] for c in COLUMNS]),
        (2, *[c[3] for c in COLUMNS]),
        (3, *[None for _ in COLUMNS]),
    ]
    await conn.executemany(f"INSERT INTO all_types ({cols}) VALUES ({marks})", rows)
    got = await conn.fetch(f"SELECT {cols} FROM all_types ORDER BY id")
    check("row count", len(got), 3)
    for want, have in zip(rows, got):
        for name, w, h in zip(["id"] + NAMES, want, tuple(have)):
            check(f"row {want[0]} {name}", h, w)
    # Each value as a parameter, compared on the server.
    for (name, sql_type, value, _) in COLUMNS:
        if name in ("c_json", "c_float8"):
            continue  # json has no equality; NaN is checked below
        ids = await conn.fetch(f"SELECT id FROM all_types WHERE {name} = $1::{sql_type}", value)
        check(f"where {name} = $1", [r["id"] for r in ids], [1])
    check("NaN = NaN on the server",
          await conn.fetchval("SELECT id FROM all_types WHERE c_float8 = $1", float("nan")), 1)
    # Text output of the same values, compared with PostgreSQL's.
    text = await conn.fetchrow(
        "SELECT c_num::text, c_float4::text, c_bytea::text, c_tstz::text, c_interval::text, "
        "a_text::text, a_float8::text FROM all_types WHERE id = 1")
    check("text output", tuple(text), (
        "-12345678901234567890.12345678901234567890", "1.5", "\\x00ff005c78",
        "2021-06-01 08:00:00.123456+00", "400 days 00:00:05.000007",
        '{a,NULL,"with,comma","quo\\"te","back\\\\slash","","NULL","ü {x}"}',
        "{1.5,Infinity,-Infinity,1e-300}"))
    print("ok types: every type in binary, parameters and results, NULLs")


async def check_json_numeric_timestamps(conn):
    # Default codec: json and jsonb are str.
    check("jsonb default codec", await conn.fetchval("SELECT $1::jsonb", '{"b": 2, "a": [1]}'),
          '{"a": [1], "b": 2}')
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    doc = {"n": None, "list": [1, 2.5, "x"], "nested": {"ü": True}}
    check("jsonb custom codec", await conn.fetchval("SELECT $1::jsonb", doc), doc)
    check("jsonb -> ", await conn.fetchval("SELECT $1::jsonb -> 'nested'", doc), {"ü": True})
    check("json custom codec", await conn.fetchval("SELECT $1::json", [1, {"a": None}]),
          [1, {"a": None}])
    check("jsonb[]", await conn.fetchval("SELECT ARRAY[$1::jsonb, NULL]", doc), [doc, None])
    await conn.reset_type_codec("jsonb", schema="pg_catalog")
    await conn.reset_type_codec("json", schema="pg_catalog")

    for value in (Decimal("-1234567890.123456789012345678"), Decimal("0.00000000000000000001"),
                  Decimal("79228162514264337593543950335"[:28]), Decimal("-0.5"), Decimal("0")):
        check(f"numeric {value}", await conn.fetchval("SELECT $1::numeric", value), value)
    check("numeric arithmetic",
          await conn.fetchval("SELECT $1::numeric / 3", Decimal("1")),
          Decimal("0.33333333333333333333"))
    check("numeric typmod rounds",
          await conn.fetchval("SELECT $1::numeric(6,2)", Decimal("1234.565")), Decimal("1234.57"))
    await expect_error("numeric overflow", "22003",
                       conn.fetchval("SELECT $1::numeric(3,1)", Decimal("123.4")))

    aware = dt.datetime(2024, 3, 31, 1, 30, tzinfo=PLUS3)
    check("timestamptz aware", await conn.fetchval("SELECT $1::timestamptz", aware), aware)
    check("timestamptz comes back in UTC",
          (await conn.fetchval("SELECT $1::timestamptz", aware)).utcoffset(), dt.timedelta(0))
    naive = dt.datetime(2024, 3, 31, 1, 30, 0, 5)
    check("timestamp naive", await conn.fetchval("SELECT $1::timestamp", naive), naive)
    check("timestamp + interval",
          await conn.fetchval("SELECT $1::timestamp + $2::interval", naive,
                              dt.timedelta(days=1, hours=2)),
          dt.datetime(2024, 4, 1, 3, 30, 0, 5))
    await conn.execute("SET TimeZone = 'America/New_York'")
    check("timestamptz in another zone",
          await conn.fetchval("SELECT '2024-07-01 12:00:00'::timestamptz"),
          dt.datetime(2024, 7, 1, 16, 0, tzinfo=UTC))
    await conn.execute("RESET TimeZone")
    # asyncpg reads and writes the infinities as datetime.max and min.
    inf = await conn.fetchrow(
        "SELECT 'infinity'::timestamp, '-infinity'::timestamp, 'infinity'::timestamptz, "
        "'infinity'::date, '-infinity'::date")
    check("infinity timestamp", inf[0], dt.datetime.max)
    check("-infinity timestamp", inf[1], dt.datetime.min)
    check("infinity timestamptz", inf[2], dt.datetime.max)  # naive, as asyncpg decodes it
    check("infinity date", inf[3], dt.date.max)
    check("-infinity date", inf[4], dt.date.min)
    check("infinity parameter",
          await conn.fetchval("SELECT $1::timestamp::text", dt.datetime.max), "infinity")
    check("-infinity date parameter",
          await conn.fetchval("SELECT $1::date::text", dt.date.min), "-infinity")
    print("ok jsonb codecs, numerics, timestamps (aware, naive, infinity)")


async def check_introspection():
    # On a new connection, the first use of types asyncpg has no builtin
    # codec for (arrays among them) runs its big catalog query (WITH
    # RECURSIVE typeinfo_tree …, after set_config('jit', …)) for all of
    # them at once. (Range and composite types: Tessera has none.)
    conn = await asyncpg.connect()
    jit_before = await conn.fetchval("SHOW jit")
    row = await conn.fetchrow(
        "SELECT $1::int2[] AS a, $2::oid[] AS b, $3::char(2)[] AS c, $4::interval[] AS d",
        [1, None], [23, 25], ["ab", None], [dt.timedelta(hours=1)])
    check("introspected arrays", tuple(row),
          ([1, None], [23, 25], ["ab", None], [dt.timedelta(hours=1)]))
    check("jit as before the introspection", await conn.fetchval("SHOW jit"), jit_before)
    check("int4[] of int4[]", await conn.fetchval("SELECT ARRAY[1, NULL, 3]::int4[]"), [1, None, 3])
    check("text[] parameter", await conn.fetchval("SELECT $1::text[]", ["a", None]), ["a", None])
    check("bigint[] from a query",
          await conn.fetchval("SELECT array_agg(x::int8 ORDER BY x) FROM generate_series(1, 3) x"),
          [1, 2, 3])
    stmt = await conn.prepare("SELECT $1::varchar[] AS v, $2::uuid[] AS u")
    check("prepared parameter types", [t.name for t in stmt.get_parameters()],
          ["varchar[]", "uuid[]"])
    check("prepared attribute types", [(a.name, a.type.name) for a in stmt.get_attributes()],
          [("v", "varchar[]"), ("u", "uuid[]")])
    await conn.close()
    print("ok type introspection: non-builtin types and arrays")


async def check_enum():
    # A fresh connection: the enum's oid is unknown to asyncpg, so it runs
    # its type introspection (pg_type.typtype 'e', then the labels), and
    # exchanges values as text.
    setup = await asyncpg.connect()
    await setup.execute("DROP TABLE IF EXISTS ap_feelings; DROP TYPE IF EXISTS ap_mood; "
                        "CREATE TYPE ap_mood AS ENUM ('sad', 'ok', 'happy'); "
                        "CREATE TABLE ap_feelings (id int PRIMARY KEY, mood ap_mood NOT NULL)")
    await setup.close()
    conn = await asyncpg.connect()
    try:
        await conn.executemany("INSERT INTO ap_feelings VALUES ($1, $2)",
                               [(1, "happy"), (2, "sad"), (3, "ok")])
        rows = await conn.fetch("SELECT id, mood FROM ap_feelings ORDER BY mood")
        check("enum fetched in declared order", [tuple(r) for r in rows],
              [(2, "sad"), (3, "ok"), (1, "happy")])
        check("enum parameter", await conn.fetchval(
            "SELECT id FROM ap_feelings WHERE mood = $1", "ok"), 3)
        check("enum comparison with a parameter", [r["id"] for r in await conn.fetch(
            "SELECT id FROM ap_feelings WHERE mood > $1 ORDER BY id", "sad")], [1, 3])
        stmt = await conn.prepare("SELECT mood FROM ap_feelings WHERE id = $1")
        attr = stmt.get_attributes()[0]
        check("introspected enum type", (attr.type.name, attr.type.kind, attr.type.schema),
              ("ap_mood", "scalar", "public"))
        await expect_error("unknown label", "22P02",
                           conn.execute("INSERT INTO ap_feelings VALUES ($1, $2)", 4, "glad"))
        check("nothing inserted by the failed statement",
              await conn.fetchval("SELECT count(*) FROM ap_feelings"), 3)
    finally:
        await conn.execute("DROP TABLE ap_feelings; DROP TYPE ap_mood")
        await conn.close()
    print("ok enum: introspection, fetch in declared order, parameters, bad label")


async def check_dml(conn):
    await conn.execute("DROP TABLE IF EXISTS accounts")
    await conn.execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, "
        "balance numeric(12,2) NOT NULL DEFAULT 0 CHECK (balance >= 0), "
        "opened timestamptz DEFAULT now(), tags text[])")
    status = await conn.execute(
        "INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3), ($4, $5, $6)",
        1, "ann", Decimal("100.00"), 2, "bob", Decimal("50.50"))
    check("insert status", status, "INSERT 0 2")
    await conn.executemany(
        "INSERT INTO accounts (id, owner, balance, tags) VALUES ($1, $2, $3, $4)",
        [(i, f"user{i}", Decimal(i), [f"t{i}", None]) for i in range(3, 53)])
    check("count", await conn.fetchval("SELECT count(*) FROM accounts"), 52)
    row = await conn.fetchrow(
        "UPDATE accounts SET balance = balance + $1 WHERE id = $2 RETURNING id, balance",
        Decimal("0.25"), 2)
    check("update returning", (row["id"], row["balance"]), (2, Decimal("50.75")))
    check("delete status", await conn.execute("DELETE FROM accounts WHERE id > $1", 50),
          "DELETE 2")
    check("sum", await conn.fetchval("SELECT sum(balance) FROM accounts"), Decimal("1422.75"))
    check("array param any",
          [r["owner"] for r in await conn.fetch(
              "SELECT owner FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id", [1, 3, 99])],
          ["ann", "user3"])
    check("array column", await conn.fetchval("SELECT tags FROM accounts WHERE id = 7"),
          ["t7", None])
    print("ok DDL and DML: execute, executemany, fetch, fetchrow, fetchval")


async def check_transactions(conn):
    class Boom(Exception):
        pass

    try:
        async with conn.transaction():
            await conn.execute("UPDATE accounts SET balance = 0")
            raise Boom()
    except Boom:
        pass
    check("transaction rolled back",
          await conn.fetchval("SELECT balance FROM accounts WHERE id = 1"), Decimal("100.00"))
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
        try:
            async with conn.transaction():  # a savepoint
                await conn.execute("UPDATE accounts SET balance = balance - 1000 WHERE id = 2")
        except asyncpg.CheckViolationError as e:
            check("check violation in savepoint", e.sqlstate, "23514")
        else:
            fail("check violation", "23514", "no error")
        await conn.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2")
    check("outer committed, savepoint rolled back",
          [tuple(r) for r in await conn.fetch(
              "SELECT id, balance FROM accounts WHERE id IN (1, 2) ORDER BY id")],
          [(1, Decimal("90.00")), (2, Decimal("60.75"))])
    tr = conn.transaction()
    await tr.start()
    await conn.execute("DELETE FROM accounts")
    await tr.rollback()
    check("explicit rollback", await conn.fetchval("SELECT count(*) FROM accounts"), 50)
    # A cursor (a portal read in batches) inside a transaction.
    async with conn.transaction():
        ids = [r["id"] async for r in conn.cursor(
            "SELECT id FROM accounts WHERE id <= $1 ORDER BY id", 20, prefetch=7)]
        check("cursor iteration", ids, list(range(1, 21)))
        cur = await conn.cursor("SELECT id FROM accounts ORDER BY id")
        check("cursor fetch", [r["id"] for r in await cur.fetch(3)], [1, 2, 3])
        # Cursor.forward sends MOVE FORWARD n on the cursor's portal.
        check("cursor forward", await cur.forward(2), 2)
        check("cursor fetch after forward", [r["id"] for r in await cur.fetch(2)], [6, 7])
        check("cursor fetchrow", (await cur.fetchrow())["id"], 8)
        check("cursor forward past the end", await cur.forward(100), 42)
        check("cursor fetch at the end", await cur.fetch(1), [])
    print("ok transactions: rollback, savepoint, isolation, cursors")


async def check_errors(conn):
    e = await expect_error("unique violation", "23505",
                           conn.execute("INSERT INTO accounts (id, owner) VALUES (1, 'dup')"))
    check("error class", type(e), asyncpg.UniqueViolationError)
    check("error constraint", e.constraint_name, "accounts_pkey")
    check("error table", (e.schema_name, e.table_name), ("public", "accounts"))
    await expect_error("division by zero", "22012", conn.fetchval("SELECT 1 / $1::int", 0))
    await expect_error("undefined table", "42P01", conn.fetch("SELECT * FROM no_such_table"))
    await expect_error("undefined column", "42703", conn.fetch("SELECT nope FROM accounts"))
    await expect_error("not null", "23502",
                       conn.execute("INSERT INTO accounts (id) VALUES ($1)", 1000))
    await expect_error("bad array literal", "22P02", conn.fetchval("SELECT '{1,'::int4[]"))
    async with conn.transaction():
        await conn.execute("SELECT 1")
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 / 0")
        except asyncpg.DivisionByZeroError:
            pass
        check("usable after savepoint error", await conn.fetchval("SELECT 2"), 2)
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 / 0")
    except asyncpg.DivisionByZeroError:
        pass
    check("usable after errors", await conn.fetchval("SELECT count(*) FROM accounts"), 50)
    print("ok errors: sqlstate 23505 22012 42P01 42703 23502 22P02, connection usable")


async def check_prepared(conn):
    stmt = await conn.prepare("SELECT owner, balance FROM accounts WHERE id = $1")
    for i in (1, 2, 3):
        row = await stmt.fetchrow(i)
        check(f"prepared fetchrow {i}", row["owner"], ["ann", "bob", "user3"][i - 1])
    check("prepared fetchval column", await stmt.fetchval(3, column=1), Decimal("3.00"))
    many = await conn.prepare("SELECT id FROM accounts WHERE id BETWEEN $1 AND $2 ORDER BY id")
    check("prepared fetch", [r[0] for r in await many.fetch(10, 12)], [10, 11, 12])
    check("explain", isinstance(await conn.fetchval("EXPLAIN SELECT 1"), str), True)
    print("ok prepared statements")


async def check_pool():
    pool = await asyncpg.create_pool(min_size=2, max_size=4)
    try:
        check("pool size", pool.get_size(), 2)
        for round_ in range(3):
            async with pool.acquire() as conn:
                check(f"search_path reset ({round_})",
                      await conn.fetchval("SHOW search_path"), '"$user", public')
                check(f"application_name reset ({round_})",
                      await conn.fetchval("SHOW application_name"), "")
                await conn.execute("SET search_path = pg_catalog")
                await conn.execute("SET application_name = 'pooled'")
                check("advisory lock", await conn.fetchval("SELECT pg_try_advisory_lock(42)"), True)
                await conn.execute("LISTEN pool_channel")
        # Four connections at once, each working.
        async def work(i):
            async with pool.acquire() as conn:
                await asyncio.sleep(0.05)
                return await conn.fetchval("SELECT $1::int * 2", i)
        check("concurrent acquires", await asyncio.gather(*(work(i) for i in range(8))),
              [i * 2 for i in range(8)])
        check("pool grew to max", pool.get_size(), 4)
        # The reset released the advisory lock: another session takes it.
        async with pool.acquire() as a, pool.acquire() as b:
            check("advisory lock released by the reset",
                  (await a.fetchval("SELECT pg_try_advisory_lock(42)"),
                   await b.fetchval("SELECT pg_try_advisory_lock(42)")), (True, False))
        check("pool fetchval", await pool.fetchval("SELECT current_setting('search_path')"),
              '"$user", public')
    finally:
        await pool.close()
    print("ok pool: acquire/release reset, concurrency")


async def main():
    conn = await asyncpg.connect()
    try:
        version = conn.get_server_version()
        check("server major version", version.major, 15)
        check("select 1", await conn.fetchval("SELECT 1"), 1)
        print("ok connect")
        await check_types(conn)
        await check_json_numeric_timestamps(conn)
        await check_introspection()
        await check_enum()
        await check_dml(conn)
        await check_transactions(conn)
        await check_errors(conn)
        await check_prepared(conn)
    finally:
        await conn.close()
    await check_pool()
    conn = await asyncpg.connect()
    await conn.execute("DROP TABLE all_types; DROP TABLE accounts")
    await conn.close()
    print("ok all")


asyncio.run(main())

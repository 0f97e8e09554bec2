// node-postgres (`pg`) against a server named by PGHOST/PGPORT/PGUSER/PGDATABASE
// (run by crates/tessera-testkit/tests/drivers_node_pg.rs). Prints one line per
// check group; exits non-zero on the first check that fails, with what it
// expected and what it got. The expected values were taken from PostgreSQL 15.
process.env.TZ = 'UTC' // pg turns date/timestamp text into local-time Dates

import { check, expectError } from './check.mjs'
import pg from 'pg'

const { Client, Pool, Query } = pg

const client = new Client()
await client.connect()

// -- connect: the session the driver asked for
{
  const r = await client.query('SELECT current_user AS u, 1 + 1 AS two')
  check('connect', r.rows, [{ u: process.env.PGUSER, two: 2 }])
  check('client_encoding', (await client.query('SHOW client_encoding')).rows, [{ client_encoding: 'UTF8' }])
  console.log('connect ok')
}

// -- DDL
await client.query('DROP TABLE IF EXISTS items')
await client.query(`CREATE TABLE items (
  id integer PRIMARY KEY,
  name text NOT NULL,
  price numeric(10,2),
  tags text[] DEFAULT '{}'
)`)
await client.query('CREATE INDEX items_name ON items (name)')
check('DDL: table in pg_tables',
  (await client.query("SELECT tablename FROM pg_tables WHERE tablename = 'items'")).rows,
  [{ tablename: 'items' }])
console.log('ddl ok')

// -- parameterised DML (unnamed extended protocol)
{
  for (let i = 1; i <= 20; i++) {
    const r = await client.query('INSERT INTO items (id, name, price, tags) VALUES ($1, $2, $3, $4)',
      [i, `item ${i}`, (i * 1.25).toFixed(2), [`t${i % 3}`, 'all']])
    check('insert rowCount', [r.command, r.rowCount], ['INSERT', 1])
  }
  const up = await client.query('UPDATE items SET price = price + $1 WHERE id <= $2 RETURNING id, price',
    ['0.50', 5])
  check('update rowCount', [up.command, up.rowCount], ['UPDATE', 5])
  check('update returning', up.rows.map(r => [r.id, r.price]).sort((a, b) => a[0] - b[0]),
    [[1, '1.75'], [2, '3.00'], [3, '4.25'], [4, '5.50'], [5, '6.75']])
  const del = await client.query('DELETE FROM items WHERE id > $1', [15])
  check('delete rowCount', [del.command, del.rowCount], ['DELETE', 5])
  const sel = await client.query('SELECT id, name, price, tags FROM items WHERE name = $1 OR id = $2 ORDER BY id',
    ['item 7', 12])
  check('select with params', sel.rows, [
    { id: 7, name: 'item 7', price: '8.75', tags: ['t1', 'all'] },
    { id: 12, name: 'item 12', price: '15.00', tags: ['t0', 'all'] },
  ])
  check('select fields', sel.fields.map(f => [f.name, f.dataTypeID]),
    [['id', 23], ['name', 25], ['price', 1700], ['tags', 1009]])
  const agg = await client.query('SELECT count(*) AS n, sum(price) AS total FROM items WHERE $1::text[] && tags',
    [['t2']])
  check('array parameter', agg.rows, [{ n: '5', total: '51.00' }])
  console.log('parameterised dml ok')
}

// -- simple protocol: no values, several statements in one query
{
  const rs = await client.query(`INSERT INTO items (id, name) VALUES (100, 'simple');
    UPDATE items SET price = 1 WHERE id = 100;
    SELECT id, name, price FROM items WHERE id = 100;
    DELETE FROM items WHERE id = 100`)
  check('multi-statement result count', rs.length, 4)
  check('multi-statement commands', rs.map(r => [r.command, r.rowCount]),
    [['INSERT', 1], ['UPDATE', 1], ['SELECT', 1], ['DELETE', 1]])
  check('multi-statement rows', rs[2].rows, [{ id: 100, name: 'simple', price: '1.00' }])
  console.log('simple protocol ok')
}

// -- named prepared statements: parsed once, executed with different values
{
  const byId = id => ({ name: 'item_by_id', text: 'SELECT name, price FROM items WHERE id = $1', values: [id] })
  check('named statement 1', (await client.query(byId(3))).rows, [{ name: 'item 3', price: '4.25' }])
  check('named statement 2', (await client.query(byId(9))).rows, [{ name: 'item 9', price: '11.25' }])
  check('named statement, no row', (await client.query(byId(999))).rows, [])
  const ins = { name: 'item_ins', text: 'INSERT INTO items (id, name) VALUES ($1, $2)' }
  await client.query({ ...ins, values: [200, 'p1'] })
  await client.query({ ...ins, values: [201, 'p2'] })
  check('named insert', (await client.query('SELECT count(*)::int AS n FROM items WHERE id >= 200')).rows, [{ n: 2 }])
  // The server lists both, Parsed once each and bound per execution.
  check('pg_prepared_statements',
    (await client.query(`SELECT name, statement, parameter_types::text AS types, from_sql,
        (generic_plans + custom_plans)::int AS runs
      FROM pg_prepared_statements ORDER BY name`)).rows,
    [
      { name: 'item_by_id', statement: 'SELECT name, price FROM items WHERE id = $1', types: '{integer}', from_sql: false, runs: 3 },
      { name: 'item_ins', statement: 'INSERT INTO items (id, name) VALUES ($1, $2)', types: '{integer,text}', from_sql: false, runs: 2 },
    ])
  // SQL PREPARE shares the names: the driver's name cannot be PREPAREd.
  await expectError('PREPARE of a Parsed name', client.query('PREPARE item_by_id AS SELECT 1'), '42P05')
  check('EXECUTE of a Parsed statement', (await client.query('EXECUTE item_by_id(3)')).rows, [{ name: 'item 3', price: '4.25' }])
  console.log('named prepared statements ok')
}

// -- every type, in text and in binary
const columns = [
  ['i2', 'smallint'], ['i4', 'integer'], ['i8', 'bigint'], ['num', 'numeric(28,10)'],
  ['r4', 'real'], ['f8', 'double precision'], ['txt', 'text'], ['vc', 'varchar(10)'],
  ['ch', 'char(5)'], ['b', 'boolean'], ['by', 'bytea'], ['d', 'date'], ['t', 'time'],
  ['ts', 'timestamp'], ['tstz', 'timestamptz'], ['iv', 'interval'], ['u', 'uuid'],
  ['j', 'json'], ['jb', 'jsonb'], ['ai4', 'int4[]'], ['ai8', 'int8[]'], ['atext', 'text[]'],
  ['af8', 'float8[]'], ['anum', 'numeric[]'], ['abool', 'bool[]'], ['adate', 'date[]'],
  ['atstz', 'timestamptz[]'], ['auuid', 'uuid[]'],
]
const names = columns.map(c => c[0])
// What the program sends, per row.
const sent = {
  1: [-32768, 2147483647, '-9223372036854775808', '-123456789012345678.1234567890',
    3.25, -1.5e300, 'héllo wörld ✓ 日本 🎉', 'abc', 'ab', true, Buffer.from([0, 1, 255, 0]),
    '2024-02-29', '23:59:59.999999', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789+02',
    '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    { a: [1, 2.5, 'x'], b: null }, { z: 1, a: { nested: [true, false, null] } },
    [1, null, -3], ['9223372036854775807', null], ['a', 'b c', '"q"', 'NULL', '', null, 'ü\\,{}'],
    [1.5, -0.25, 'NaN', 'Infinity'], ['1.10', '-99999999999999999999.99', null], [true, false, null],
    ['2024-01-01', null], ['2024-01-01 00:00:00+00', '1999-12-31 23:59:59.5+00'],
    ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', null]],
  2: [32767, -2147483648, '9223372036854775807', '0', 'Infinity', 'NaN', '', '', '', false,
    Buffer.alloc(0), '1999-01-08', '00:00:00', 'infinity', '-infinity', '-1 days -00:00:01',
    '00000000-0000-0000-0000-000000000000', '[]', {}, [], [], [], [], [], [], [], [], []],
  3: names.map(() => null),
}
// What pg's text parsers make of each row.
const expectedText = {
  1: [-32768, 2147483647, '-9223372036854775808', '-123456789012345678.1234567890',
    3.25, -1.5e300, 'héllo wörld ✓ 日本 🎉', 'abc', 'ab   ', true, Buffer.from([0, 1, 255, 0]),
    new Date('2024-02-29T00:00:00Z'), '23:59:59.999999', new Date('2024-02-29T12:34:56.789Z'),
    new Date('2024-02-29T10:34:56.789Z'),
    { years: 1, months: 2, days: 3, hours: 4, minutes: 5, seconds: 6, milliseconds: 500 },
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    { a: [1, 2.5, 'x'], b: null }, { z: 1, a: { nested: [true, false, null] } },
    [1, null, -3], ['9223372036854775807', null], ['a', 'b c', '"q"', 'NULL', '', null, 'ü\\,{}'],
    [1.5, -0.25, NaN, Infinity], [1.1, -99999999999999999999.99, null], [true, false, null],
    [new Date('2024-01-01T00:00:00Z'), null],
    [new Date('2024-01-01T00:00:00Z'), new Date('1999-12-31T23:59:59.500Z')],
    ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', null]],
  2: [32767, -2147483648, '9223372036854775807', '0.0000000000', Infinity, NaN, '', '', '     ', false,
    Buffer.alloc(0), new Date('1999-01-08T00:00:00Z'), '00:00:00', Infinity, -Infinity,
    { days: -1, seconds: -1 },
    '00000000-0000-0000-0000-000000000000', [], {}, [], [], [], [], [], [], [], [], []],
  3: names.map(() => null),
}

// What pg makes of the binary rows, as taken from PostgreSQL 15 (normalised as
// by norm()). pg 8 reads every DataRow field as UTF-8 text and only then turns
// it back into bytes for the binary parsers, so each byte sequence that is not
// valid UTF-8 arrives as U+FFFD (hex efbfbd) and the numbers built from such
// bytes are garbage. The check still holds the server to PostgreSQL's exact
// binary encodings, because the same bytes decode the same way.
const expectedBinary = {
  1: [-4161,2146418621,"-1171009570395389952",-123571908579239090,3.25,-1.9248366353660053e+230,"héllo wörld ✓ 日本 🎉","hex:616263","hex:6162202020",true,"hex:0001efbfbd00","hex:00002279","hex:000000141defbfbd5fefbfbd","date:2026-03-11T15:05:57.819Z","date:2026-03-11T15:05:57.819Z","hex:000000036cefbfbd61efbfbd000000030000000e","hex:efbfbdeebc99efbfbd0b4eefbfbdefbfbd6d6befbfbdefbfbd380a11","hex:7b2261223a5b312c322e352c2278225d2c2262223a6e756c6c7d","hex:017b2261223a207b226e6573746564223a205b747275652c2066616c73652c206e756c6c5d7d2c20227a223a20317d","hex:00000001000000010000001700000003000000010000000400000001efbfbdefbfbdefbfbdefbfbd00000004efbfbdefbfbdefbfbdefbfbd",[9218797784742739000,189],["a","b c","\"q\"","NULL","","����\u0000\u0000\u0000\u0006ü\\,{}",""],"hex:0000000100000000000002efbfbd0000000400000001000000083fefbfbd00000000000000000008efbfbdefbfbd000000000000000000087fefbfbd000000000000000000087fefbfbd000000000000","hex:0000000100000001000006efbfbd00000003000000010000000c0002000000000002000103efbfbd000000140006000440000002270f270f270f270f270f26efbfbdefbfbdefbfbdefbfbdefbfbd","hex:000000010000000100000010000000030000000100000001010000000100efbfbdefbfbdefbfbdefbfbd","hex:00000001000000010000043a0000000200000001000000040000223eefbfbdefbfbdefbfbdefbfbd","hex:0000000100000000000004efbfbd0000000200000001000000080002efbfbdefbfbdefbfbdefbfbd400000000008efbfbdefbfbdefbfbdefbfbdefbfbdefbfbd5eefbfbd","hex:000000010000000100000befbfbd000000020000000100000010efbfbdeebc99efbfbd0b4eefbfbdefbfbd6d6befbfbdefbfbd380a11efbfbdefbfbdefbfbdefbfbd"],
  2: [32751,-272646912,"9218797784742739439",0,6.373621061359803e+38,1.7835912243848589e+308,"","hex:","hex:2020202020",false,"hex:","hex:efbfbdefbfbdefbfbdefbfbd","hex:0000000000000000","invalid date","date:-253170-10-16T08:12:20.614Z","hex:efbfbdefbfbdefbfbdefbfbdefbfbdefbfbdefbfbdefbfbdefbfbdefbfbdefbfbd00000000","hex:00000000000000000000000000000000","hex:5b5d","hex:017b7d","hex:000000000000000000000017",[],[],"hex:0000000000000000000002efbfbd","hex:0000000000000000000006efbfbd","hex:000000000000000000000010","hex:00000000000000000000043a","hex:0000000000000000000004efbfbd","hex:000000000000000000000befbfbd"],
  3: [null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null],
}

{
  await client.query('DROP TABLE IF EXISTS alltypes')
  await client.query(`CREATE TABLE alltypes (id integer PRIMARY KEY, ${columns.map(([n, t]) => `${n} ${t}`).join(', ')})`)
  const placeholders = names.map((_, i) => `$${i + 2}`).join(', ')
  for (const id of [1, 2, 3]) {
    await client.query(`INSERT INTO alltypes (id, ${names.join(', ')}) VALUES ($1, ${placeholders})`,
      [id, ...sent[id]])
  }
  // text (the default)
  const text = await client.query(`SELECT ${names.join(', ')} FROM alltypes ORDER BY id`)
  check('text: column types', text.fields.map(f => f.dataTypeID),
    [21, 23, 20, 1700, 700, 701, 25, 1043, 1042, 16, 17, 1082, 1083, 1114, 1184, 1186, 2950, 114, 3802,
      1007, 1016, 1009, 1022, 1231, 1000, 1182, 1185, 2951])
  check('text: formats', text.fields.map(f => f.format), names.map(() => 'text'))
  for (const [i, id] of [1, 2, 3].entries()) {
    for (const [k, n] of names.entries()) {
      check(`text: row ${id} column ${n}`, text.rows[i][n], expectedText[id][k])
    }
  }
  // the same values back as parameters: every row finds itself
  for (const id of [1, 2]) {
    // json has no = operator; the rest compare as equal to what was sent
    const cmp = names.filter(n => n !== 'j')
    const where = cmp.map((n, i) => `${n} = $${i + 1}`).join(' AND ')
    const r = await client.query(`SELECT id FROM alltypes WHERE ${where}`, cmp.map(n => sent[id][names.indexOf(n)]))
    check(`text: row ${id} found by its own values`, r.rows, [{ id }])
  }
  console.log('types in text ok')

  // binary: pg decodes int2/4/8, oid, numeric, float4/8, bool, text, timestamp(tz) and
  // int4/int8/text arrays itself; every other column arrives as a Buffer.
  // Values whose bytes are all below 0x80 survive pg's UTF-8 step:
  const clean = await client.query({
    text: 'SELECT $1::int4[] AS a, $2::int8 AS b, $3::text[] AS c, $4::bool AS d, $5::int2 AS e, $6::text AS f',
    values: [[1, 2, 3], '42', ['x', 'yz'], true, 7, 'plain'],
    binary: true,
  })
  check('binary: clean values', clean.rows, [{ a: [1, 2, 3], b: '42', c: ['x', 'yz'], d: true, e: 7, f: 'plain' }])
  // int4[] too: its parser loops for seconds over the mangled bytes of a
  // negative element (a clean one is decoded below)
  const raw = new Set([17, 1043, 1042, 1082, 1083, 1186, 2950, 114, 3802, 1007, 1022, 1231, 1000, 1182, 1185, 2951])
  const rawTypes = {
    getTypeParser: (oid, format) => format === 'binary' && raw.has(oid) ? (b => b) : pg.types.getTypeParser(oid, format),
  }
  const bin = await client.query({
    text: `SELECT ${names.join(', ')} FROM alltypes WHERE id = ANY($1) ORDER BY id`,
    values: [[1, 2, 3]],
    binary: true,
    types: rawTypes,
  })
  check('binary: formats', bin.fields.map(f => f.format), names.map(() => 'binary'))
  for (const [i, id] of [1, 2, 3].entries()) {
    for (const [k, n] of names.entries()) {
      check(`binary: row ${id} column ${n}`, bin.rows[i][n], expectedBinary[id][k])
    }
  }
  console.log('types in binary ok')
}

// -- numeric beyond 28 digits, NaN and the infinities
{
  const values = ['NaN', 'Infinity', '-Infinity', '-12345678901234567890123456789012345678.000000000000000000001',
    '0.000000000000000000000000000001', '123456789012345678901234567890']
  await client.query('DROP TABLE IF EXISTS nums')
  await client.query('CREATE TABLE nums (id int PRIMARY KEY, n numeric)')
  for (const [i, v] of values.entries()) await client.query('INSERT INTO nums VALUES ($1, $2)', [i, v])
  const text = await client.query('SELECT n FROM nums ORDER BY id')
  check('numeric edges in text', text.rows.map(r => r.n), values)
  check('numeric edges found by value', (await client.query('SELECT count(*)::int AS c FROM nums WHERE n = ANY($1::numeric[])', [values])).rows, [{ c: 6 }])
  // pg decodes binary numeric into a JS number (see expectedBinary's note)
  const bin = await client.query({ text: 'SELECT n FROM nums WHERE id >= $1 ORDER BY id', values: [0], binary: true })
  check('numeric edges in binary', bin.rows.map(r => r.n), [NaN, NaN, NaN, -1.2357190857923908e+37, NaN, 1.2357190857923907e+29])
  console.log('numeric edges ok')
}

// -- a transaction with rollback, and a savepoint
{
  await client.query('BEGIN')
  await client.query('INSERT INTO items (id, name) VALUES ($1, $2)', [300, 'rolled back'])
  await client.query('UPDATE items SET name = $1 WHERE id = $2', ['renamed', 1])
  check('inside the transaction', (await client.query('SELECT name FROM items WHERE id = ANY($1) ORDER BY id', [[1, 300]])).rows,
    [{ name: 'renamed' }, { name: 'rolled back' }])
  await client.query('ROLLBACK')
  check('after rollback', (await client.query('SELECT id, name FROM items WHERE id = ANY($1) ORDER BY id', [[1, 300]])).rows,
    [{ id: 1, name: 'item 1' }])
  await client.query('BEGIN')
  await client.query('INSERT INTO items (id, name) VALUES (301, $1)', ['kept'])
  await client.query('SAVEPOINT s1')
  await client.query('INSERT INTO items (id, name) VALUES (302, $1)', ['undone'])
  await client.query('ROLLBACK TO SAVEPOINT s1')
  await client.query('COMMIT')
  check('savepoint rollback', (await client.query('SELECT id FROM items WHERE id > 300 ORDER BY id')).rows, [{ id: 301 }])
  console.log('transactions ok')
}

// -- errors carry their SQLSTATE and leave the client usable
{
  await expectError('division by zero', client.query('SELECT 1 / $1::int AS x', [0]), '22012')
  await expectError('unique violation', client.query('INSERT INTO items (id, name) VALUES ($1, $2)', [301, 'dup']), '23505')
  const e = await expectError('undefined table', client.query('SELECT * FROM no_such_table'), '42P01')
  check('error severity', e.severity, 'ERROR')
  await expectError('not null violation', client.query({ name: 'ins_null', text: 'INSERT INTO items (id, name) VALUES ($1, $2)', values: [400, null] }), '23502')
  await expectError('bad integer input', client.query('SELECT $1::int AS x', ['twelve']), '22P02')
  check('usable after errors', (await client.query('SELECT $1::int + 1 AS x', [41])).rows, [{ x: 42 }])
  await client.query('BEGIN')
  await expectError('error in a transaction', client.query('SELECT 1 / 0'), '22012')
  await expectError('failed transaction', client.query('SELECT 1'), '25P02')
  await client.query('ROLLBACK')
  check('usable after a failed transaction', (await client.query('SELECT count(*)::int AS n FROM items')).rows, [{ n: 18 }])
  console.log('errors ok')
}

// -- streaming a larger result: rows arrive as 'row' events
{
  await client.query('DROP TABLE IF EXISTS big')
  await client.query('CREATE TABLE big (id int PRIMARY KEY, payload text)')
  await client.query("INSERT INTO big SELECT g, repeat('x', g % 50) FROM generate_series(1, 10000) g")
  let count = 0
  let sum = 0
  let bytes = 0
  const seen = new Set()
  await new Promise((resolve, reject) => {
    const q = client.query(new Query('SELECT id, payload FROM big WHERE id > $1', [0]))
    q.on('row', row => { count++; sum += row.id; bytes += row.payload.length; seen.add(row.id) })
    q.on('error', reject)
    q.on('end', resolve)
  })
  check('streamed rows', [count, seen.size, sum, bytes], [10000, 10000, 50005000, 245000])
  const all = await client.query('SELECT id FROM big ORDER BY id DESC')
  check('buffered rows', [all.rowCount, all.rows[0].id, all.rows[9999].id], [10000, 10000, 1])
  console.log('streaming ok')
}

// -- a pool of several clients working at once
{
  const pool = new Pool({ max: 4 })
  const held = await Promise.all([1, 2, 3, 4].map(() => pool.connect()))
  const pids = await Promise.all(held.map(c => c.query('SELECT pg_backend_pid() AS pid')))
  check('pool: four sessions', new Set(pids.map(r => r.rows[0].pid)).size, 4)
  held.forEach(c => c.release())
  await pool.query('DROP TABLE IF EXISTS pool_log')
  await pool.query('CREATE TABLE pool_log (worker int, n int, PRIMARY KEY (worker, n))')
  await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(async w => {
    const c = await pool.connect()
    try {
      await c.query('BEGIN')
      for (let n = 0; n < 25; n++) await c.query('INSERT INTO pool_log VALUES ($1, $2)', [w, n])
      if (w % 2 === 0) await c.query('ROLLBACK')
      else await c.query('COMMIT')
    } finally {
      c.release()
    }
  }))
  check('pool: committed work', (await pool.query('SELECT worker, count(*)::int AS n FROM pool_log GROUP BY worker ORDER BY worker')).rows,
    [{ worker: 1, n: 25 }, { worker: 3, n: 25 }, { worker: 5, n: 25 }, { worker: 7, n: 25 }])
  await expectError('pool: error', pool.query('SELECT * FROM pool_log WHERE worker = $1', ['x']), '22P02')
  check('pool: usable after an error', (await pool.query('SELECT count(*)::int AS n FROM pool_log')).rows, [{ n: 100 }])
  await pool.end()
  console.log('pool ok')
}

console.log('done')
await client.end()

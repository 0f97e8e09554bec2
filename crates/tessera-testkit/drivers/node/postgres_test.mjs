// postgres.js against a server named by PGHOST/PGPORT/PGUSER/PGDATABASE
// (run by crates/tessera-testkit/tests/drivers_node_postgres.rs). Prints one
// line per check group; exits non-zero on the first check that fails, with
// what it expected and what it got. The expected values were taken from
// PostgreSQL 15.
process.env.TZ = 'UTC'

import { check, expectError } from './check.mjs'
import postgres from 'postgres'

const rows = r => r.map(x => ({ ...x }))

const sql = postgres({ max: 4, onnotice: () => {} })

// -- connect: the first query makes postgres.js read the array types from pg_type
{
  const r = await sql`SELECT current_user AS u, ${41}::int + 1 AS answer`
  check('connect', rows(r), [{ u: process.env.PGUSER, answer: 42 }])
  check('application_name', rows(await sql`SHOW application_name`), [{ application_name: 'postgres.js' }])
  check('array types read', rows(await sql`SELECT ${[1, 2, 3]}::int4[] AS a`), [{ a: [1, 2, 3] }])
  console.log('connect ok')
}

// -- DDL, with sql.unsafe and identifiers
await sql.unsafe('DROP TABLE IF EXISTS people, alltypes, many, nums')
await sql`CREATE TABLE ${sql('people')} (
  id integer PRIMARY KEY,
  name text NOT NULL,
  age integer,
  email text UNIQUE
)`
check('DDL visible', rows(await sql`SELECT tablename FROM pg_tables WHERE tablename = 'people'`), [{ tablename: 'people' }])
console.log('ddl ok')

// -- DML: tagged templates and the sql(obj) helpers
{
  const alice = { id: 1, name: 'Alice', age: 30, email: 'alice@example.com' }
  const r1 = await sql`INSERT INTO people ${sql(alice)} RETURNING id`
  check('insert one object', [r1.command, r1.count, rows(r1)], ['INSERT', 1, [{ id: 1 }]])
  const more = [2, 3, 4, 5, 6].map(i => ({ id: i, name: `P${i}`, age: 20 + i, email: `p${i}@example.com` }))
  const r2 = await sql`INSERT INTO people ${sql(more, 'id', 'name', 'age', 'email')}`
  check('insert several objects', [r2.command, r2.count], ['INSERT', 5])
  const r3 = await sql`UPDATE people SET ${sql({ name: 'Alice B', age: 31 }, 'name', 'age')} WHERE id = ${1} RETURNING name, age`
  check('update with an object', rows(r3), [{ name: 'Alice B', age: 31 }])
  const r4 = await sql`DELETE FROM people WHERE age > ${24} AND age < ${30}`
  check('delete', [r4.command, r4.count], ['DELETE', 2])
  const r5 = await sql`SELECT id, name FROM people WHERE id IN ${sql([1, 3, 5])} ORDER BY id`
  check('in list', rows(r5), [{ id: 1, name: 'Alice B' }, { id: 3, name: 'P3' }])
  const col = 'email'
  const r6 = await sql`SELECT ${sql(col)} FROM people WHERE ${sql(col)} LIKE ${'p%'} ORDER BY 1`
  check('dynamic identifier', rows(r6), [{ email: 'p2@example.com' }, { email: 'p3@example.com' }, { email: 'p4@example.com' }])
  const r7 = await sql.unsafe('SELECT name FROM people WHERE id = $1', [2])
  check('unsafe with parameters', rows(r7), [{ name: 'P2' }])
  const r8 = await sql.unsafe("INSERT INTO people VALUES (10, 'u1'); INSERT INTO people VALUES (11, 'u2'); SELECT count(*)::int AS n FROM people")
  check('unsafe, several statements', [r8.length, rows(r8.at(-1))], [2, [{ n: 6 }]])
  console.log('dml ok')
}

// -- every type: postgres.js parses numbers, booleans, json, dates and bytea,
// and arrays of any element type it learnt from pg_type; the rest is text
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
const arrayElement = { ai4: 23, ai8: 20, atext: 25, af8: 701, anum: 1700, abool: 16, adate: 1082, atstz: 1184, auuid: 2950 }
const sent = {
  1: [-32768, 2147483647, '-9223372036854775808', '-123456789012345678.1234567890',
    3.25, -1.5e300, 'héllo wörld ✓ 日本 🎉', 'abc', 'ab', true, Buffer.from([0, 1, 255, 0]),
    '2024-02-29', '23:59:59.999999', '2024-02-29 12:34:56.789012', new Date('2024-02-29T10:34:56.789Z'),
    '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    { a: [1, 2.5, 'x'], b: null }, { z: 1, a: { nested: [true, false, null] } },
    [1, null, -3], ['9223372036854775807', null], ['a', 'b c', '"q"', 'NULL', '', null, 'ü\\,{}'],
    [1.5, -0.25, 'NaN', 'Infinity'], ['1.10', '-99999999999999999999.99', null], [true, false, null],
    ['2024-01-01', null], [new Date('2024-01-01T00:00:00Z'), new Date('1999-12-31T23:59:59.5Z')],
    ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', null]],
  2: [32767, -2147483648, '9223372036854775807', '0', 'Infinity', 'NaN', '', '', '', false,
    Buffer.alloc(0), '1999-01-08', '00:00:00', '1970-01-01 00:00:00', new Date(-1), '-1 days -00:00:01',
    '00000000-0000-0000-0000-000000000000', '[]', {}, [], [], [], [], [], [], [], [], []],
  3: names.map(() => null),
}
const expected = {
  1: [-32768, 2147483647, '-9223372036854775808', '-123456789012345678.1234567890',
    3.25, -1.5e300, 'héllo wörld ✓ 日本 🎉', 'abc', 'ab   ', true, Buffer.from([0, 1, 255, 0]),
    new Date('2024-02-29T00:00:00Z'), '23:59:59.999999', new Date('2024-02-29T12:34:56.789Z'),
    new Date('2024-02-29T10:34:56.789Z'), '1 year 2 mons 3 days 04:05:06.5',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    { a: [1, 2.5, 'x'], b: null }, { a: { nested: [true, false, null] }, z: 1 },
    // postgres.js's array parser does not know NULL elements: it hands the
    // word NULL to the element parser (so NaN, false, an invalid Date)
    [1, NaN, -3], ['9223372036854775807', 'NULL'], ['a', 'b c', '"q"', 'NULL', '', 'NULL', 'ü\\,{}'],
    [1.5, -0.25, NaN, Infinity], ['1.10', '-99999999999999999999.99', 'NULL'], [true, false, false],
    [new Date('2024-01-01T00:00:00Z'), new Date(NaN)],
    [new Date('2024-01-01T00:00:00Z'), new Date('1999-12-31T23:59:59.500Z')],
    ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'NULL']],
  2: [32767, -2147483648, '9223372036854775807', '0.0000000000', Infinity, NaN, '', '', '     ', false,
    Buffer.alloc(0), new Date('1999-01-08T00:00:00Z'), '00:00:00', new Date(0), new Date(-1),
    '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000', '[]', {}, [], [], [], [], [], [], [], [], []],
  3: names.map(() => null),
}

{
  await sql.unsafe(`CREATE TABLE alltypes (id integer PRIMARY KEY, ${columns.map(([n, t]) => `${n} ${t}`).join(', ')})`)
  for (const id of [1, 2, 3]) {
    const row = { id }
    // postgres.js types an array parameter by its first element unless it
    // is wrapped in sql.array() with the element type's oid
    names.forEach((n, k) => { row[n] = n in arrayElement && sent[id][k] !== null ? sql.array(sent[id][k], arrayElement[n]) : sent[id][k] })
    await sql`INSERT INTO alltypes ${sql(row)}`
  }
  const got = await sql`SELECT ${sql(names)} FROM alltypes ORDER BY id`
  check('column types', got.columns.map(c => c.type),
    [21, 23, 20, 1700, 700, 701, 25, 1043, 1042, 16, 17, 1082, 1083, 1114, 1184, 1186, 2950, 114, 3802,
      1007, 1016, 1009, 1022, 1231, 1000, 1182, 1185, 2951])
  for (const [i, id] of [1, 2, 3].entries()) {
    for (const [k, n] of names.entries()) {
      check(`row ${id} column ${n}`, got[i][n], expected[id][k])
    }
  }
  // The NULL elements are NULLs on the server.
  const arraysAsText = await sql`SELECT ai4::text, ai8::text, atext::text, af8::text, anum::text, abool::text,
    adate::text, auuid::text, atext[6] IS NULL AS null6, atext[4] IS NULL AS null4 FROM alltypes WHERE id = 1`
  check('arrays as text', rows(arraysAsText), [{
    ai4: '{1,NULL,-3}', ai8: '{9223372036854775807,NULL}', atext: '{a,"b c","\\"q\\"","NULL","",NULL,"ü\\\\,{}"}',
    af8: '{1.5,-0.25,NaN,Infinity}', anum: '{1.10,-99999999999999999999.99,NULL}', abool: '{t,f,NULL}',
    adate: '{2024-01-01,NULL}', auuid: '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', null6: true, null4: false,
  }])
  // The same through the simple protocol (sql.unsafe without parameters).
  const simple = await sql.unsafe(`SELECT ${names.join(', ')} FROM alltypes ORDER BY id`)
  for (const [i, id] of [1, 2, 3].entries()) {
    for (const [k, n] of names.entries()) {
      check(`simple: row ${id} column ${n}`, simple[i][n], expected[id][k])
    }
  }
  // postgres.js cannot send infinite timestamps (its Date serializer throws);
  // it reads them as invalid Dates
  check('infinite timestamps', rows(await sql`SELECT 'infinity'::timestamp AS a, '-infinity'::timestamptz AS b, 'infinity'::date AS c`),
    [{ a: new Date(NaN), b: new Date(NaN), c: new Date(NaN) }])
  console.log('types ok')
}

// -- numeric beyond 28 digits, NaN and the infinities (postgres.js keeps numeric as text)
{
  const values = ['NaN', 'Infinity', '-Infinity', '-12345678901234567890123456789012345678.000000000000000000001',
    '0.000000000000000000000000000001', '123456789012345678901234567890']
  await sql`CREATE TABLE nums (id int PRIMARY KEY, n numeric)`
  await sql`INSERT INTO nums ${sql(values.map((n, id) => ({ id, n })))}`
  check('numeric edges', (await sql`SELECT n FROM nums ORDER BY id`).map(r => r.n), values)
  check('numeric array', rows(await sql`SELECT ${sql.array(values, 1700)} = array_agg(n ORDER BY id) AS same FROM nums`), [{ same: true }])
  console.log('numeric edges ok')
}

// -- transactions: sql.begin commits, a thrown error rolls back, savepoints
{
  const r = await sql.begin(async sql => {
    await sql`INSERT INTO people (id, name) VALUES (${20}, ${'tx'})`
    return sql`SELECT count(*)::int AS n FROM people`
  })
  check('begin commits', rows(r), [{ n: 7 }])
  const boom = new Error('boom')
  try {
    await sql.begin(async sql => {
      await sql`INSERT INTO people (id, name) VALUES (${21}, ${'gone'})`
      await sql`UPDATE people SET name = ${'gone too'} WHERE id = ${1}`
      throw boom
    })
    console.error('FAIL sql.begin: the thrown error did not come back')
    process.exit(1)
  } catch (e) {
    check('begin rethrows', e === boom, true)
  }
  check('thrown error rolled back', rows(await sql`SELECT id, name FROM people WHERE id IN (1, 21) ORDER BY id`),
    [{ id: 1, name: 'Alice B' }])
  await sql.begin(async sql => {
    await sql`INSERT INTO people (id, name) VALUES (${22}, ${'kept'})`
    try {
      await sql.savepoint(async sql => {
        await sql`INSERT INTO people (id, name) VALUES (${23}, ${'undone'})`
        await sql`INSERT INTO people (id, name) VALUES (${22}, ${'duplicate'})`
      })
    } catch (e) {
      check('savepoint error', e.code, '23505')
    }
    const inner = await sql.savepoint('named', sql => sql`INSERT INTO people (id, name) VALUES (${24}, ${'kept too'}) RETURNING id`)
    check('savepoint result', rows(inner), [{ id: 24 }])
  })
  check('savepoint rolled back alone', rows(await sql`SELECT id FROM people WHERE id >= 20 ORDER BY id`),
    [{ id: 20 }, { id: 22 }, { id: 24 }])
  console.log('transactions ok')
}

// -- errors carry their SQLSTATE and the connection stays usable
{
  await expectError('division by zero', sql`SELECT 1 / ${0}::int AS x`, '22012')
  await expectError('unique violation', sql`INSERT INTO people (id, name) VALUES (${1}, ${'again'})`, '23505')
  const e = await expectError('undefined column', sql`SELECT no_such_column FROM people`, '42703')
  check('error severity', e.severity, 'ERROR')
  await expectError('syntax error', sql.unsafe('SELEC 1'), '42601')
  // With parameters postgres.js sends Parse, Describe and Flush, and waits
  // for the answer before it sends Sync: the error must come at once.
  await expectError('error while parsing, with parameters', sql`SELECT no_such_column, ${1}::int FROM people`, '42703')
  await expectError('bad input', sql`SELECT ${'twelve'}::int AS x`, '22P02')
  check('usable after errors', rows(await sql`SELECT ${1}::int AS x`), [{ x: 1 }])
  console.log('errors ok')
}

// -- prepare: true (named statements, the default) and prepare: false (unnamed)
{
  for (const prepare of [true, false]) {
    const s = postgres({ max: 1, prepare, onnotice: () => {} })
    for (let i = 0; i < 3; i++) {
      const r = await s`SELECT name FROM people WHERE id = ${[1, 2, 3][i]}`
      check(`prepare ${prepare}: run ${i}`, rows(r), [{ name: ['Alice B', 'P2', 'P3'][i] }])
    }
    await expectError(`prepare ${prepare}: error`, s`SELECT ${'x'}::int`, '22P02')
    check(`prepare ${prepare}: after error`, rows(await s`SELECT ${7}::int AS x`), [{ x: 7 }])
    await s.end()
  }
  console.log('prepare modes ok')
}

// -- many rows: a cursor in batches and forEach
{
  await sql`CREATE TABLE many (id int PRIMARY KEY, v text)`
  await sql`INSERT INTO many SELECT g, 'v' || g FROM generate_series(1, 5000) g`
  let batches = 0
  let seen = 0
  let sum = 0
  for await (const batch of sql`SELECT id, v FROM many WHERE id > ${0}`.cursor(500)) {
    batches++
    seen += batch.length
    for (const r of batch) sum += r.id
    if (batch.length > 500) {
      console.error(`FAIL cursor: a batch of ${batch.length} rows`)
      process.exit(1)
    }
  }
  check('cursor', [batches, seen, sum], [10, 5000, 12502500])
  let n = 0
  let last = 0
  await sql`SELECT id FROM many ORDER BY id`.forEach(r => { n++; if (r.id !== last + 1) { n = -1e9 } last = r.id })
  check('forEach', [n, last], [5000, 5000])
  console.log('many rows ok')
}

// -- LISTEN / NOTIFY
{
  const got = []
  let wake
  const arrived = new Promise(resolve => { wake = resolve })
  const { unlisten } = await sql.listen('tessera_chan', payload => {
    got.push(payload)
    if (got.length === 2) wake()
  })
  // sent in a transaction that rolls back: never delivered
  await sql.begin(async sql => {
    await sql`SELECT pg_notify(${'tessera_chan'}, ${'rolled back'})`
    throw new Error('roll back')
  }).catch(() => {})
  await sql.notify('tessera_chan', 'first')
  await sql`SELECT pg_notify(${'tessera_chan'}, ${'second ✓'})`
  await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error('no notification within 10 s')), 10000))])
  check('notifications', got, ['first', 'second ✓'])
  await unlisten()
  console.log('listen/notify ok')
}

await sql.end({ timeout: 5 })
await expectError('after end', sql`SELECT 1`, 'CONNECTION_ENDED')
console.log('done')

// node-postgres (`pg`) against a running `heliosdb serve`.
//
// Usage: node pg_check.js "host=127.0.0.1 port=N user=heliosdb dbname=heliosdb"
//
// Run by tests/clients.rs (with TZ=UTC), which starts the server. Each check
// prints one line; the script exits 1 if any check failed.

'use strict';

const assert = require('node:assert/strict');
const pg = require('pg');

const config = Object.fromEntries(
  process.argv[2].split(/\s+/).filter(Boolean).map((kv) => kv.split('=', 2)),
);
const connection = {
  host: config.host,
  port: Number(config.port),
  user: config.user,
  database: config.dbname,
};

const checks = [];
const check = (name, fn) => checks.push([name, fn]);

async function withClient(fn) {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

check('connect_and_parameterized_query', () =>
  withClient(async (c) => {
    const r = await c.query('SELECT $1::int + 1 AS answer, current_user AS who', [41]);
    assert.deepEqual(r.rows, [{ answer: 42, who: 'heliosdb' }]);
    assert.equal(r.rowCount, 1);
    assert.deepEqual(r.fields.map((f) => f.dataTypeID), [23, 25]);
    // Simple protocol (no parameters), several statements.
    const many = await c.query('SELECT 1 AS a; SELECT 2 AS b');
    assert.deepEqual(many.map((x) => x.rows[0]), [{ a: 1 }, { b: 2 }]);
  }));

check('types_round_trip', () =>
  withClient(async (c) => {
    await c.query(`CREATE TABLE types (
      i2 smallint, i4 int, i8 bigint, n numeric(10,3), f4 real, f8 double precision,
      t text, vc varchar(10), b bool, by bytea, d date, tm time, ts timestamp,
      tz timestamptz, iv interval, u uuid, j json, jb jsonb, ia int[], ta text[])`);
    const tz = new Date(Date.UTC(2021, 5, 1, 12, 0, 0, 5));
    const values = [
      -2, 40000, '1099511627776', '3.142', 1.5, 0.1, 'héllo', 'short', true,
      Buffer.from([0, 255, 7]), '1999-12-31', '23:59:58.123456', '2024-02-29 23:59:58.5',
      tz, '3 days 04:05:06', '12345678-9abc-def0-1234-56789abcdef0',
      JSON.stringify({ a: [1, null] }), { k: 'v' }, [1, null, 3], ['a', 'b,c'],
    ];
    const marks = values.map((_, i) => `$${i + 1}`).join(', ');
    const ins = await c.query(`INSERT INTO types VALUES (${marks})`, values);
    assert.equal(ins.rowCount, 1);
    assert.equal(ins.command, 'INSERT');
    const { rows: [r] } = await c.query('SELECT * FROM types');
    assert.equal(r.i2, -2);
    assert.equal(r.i4, 40000);
    assert.equal(r.i8, '1099511627776'); // int8 and numeric come back as strings
    assert.equal(r.n, '3.142');
    assert.equal(r.f4, 1.5);
    assert.equal(r.f8, 0.1);
    assert.equal(r.t, 'héllo');
    assert.equal(r.vc, 'short');
    assert.equal(r.b, true);
    assert.deepEqual(r.by, Buffer.from([0, 255, 7]));
    assert.equal(r.d.toISOString(), '1999-12-31T00:00:00.000Z');
    assert.equal(r.tm, '23:59:58.123456');
    assert.equal(r.ts.toISOString(), '2024-02-29T23:59:58.500Z');
    assert.equal(r.tz.toISOString(), tz.toISOString());
    assert.deepEqual({ ...r.iv }, { days: 3, hours: 4, minutes: 5, seconds: 6 });
    assert.equal(r.u, '12345678-9abc-def0-1234-56789abcdef0');
    assert.deepEqual(r.j, { a: [1, null] });
    assert.deepEqual(r.jb, { k: 'v' });
    assert.deepEqual(r.ia, [1, null, 3]);
    assert.deepEqual(r.ta, ['a', 'b,c']);
    const nulls = await c.query('SELECT NULL::int AS i, NULL::text AS t, NULL::int[] AS a');
    assert.deepEqual(nulls.rows[0], { i: null, t: null, a: null });
    await c.query('DROP TABLE types');
  }));

check('named_prepared_statements_and_row_mode', () =>
  withClient(async (c) => {
    await c.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
    for (let i = 0; i < 5; i++) {
      await c.query({ name: 'put', text: 'INSERT INTO kv VALUES ($1, $2)', values: [i, `v${i}`] });
    }
    const get = { name: 'get', text: 'SELECT v FROM kv WHERE k = $1' };
    for (let i = 0; i < 5; i++) {
      const r = await c.query({ ...get, values: [i] });
      assert.equal(r.rows[0].v, `v${i}`);
    }
    const arr = await c.query({ text: 'SELECT k, v FROM kv ORDER BY k LIMIT 2', rowMode: 'array' });
    assert.deepEqual(arr.rows, [[0, 'v0'], [1, 'v1']]);
    const upd = await c.query('UPDATE kv SET v = $1 WHERE k < $2 RETURNING k', ['z', 3]);
    assert.equal(upd.command, 'UPDATE');
    assert.equal(upd.rowCount, 3);
    await c.query('DROP TABLE kv');
  }));

check('errors_carry_sqlstate', () =>
  withClient(async (c) => {
    await c.query('CREATE TABLE e (id int PRIMARY KEY)');
    await c.query('INSERT INTO e VALUES (1)');
    const cases = [
      ['SELECT * FROM missing_table', '42P01'],
      ['INSERT INTO e VALUES (1)', '23505'],
      ['SELECT 1/0', '22012'],
      ["SELECT 'x'::int", '22P02'],
      ['SELEC 1', '42601'],
    ];
    for (const [sql, code] of cases) {
      await assert.rejects(c.query(sql), (e) => {
        assert.equal(e.code, code, sql);
        assert.equal(e.severity, 'ERROR');
        return true;
      });
    }
    await assert.rejects(c.query('INSERT INTO e VALUES ($1)', [1]), (e) => {
      assert.equal(e.code, '23505');
      assert.match(e.detail, /already exists/);
      return true;
    });
    // The connection is still usable.
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.query('DROP TABLE e');
  }));

check('transactions_and_notices', () =>
  withClient(async (c) => {
    const notices = [];
    c.on('notice', (n) => notices.push([n.severity, n.code, n.message]));
    await c.query('CREATE TABLE tx (id int)');
    await c.query('BEGIN');
    await c.query('INSERT INTO tx VALUES (1)');
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await c.query('INSERT INTO tx VALUES (2)');
    await assert.rejects(c.query('SELECT 1/0'));
    await assert.rejects(c.query('SELECT 1'), (e) => e.code === '25P02');
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM tx')).rows[0].n, 0);
    await c.query('DROP TABLE IF EXISTS no_such_table');
    await c.query('DROP TABLE tx');
    assert.deepEqual(notices, [
      ['NOTICE', '00000', 'table "no_such_table" does not exist, skipping'],
    ]);
  }));

check('pool_runs_queries_concurrently', async () => {
  const pool = new pg.Pool({ ...connection, max: 4 });
  try {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.query('SELECT $1::int * 2 AS x', [i])),
    );
    assert.deepEqual(results.map((r) => r.rows[0].x), Array.from({ length: 20 }, (_, i) => i * 2));
  } finally {
    await pool.end();
  }
});

(async () => {
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${e.stack}`);
    }
  }
  const version = require('pg/package.json').version;
  console.log(`node-postgres ${version}: ${checks.length - failed} of ${checks.length} checks passed`);
  process.exit(failed ? 1 : 0);
})();

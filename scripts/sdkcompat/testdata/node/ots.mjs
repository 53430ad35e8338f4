// ots.mjs: the Tablestore checks of compat.mjs. They drive the local
// Tablestore simulator (pkg/dev/otssim) with the official Node.js SDK
// (npm tablestore, pinned in package.json;
// https://github.com/aliyun/aliyun-tablestore-nodejs-sdk).
//
// Node specifics the checks rely on: a JS number is written as DOUBLE, so
// integers go through TableStore.Long; integers are read back as Int64
// objects; error objects carry the HTTP status as code and the raw
// protobuf Error (with the service's code) in message; the SDK verifies
// the CRC-8 checksums of every row it reads.
//
// Environment (set by compat_test.go):
//   OTS_ENDPOINT, OTS_ACCESS_KEY_ID, OTS_ACCESS_KEY_SECRET, OTS_INSTANCE
//   OTS_INTEROP_TABLE   a table the Go side created (key "id" STRING) and
//                       wrote the row "from-go" into (name "池", n 42); the
//                       checks read it and write the row "from-node"

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const TableStore = require('tablestore');
const { Long } = TableStore;

// errorOf runs fn, which must fail with HTTP status and the service's code.
async function errorOf(assert, fn, status, code) {
  try {
    await fn();
  } catch (e) {
    assert(e.code === status, `want HTTP ${status}, got code ${e.code}: ${e.message}`);
    assert(String(e.message).includes(code), `want ${code} in the error, got ${JSON.stringify(String(e.message))}`);
    return `${status} ${code}`;
  }
  assert(false, `want ${status} ${code}, got success`);
}

// attrs turns a row's attributes into name → value (latest version).
function attrs(row) {
  const out = {};
  for (const a of row.attributes || []) {
    if (!(a.columnName in out)) out[a.columnName] = a.columnValue;
  }
  return out;
}

const int = (v) => (v && typeof v.toNumber === 'function' ? v.toNumber() : v);

export async function otsChecks({ check, assert, env }) {
  const endpoint = env('OTS_ENDPOINT');
  const instancename = env('OTS_INSTANCE');
  const client = (secret) => new TableStore.Client({
    accessKeyId: env('OTS_ACCESS_KEY_ID'),
    secretAccessKey: secret ?? env('OTS_ACCESS_KEY_SECRET'),
    endpoint,
    instancename,
    maxRetries: 2,
  });
  const ots = client();
  const table = `compat_${Date.now().toString(36)}`;
  const pk = (id) => [{ id }];
  const ignore = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

  await check('ots.createTable', async () => {
    await ots.createTable({
      tableMeta: { tableName: table, primaryKey: [{ name: 'id', type: 'STRING' }] },
      reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
      tableOptions: { timeToLive: 86400, maxVersions: 2 },
    });
    const d = await ots.describeTable({ tableName: table });
    assert(d.tableOptions.timeToLive === 86400, `timeToLive ${d.tableOptions.timeToLive}`);
    assert(d.tableOptions.maxVersions === 2, `maxVersions ${d.tableOptions.maxVersions}`);
    const l = await ots.listTable({});
    assert(l.tableNames.includes(table), `listTable ${l.tableNames}`);
    return `ttl ${d.tableOptions.timeToLive}s, ${d.tableOptions.maxVersions} versions`;
  });

  const putRow = (id, cond, attributeColumns) => ots.putRow({
    tableName: table,
    condition: new TableStore.Condition(cond, null),
    primaryKey: pk(id),
    attributeColumns,
  });
  await check('ots.putRow.expectNotExist', async () => {
    const r = await putRow('ledger-1', TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, [
      { name: 'héllo' }, { seq: Long.fromNumber(1) }, { ratio: 0.25 }, { ok: true }, { raw: Buffer.from([0, 1, 255]) },
    ]);
    assert(r.consumed.capacityUnit.write >= 1, `consumed ${JSON.stringify(r.consumed)}`);
  });
  await check('ots.putRow.expectNotExist.again', () => errorOf(assert,
    () => putRow('ledger-1', TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, [{ name: 'twice' }]),
    403, 'OTSConditionCheckFail'));

  await check('ots.getRow', async () => {
    const r = await ots.getRow({ tableName: table, primaryKey: pk('ledger-1'), maxVersions: 1 });
    const a = attrs(r.row);
    assert(r.row.primaryKey[0].value === 'ledger-1', `primary key ${JSON.stringify(r.row.primaryKey)}`);
    assert(a.name === 'héllo' && int(a.seq) === 1 && a.ratio === 0.25 && a.ok === true, `values ${JSON.stringify(a)}`);
    assert(Buffer.isBuffer(a.raw) && a.raw.equals(Buffer.from([0, 1, 255])), `raw ${a.raw}`);
    assert(int(r.row.attributes[0].timestamp) > 0, 'no timestamp');
    const missing = await ots.getRow({ tableName: table, primaryKey: pk('nobody'), maxVersions: 1 });
    assert(!missing.row.primaryKey, `missing row read as ${JSON.stringify(missing.row)}`);
  });

  // The Node.js defaults: passIfMissing true, latestVersionOnly true.
  const update = (condition, returnColumns, updateOfAttributeColumns) => ots.updateRow({
    tableName: table,
    condition,
    primaryKey: pk('ledger-1'),
    updateOfAttributeColumns,
    returnContent: { returnType: TableStore.ReturnType.AfterModify, returnColumns },
  });
  await check('ots.updateRow.conditionAndIncrement', async () => {
    const cond = new TableStore.CompositeCondition(TableStore.LogicalOperator.AND);
    cond.addSubCondition(new TableStore.SingleColumnCondition('seq', Long.fromNumber(1), TableStore.ComparatorType.EQUAL));
    cond.addSubCondition(new TableStore.SingleColumnCondition('absent', 'x', TableStore.ComparatorType.EQUAL)); // passes if missing
    const r = await update(new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, cond), ['count'], [
      { PUT: [{ state: 'done' }] },
      { INCREMENT: [{ count: Long.fromNumber(5) }] },
    ]);
    const a = attrs(r.row);
    assert(int(a.count) === 5, `returned count ${JSON.stringify(a)}`);
    const again = await update(new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST,
      new TableStore.SingleColumnCondition('state', 'done', TableStore.ComparatorType.EQUAL)), ['count'],
    [{ INCREMENT: [{ count: Long.fromNumber(-2) }] }]);
    assert(int(attrs(again.row).count) === 3, `second increment returned ${JSON.stringify(attrs(again.row))}`);
    return 'count 0 → 5 → 3';
  });
  await check('ots.updateRow.conditionFails', () => errorOf(assert,
    () => update(new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST,
      new TableStore.SingleColumnCondition('seq', Long.fromNumber(99), TableStore.ComparatorType.EQUAL)), ['count'],
    [{ INCREMENT: [{ count: Long.fromNumber(1) }] }]),
    403, 'OTSConditionCheckFail'));

  const ids = Array.from({ length: 10 }, (_, i) => `r${String(i).padStart(2, '0')}`);
  await check('ots.batchWriteRow', async () => {
    const r = await ots.batchWriteRow({
      tables: [{
        tableName: table,
        rows: ids.map((id, i) => ({
          type: 'PUT', condition: ignore(), primaryKey: pk(id), attributeColumns: [{ i: Long.fromNumber(i) }],
        })),
      }],
    });
    assert(r.tables.length === 10 && r.tables.every((x) => x.isOk), `results ${JSON.stringify(r.tables)}`);
  });
  // The encoder lets batch rows omit the condition (lib/protocol/encoder.js),
  // but protobufjs then fails on the required field before anything is
  // sent: the service never sees such a row from this SDK. (The simulator
  // refuses one from other clients with OTSParameterInvalid.)
  await check('ots.batchWriteRow.noCondition', async () => {
    try {
      await ots.batchWriteRow({ tables: [{ tableName: table, rows: [{ type: 'PUT', primaryKey: pk('x'), attributeColumns: [{ i: 1 }] }] }] });
    } catch (e) {
      assert(e.code === undefined && e instanceof TypeError, `want a client-side TypeError, got code ${e.code}: ${e.message}`);
      return `refused by the SDK: ${e.message}`;
    }
    assert(false, 'a batch row without a condition was accepted');
  });

  await check('ots.deleteRow', async () => {
    await ots.deleteRow({
      tableName: table, primaryKey: pk('ledger-1'),
      condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null),
    });
    const r = await ots.getRow({ tableName: table, primaryKey: pk('ledger-1'), maxVersions: 1 });
    assert(!r.row.primaryKey, `deleted row read as ${JSON.stringify(r.row)}`);
  });

  // pages reads the whole range with the given limit, following
  // nextStartPrimaryKey; it returns the ids and the number of pages.
  const pages = async (direction, start, end, limit) => {
    const got = [];
    let n = 0;
    for (let from = start; from; n++) {
      const r = await ots.getRange({
        tableName: table, direction, maxVersions: 1, limit,
        inclusiveStartPrimaryKey: from, exclusiveEndPrimaryKey: end,
      });
      got.push(...r.rows.map((row) => row.primaryKey[0].value));
      from = r.nextStartPrimaryKey ? [{ id: r.nextStartPrimaryKey[0].value }] : null;
      assert(n < 100, 'getRange does not end');
    }
    return { got, n };
  };
  await check('ots.getRange.forward', async () => {
    const { got, n } = await pages(TableStore.Direction.FORWARD, [{ id: 'r00' }], [{ id: TableStore.INF_MAX }], 3);
    assert(JSON.stringify(got) === JSON.stringify(ids), `ids ${got}`);
    assert(n === 4, `${n} pages of 3, want 4`);
    return `${got.length} rows in ${n} pages`;
  });
  await check('ots.getRange.backward', async () => {
    const { got, n } = await pages(TableStore.Direction.BACKWARD, [{ id: 'r09' }], [{ id: TableStore.INF_MIN }], 4);
    assert(JSON.stringify(got) === JSON.stringify([...ids].reverse()), `ids ${got}`);
    assert(n === 3, `${n} pages of 4, want 3`);
    return `${got.length} rows in ${n} pages`;
  });

  await check('ots.batchGetRow', async () => {
    const r = await ots.batchGetRow({
      tables: [{ tableName: table, primaryKey: [pk('r03'), pk('nobody'), pk('r07')], maxVersions: 1 }],
    });
    const rows = r.tables[0];
    assert(rows.length === 3 && rows.every((x) => x.isOk), `rows ${JSON.stringify(rows)}`);
    assert(int(attrs(rows[0]).i) === 3 && rows[1].primaryKey === null && int(attrs(rows[2]).i) === 7,
      `values ${JSON.stringify(rows.map(attrs))}`);
  });

  await check('ots.badSecret', () => errorOf(assert, () => client('wrong-secret').listTable({}), 403, 'OTSAuthFailed'));

  const interop = env('OTS_INTEROP_TABLE');
  await check('ots.interop.fromGo', async () => {
    const r = await ots.getRow({ tableName: interop, primaryKey: pk('from-go'), maxVersions: 1 });
    const a = attrs(r.row);
    assert(a.name === '池' && int(a.n) === 42, `row written by Go read as ${JSON.stringify(a)}`);
  });
  await check('ots.interop.toGo', async () => {
    await ots.putRow({
      tableName: interop, condition: ignore(), primaryKey: pk('from-node'),
      attributeColumns: [{ name: 'ü' }, { n: Long.fromNumber(-7) }, { f: 1.5 }],
    });
  });

  await check('ots.deleteTable', async () => {
    await ots.deleteTable({ tableName: table });
    return errorOf(assert, () => ots.describeTable({ tableName: table }), 404, 'OTSObjectNotExist');
  });
}

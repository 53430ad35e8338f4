// compat.mjs drives the local MNS, ENS and Tablestore simulators (pkg/dev/mnssim,
// pkg/dev/enssim, pkg/dev/otssim) with the official Alibaba Cloud Node.js SDKs and prints one JSON object per
// check on stdout: {"check":"mns.send","ok":true,"ms":3,"detail":"..."}.
// It exits 1 when any check fails, 2 when the environment is incomplete.
//
// SDKs (exact versions in package.json):
//   @alicloud/mns 1.2.0             https://github.com/aliyun/mns-nodejs-sdk
//   @alicloud/pop-core 1.8.0        https://github.com/aliyun/openapi-core-nodejs-sdk (RPC, V1 HMAC-SHA1)
//   @alicloud/openapi-client 0.4.15 https://github.com/aliyun/darabonba-openapi (ACS3-HMAC-SHA256)
//   @alicloud/openapi-core 1.0.8    https://github.com/aliyun/darabonba-openapi (ACS3-HMAC-SHA256)
//   tablestore 5.6.5                https://github.com/aliyun/aliyun-tablestore-nodejs-sdk (ots.mjs)
//
// Environment:
//   MNS_ENDPOINT           http://127.0.0.1:PORT (the SDK's custom-endpoint option)
//   MNS_ACCESS_KEY_ID, MNS_ACCESS_KEY_SECRET
//   ENS_ENDPOINT           http://127.0.0.1:PORT
//   ENS_ACCESS_KEY_ID, ENS_ACCESS_KEY_SECRET
//   ENS_CLUSTER_ID         default eck-demo0001 (enssim.DefaultClusters)
//   ENS_VSWITCH_ID         default vsw-demo0001
//   MNS_INTEROP_BODY, MNS_INTEROP_FROM_GO, MNS_INTEROP_TO_GO
//                          optional: a body the Go side sent to queue FROM_GO,
//                          to be read and sent on to queue TO_GO
//   OTS_ENDPOINT, OTS_ACCESS_KEY_ID, OTS_ACCESS_KEY_SECRET, OTS_INSTANCE,
//   OTS_INTEROP_TABLE      see ots.mjs
//   COMPAT_ONLY            optional: "mns", "ens" or "ots" to run one part
//
// Usage: node compat.mjs   (go test ./scripts/sdkcompat/ sets everything up)

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { otsChecks } from './ots.mjs';

const require = createRequire(import.meta.url);
const MNSClient = require('@alicloud/mns');
const RPCClient = require('@alicloud/pop-core');
const OpenApi = require('@alicloud/openapi-client');
const OpenApiCore = require('@alicloud/openapi-core');

const env = (name, def) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (def !== undefined) return def;
    process.stderr.write(`compat.mjs: environment variable ${name} is required\n`);
    process.exit(2);
  }
  return v;
};

let failures = 0;

function emit(check, ok, ms, detail) {
  if (!ok) failures++;
  const rec = { check, ok, ms: Math.round(ms) };
  if (detail !== undefined) rec.detail = typeof detail === 'string' ? detail : JSON.stringify(detail);
  process.stdout.write(JSON.stringify(rec) + '\n');
}

class CheckError extends Error {}

function assert(cond, msg) {
  if (!cond) throw new CheckError(msg);
}

// check runs fn and records its outcome; fn returns an optional detail string.
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const detail = await fn();
    emit(name, true, performance.now() - t0, detail);
  } catch (e) {
    emit(name, false, performance.now() - t0, `${e.name}: ${e.message}`);
  }
}

// expectError runs fn, which must throw an error whose name (MNS SDK: "MNS<Code>Error")
// or code (pop-core, openapi-client) equals want.
async function expectError(fn, want) {
  try {
    await fn();
  } catch (e) {
    const got = e.code || e.name;
    assert(got === want || e.name === want, `want error ${want}, got ${e.name} (code ${e.code}): ${e.message}`);
    return `${want}: ${String(e.message).slice(0, 120)}`;
  }
  throw new CheckError(`want error ${want}, got success`);
}

// ---------------------------------------------------------------------------
// MNS
// ---------------------------------------------------------------------------

const ACCOUNT = '1234567890';

function mnsClient(endpoint, secret) {
  return new MNSClient(ACCOUNT, {
    endpoint,
    accessKeyId: env('MNS_ACCESS_KEY_ID'),
    accessKeySecret: secret ?? env('MNS_ACCESS_KEY_SECRET'),
    readTimeout: 10_000,
    connectTimeout: 2_000,
  });
}

// asList normalizes the SDK's batch results (xml2js arrays) to an array.
const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

async function mnsChecks() {
  const endpoint = env('MNS_ENDPOINT').replace(/\/$/, '');
  const run = Date.now().toString(36);
  const q = `compat-${run}`;
  const mns = mnsClient(endpoint);
  const unicode = 'héllo wörld — 你好，世界 🚀 <&> "quotes"';

  await check('mns.createQueue', async () => {
    const r = await mns.createQueue(q, { VisibilityTimeout: 30, PollingWaitSeconds: 0 });
    assert(r.code === 201, `status ${r.code}, want 201`);
    assert(String(r.headers.location || '').endsWith(`/queues/${q}`), `location ${r.headers.location}`);
    return `location ${r.headers.location}`;
  });

  await check('mns.createQueue.sameAttributes', async () => {
    const r = await mns.createQueue(q, { VisibilityTimeout: 30, PollingWaitSeconds: 0 });
    assert(r.code === 204, `status ${r.code}, want 204 (exists with same attributes)`);
  });

  await check('mns.getQueueAttributes', async () => {
    const r = await mns.getQueueAttributes(q);
    assert(r.code === 200, `status ${r.code}`);
    assert(r.body.QueueName === q, `QueueName ${r.body.QueueName}`);
    assert(r.body.VisibilityTimeout === '30', `VisibilityTimeout ${r.body.VisibilityTimeout}`);
    for (const k of ['ActiveMessages', 'InactiveMessages', 'DelayMessages', 'CreateTime', 'MaximumMessageSize']) {
      assert(k in r.body, `missing ${k}`);
    }
  });

  await check('mns.setQueueAttributes', async () => {
    const r = await mns.setQueueAttributes(q, { VisibilityTimeout: 20 });
    assert(r.code === 204, `status ${r.code}`);
    const a = await mns.getQueueAttributes(q);
    assert(a.body.VisibilityTimeout === '20', `VisibilityTimeout ${a.body.VisibilityTimeout} after set`);
  });

  await check('mns.listQueue', async () => {
    const r = await mns.listQueue(undefined, 10, 'compat-');
    const names = asList(r.body).map((x) => x.QueueURL);
    assert(names.some((u) => String(u).endsWith(`/queues/${q}`)), `queue not listed: ${JSON.stringify(r.body)}`);
  });

  await check('mns.receive.emptyQueue', async () =>
    expectError(() => mns.receiveMessage(q), 'MNSMessageNotExistError'));

  await check('mns.receive.emptyLongPoll', async () => {
    const t0 = performance.now();
    const d = await expectError(() => mns.receiveMessage(q, 1), 'MNSMessageNotExistError');
    const ms = performance.now() - t0;
    assert(ms >= 900 && ms < 3000, `waitSeconds=1 answered after ${Math.round(ms)} ms`);
    return `${Math.round(ms)} ms; ${d}`;
  });

  let receipt;
  await check('mns.send.unicodeDelay0', async () => {
    const r = await mns.sendMessage(q, { MessageBody: escapeXML(unicode), DelaySeconds: 0, Priority: 8 });
    assert(r.code === 201, `status ${r.code}`);
    const md5 = require('node:crypto').createHash('md5').update(unicode, 'utf8').digest('hex').toUpperCase();
    assert(r.body.MessageBodyMD5 === md5, `MessageBodyMD5 ${r.body.MessageBodyMD5}, want ${md5}`);
    assert(r.body.MessageId, 'no MessageId');
    return `id ${r.body.MessageId}`;
  });

  await check('mns.peek', async () => {
    const r = await mns.peekMessage(q);
    assert(r.body.MessageBody === unicode, `body ${JSON.stringify(r.body.MessageBody)}`);
    assert(!r.body.ReceiptHandle, 'peek returned a receipt handle');
  });

  await check('mns.receive', async () => {
    const r = await mns.receiveMessage(q, 1);
    assert(r.code === 200, `status ${r.code}`);
    assert(r.body.MessageBody === unicode, `body ${JSON.stringify(r.body.MessageBody)}, want ${JSON.stringify(unicode)}`);
    assert(r.body.DequeueCount === '1', `DequeueCount ${r.body.DequeueCount}`);
    for (const k of ['MessageId', 'ReceiptHandle', 'MessageBodyMD5', 'EnqueueTime', 'FirstDequeueTime', 'NextVisibleTime', 'Priority']) {
      assert(r.body[k], `missing ${k}`);
    }
    receipt = r.body.ReceiptHandle;
    return `receipt ${receipt}`;
  });

  let oldReceipt;
  await check('mns.changeVisibility', async () => {
    assert(receipt, 'no receipt from mns.receive');
    const before = Date.now();
    const r = await mns.changeMessageVisibility(q, receipt, 5);
    assert(r.code === 200, `status ${r.code}`);
    assert(r.body.ReceiptHandle && r.body.ReceiptHandle !== receipt, `new receipt ${r.body.ReceiptHandle}`);
    const nv = Number(r.body.NextVisibleTime);
    assert(nv >= before + 4000 && nv <= Date.now() + 6000, `NextVisibleTime ${nv} not ~5 s ahead`);
    oldReceipt = receipt;
    receipt = r.body.ReceiptHandle;
  });

  await check('mns.delete.staleReceipt', async () => {
    assert(oldReceipt, 'no old receipt');
    return expectError(() => mns.deleteMessage(q, oldReceipt), 'MNSMessageNotExistError');
  });

  await check('mns.delete.garbageReceipt', async () =>
    expectError(() => mns.deleteMessage(q, 'not-a-receipt'), 'MNSReceiptHandleErrorError'));

  await check('mns.delete', async () => {
    const r = await mns.deleteMessage(q, receipt);
    assert(r.code === 204, `status ${r.code}`);
    await expectError(() => mns.peekMessage(q), 'MNSMessageNotExistError');
  });

  await check('mns.receive.longPollWakes', async () => {
    const t0 = performance.now();
    const pending = mns.receiveMessage(q, 5);
    pending.catch(() => {}); // awaited below; a failing send must not leave it unhandled
    await sleep(300);
    await mns.sendMessage(q, { MessageBody: 'wake' });
    const r = await pending;
    const ms = performance.now() - t0;
    assert(r.body.MessageBody === 'wake', `body ${r.body.MessageBody}`);
    assert(ms < 2500, `long poll answered after ${Math.round(ms)} ms (send at 300 ms)`);
    await mns.deleteMessage(q, r.body.ReceiptHandle);
    return `${Math.round(ms)} ms`;
  });

  const batch = Array.from({ length: 5 }, (_, i) => `batch-${i}-ü`);
  await check('mns.batchSend', async () => {
    const r = await mns.batchSendMessage(q, batch.map((b) => ({ MessageBody: escapeXML(b), DelaySeconds: 0, Priority: 8 })));
    assert(r.code === 201, `status ${r.code}`);
    const items = asList(r.body);
    assert(items.length === batch.length, `${items.length} results, want ${batch.length}`);
    assert(items.every((m) => m.MessageId && m.MessageBodyMD5), `incomplete results ${JSON.stringify(items)}`);
  });

  await check('mns.batchSend.partial', async () => {
    // An entry over the queue's MaximumMessageSize fails alone: MNS answers
    // 500 with per-entry ErrorCode elements, which this SDK returns (no throw).
    const small = `${q}-small`;
    await mns.createQueue(small, { MaximumMessageSize: 1024 });
    const r = await mns.batchSendMessage(small, [{ MessageBody: 'fits' }, { MessageBody: 'x'.repeat(2000) }]);
    const items = asList(r.body);
    assert(r.code === 500 && items.length === 2, `status ${r.code}, ${items.length} items`);
    assert(items[0].MessageId && !items[0].ErrorCode, `entry 0 ${JSON.stringify(items[0])}`);
    assert(items[1].ErrorCode && !items[1].MessageId, `entry 1 ${JSON.stringify(items[1])}`);
    const a = await mns.getQueueAttributes(small);
    assert(a.body.ActiveMessages === '1', `ActiveMessages ${a.body.ActiveMessages}, want 1`);
    await mns.deleteQueue(small);
    return `entry 1: ${items[1].ErrorCode}`;
  });

  await check('mns.batchPeek', async () => {
    const r = await mns.batchPeekMessage(q, 16);
    const items = asList(r.body);
    assert(items.length === batch.length, `${items.length} peeked, want ${batch.length}`);
  });

  let handles = [];
  await check('mns.batchReceive', async () => {
    const r = await mns.batchReceiveMessage(q, 16, 1);
    const items = asList(r.body);
    const bodies = items.map((m) => m.MessageBody).sort();
    assert(JSON.stringify(bodies) === JSON.stringify([...batch].sort()), `bodies ${JSON.stringify(bodies)}`);
    handles = items.map((m) => m.ReceiptHandle);
  });

  await check('mns.batchDelete.partial', async () => {
    // One stale handle (oldReceipt) among good ones: the good ones are deleted,
    // the SDK returns the per-entry errors.
    const r = await mns.batchDeleteMessage(q, [handles[0], oldReceipt]);
    const errs = asList(r.body);
    assert(errs.length === 1, `errors ${JSON.stringify(r.body)} (status ${r.code})`);
    assert(errs[0].ErrorCode === 'MessageNotExist' && errs[0].ReceiptHandle === oldReceipt, `error ${JSON.stringify(errs[0])}`);
    handles = handles.slice(1);
    return `status ${r.code}`;
  });

  await check('mns.batchDelete', async () => {
    const r = await mns.batchDeleteMessage(q, handles);
    assert(r.code === 204, `status ${r.code}`);
    assert(r.body === undefined, `body ${JSON.stringify(r.body)}`);
    const a = await mns.getQueueAttributes(q);
    assert(a.body.ActiveMessages === '0' && a.body.InactiveMessages === '0', `queue not empty: ${JSON.stringify(a.body)}`);
  });

  await check('mns.batchReceive.emptyQueue', async () =>
    expectError(() => mns.batchReceiveMessage(q, 16), 'MNSMessageNotExistError'));

  await check('mns.unknownQueue', async () =>
    expectError(() => mns.sendMessage(`nope-${run}`, { MessageBody: 'x' }), 'MNSQueueNotExistError'));

  await check('mns.delayedMessage', async () => {
    const r = await mns.sendMessage(q, { MessageBody: 'later', DelaySeconds: 1 });
    const a = await mns.getQueueAttributes(q);
    assert(a.body.DelayMessages === '1', `DelayMessages ${a.body.DelayMessages}, want 1`);
    await expectError(() => mns.receiveMessage(q), 'MNSMessageNotExistError');
    const t0 = performance.now();
    const m = await mns.receiveMessage(q, 3);
    assert(m.body.MessageId === r.body.MessageId, 'received another message');
    await mns.deleteMessage(q, m.body.ReceiptHandle);
    return `visible after ${Math.round(performance.now() - t0)} ms more`;
  });

  await check('mns.securityToken', async () => {
    const sts = new MNSClient(ACCOUNT, {
      endpoint, accessKeyId: env('MNS_ACCESS_KEY_ID'), accessKeySecret: env('MNS_ACCESS_KEY_SECRET'),
      securityToken: 'compat-sts-token', readTimeout: 10_000, connectTimeout: 2_000,
    });
    const r = await sts.getQueueAttributes(q);
    assert(r.body.QueueName === q, `QueueName ${r.body.QueueName}`);
  });

  await check('mns.badSecret', async () =>
    expectError(() => mnsClient(endpoint, 'wrong-secret').getQueueAttributes(q), 'MNSSignatureDoesNotMatchError'));

  // Path-prefix endpoint (for SDKs that need a real-looking host name, see
  // notes/queue.md): requests go to /<prefix>/queues/..., signed without it.
  await check('mns.pathPrefixEndpoint', async () => {
    const p = mnsClient(`${endpoint}/${ACCOUNT}.mns.cn-hangzhou.aliyuncs.com`);
    const s = await p.sendMessage(q, { MessageBody: 'via prefix' });
    const r = await p.receiveMessage(q, 1);
    assert(r.body.MessageId === s.body.MessageId, 'received another message');
    await p.deleteMessage(q, r.body.ReceiptHandle);
    const a = await p.getQueueAttributes(q);
    assert(a.body.QueueName === q, `QueueName ${a.body.QueueName}`);
  });

  // Cross-language: the Go test (pkg/mns over the Go SDK) sent
  // MNS_INTEROP_BODY to MNS_INTEROP_FROM_GO; this SDK must read it back
  // unchanged and send it to MNS_INTEROP_TO_GO for the Go side to read.
  const interopBody = process.env.MNS_INTEROP_BODY;
  if (interopBody) {
    await check('mns.interop.fromGo', async () => {
      const r = await mns.receiveMessage(env('MNS_INTEROP_FROM_GO'), 2);
      assert(r.body.MessageBody === interopBody, `body ${JSON.stringify(r.body.MessageBody)}, want ${JSON.stringify(interopBody)}`);
      await mns.deleteMessage(env('MNS_INTEROP_FROM_GO'), r.body.ReceiptHandle);
    });
    await check('mns.interop.toGo', async () => {
      const r = await mns.sendMessage(env('MNS_INTEROP_TO_GO'), { MessageBody: escapeXML(interopBody) });
      assert(r.code === 201, `status ${r.code}`);
    });
  }

  await check('mns.deleteQueue', async () => {
    const r = await mns.deleteQueue(q);
    assert(r.code === 204, `status ${r.code}`);
    await expectError(() => mns.getQueueAttributes(q), 'MNSQueueNotExistError');
  });
}

// The MNS SDK puts message bodies into XML unescaped (helper.js format()); a
// caller must escape them. Real MNS and the simulator return them unescaped.
function escapeXML(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// ENS
// ---------------------------------------------------------------------------

const ENS_VERSION = '2017-11-10';

function popClient(secret) {
  return new RPCClient({
    endpoint: env('ENS_ENDPOINT'),
    apiVersion: ENS_VERSION,
    accessKeyId: env('ENS_ACCESS_KEY_ID'),
    accessKeySecret: secret ?? env('ENS_ACCESS_KEY_SECRET'),
    opts: { timeout: 10_000 },
  });
}

// V3 (ACS3-HMAC-SHA256) clients: the darabonba OpenAPI cores that the
// generated product SDKs extend — @alicloud/openapi-client (Tea generation)
// and @alicloud/openapi-core (Darabonba v2 generation). npm has no generated
// ENS 2017-11-10 package, so the calls go through callApi with the same
// Params the generated SDKs use for RPC actions.
const V3_CORES = {
  'openapi-client': {
    Client: OpenApi.default, Config: OpenApi.Config, Params: OpenApi.Params, Request: OpenApi.OpenApiRequest,
  },
  'openapi-core': {
    Client: OpenApiCore.default, Config: OpenApiCore.$OpenApiUtil.Config, Params: OpenApiCore.$OpenApiUtil.Params,
    Request: OpenApiCore.$OpenApiUtil.OpenApiRequest,
  },
};

function v3Client(core, { secret, securityToken } = {}) {
  const u = new URL(env('ENS_ENDPOINT'));
  const c = V3_CORES[core];
  const cfg = new c.Config({
    accessKeyId: env('ENS_ACCESS_KEY_ID'),
    accessKeySecret: secret ?? env('ENS_ACCESS_KEY_SECRET'),
    securityToken,
    endpoint: u.host,
    protocol: u.protocol.replace(':', ''),
    readTimeout: 10_000,
    connectTimeout: 2_000,
  });
  const client = new c.Client(cfg);
  // call is an RPC action as the generated ENS SDK sends it: POST /, every
  // parameter in the query, JSON response.
  return async (action, query) => {
    const params = new c.Params({
      action, version: ENS_VERSION, protocol: 'HTTP', pathname: '/', method: 'POST',
      authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
    });
    const r = await client.callApi(params, new c.Request({ query }), {});
    return r.body;
  };
}

async function ensChecks() {
  const clusterId = env('ENS_CLUSTER_ID', 'eck-demo0001');
  const vsw = env('ENS_VSWITCH_ID', 'vsw-demo0001');
  const pop = popClient();
  const name = `compat-${Date.now().toString(36)}`;
  const post = { method: 'POST', formatParams: false };

  const nodepoolInfo = JSON.stringify({ Name: name });
  const scalingGroup = JSON.stringify({
    DesiredSize: 2, ImageId: 'm-compat', InstanceTypes: ['ens.sn1.small'], VswitchIds: [vsw],
    SystemDiskCategory: 'cloud_efficiency', SystemDiskSize: 40, InstanceChargeType: 'PostPaid',
    Password: 'Compat#Pass1',
  });

  await check('ens.pop.DescribeClusterNodePools.empty', async () => {
    const r = await pop.request('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: 1, PageSize: 50 }, post);
    assert(r.RequestId, 'no RequestId');
    assert(Array.isArray(r.NodePools), `NodePools ${JSON.stringify(r.NodePools)}`);
    assert(!r.NodePools.some((p) => p.NodepoolInfo.Name === name), 'pool exists before create');
    return `${r.NodePools.length} pools`;
  });

  let nodepoolId;
  await check('ens.pop.CreateClusterNodePool', async () => {
    const r = await pop.request('CreateClusterNodePool', {
      ClusterId: clusterId, NodepoolInfo: nodepoolInfo, ScalingGroup: scalingGroup,
      KubernetesConfig: JSON.stringify({ UserData: Buffer.from('echo ok\n').toString('base64') }),
    }, post);
    const np = r.Nodepool;
    assert(np && np.NodepoolInfo && /^np[a-z0-9]+$/.test(np.NodepoolInfo.NodepoolId), `Nodepool ${JSON.stringify(np)}`);
    assert(np.NodepoolInfo.Name === name, `Name ${np.NodepoolInfo.Name}`);
    assert(np.ScalingGroup.Password !== 'Compat#Pass1', 'password echoed back');
    assert(np.Status && np.Status.DesiredNodes === 2, `Status ${JSON.stringify(np.Status)}`);
    nodepoolId = np.NodepoolInfo.NodepoolId;
    return `${nodepoolId} ${np.Status.State}`;
  });

  await check('ens.pop.DescribeClusterNodePools', async () => {
    const r = await pop.request('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: 1, PageSize: 50 }, post);
    const p = r.NodePools.find((x) => x.NodepoolInfo.NodepoolId === nodepoolId);
    assert(p, `created pool ${nodepoolId} not listed`);
    assert(p.NodepoolInfo.Name === name && p.ScalingGroup.VswitchIds[0] === vsw, `pool ${JSON.stringify(p)}`);
    assert(r.Page && r.Page.TotalCount >= 1 && r.Page.PageNumber === 1, `Page ${JSON.stringify(r.Page)}`);
  });

  await check('ens.pop.DescribeClusterNodePools.GET', async () => {
    // pop-core's default method: everything in the query string.
    const r = await pop.request('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: 1, PageSize: 10 }, { formatParams: false });
    assert(r.NodePools.some((x) => x.NodepoolInfo.NodepoolId === nodepoolId), 'pool not listed');
  });

  await check('ens.pop.DescribeClusterDetail', async () => {
    const r = await pop.request('DescribeClusterDetail', { ClusterId: clusterId }, post);
    assert(r.ClusterId === clusterId, `ClusterId ${r.ClusterId}`);
    assert(r.State === 'running', `State ${r.State}`);
    assert(Array.isArray(r.VswitchIds) && r.VswitchIds.includes(vsw), `VswitchIds ${JSON.stringify(r.VswitchIds)}`);
    return `${r.EnsRegionId} ${r.State}`;
  });

  await check('ens.pop.securityToken', async () => {
    const sts = new RPCClient({
      endpoint: env('ENS_ENDPOINT'), apiVersion: ENS_VERSION, accessKeyId: env('ENS_ACCESS_KEY_ID'),
      accessKeySecret: env('ENS_ACCESS_KEY_SECRET'), securityToken: 'compat-sts-token', opts: { timeout: 10_000 },
    });
    const r = await sts.request('DescribeClusterDetail', { ClusterId: clusterId }, post);
    assert(r.ClusterId === clusterId, `ClusterId ${r.ClusterId}`);
  });

  await check('ens.pop.badSecret', async () =>
    expectError(() => popClient('wrong-secret').request('DescribeClusterDetail', { ClusterId: clusterId }, post),
      'SignatureDoesNotMatch'));

  await check('ens.pop.InvalidParameter', async () =>
    expectError(() => pop.request('CreateClusterNodePool', {
      ClusterId: clusterId, NodepoolInfo: JSON.stringify({ Name: `${name}-bad` }),
      ScalingGroup: JSON.stringify({ ...JSON.parse(scalingGroup), SystemDiskSize: 25 }),
    }, post), 'InvalidParameter.SystemDiskSize'));

  await check('ens.pop.MissingParameter', async () =>
    expectError(() => pop.request('CreateClusterNodePool', { ClusterId: clusterId, NodepoolInfo: nodepoolInfo }, post),
      'MissingParameter'));

  await check('ens.pop.throttled', async () => {
    // One injected Throttling.User answer (simulator admin API): the SDK
    // reports the code and does not retry on its own.
    const res = await fetch(`${env('ENS_ENDPOINT').replace(/\/$/, '')}/_emulator/faults`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'DescribeClusterDetail', count: 1, code: 'Throttling.User', timeLeft: '200ms' }),
    });
    assert(res.ok, `admin API: ${res.status}`);
    const d = await expectError(() => pop.request('DescribeClusterDetail', { ClusterId: clusterId }, post), 'Throttling.User');
    const r = await pop.request('DescribeClusterDetail', { ClusterId: clusterId }, post);
    assert(r.ClusterId === clusterId, 'call after the fault failed');
    return d;
  });

  await check('ens.pop.unknownCluster', async () =>
    expectError(() => pop.request('DescribeClusterDetail', { ClusterId: 'eck-nope0000' }, post),
      'InvalidClusterId.NotFound'));

  const v3Pools = [];
  for (const core of Object.keys(V3_CORES)) {
    const call = v3Client(core);
    await check(`ens.v3.${core}.DescribeClusterNodePools`, async () => {
      const r = await call('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: '1', PageSize: '50' });
      assert(r.NodePools.some((x) => x.NodepoolInfo.NodepoolId === nodepoolId), `pool not listed: ${JSON.stringify(r).slice(0, 200)}`);
    });

    await check(`ens.v3.${core}.CreateClusterNodePool`, async () => {
      const r = await call('CreateClusterNodePool', {
        ClusterId: clusterId, NodepoolInfo: JSON.stringify({ Name: `${name}-${core}` }), ScalingGroup: scalingGroup,
      });
      const id = r.Nodepool && r.Nodepool.NodepoolInfo.NodepoolId;
      assert(id && r.Nodepool.NodepoolInfo.Name === `${name}-${core}`, `bad answer: ${JSON.stringify(r)}`);
      v3Pools.push(id);
      return id;
    });

    await check(`ens.v3.${core}.DescribeClusterDetail`, async () => {
      const r = await call('DescribeClusterDetail', { ClusterId: clusterId });
      assert(r.ClusterId === clusterId && r.State === 'running', `detail ${JSON.stringify(r)}`);
    });

    await check(`ens.v3.${core}.securityToken`, async () => {
      const r = await v3Client(core, { securityToken: 'compat-sts-token' })('DescribeClusterDetail', { ClusterId: clusterId });
      assert(r.ClusterId === clusterId, `detail ${JSON.stringify(r)}`);
    });

    await check(`ens.v3.${core}.badSecret`, async () =>
      expectError(() => v3Client(core, { secret: 'wrong-secret' })('DescribeClusterDetail', { ClusterId: clusterId }),
        'SignatureDoesNotMatch'));

    await check(`ens.v3.${core}.InvalidParameter`, async () =>
      expectError(() => call('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: '1', PageSize: '500' }),
        'InvalidParameter.PageSize'));
  }

  await check('ens.pop.DeleteClusterNodePool', async () => {
    for (const id of [nodepoolId, ...v3Pools].filter(Boolean)) {
      await pop.request('DeleteClusterNodePool', { ClusterId: clusterId, NodepoolId: id }, post);
    }
    const r = await pop.request('DescribeClusterNodePools', { ClusterId: clusterId, PageNumber: 1, PageSize: 50 }, post);
    assert(!r.NodePools.some((x) => x.NodepoolInfo.Name.startsWith(name)), 'pools still listed after delete');
  });
}

// The installed SDKs must be exactly the pinned ones (npm ci guarantees it;
// a stale node_modules from an older install would not).
await check('sdk.versions', async () => {
  const pinned = require('./package.json').dependencies;
  const got = [];
  for (const [pkg, want] of Object.entries(pinned)) {
    const v = require(`${pkg}/package.json`).version;
    assert(v === want, `${pkg} ${v} installed, package.json pins ${want}: run npm ci`);
    got.push(`${pkg}@${v}`);
  }
  return got.join(' ') + ` node ${process.version}`;
});

const only = process.env.COMPAT_ONLY || '';
if (only === '' || only === 'mns') await mnsChecks();
if (only === '' || only === 'ens') await ensChecks();
if (only === '' || only === 'ots') await otsChecks({ check, assert, env });
process.exit(failures > 0 ? 1 : 0);

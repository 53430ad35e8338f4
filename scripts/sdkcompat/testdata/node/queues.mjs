// queues.mjs reads and changes queue attributes with the official MNS
// Node.js SDK (@alicloud/mns, pinned in package.json), for the
// scripts/queues round trip in compat_test.go (TestQueuesScript):
//
//   node queues.mjs get <queue>...           one JSON line per queue:
//                                            {"queue","exists","attributes":{…}}
//   node queues.mjs set <queue> <Name>=<n>   setQueueAttributes with one attribute
//
// Environment: MNS_ENDPOINT, MNS_ACCESS_KEY_ID, MNS_ACCESS_KEY_SECRET.
// Exit 1 on any SDK error other than "queue does not exist" in get.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const MNSClient = require('@alicloud/mns');

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`queues.mjs: environment variable ${name} is required\n`);
    process.exit(2);
  }
  return v;
};

const mns = new MNSClient('1234567890', {
  endpoint: env('MNS_ENDPOINT').replace(/\/$/, ''),
  accessKeyId: env('MNS_ACCESS_KEY_ID'),
  accessKeySecret: env('MNS_ACCESS_KEY_SECRET'),
  readTimeout: 10_000,
  connectTimeout: 2_000,
});

const ATTRS = ['DelaySeconds', 'MaximumMessageSize', 'MessageRetentionPeriod', 'VisibilityTimeout', 'PollingWaitSeconds'];

const [cmd, ...args] = process.argv.slice(2);
try {
  if (cmd === 'get') {
    for (const q of args) {
      try {
        const r = await mns.getQueueAttributes(q);
        const attributes = {};
        for (const k of ATTRS) attributes[k] = Number(r.body[k]);
        process.stdout.write(JSON.stringify({ queue: q, exists: true, attributes }) + '\n');
      } catch (e) {
        if (e.name !== 'MNSQueueNotExistError') throw e;
        process.stdout.write(JSON.stringify({ queue: q, exists: false }) + '\n');
      }
    }
  } else if (cmd === 'set' && args.length === 2) {
    const [name, value] = args[1].split('=');
    const r = await mns.setQueueAttributes(args[0], { [name]: Number(value) });
    if (r.code !== 204) throw new Error(`setQueueAttributes: status ${r.code}`);
  } else {
    process.stderr.write('usage: node queues.mjs get <queue>... | set <queue> <Name>=<n>\n');
    process.exit(2);
  }
} catch (e) {
  process.stderr.write(`queues.mjs: ${e.name}: ${e.message}\n`);
  process.exit(1);
}

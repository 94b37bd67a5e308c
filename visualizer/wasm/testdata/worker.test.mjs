// worker.test.mjs drives live/worker.js, with the simulator compiled to
// WebAssembly, in node as a page would: node's test runner, started by
// TestWorkerInNode (worker_test.go), which builds raftkv.wasm and puts it,
// wasm_exec.js and worker.js in the folder $RAFTKV_LIVE_DIR. The worker
// runs in this process with the few globals of a worker it uses
// (jstest/workerhost.mjs, shared with the scenarios test).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { hostWorker } from '../../jstest/workerhost.mjs';

const dir = process.env.RAFTKV_LIVE_DIR;
if (!dir) throw new Error('RAFTKV_LIVE_DIR is not set: run this through go test ./visualizer/wasm');

// A worker's globals, on this process's global object.
const { inbox, wait } = hostWorker(dir);

const send = (m) => self.onmessage({ data: m });

// next waits for the next message (of type, if given: others before it are
// returned in skipped).
async function next(type) {
  for (;;) {
    while (inbox.length) {
      const m = inbox.shift();
      if (m.type === 'error' && type !== 'error') throw new Error('worker error: ' + m.message);
      if (!type || m.type === type) return m;
    }
    await wait();
  }
}

// run sends m and collects the events of its answers until nowMs reaches
// until (or the first events answer when until is not given).
async function run(m, until) {
  send(m);
  const evs = [];
  for (;;) {
    const a = await next('events');
    evs.push(...a.events);
    if (until === undefined || a.nowMs >= until) return { events: evs, nowMs: a.nowMs };
  }
}

const leaderOf = (evs) => {
  let lead = 0;
  for (const e of evs) if (e.type === 'role') {
    if (e.role === 'leader') lead = e.id;
    else if (e.id === lead) lead = 0;
  }
  return lead;
};

let all = []; // every event of the session, in order
let header;

test('ready, then a session starts with its header', async () => {
  assert.equal((await next()).type, 'ready');
  send({ type: 'start', seed: 7, options: { members: 5 } });
  header = (await next('header')).header;
  assert.equal(header.type, 'header');
  assert.equal(header.seed, 7);
  assert.equal(header.options.preset, 'live');
  assert.deepEqual(header.members, [1, 2, 3, 4, 5]);
  all.push(...(await next('events')).events);
});

test('advance elects a leader; a single step runs one event', async () => {
  const r = await run({ type: 'advance', toMs: 2000 });
  assert.equal(r.nowMs, 2000);
  all.push(...r.events);
  assert.ok(leaderOf(all) > 0, 'a leader after 2 s');
  const s = await run({ type: 'advance', events: 1 });
  assert.ok(s.events.length >= 1);
  all.push(...s.events);
});

test('crash the leader: another is elected', async () => {
  const old = leaderOf(all);
  let r = await run({ type: 'input', input: { kind: 'crash', id: old } });
  all.push(...r.events);
  assert.equal(r.events[0].type, 'input');
  assert.ok(r.events.some((e) => e.type === 'crash' && e.id === old && e.reason === 'user'));
  r = await run({ type: 'advance', toMs: r.nowMs + 3000 });
  all.push(...r.events);
  const now = leaderOf(all);
  assert.ok(now > 0 && now !== old, `new leader ${now}, old ${old}`);
  all.push(...(await run({ type: 'input', input: { kind: 'restart', id: old } })).events);
});

test('a dropped message is never delivered', async () => {
  // A message on the wire: sent, neither delivered nor dropped yet.
  let r = await run({ type: 'advance', events: 1 });
  all.push(...r.events);
  let mid = 0;
  for (let i = 0; mid === 0 && i < 1000; i++) {
    const open = new Map();
    for (const e of all) {
      if (e.type === 'send') open.set(e.mid, e);
      if (e.type === 'deliver' || e.type === 'drop') open.delete(e.mid);
    }
    if (open.size) mid = Math.max(...open.keys());
    else all.push(...(await run({ type: 'advance', events: 1 })).events);
  }
  r = await run({ type: 'input', input: { kind: 'drop', mid } });
  all.push(...r.events);
  assert.ok(r.events.some((e) => e.type === 'drop' && e.mid === mid && e.reason === 'user'));
  r = await run({ type: 'advance', toMs: r.nowMs + 1000 });
  all.push(...r.events);
  assert.ok(!r.events.some((e) => e.type === 'deliver' && e.mid === mid), `message ${mid} delivered`);
  // Dropping it again is refused, and still answered with events.
  send({ type: 'input', input: { kind: 'drop', mid } });
  assert.match((await next('error')).message, /not in flight/);
  assert.deepEqual((await next('events')).events, []);
});

test('a put sent to a follower reaches every member', async () => {
  const lead = leaderOf(all);
  const f = (lead % 5) + 1;
  let r = await run({ type: 'input', input: { kind: 'client', op: 'put', id: f, key: 'x', value: 'hello' } });
  all.push(...r.events);
  r = await run({ type: 'advance', toMs: r.nowMs + 1500 });
  all.push(...r.events);
  assert.ok(all.some((e) => e.type === 'response' && e.op === 'set' && e.result === 'ok'), 'the put is answered');
  const kv = all.filter((e) => e.type === 'kv').pop();
  assert.equal(kv.kv['/x'], 'hello');
  const applied = new Map();
  for (const e of all) if (e.type === 'apply') applied.set(e.id, e.index + e.count - 1);
  for (const id of [1, 2, 3, 4, 5]) assert.ok(applied.get(id) >= kv.index, `member ${id} applied ${applied.get(id)} < ${kv.index}`);
});

test('check: Porcupine says linearizable, with its HTML', async () => {
  send({ type: 'check' });
  const c = await next('check');
  assert.equal(c.verdict, 'ok', c.detail);
  assert.ok(c.operations >= 1);
  assert.match(c.html, /<html/i);
});

let exported;
test('export: the session as a trace, replayable', async () => {
  send({ type: 'export' });
  exported = await next('export');
  assert.match(exported.command, /raftkv-sim -replay raftkv-live-7\.jsonl/);
  assert.equal(exported.filename, 'raftkv-live-7.jsonl');
  const lines = exported.trace.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], header);
  assert.equal(lines.at(-1).type, 'end');
  // The live stream and the export agree, event for event.
  assert.deepEqual(lines.slice(1, -1), all);
  if (process.env.RAFTKV_EXPORT) fs.writeFileSync(process.env.RAFTKV_EXPORT, exported.trace);
});

test('fork: a start with the inputs up to T gives the same events up to T', async () => {
  const inputs = all.filter((e) => e.type === 'input');
  const T = inputs[2].t + 100; // after the third input
  const upTo = all.filter((e) => e.t <= T);
  send({ type: 'start', seed: 7, options: { members: 5 }, inputs: inputs.filter((e) => e.t <= T), untilMs: T });
  assert.deepEqual((await next('header')).header, header);
  const got = [];
  for (;;) {
    const a = await next('events');
    got.push(...a.events);
    if (a.nowMs >= T) break;
  }
  assert.deepEqual(got, upTo);
});

test('bad messages get errors', async () => {
  send({ type: 'start', seed: 'x' });
  assert.match((await next('error')).message, /seed/);
  send({ type: 'start', seed: 1, options: { members: 99 } });
  assert.match((await next('error')).message, /members/);
  send({ type: 'nonsense' });
  assert.match((await next('error')).message, /unknown message type/);
});

test('speed: 5 members at 100x real time or faster', async () => {
  // As the page runs it: advances of 100 ms; after a warm-up (V8
  // compiles the wasm's hot code on the way). Measured in CPU time too,
  // which a busy machine does not inflate.
  const measure = async (options, virtualMs) => {
    send({ type: 'start', seed: 1, options });
    await next('header');
    await next('events');
    for (let to = 100; to <= 5000; to += 100) {
      send({ type: 'advance', toMs: to });
      await next('events');
    }
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let n = 0;
    for (let to = 5100; to <= 5000 + virtualMs; to += 100) {
      send({ type: 'advance', toMs: to });
      n += (await next('events')).events.length;
    }
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    const x = virtualMs / Math.max(wallMs, cpuMs);
    console.log(`speed: ${JSON.stringify(options)}: ${virtualMs / 1000} s of virtual time in ${wallMs.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU: ` +
      `${(virtualMs / wallMs).toFixed(0)}x real time (${(virtualMs / cpuMs).toFixed(0)}x per CPU second), ${Math.round(n / (virtualMs / 1000))} events per virtual second`);
    return virtualMs / cpuMs;
  };
  const idle = await measure({ members: 5 }, 30000);
  await measure({ members: 5, clients: 2 }, 30000);
  if (process.env.RAFTKV_SPEED_FLOOR) assert.ok(idle >= Number(process.env.RAFTKV_SPEED_FLOOR), `${idle}x`);
});

// scenarios.node.mjs plays every guided scenario (static/live/scenarios.js)
// on the real engine in node, the way the page does (live.js's fireDue and
// scenarioLimit, advancing on the same grid), and wants each to reach what
// it sets out to show. TestScenariosInNode runs it: it builds raftkv.wasm
// and puts it, wasm_exec.js and live/worker.js in $RAFTKV_LIVE_DIR. The
// worker runs in this process with the few globals of a worker it uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createTimeline } from '../static/trace.js';
import { hostWorker } from './workerhost.mjs';
import { CHUNK_MS, fireDue, newRun, nextTarget, scenarioLimit } from '../static/live.js';
import { SCENARIOS } from '../static/live/scenarios.js';

const dir = process.env.RAFTKV_LIVE_DIR;
if (!dir) throw new Error('RAFTKV_LIVE_DIR is not set: run this through go test -run TestScenariosInNode ./visualizer');

const { inbox, wait } = hostWorker(dir);

async function next() {
  for (;;) {
    if (inbox.length) return inbox.shift();
    await wait();
  }
}

// ask sends m and feeds the answers to tl until the request is done: an
// events message (for a start, the header comes first).
async function ask(m, session) {
  self.onmessage({ data: m });
  for (;;) {
    const a = await next();
    if (a.type === 'ready') continue;
    if (a.type === 'header') {
      session.tl = createTimeline(a.header);
      continue;
    }
    if (a.type === 'error') throw new Error(`worker: ${a.message}`);
    if (a.type === 'events') {
      session.tl.append(a.events);
      session.nowMs = a.nowMs;
      return;
    }
  }
}

// The longest a scenario may run, in virtual time.
const LIMIT_MS = 60000;

for (const sc of SCENARIOS) {
  test(`scenario ${sc.id} reaches what it shows`, async () => {
    const session = { tl: null, nowMs: 0 };
    await ask({ type: 'start', seed: sc.seed, options: { ...(sc.options || {}), members: sc.members || 5 } }, session);
    const run = newRun(sc);
    const captions = [];
    while (run.result === undefined) {
      const tl = session.tl;
      for (const f of fireDue(run, tl.at(tl.n - 1), tl, session.nowMs)) {
        captions.push(`${session.nowMs} ms: ${f.caption}`);
        for (const x of f.inputs) await ask({ type: 'input', input: x }, session);
      }
      if (run.result !== undefined) break;
      assert.ok(session.nowMs < LIMIT_MS, `step ${run.k + 1} of ${sc.id} did not fire in ${LIMIT_MS} ms:\n${captions.join('\n')}`);
      const to = scenarioLimit(run, session.nowMs, nextTarget(session.nowMs, session.nowMs + CHUNK_MS));
      await ask({ type: 'advance', toMs: to }, session);
    }
    assert.equal(run.result, 'ok', `${sc.id}:\n${captions.join('\n')}`);
    assert.match(captions[captions.length - 1], /try it yourself/i);
    if (process.env.RAFTKV_VERBOSE) console.log(`${sc.id}:\n  ${captions.join('\n  ')}`);
  });
}

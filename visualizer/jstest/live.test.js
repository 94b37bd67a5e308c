// Tests of the page's side of the live simulator (live.js) and of the
// scenarios' data: what a click offers, the clock's grid, forks' inputs.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { buildTimeline, parseTrace } from '../static/trace.js';
import {
  clientInput, CHUNK_MS, GRID_MS, inputOf, inputsUpTo, isolated, Live, LIVE_SPEEDS, linkActions, memberActions, messageActions, nextGrid,
  nextTarget, speedLabel, stepDue, stepInputs,
} from '../static/live.js';
import { SCENARIOS } from '../static/live/scenarios.js';
import { describe as describeEvent } from '../static/render.js';

const H = JSON.stringify({ type: 'header', format: 1, seed: 1, options: { preset: 'live', tickMs: 10, electionTick: 30 }, members: [1, 2, 3] });
const tlOf = (lines) => buildTimeline(parseTrace([H, ...lines.map((e) => JSON.stringify(e))].join('\n')));

test('speeds run from 1/100 to 100 times real time', () => {
  assert.equal(speedLabel(LIVE_SPEEDS[0]), '1/100×');
  assert.equal(speedLabel(1000), '1×');
  assert.equal(speedLabel(10000), '10×');
  assert.equal(speedLabel(LIVE_SPEEDS[LIVE_SPEEDS.length - 1]), '100×');
});

test('the clock advances on the grid, a chunk at most', () => {
  assert.equal(nextTarget(0, 3), GRID_MS, 'less than a grid step away: the next grid time');
  assert.equal(nextTarget(0, 12), 10);
  assert.equal(nextTarget(0, 1e6), CHUNK_MS);
  assert.equal(nextTarget(0, 1e6, 5000), 5000, 'a bigger chunk when fast');
  assert.equal(nextTarget(7.3, 8), 10, 'off the grid (after a single step): back on it');
  for (const [now, want] of [[0, 1], [5, 17], [123.4, 9999], [250, 250.1]]) {
    const to = nextTarget(now, want);
    assert.ok(to > now, `${now} -> ${to}`);
    assert.equal(to % GRID_MS, 0, `${now}, ${want} -> ${to} is on the grid`);
  }
  assert.equal(nextGrid(10), 15);
  assert.equal(nextGrid(11), 15);
});

test('input events are read back as the inputs that made them', () => {
  const tl = tlOf([
    { t: 5, type: 'input', kind: 'crash', id: 2, events: 40 },
    { t: 5, type: 'crash', id: 2, reason: 'user' },
    { t: 9, type: 'input', kind: 'client', op: 'put', id: 1, key: '/x', value: '1', events: 50 },
    { t: 20, type: 'input', kind: 'restart', id: 2, events: 70 },
  ]);
  assert.deepEqual(inputOf(tl.events[0]), { kind: 'crash', id: 2, events: 40, atMs: 5 });
  assert.deepEqual(inputsUpTo(tl, 9).map((x) => x.kind), ['crash', 'client']);
  assert.deepEqual(inputsUpTo(tl, 4), []);
  assert.equal(inputsUpTo(tl, 100).length, 3);
  assert.equal(inputOf({ t: 3, type: 'input', input: { kind: 'add' } }).atMs, 3, 'an input nested in the event');
  assert.equal(describeEvent(tl.events[2]), 'you: put /x=1 at S1');
  assert.deepEqual([...tl.jumps.input], [0, 2, 3]);
});

test('a click on a member offers what fits its state', () => {
  const tl = tlOf([
    { t: 0, type: 'conf', id: 1, voters: [1, 2, 3] },
    { t: 0, type: 'conf', id: 2, voters: [1, 2, 3] },
    { t: 0, type: 'conf', id: 3, voters: [1, 2, 3] },
    { t: 1, type: 'role', id: 1, role: 'leader', term: 1, lead: 1 },
    { t: 2, type: 'crash', id: 3 },
    { t: 3, type: 'links', cut: [[2, 1], [1, 2], [2, 3], [3, 2]] },
  ]);
  const kinds = (id) => memberActions(tl, tl.at(tl.n - 1), id).map((a) => a.input.kind);
  assert.deepEqual(kinds(1), ['crash', 'pause', 'isolate', 'remove'], 'a leader: no timeout, no transfer to itself');
  assert.deepEqual(kinds(2), ['crash', 'pause', 'timeout', 'transfer', 'rejoin', 'remove'], 'S2 is cut off from both');
  assert.deepEqual(kinds(3), ['restart', 'isolate', 'remove'], 'a crashed member restarts');
  assert.equal(isolated(tl.at(tl.n - 1), [1, 2, 3], 2), true);
  assert.equal(isolated(tl.at(tl.n - 1), [1, 2, 3], 1), false);
  for (const a of memberActions(tl, tl.at(tl.n - 1), 2)) assert.equal(a.input.id, 2);
});

test('a click on a link offers cuts, heals and a clog in its direction', () => {
  const tl = tlOf([{ t: 1, type: 'links', cut: [[1, 2]] }]);
  const st = tl.at(0);
  const labels = (f, t) => linkActions(st, f, t).map((a) => a.label);
  assert.deepEqual(labels(1, 2), ['cut both ways', 'heal S1→S2', 'heal both ways', 'clog S1→S2 for 200 ms']);
  assert.deepEqual(labels(2, 1), ['cut S2→S1', 'cut both ways', 'heal both ways', 'clog S2→S1 for 200 ms']);
  assert.deepEqual(labels(2, 3).slice(0, 2), ['cut S2→S3', 'cut both ways']);
  assert.deepEqual(linkActions(st, 2, 1)[1].input, { kind: 'cut', from: 2, to: 1, both: true });
});

test('only a message still on the wire can be dropped', () => {
  const tl = tlOf([
    { t: 1, type: 'send', mid: 1, from: 1, to: 2, msg: 'MsgApp', term: 1 },
    { t: 1, type: 'send', mid: 2, from: 1, to: 3, msg: 'MsgApp', term: 1 },
    { t: 2, type: 'deliver', mid: 1, from: 1, to: 2, msg: 'MsgApp', term: 1 },
  ]);
  assert.deepEqual(messageActions(tl, 1, 0), []);
  assert.deepEqual(messageActions(tl, 2, 0).map((a) => a.input), [{ kind: 'drop', mid: 2 }]);
  assert.deepEqual(messageActions(tl, 9, 0), []);
});

test('the client panel makes inputs and says what is missing', () => {
  assert.deepEqual(clientInput({ op: 'put', id: '2', key: 'x', value: '1' }).input, { kind: 'client', op: 'put', id: 2, key: '/x', value: '1' });
  assert.deepEqual(clientInput({ op: 'get', id: '1', key: '/x', quorum: false }).input, { kind: 'client', op: 'get', id: 1, key: '/x', quorum: false });
  assert.deepEqual(clientInput({ op: 'cas', id: '1', key: '/x', value: '2', prev: '1' }).input,
    { kind: 'client', op: 'cas', id: 1, key: '/x', value: '2', prev: '1' });
  assert.match(clientInput({ op: 'put', id: '1', key: '/x' }).error, /value/);
  assert.match(clientInput({ op: 'cas', id: '1', key: '/x', value: '2' }).error, /prev/);
  assert.match(clientInput({ op: 'get', id: '', key: '/x' }).error, /member/);
  assert.match(clientInput({ op: 'get', id: '1', key: ' ' }).error, /key/);
  assert.match(clientInput({ op: 'rm', id: '1', key: '/x' }).error, /unknown/);
});

test('scenario steps fire at their time, after their delay, when their condition holds', () => {
  const sc = { steps: [{ at: 10 }, { delay: 20 }, { when: (st) => st.ok }] };
  const ctx = { fired: [] };
  assert.equal(stepDue(sc, 0, {}, null, 5, ctx), false);
  assert.equal(stepDue(sc, 0, {}, null, 10, ctx), true);
  ctx.fired[0] = 10;
  assert.equal(stepDue(sc, 1, {}, null, 25, ctx), false);
  assert.equal(stepDue(sc, 1, {}, null, 30, ctx), true);
  ctx.fired[1] = 30;
  assert.equal(stepDue(sc, 2, { ok: false }, null, 1000, ctx), false);
  assert.equal(stepDue(sc, 2, { ok: true }, null, 1000, ctx), true);
  assert.deepEqual(stepInputs({ input: { kind: 'add' } }), [{ kind: 'add' }]);
  assert.deepEqual(stepInputs({ input: () => [{ kind: 'healAll' }, { kind: 'add' }] }, {}, null, ctx).length, 2);
  assert.deepEqual(stepInputs({}), []);
});

test('the scenarios are well formed', () => {
  const ids = new Set();
  const want = ['election', 'replication', 'leader-crash', 'split-vote', 'figure8', 'stale-leader', 'membership', 'read-index'];
  assert.deepEqual(SCENARIOS.map((s) => s.id), want);
  for (const sc of SCENARIOS) {
    assert.ok(!ids.has(sc.id), `${sc.id} twice`);
    ids.add(sc.id);
    assert.ok(sc.title && sc.intro && Number.isSafeInteger(sc.seed) && sc.seed > 0, sc.id);
    assert.ok(LIVE_SPEEDS.includes(sc.speed), `${sc.id}: speed ${sc.speed} is not one the page offers`);
    assert.equal(typeof sc.expect, 'function', sc.id);
    for (const [k, st] of sc.steps.entries()) {
      assert.ok(st.at !== undefined || st.delay !== undefined || st.when, `${sc.id} step ${k + 1}: no time nor condition`);
      if (st.at !== undefined) assert.equal(st.at % GRID_MS, 0, `${sc.id} step ${k + 1}: at is on the grid`);
      if (st.delay !== undefined) assert.equal(st.delay % GRID_MS, 0, `${sc.id} step ${k + 1}: delay is on the grid`);
      assert.ok(st.caption, `${sc.id} step ${k + 1}: no caption`);
    }
    const last = sc.steps[sc.steps.length - 1];
    const text = typeof last.caption === 'function' ? last.caption({ members: {} }, { ops: [] }, {}) : last.caption;
    assert.match(text, /try it yourself/i, `${sc.id} ends with "now try it yourself"`);
  }
});

test('Live keeps one request in flight and knows when each is answered', () => {
  const sent = [];
  globalThis.Worker = class {
    constructor(url) { this.url = url; }
    postMessage(m) { sent.push(m); }
    terminate() { this.gone = true; }
  };
  try {
    const got = [];
    const h = { ready: () => got.push('ready'), header: () => got.push('header'), events: (e, now) => got.push(`events@${now}`),
      check: () => got.push('check'), export: () => got.push('export'), error: (m) => got.push(`error:${m}`) };
    const live = new Live('live/worker.js', h);
    live.start(1, { members: 5 });
    live.advance(10);
    assert.deepEqual(sent, [], 'nothing before the worker is ready');
    live.receive({ type: 'ready' });
    assert.deepEqual(sent.map((m) => m.type), ['start']);
    live.receive({ type: 'header', header: {} });
    assert.equal(sent.length, 1, 'a header does not end a start');
    live.receive({ type: 'events', events: [], nowMs: 0 });
    assert.deepEqual(sent.map((m) => m.type), ['start', 'advance']);
    assert.equal(live.idle, false);
    live.receive({ type: 'events', events: [], nowMs: 10 });
    assert.equal(live.idle, true);
    assert.equal(live.nowMs, 10);

    // A fork: busy until the events reach untilMs.
    live.start(1, { members: 5 }, [{ kind: 'crash', id: 1, atMs: 5 }], 7000);
    live.advance(7010);
    live.receive({ type: 'header', header: {} });
    live.receive({ type: 'events', events: [], nowMs: 5000 });
    assert.equal(sent.length, 3, 'still replaying the fork');
    live.receive({ type: 'events', events: [], nowMs: 7000 });
    assert.deepEqual(sent.map((m) => m.type), ['start', 'advance', 'start', 'advance']);
    assert.deepEqual(sent[2].inputs, [{ kind: 'crash', id: 1, atMs: 5 }]);
    assert.equal(sent[2].untilMs, 7000);

    // A refused advance or input: its error, then events.
    live.input({ kind: 'drop', mid: 9 });
    live.receive({ type: 'events', events: [], nowMs: 7010 });
    assert.equal(sent[4].type, 'input');
    live.receive({ type: 'error', message: 'not on the wire' });
    assert.equal(live.idle, false, 'the events of the refused input are still to come');
    live.receive({ type: 'events', events: [], nowMs: 7010 });
    assert.equal(live.idle, true);

    // A start that fails ends with its error alone; check and export
    // end with their answer.
    live.start(-1, {});
    live.receive({ type: 'error', message: 'bad seed' });
    assert.equal(live.idle, true);
    live.check();
    live.receive({ type: 'check', verdict: 'ok' });
    live.exportSession();
    assert.equal(live.idle, false);
    live.receive({ type: 'export', trace: '', command: '' });
    assert.equal(live.idle, true);
    assert.deepEqual(got.filter((x) => !x.startsWith('events')), ['ready', 'header', 'header', 'error:not on the wire', 'error:bad seed', 'check', 'export']);
    live.stop();
    assert.equal(live.w, null);
  } finally {
    delete globalThis.Worker;
  }
});

// Tests of the trace-to-states function (trace.js) and of the pure
// renderers, run by `node --test visualizer/jstest/` (TestJavaScript runs
// them from go test). hand.jsonl is a small trace written by hand so that
// every expectation below can be checked by reading it; RAFTKV_TRACE, when
// set, names a real simulator trace checked against a naive model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { blocked, buildTimeline, createTimeline, currentIDs, isLearner, lastIndexOf, leaderOf, messageKind, parseTrace, termAt, TraceError } from '../static/trace.js';
import { describe as describeEvent, renderClients, roleName, renderDetails, renderEvents, renderKV, renderLogs, renderRing } from '../static/render.js';

const hand = readFileSync(fileURLToPath(new URL('../testdata/hand.jsonl', import.meta.url)), 'utf8');
const tl = buildTimeline(parseTrace(hand));

// find is the index of the first event matching all of want's fields.
function find(want, from = 0) {
  for (let i = from; i < tl.n; i++) {
    const e = tl.events[i];
    if (Object.entries(want).every(([k, v]) => e[k] === v)) return i;
  }
  throw new Error(`no event ${JSON.stringify(want)}`);
}

test('parseTrace reads the header and every event', () => {
  const { header, events } = parseTrace(hand);
  assert.equal(header.seed, 7);
  assert.deepEqual(header.members, [1, 2, 3, 4]);
  assert.equal(events.length, hand.trim().split('\n').length - 1);
  assert.equal(events[0].type, 'conf');
});

test('parseTrace names what is wrong and where', () => {
  const h = '{"type":"header","format":1,"seed":1,"options":{},"members":[1]}';
  assert.throws(() => parseTrace('{"type":"header","format":2}'), (e) => e instanceof TraceError && /format 2/.test(e.message));
  assert.throws(() => parseTrace('{"type":"event"}'), /not a trace header/);
  assert.throws(() => parseTrace(`${h}\n{"t":1,"type":"heal"}\n{"t":0.5,"type":"heal"}`), /line 3: time goes back/);
  assert.throws(() => parseTrace(`${h}\n{"t":1,"type":"heal"}\n{"t":2,\n{"t":3,"type":"heal"}`), /line 3: not JSON/);
  assert.throws(() => parseTrace(`${h}\n{"type":"heal"}`), /line 2: not an event/);
  // Blank lines and CRLF are fine.
  assert.equal(parseTrace(`${h}\r\n{"t":1,"type":"heal"}\r\n\r\n`).events.length, 1);
});

test('before any event every member is a follower of term 0 with an empty log', () => {
  const s = tl.at(-1);
  assert.deepEqual(Object.keys(s.members).map(Number), [1, 2, 3, 4]);
  for (const m of Object.values(s.members)) {
    assert.equal(m.role, 'follower');
    assert.equal(m.term, 0);
    assert.equal(lastIndexOf(m), 0);
    assert.equal(m.up, true);
  }
  assert.equal(leaderOf(s), null);
});

test('an election: timeout, candidate with votes, leader', () => {
  let s = tl.at(find({ type: 'role', role: 'candidate' }));
  assert.equal(s.members[1].role, 'candidate');
  assert.equal(s.members[1].term, 1);
  assert.deepEqual(s.members[1].votes, { 1: true });
  s = tl.at(find({ type: 'deliver', mid: 4 }));
  assert.deepEqual(s.members[1].votes, { 1: true, 3: false }, 'a rejected vote is a refusal');
  s = tl.at(find({ type: 'deliver', mid: 3 }));
  assert.deepEqual(s.members[1].votes, { 1: true, 2: true, 3: false });
  s = tl.at(find({ type: 'role', role: 'leader' }));
  assert.equal(leaderOf(s).id, 1);
  assert.equal(s.members[1].votes, null);
  assert.deepEqual(s.members[1].progress, {});
});

test('a member that joins later is absent until the trace speaks of it; a removed one says so', () => {
  const h = '{"type":"header","format":1,"seed":1,"options":{},"members":[1,2,3]}';
  const j = buildTimeline(parseTrace([h,
    '{"t":1,"type":"conf","id":1,"voters":[1,2,3],"learners":[4]}',
    '{"t":2,"type":"conf","id":4,"voters":[1,2,3],"learners":[4]}',
    '{"t":3,"type":"conf","id":3,"voters":[1,2,4]}',
  ].join('\n')));
  assert.deepEqual(j.ids, [1, 2, 3, 4]);
  assert.equal(j.at(0).members[4].absent, true);
  assert.equal(j.at(0).members[4].up, false);
  assert.doesNotMatch(renderRing(j, j.at(0), 1), /data-id="4"/, 'not drawn before it joins');
  assert.equal(j.at(1).members[4].absent, false);
  assert.match(renderRing(j, j.at(1), 2), /data-id="4" data-role="learner"/);
  assert.match(renderRing(j, j.at(2), 3), /data-id="3" data-role="removed"/);
});

test('the learner is a learner', () => {
  const s = tl.at(tl.n - 1);
  assert.equal(isLearner(s.members[4]), true);
  assert.equal(isLearner(s.members[2]), false);
});

test('logs: appends, commits, applies, truncation, runs of several terms', () => {
  let s = tl.at(find({ type: 'apply', id: 1, index: 2 }));
  assert.equal(s.members[1].commit, 2);
  assert.equal(s.members[1].applied, 2);
  assert.equal(lastIndexOf(s.members[1]), 2);
  assert.equal(s.members[2].commit, 1);
  assert.deepEqual(s.members[1].progress[2], { match: 2, next: 3, kind: 'replicate' });
  assert.deepEqual(s.members[1].progress[4], { match: 0, next: 2, kind: 'probe' });
  s = tl.at(find({ type: 'truncate', id: 2 }));
  assert.deepEqual(s.members[2].runs, [[1, 1, 1]]);
  s = tl.at(find({ type: 'append', id: 2, index: 2, count: 2 }));
  assert.deepEqual(s.members[2].runs, [[1, 2, 1], [3, 3, 2]]);
  assert.equal(termAt(s.members[2], 3), 2);
  assert.equal(termAt(s.members[2], 4), 0);
});

test('crash and restart: the log that survived, a fresh timer', () => {
  let s = tl.at(find({ type: 'crash', id: 2 }));
  assert.equal(s.members[2].up, false);
  s = tl.at(find({ type: 'restart', id: 2 }));
  const m = s.members[2];
  assert.equal(m.up, true);
  assert.equal(m.role, 'follower');
  assert.equal(m.commit, 1);
  assert.deepEqual(m.runs, [[1, 2, 1]]);
  assert.equal(tl.timer(2, 260).reset, 250);
});

test('compaction and an installed snapshot', () => {
  let s = tl.at(find({ type: 'compact', id: 1 }));
  assert.equal(s.members[1].snapIndex, 2);
  assert.deepEqual(s.members[1].runs, []);
  assert.equal(lastIndexOf(s.members[1]), 2);
  s = tl.at(find({ type: 'snapshot', id: 3 }));
  assert.equal(s.members[3].snapIndex, 2);
  assert.equal(s.members[3].commit, 2);
  assert.equal(s.members[3].applied, 2);
});

test('partitions, clogs, pauses', () => {
  let s = tl.at(find({ type: 'partition' }));
  const ring = renderRing(tl, s, 120);
  assert.equal((ring.match(/class="group g0"/g) || []).length, 1, 'S1 alone on one side');
  assert.equal((ring.match(/class="group g1"/g) || []).length, 3, 'S2-S4 on the other');
  assert.equal((ring.match(/class="link cut"/g) || []).length, 6, 'both halves of S1-S2, S1-S3, S1-S4');
  assert.match(ring, /isolate: \{1\} \{2,3,4\}/);
  assert.equal(blocked(s.partition, 1, 2), true);
  assert.equal(blocked(s.partition, 2, 1), true);
  assert.equal(blocked(s.partition, 2, 3), false);
  s = tl.at(find({ type: 'clog' }));
  assert.deepEqual(s.clogs, [[2, 3]]);
  s = tl.at(find({ type: 'heal' }));
  assert.equal(s.partition, null);
  assert.deepEqual(s.clogs, [[2, 3]], 'a heal does not unclog');
  s = tl.at(find({ type: 'pause' }));
  assert.equal(s.members[3].paused, true);
  s = tl.at(find({ type: 'unclog' }));
  assert.deepEqual(s.clogs, []);
  assert.equal(s.members[3].paused, false);
  assert.equal(s.phase, 'liveness');
  assert.equal(tl.at(tl.n - 1).end.result, 'ok');
});

test('asymmetric and bridge partitions cut the right directions', () => {
  const out = { kind: 'asymmetric-out', groups: [[1], [2, 3]] };
  assert.equal(blocked(out, 1, 2), true);
  assert.equal(blocked(out, 2, 1), false);
  const inb = { kind: 'asymmetric-in', groups: [[1], [2, 3]] };
  assert.equal(blocked(inb, 2, 1), true);
  assert.equal(blocked(inb, 1, 2), false);
  const bridge = { kind: 'bridge', groups: [[1], [2], [3]] };
  assert.equal(blocked(bridge, 1, 3), true);
  assert.equal(blocked(bridge, 1, 2), false);
  assert.equal(blocked(bridge, 2, 3), false);
});

test('messages in flight: sliding, duplicated, dropped, never delivered', () => {
  const at = (t) => tl.inFlight(t).map((f) => ({ mid: f.m.mid, frac: Math.round(f.frac * 100) / 100, kind: f.kind, dead: f.dead }));
  assert.deepEqual(at(106), [{ mid: 1, frac: 0.33, kind: 'deliver', dead: false }, { mid: 2, frac: 0.29, kind: 'deliver', dead: false }]);
  // mid 6 was duplicated: its second copy is still on the wire after the first arrived.
  assert.deepEqual(at(109.6).filter((f) => f.mid === 6), [{ mid: 6, frac: 0.94, kind: 'deliver', dead: false }]);
  // mid 7 was lost when sent: it shows dead where it died for a moment.
  assert.deepEqual(at(108.5).filter((f) => f.mid === 7), [{ mid: 7, frac: 0.15, kind: 'drop', dead: true }]);
  assert.deepEqual(at(111).filter((f) => f.mid === 7), []);
  // mid 12 was cut by the partition on arrival.
  assert.deepEqual(at(122).filter((f) => f.mid === 12), [{ mid: 12, frac: 0.5, kind: 'drop', dead: false }]);
  assert.deepEqual(at(123.5).filter((f) => f.mid === 12), [{ mid: 12, frac: 1, kind: 'drop', dead: true }]);
  // mid 13 never arrives: on the wire until the end.
  assert.deepEqual(at(320).filter((f) => f.mid === 13), [{ mid: 13, frac: 0.5, kind: 'lost', dead: false }]);
  const m = tl.message(6);
  assert.equal(m.dup, true);
  assert.equal(m.ends.length, 2);
  assert.equal(tl.message(999), null);
});

test('message kinds', () => {
  assert.deepEqual({ ...messageKind('MsgAppResp') }, { family: 'append', response: true });
  assert.deepEqual({ ...messageKind('MsgPreVote') }, { family: 'prevote', response: false });
  assert.deepEqual({ ...messageKind('MsgTimeoutNow') }, { family: 'timeoutnow', response: false });
  assert.deepEqual({ ...messageKind('MsgSnap') }, { family: 'snapshot', response: false });
  assert.deepEqual({ ...messageKind('MsgSnapResp') }, { family: 'snapshot', response: true });
  assert.deepEqual({ ...messageKind('MsgSomethingNew') }, { family: 'other', response: false });
});

test('election timers: revealed by a timeout, else a range', () => {
  const t1 = tl.timer(1, 50);
  assert.equal(t1.deadline, 105.5, 'S1 timed out at 105.5 in the period it started at 0');
  assert.equal(t1.min, 100);
  assert.equal(t1.max, 200);
  const t2 = tl.timer(2, 50);
  assert.equal(t2.deadline, null);
  assert.equal(t2.elapsed, 50);
  // S2 heard from the leader at 113: its timer restarted then.
  assert.equal(tl.timer(2, 113.5).reset, 113);
});

test('key space and client operations', () => {
  assert.deepEqual(tl.kvAt(1).kv, {});
  assert.deepEqual(tl.kvAt(7).kv, { '/k0': 'c1.0' });
  assert.equal(tl.kvAt(7).index, 2);
  assert.equal(tl.ops.length, 1);
  const op = tl.ops[0];
  assert.equal(op.t0, 111);
  assert.equal(op.t1, 115);
  assert.equal(op.result, 'ok');
  assert.equal(op.attempts, 1);
  assert.equal(tl.at(find({ type: 'request' })).clients[1].pending, op);
  const after = tl.at(find({ type: 'response' })).clients[1];
  assert.equal(after.pending, null);
  assert.equal(after.last, op);
  assert.deepEqual(tl.opsIn(1, 0, 110), []);
  assert.deepEqual(tl.opsIn(1, 112, 113), [op]);
});

test('jumps to the next and previous event of a kind', () => {
  const lead = find({ type: 'role', role: 'leader' });
  assert.equal(tl.jump('election', -1, 1), lead);
  assert.equal(tl.jump('election', lead, 1), -2);
  assert.equal(tl.jump('election', tl.n - 1, -1), lead);
  const crash = find({ type: 'crash' });
  assert.equal(tl.jump('crash', 0, 1), crash);
  assert.equal(tl.jump('crash', crash, 1), find({ type: 'restart' }));
  assert.equal(tl.jump('partition', -1, 1), find({ type: 'partition' }));
  assert.equal(tl.indexAt(-1), -1);
  assert.equal(tl.indexAt(108), find({ type: 'drop', mid: 7 }));
  assert.equal(tl.indexAt(1e9), tl.n - 1);
});

test('at is pure: any order of asking gives the same states', () => {
  const seq = [];
  for (let i = -1; i < tl.n; i++) seq.push(JSON.stringify(tl.at(i)));
  const fresh = buildTimeline(parseTrace(hand));
  for (let i = tl.n - 1; i >= -1; i -= 3) assert.equal(JSON.stringify(fresh.at(i)), seq[i + 1], `state after event ${i}`);
  // States are not changed by later ones.
  const early = tl.at(3);
  const copy = JSON.stringify(early);
  tl.at(tl.n - 2);
  assert.equal(JSON.stringify(early), copy);
});

test('renderers draw the state', () => {
  const i = find({ type: 'apply', id: 1, index: 2 });
  const s = tl.at(i);
  const now = tl.times[i];
  const ring = renderRing(tl, s, now);
  assert.match(ring, /data-id="1" data-role="leader" data-term="1"/);
  assert.match(ring, /data-id="4" data-role="learner"/);
  const logs = renderLogs(tl, s);
  assert.equal((logs.match(/class="entry committed"/g) || []).length, 2 + 1, 'S1 commits 1-2, S2 commits 1');
  assert.equal((logs.match(/class="entry uncommitted"/g) || []).length, 1 + 1, 'S2 holds 2, S3 holds 1, uncommitted');
  assert.match(logs, /class="match" data-match="2"/);
  assert.match(logs, /class="next" data-next="3"/);
  assert.match(renderKV(tl, s), /<tr data-key="\/k0"><th>\/k0<\/th><td class="differs">c1\.0<\/td>/);
  assert.match(renderEvents(tl, i), new RegExp(`class="ev log current " data-i="${i}"`));
  assert.match(renderClients(tl, 113), /class="op pending" data-op="0"/);
  assert.match(renderClients(tl, 200), /class="op ok" data-op="0"/);
  assert.match(renderDetails(tl, s, now, { kind: 'member', id: 2 }), /leaderSees/);
  assert.match(renderDetails(tl, s, now, { kind: 'message', mid: 6 }), /deliver at 109\.500 ms; deliver at 109\.700 ms/);
  assert.equal(describeEvent(tl.events[find({ type: 'crash' })]), 'S2 crashes (fault)');
  // Markup never carries a value unescaped.
  const evil = buildTimeline(parseTrace(hand.replace('"c1.0"}}', '"<b>x</b>"}}')));
  assert.doesNotMatch(renderKV(evil, evil.at(evil.n - 1)), /<b>/);
});

// A real trace against the obvious model: every member's log as a plain
// array of terms, rebuilt from the events; the timeline must agree at every
// step it is asked about.
test('a simulator trace agrees with a naive model', { skip: !process.env.RAFTKV_TRACE && 'RAFTKV_TRACE not set' }, () => {
  const big = buildTimeline(parseTrace(readFileSync(process.env.RAFTKV_TRACE, 'utf8')));
  const logs = new Map(big.ids.map((id) => [id, { base: 0, terms: [], commit: 0, role: 'follower' }]));
  const set = (L, from, terms) => {
    L.terms.length = Math.max(0, from - L.base - 1);
    L.terms.push(...terms);
  };
  let checked = 0;
  const every = Math.max(1, Math.floor(big.n / 400));
  for (let i = 0; i < big.n; i++) {
    const e = big.events[i];
    const L = logs.get(e.id);
    switch (e.type) {
      case 'append': {
        const terms = [];
        if (e.log) for (const [, count, term] of e.log) for (let k = 0; k < count; k++) terms.push(term);
        else for (let k = 0; k < e.count; k++) terms.push(e.term);
        set(L, e.index, terms);
        break;
      }
      case 'truncate':
        set(L, e.index, []);
        break;
      case 'snapshot':
        L.base = e.index;
        L.terms = [];
        L.commit = Math.max(L.commit, e.index);
        break;
      case 'compact':
        L.terms = L.terms.slice(e.index - L.base);
        L.base = e.index;
        break;
      case 'restart':
        L.base = e.index || 0;
        L.terms = [];
        for (const [, count, term] of e.log || []) for (let k = 0; k < count; k++) L.terms.push(term);
        L.commit = e.commit || 0;
        L.role = 'follower';
        break;
      case 'commit':
        L.commit = e.index;
        break;
      case 'role':
        L.role = e.role;
        break;
      case 'crash':
        L.role = 'follower';
        break;
      default:
        break;
    }
    if (i % every !== 0 && i !== big.n - 1) continue;
    const s = big.at(i);
    for (const [id, want] of logs) {
      const m = s.members[id];
      assert.equal(m.snapIndex, want.base, `event ${i}: S${id} snapshot`);
      assert.equal(lastIndexOf(m), want.base + want.terms.length, `event ${i}: S${id} last index`);
      assert.equal(m.commit, want.commit, `event ${i}: S${id} commit`);
      assert.equal(m.role, want.role, `event ${i}: S${id} role`);
      // Every entry, one assertion: the first that differs.
      let k = 0;
      for (const [first, last, term] of m.runs) {
        for (let x = first; x <= last && want.terms[k] === term && x === want.base + 1 + k; x++) k++;
      }
      if (k < want.terms.length) {
        assert.equal(termAt(m, want.base + 1 + k), want.terms[k], `event ${i}: S${id} term at ${want.base + 1 + k}`);
      }
    }
    checked++;
  }
  assert.ok(checked > 100, `only ${checked} states checked`);
  assert.ok(big.jumps.election.length > 0 && big.jumps.crash.length > 0, 'the trace has elections and crashes');
});

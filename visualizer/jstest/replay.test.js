// Tests of the replay's fixes (issue 20) and of the growing timeline that
// the live simulator feeds: a timeline built a batch at a time is the
// timeline built at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { buildTimeline, createTimeline, currentIDs, leaderOf, parseTrace } from '../static/trace.js';
import { cutWords, renderClients, renderKV, renderLogs, renderRing, renderTerms, roleName } from '../static/render.js';

const hand = readFileSync(fileURLToPath(new URL('../testdata/hand.jsonl', import.meta.url)), 'utf8');
const H = (members) => JSON.stringify({ type: 'header', format: 1, seed: 1, options: { tickMs: 10, electionTick: 10 }, members });
const tlOf = (members, lines) => buildTimeline(parseTrace([H(members), ...lines.map((e) => JSON.stringify(e))].join('\n')));

test('a trace cut off in its last line loads up to the cut, with a warning', () => {
  const p = parseTrace(`${H([1])}\n{"t":1,"type":"heal"}\n{"t":2,"type":"he`);
  assert.equal(p.events.length, 1);
  assert.match(p.warning, /line 3 is cut off .*read the 1 events before it/);
  assert.equal(parseTrace(`${H([1])}\n{"t":1,"type":"heal"}\n`).warning, '');
  // Only the last line: a bad line before good ones is an error.
  assert.throws(() => parseTrace(`${H([1])}\n{"t":1,"ty\n{"t":2,"type":"heal"}`), /line 2: not JSON/);
});

// A member replaced: S4 joins (its membership from an older snapshot leaves
// it out for a while), S2 is removed and leaves.
const churn = [
  { t: 0, type: 'conf', id: 1, voters: [1, 2, 3] },
  { t: 0, type: 'conf', id: 2, voters: [1, 2, 3] },
  { t: 0, type: 'conf', id: 3, voters: [1, 2, 3] },
  { t: 1, type: 'role', id: 1, role: 'leader', term: 1, lead: 1 },
  { t: 2, type: 'progress', id: 1, to: 2, match: 3, next: 4, kind: 'replicate' },
  { t: 2, type: 'progress', id: 1, to: 3, match: 3, next: 4, kind: 'replicate' },
  { t: 3, type: 'join', id: 4, voters: [1, 2, 3] },
  { t: 3, type: 'conf', id: 4, voters: [1, 2, 3], learners: [4] },
  { t: 3, type: 'conf', id: 1, voters: [1, 2, 3], learners: [4] },
  { t: 4, type: 'snapshot', id: 4, index: 2, term: 1 },
  { t: 4, type: 'conf', id: 4, voters: [1, 2, 3] },
  { t: 5, type: 'conf', id: 4, voters: [1, 2, 3, 4] },
  { t: 6, type: 'conf', id: 1, voters: [1, 3, 4] },
  { t: 6, type: 'conf', id: 2, voters: [1, 3, 4] },
  { t: 7, type: 'leave', id: 2 },
];

test('joining, removed and departed members', () => {
  const tl = tlOf([1, 2, 3], churn);
  assert.deepEqual(tl.ids, [1, 2, 3, 4]);
  assert.deepEqual(currentIDs(tl, tl.at(0)), [1, 2, 3], 'S4 is not drawn before it joins');
  // S4 installs a snapshot from before it was added: joining, not removed.
  let s = tl.at(10);
  assert.equal(roleName(s.members[4]), 'joining');
  s = tl.at(11);
  assert.equal(roleName(s.members[4]), 'follower');
  // The leader drops S2's progress with its membership.
  s = tl.at(12);
  assert.deepEqual(Object.keys(s.members[1].progress).map(Number), [3]);
  s = tl.at(13);
  assert.equal(roleName(s.members[2]), 'removed', 'removed and still running');
  assert.deepEqual(currentIDs(tl, s), [1, 2, 3, 4]);
  s = tl.at(14);
  assert.equal(s.members[2].gone, true);
  assert.equal(roleName(s.members[2]), 'departed');
  assert.deepEqual(currentIDs(tl, s), [1, 3, 4], 'a departed member is not drawn');
  const ring = renderRing(tl, s, 7);
  assert.doesNotMatch(ring, /data-id="2"/);
  assert.equal((ring.match(/class="member /g) || []).length, 3);
  assert.doesNotMatch(renderLogs(tl, s), /data-id="2"/);
  assert.doesNotMatch(renderKV(tl, s), />S2</);
});

test('labels fit: the longest role label stays inside the ring picture', () => {
  // A member on the right and on the left of the ring, both pre-candidates
  // and paused: the label's far end (at ~6.2px a character of 11px text)
  // is inside the viewBox.
  const tl = tlOf([1, 2, 3, 4, 5], [
    { t: 1, type: 'role', id: 2, role: 'precandidate', term: 0 },
    { t: 1, type: 'role', id: 5, role: 'precandidate', term: 0 },
    { t: 1, type: 'pause', id: 2 },
    { t: 1, type: 'pause', id: 5 },
  ]);
  const ring = renderRing(tl, tl.at(3), 1);
  const width = Number(/viewBox="0 0 (\d+)/.exec(ringBox())[1]);
  for (const m of ring.matchAll(/<text class="role-label( start| end)?" x="([\d.]+)" y="[\d.]+">([^<]*)<\/text>/g)) {
    const len = m[3].length * 6.2;
    const x = Number(m[2]);
    const [a, b] = m[1] === ' start' ? [x, x + len] : m[1] === ' end' ? [x - len, x] : [x - len / 2, x + len / 2];
    assert.ok(a >= 0 && b <= width, `label ${m[3]} spans ${a.toFixed(0)}..${b.toFixed(0)}, the picture 0..${width}`);
  }
  assert.match(ring, /pre-candidate \(paused\)/);
});

function ringBox() {
  const html = readFileSync(fileURLToPath(new URL('../static/index.html', import.meta.url)), 'utf8');
  return /<svg id="ring"[^>]*>/.exec(html)[0];
}

test('the ring picture in the page has the renderer\'s size', async () => {
  const { RING } = await import('../static/render.js');
  assert.match(ringBox(), new RegExp(`viewBox="0 0 ${RING.width} ${RING.height}"`));
});

test('the clients axis never starts before 0', () => {
  const tl = buildTimeline(parseTrace(hand));
  for (const now of [0, 50, 200]) {
    const svg = renderClients(tl, now);
    const from = Number(/data-from="([-\d.]+)"/.exec(svg)[1]);
    assert.ok(from >= 0, `at ${now}: axis from ${from}`);
    assert.doesNotMatch(svg, />-/);
  }
});

test('the key space of 10 members is drawn compact', () => {
  const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const tl = tlOf(ids, [{ t: 1, type: 'kv', id: 1, index: 0, kv: { '/a': 'x' } }]);
  const kv = renderKV(tl, tl.at(0));
  assert.match(kv, /class="kv many"/);
  assert.equal((kv.match(/<th title=/g) || []).length, 10);
});

test('term colours are listed for the terms on screen: members\' and their logs\'', () => {
  const tl = buildTimeline(parseTrace(hand));
  const s = tl.at(tl.n - 1);
  const terms = new Set(Object.values(s.members).filter((m) => m.up).map((m) => m.term));
  for (const m of Object.values(s.members)) for (const r of m.runs) terms.add(r[2]);
  const got = (st) => [...renderTerms(st).matchAll(/data-term="(\d+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(got(s), [...terms].sort((a, b) => a - b));
  // A crashed member's term is not listed, the terms in its log are.
  const c = tlOf([1, 2], [
    { t: 1, type: 'append', id: 1, index: 1, count: 1, term: 4 },
    { t: 2, type: 'term', id: 1, term: 7 },
    { t: 3, type: 'crash', id: 1 },
  ]);
  assert.deepEqual(got(c.at(2)), [0, 4]);
});

// States are compared as JSON, operations by number (a growing timeline
// fills in an operation's answer when it comes), members not yet joined
// left out (a growing timeline cannot know of them before they join).
const key = (s) => JSON.stringify({ ...s, members: Object.fromEntries(Object.entries(s.members).filter(([, m]) => !m.absent)) },
  (k, v) => (k === 'pending' || k === 'last') && v ? v.n : v);
const same = (a, b) => key(a) === key(b);

function growAndCompare(text, batches) {
  const whole = buildTimeline(parseTrace(text));
  const { header, events } = parseTrace(text);
  const grown = createTimeline(header);
  let at = 0;
  let k = 0;
  while (at < events.length) {
    const n = batches[k++ % batches.length];
    grown.append(events.slice(at, at + n));
    at += n;
    // The latest state is always the whole timeline's at that event.
    const i = Math.min(at, events.length) - 1;
    assert.ok(same(grown.at(i), whole.at(i)), `after event ${i}`);
  }
  assert.equal(grown.n, whole.n);
  assert.deepEqual(grown.ids, whole.ids);
  assert.deepEqual(grown.clients, whole.clients);
  for (const kind of Object.keys(whole.jumps)) assert.deepEqual([...grown.jumps[kind]], [...whole.jumps[kind]], kind);
  grown.finish();
  const step = Math.max(1, Math.floor(whole.n / 300));
  for (let i = -1; i < whole.n; i += step) {
    assert.ok(same(grown.at(i), whole.at(i)), `state after event ${i}`);
    const t = i < 0 ? 0 : whole.times[i];
    const fl = (tl) => tl.inFlight(t).map((f) => `${f.m.mid}/${f.slot}/${f.kind}/${f.frac.toFixed(3)}`).join(' ');
    assert.equal(fl(grown), fl(whole), `in flight at ${t}`);
    for (const id of whole.ids) assert.deepEqual(grown.timer(id, t), whole.timer(id, t), `S${id}'s timer at ${t}`);
  }
  return { whole, grown };
}

test('a timeline grown a batch at a time is the timeline built at once (hand trace)', () => {
  growAndCompare(hand, [1, 3, 7, 2]);
});

test('a timeline grown a batch at a time is the timeline built at once (churn)', () => {
  growAndCompare([H([1, 2, 3]), ...churn.map((e) => JSON.stringify(e))].join('\n'), [2, 1, 5]);
});

test('a simulator trace grown in batches agrees with the whole', { skip: !process.env.RAFTKV_TRACE && 'RAFTKV_TRACE not set' }, () => {
  const { whole } = growAndCompare(readFileSync(process.env.RAFTKV_TRACE, 'utf8'), [1, 50, 997, 4096, 13]);
  assert.ok(whole.n > 1000);
});

test('a growing timeline draws a message not yet delivered on its way; prefix forks', () => {
  const { header, events } = parseTrace(hand);
  const sendAt = events.findIndex((e) => e.type === 'send' && e.mid === 1);
  const tl = createTimeline(header).append(events.slice(0, sendAt + 1));
  const t = events[sendAt].t;
  const f = tl.inFlight(t + 0.5).find((x) => x.m.mid === 1);
  assert.equal(f.kind, 'flight');
  assert.ok(f.frac > 0 && f.frac < 1);
  tl.append(events.slice(sendAt + 1));
  assert.equal(tl.inFlight(t + 0.5).find((x) => x.m.mid === 1).kind, 'deliver');
  const p = tl.prefix(sendAt + 1);
  assert.equal(p.n, sendAt + 1);
  assert.equal(p.inFlight(t + 0.5).find((x) => x.m.mid === 1).kind, 'flight');
  assert.equal(tl.n, events.length, 'the original is unchanged');
  assert.throws(() => tl.append([{ t: 0, type: 'heal' }]), /time goes back/);
  assert.equal(leaderOf(tl.at(tl.n - 1)).id, 1);
});

test('links cut by hand are drawn and said in words', () => {
  const tl = tlOf([1, 2, 3, 4], [
    { t: 1, type: 'links', cut: [[1, 2], [2, 1], [1, 3], [3, 1], [1, 4], [4, 1], [2, 3]] },
    { t: 2, type: 'links', cut: [[3, 4]] },
    { t: 3, type: 'links' },
  ]);
  assert.equal(cutWords(tl.at(0), [1, 2, 3, 4]), 'cut: S1 isolated 2→3');
  assert.equal((renderRing(tl, tl.at(0), 1).match(/class="link cut"/g) || []).length, 7);
  assert.match(renderRing(tl, tl.at(0), 1), /cut: S1 isolated 2→3/);
  // Live, each half-link has a wide twin to click; a replay has none.
  assert.equal((renderRing(tl, tl.at(0), 1, null, { hit: true }).match(/class="hit" data-from/g) || []).length, 12);
  assert.doesNotMatch(renderRing(tl, tl.at(0), 1), /class="hit"/);
  assert.equal(cutWords(tl.at(1), [1, 2, 3, 4]), 'cut: 3→4');
  assert.deepEqual(tl.at(2).cuts, []);
  assert.equal(cutWords(tl.at(2), [1, 2, 3, 4]), '');
  assert.doesNotMatch(renderRing(tl, tl.at(2), 3), /class="link cut"/);
});

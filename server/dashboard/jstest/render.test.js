// Tests of the dashboard's pure renderers, run by `node --test
// server/dashboard/jstest/` (TestJavaScript runs them from go test).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { health, leaderChanges, ms, renderFollowers, renderMembers, thresholds } from '../static/render.js';
import { base, parent, renderListing, renderWatch, v2error } from '../static/keysrender.js';

const fstats = (current, fail = 0) => ({
  latency: { current, average: current, minimum: current, maximum: current, standardDeviation: 0 },
  counts: { success: 10, fail },
});

const view = (leader, followers) => ({
  timeMs: 100_000, self: 'a', name: 'm1', leader, term: 2, heartbeatMs: 100, electionMs: 1000,
  members: [
    { id: 'a', name: 'm1', reachable: true, state: leader === 'a' ? 'StateLeader' : 'StateFollower', term: 2, commit: 9, applied: 9, behind: 0 },
    { id: 'b', name: 'm2', reachable: true, state: leader === 'b' ? 'StateLeader' : 'StateFollower', term: 2, commit: 9, applied: 7, behind: 2 },
    { id: 'c', name: 'm3', reachable: false, error: 'unreachable: connection refused' },
  ],
  leaderStats: followers && { leader, followers },
  local: {},
});

test('thresholds are half the heartbeat interval and half the election timeout', () => {
  const th = thresholds({ heartbeatMs: 100, electionMs: 1000 });
  assert.deepEqual(th, { ok: 50, warn: 500 });
  assert.equal(health(th, fstats(49.9)), 'ok');
  assert.equal(health(th, fstats(50)), 'warn');
  assert.equal(health(th, fstats(499)), 'warn');
  assert.equal(health(th, fstats(500)), 'bad');
  // a heartbeat lost since the previous update turns a fast follower red
  assert.equal(health(th, fstats(1, 3), 2), 'bad');
  assert.equal(health(th, fstats(1, 3), 3), 'ok');
  assert.equal(health(th, undefined), 'bad');
});

test('ms keeps three significant figures', () => {
  assert.equal(ms(0.12345), '0.123');
  assert.equal(ms(1.2345), '1.23');
  assert.equal(ms(12.345), '12.3');
  assert.equal(ms(123.45), '123');
  assert.equal(ms(undefined), '–');
});

test('leader changes are the samples whose leader differs from the one before', () => {
  const h = [
    { t: 1, leader: 'a', leaderName: 'm1' }, { t: 2, leader: 'a', leaderName: 'm1' },
    { t: 3, leader: '', leaderName: '' }, { t: 4, leader: 'b', leaderName: 'm2' },
  ];
  assert.deepEqual(leaderChanges(h), [{ t: 3, leader: '' }, { t: 4, leader: 'm2' }]);
});

test('one chart per follower, with the figures it was drawn from, and the change marked', () => {
  const v = view('a', { b: fstats(0.2), c: fstats(600, 1) });
  const history = [
    { t: 90_000, leader: 'b', leaderName: 'm2', leaderStats: null },
    { t: 99_000, leader: 'a', leaderName: 'm1', leaderStats: v.leaderStats },
    { t: 100_000, leader: 'a', leaderName: 'm1', leaderStats: v.leaderStats },
  ];
  const html = renderFollowers(v, history, 100_000);
  assert.equal((html.match(/class="follower /g) || []).length, 2);
  assert.match(html, /data-id="b" data-health="ok" data-current="0.2"/);
  assert.match(html, /data-id="c" data-health="bad" data-current="600"/);
  assert.match(html, /class="leader-change"/);
  assert.match(renderFollowers(view('', null), [], 0), /No leader view/);
});

test('the members table says who is down and how far behind', () => {
  const html = renderMembers(view('a', { b: fstats(0.2) }));
  assert.match(html, /data-id="c" data-role="down"/);
  assert.match(html, /unreachable: connection refused/);
  assert.match(html, /<span class="warn">2<\/span>/);
  assert.match(html, /tr class="member leader" data-id="a"/);
});

test('key helpers and v2 errors', () => {
  assert.equal(parent('/a/b/c'), '/a/b');
  assert.equal(parent('/a'), '/');
  assert.equal(base('/a/b/'), 'b');
  assert.equal(v2error({ errorCode: 100, message: 'Key not found', cause: '/x', index: 3 }), 'Key not found (/x) [error 100]');
  const listing = renderListing({ dir: '/d', listing: { nodes: [{ key: '/d/z', value: '<b>' }, { key: '/d/a', dir: true }] } });
  assert.ok(listing.indexOf('/d/a') < listing.indexOf('/d/z'), 'directories first');
  assert.match(listing, /&lt;b&gt;/, 'values are escaped');
  assert.match(renderWatch({ dir: '/d', watch: null }), /id="watch-dir"/);
});

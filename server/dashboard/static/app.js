// app.js connects the page to /dashboard/events and renders each update.
// The state is plain data (the newest update and the history of the last
// two minutes); rendering is a pure function of it (render.js).

import { startKeys } from './keys.js';
import { renderCards, renderChanges, renderFollowers, renderLegend, renderMembers, renderStatus, renderSummary, WINDOW_MS } from './render.js';

const $ = (id) => document.getElementById(id);

// next returns the state after an update: the history keeps the leader's
// view and who led, for the charts and the leader-change marks.
export function next(state, v) {
  const leaderName = (v.members.find((m) => m.id === v.leader) || {}).name || '';
  const sample = { t: v.timeMs, leader: v.leader, leaderName, leaderStats: v.leaderStats };
  const history = state.history.filter((s) => s.t >= v.timeMs - WINDOW_MS - 5000).concat([sample]);
  return { latest: v, history };
}

function render(state, conn) {
  const status = $('status');
  status.dataset.state = conn.state;
  status.innerHTML = renderStatus(conn, state.latest);
  const v = state.latest;
  if (!v) return;
  $('summary').innerHTML = renderSummary(v);
  $('served-by').textContent = `as ${v.name} (${v.self}) sees it`;
  $('cards').innerHTML = renderCards(v);
  $('members').innerHTML = renderMembers(v);
  $('changes').innerHTML = renderChanges(state.history);
  $('legend').innerHTML = renderLegend(v);
  $('followers').innerHTML = renderFollowers(v, state.history, v.timeMs);
}

function main() {
  let state = { latest: null, history: [] };
  let conn = { state: 'connecting', message: 'connecting…' };
  const es = new EventSource('events');
  es.onmessage = (e) => {
    const v = JSON.parse(e.data);
    if (v.error) {
      conn = { state: 'error', message: v.error };
    } else {
      state = next(state, v);
      conn = { state: 'live', at: new Date(v.timeMs).toLocaleTimeString() };
    }
    render(state, conn);
  };
  es.onerror = () => {
    conn = { state: 'error', message: 'disconnected from this member; retrying…' };
    render(state, conn);
  };
}

// showTab shows the cluster view or the key browser, after the address's
// fragment; the key browser starts on its first showing.
let keysStarted = false;
function showTab() {
  const keys = location.hash === '#keys';
  $('cluster-view').hidden = keys;
  $('keys-view').hidden = !keys;
  $('tab-cluster').classList.toggle('active', !keys);
  $('tab-keys').classList.toggle('active', keys);
  if (keys && !keysStarted) {
    keysStarted = true;
    startKeys();
  }
}

window.addEventListener('hashchange', showTab);
showTab();
main();

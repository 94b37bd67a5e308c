// render.js turns the dashboard's state into markup. Every function here is
// pure: it takes plain data (the updates of /dashboard/events, and the
// history the page keeps of them) and returns a string; app.js puts it in
// place.

export const WINDOW_MS = 120_000; // the latency charts' longest time span
export const CHART = { width: 640, height: 140, left: 52, right: 8, top: 8, bottom: 18 };

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// ms formats a latency in milliseconds with three significant figures.
export function ms(x) {
  if (x == null || !isFinite(x)) return '–';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

const rate = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

// thresholds are the latency colours, made of the raft timeouts: a round
// trip under half a heartbeat interval is answered well before the next
// heartbeat is due (green); under half the election timeout it is late but
// harmless (orange); beyond, heartbeats come back so late that the
// follower's election timer, which a heartbeat resets, is close to firing
// (red).
export function thresholds(v) {
  return { ok: v.heartbeatMs / 2, warn: v.electionMs / 2 };
}

// health classifies one follower's figures: red also when heartbeats went
// unanswered since the previous update.
export function health(th, cur, prevFail) {
  if (!cur) return 'bad';
  if (prevFail != null && cur.counts.fail > prevFail) return 'bad';
  const l = cur.latency.current;
  return l < th.ok ? 'ok' : l < th.warn ? 'warn' : 'bad';
}

// renderStatus says whether the stream is live; when it is not, it offers
// the other members' dashboards (from the last update).
export function renderStatus(conn, v) {
  if (conn.state === 'live') return `live <small>· updated ${esc(conn.at)}</small>`;
  const others = (v?.members || []).filter((m) => m.id !== v.self && m.clientURLs?.length);
  return esc(conn.message) + (others.length ? ` <small>or open ${others.map((m) => `<a href="${esc(m.clientURLs[0])}/dashboard/">${esc(m.name)}</a>`).join(', ')}</small>` : '');
}

const nameOf = (v, id) => (v.members.find((m) => m.id === id) || {}).name || id || 'none';

export function renderSummary(v) {
  return [
    `<span>leader <b id="leader" data-id="${esc(v.leader)}">${esc(v.leader ? nameOf(v, v.leader) : 'none')}</b></span>`,
    `<span>term <b id="term">${v.term}</b></span>`,
    `<span>members <b>${v.members.length}</b></span>`,
    `<span>heartbeat <b>${ms(v.heartbeatMs)} ms</b>, election timeout <b>${ms(v.electionMs)} ms</b></span>`,
  ].join('');
}

function card(label, value, id) {
  return `<div class="card"${id ? ` id="${id}"` : ''}><div class="label">${label}</div><div class="value">${value}</div></div>`;
}

export function renderCards(v) {
  const l = v.local;
  return [
    card('writes <small>entries/s</small>', rate(l.writesPerSec), 'writes'),
    card(`reads <small>GET/s on ${esc(v.name)}</small>`, rate(l.readsPerSec), 'reads'),
    card('pending writes', l.pending, 'pending'),
    card('leader changes', l.leaderChanges, 'leader-changes'),
    card('fsync p50 / p99 <small>ms</small>', `${ms(l.fsyncP50Ms)} <small>/</small> ${ms(l.fsyncP99Ms)}`, 'fsync'),
    card('entries committed', Math.max(0, ...v.members.map((m) => m.commit)), 'commit'),
    card('reachable', `${v.members.filter((m) => m.reachable).length} <small>of ${v.members.length}</small>`, 'reachable'),
    card('round trip now', avgRTT(v), 'rtt'),
  ].join('');
}

function avgRTT(v) {
  const fs = Object.values(v.leaderStats?.followers || {});
  if (!fs.length) return '–';
  return `${ms(fs.reduce((a, f) => a + f.latency.current, 0) / fs.length)} <small>ms</small>`;
}

function role(m, v) {
  if (!m.reachable) return '<span class="pill role-down">down</span>';
  if (m.learner) return '<span class="pill role-learner">learner</span>';
  const s = { StateLeader: 'leader', StateCandidate: 'candidate' }[m.state] || 'follower';
  return `<span class="pill role-${s}">${s}</span>`;
}

export function renderMembers(v) {
  const th = thresholds(v);
  const rows = v.members.map((m) => {
    const f = v.leaderStats?.followers?.[m.id];
    const rtt = m.id === v.leader ? '<small>leader</small>' : f ? `<span class="${health(th, f)}">${ms(f.latency.current)} ms</span>` : '–';
    const behind = !m.reachable ? '–' : m.behind === 0 ? '<span class="ok">0</span>' : `<span class="${m.behind > 1000 ? 'bad' : 'warn'}">${m.behind}</span>`;
    const healthCell = m.reachable ? '<span class="ok">healthy</span>' : `<span class="err">${esc(m.error)}</span>`;
    return `<tr class="member${m.id === v.leader ? ' leader' : ''}" data-id="${esc(m.id)}" data-role="${m.reachable ? esc(m.state) : 'down'}">
      <td>${m.clientURLs?.length ? `<a href="${esc(m.clientURLs[0])}/dashboard/" title="this member's own dashboard">${esc(m.name)}</a>` : esc(m.name || '(unpublished)')}<span class="id">${esc(m.id)}</span>${m.id === v.self ? ' <small title="the member serving this page">★</small>' : ''}</td>
      <td class="role">${role(m, v)}</td><td>${m.reachable ? m.term : '–'}</td>
      <td>${m.reachable ? m.commit : '–'}</td><td>${m.reachable ? m.applied : '–'}</td><td>${behind}</td>
      <td>${rtt}</td><td class="health">${healthCell}</td></tr>`;
  });
  return `<table><thead><tr><th>member</th><th class="role">role</th><th>term</th><th>commit</th><th>applied</th><th>behind</th><th>round trip</th><th class="health">health</th></tr></thead>
    <tbody>${rows.join('')}</tbody></table>`;
}

export function renderLegend(v) {
  const th = thresholds(v);
  return `<i style="background:var(--good)"></i>under ${ms(th.ok)} ms: half the heartbeat interval, answered long before the next heartbeat
    <i style="background:var(--warn)"></i>under ${ms(th.warn)} ms: half the election timeout
    <i style="background:var(--bad)"></i>slower, or heartbeats lost. Line: current; dashed: average ± sd (shaded); grey: min and max; blue: leader changes.`;
}

// renderFollowers draws one chart per follower of the current leader from
// the history: a list of {t, leader, leaderStats} samples, oldest first.
export function renderFollowers(v, history, now) {
  if (!v.leaderStats) {
    return `<div class="empty" id="no-leader-stats">No leader view: ${esc(v.leaderError || 'unknown')}</div>`;
  }
  const th = thresholds(v);
  const ids = Object.keys(v.leaderStats.followers).sort((a, b) => nameOf(v, a).localeCompare(nameOf(v, b)));
  if (!ids.length) return '<div class="empty">The leader has no followers.</div>';
  const changes = leaderChanges(history);
  // The span grows with the history, from 30 s to WINDOW_MS.
  const span = Math.min(WINDOW_MS, Math.max(30_000, history.length ? now - history[0].t : 0));
  return ids.map((id) => {
    const f = v.leaderStats.followers[id];
    const prev = history.length > 1 ? history[history.length - 2].leaderStats?.followers?.[id] : null;
    const h = health(th, f, prev && history[history.length - 2].leader === v.leader ? prev.counts.fail : null);
    const l = f.latency;
    return `<div class="follower ${h}" data-id="${esc(id)}" data-health="${h}" data-current="${l.current}" data-average="${l.average}"
        data-minimum="${l.minimum}" data-maximum="${l.maximum}" data-sd="${l.standardDeviation}" data-success="${f.counts.success}" data-fail="${f.counts.fail}">
      <div class="head"><span class="name">${esc(nameOf(v, id))}</span>
        <span class="fig">current <b class="current">${ms(l.current)}</b> ms</span>
        <span class="fig">avg <b class="average">${ms(l.average)}</b></span>
        <span class="fig">min <b class="minimum">${ms(l.minimum)}</b></span>
        <span class="fig">max <b class="maximum">${ms(l.maximum)}</b></span>
        <span class="fig">sd <b class="sd">${ms(l.standardDeviation)}</b></span>
        <span class="fig">ok <b class="success">${f.counts.success}</b></span>
        <span class="fig">failed <b class="fail${f.counts.fail ? ' warn' : ''}">${f.counts.fail}</b></span></div>
      ${chart(id, history, changes, th, now, v, span)}</div>`;
  }).join('');
}

// leaderChanges lists the moments the leader differed from the sample before.
export function leaderChanges(history) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    if (history[i].leader !== history[i - 1].leader) out.push({ t: history[i].t, leader: history[i].leaderName });
  }
  return out;
}

const COLOR = { ok: '#2e7d32', warn: '#ef6c00', bad: '#c62828' };

// The charts' y axis is logarithmic, from 0.05 ms (loopback) to the election
// timeout, so that round trips of any network and all three colour bands
// show at once.
function chart(id, history, changes, th, now, v, span) {
  const { width: W, height: H, left: L, right: R, top: T, bottom: B } = CHART;
  const pts = history.filter((s) => s.leaderStats?.followers?.[id] && s.t >= now - span)
    .map((s) => ({ t: s.t, lead: s.leader, ...s.leaderStats.followers[id].latency, fail: s.leaderStats.followers[id].counts.fail }));
  const lo = Math.log10(Math.min(0.05, ...pts.map((p) => p.current).filter((c) => c > 0)));
  const hi = Math.log10(Math.max(v.electionMs, ...pts.map((p) => p.current)));
  const x = (t) => L + ((t - (now - span)) / span) * (W - L - R);
  const y = (val) => T + (1 - (Math.log10(Math.max(val, 10 ** lo)) - lo) / (hi - lo)) * (H - T - B);
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="round trips to ${esc(nameOf(v, id))}">`;
  // threshold bands
  s += `<rect x="${L}" y="${y(th.ok)}" width="${W - L - R}" height="${H - B - y(th.ok)}" fill="#e8f5e9"/>`;
  s += `<rect x="${L}" y="${y(th.warn)}" width="${W - L - R}" height="${y(th.ok) - y(th.warn)}" fill="#fff3e0"/>`;
  s += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${y(th.warn) - T}" fill="#ffebee"/>`;
  // axes: a label a decade
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    s += `<line x1="${L}" x2="${W - R}" y1="${y(10 ** d)}" y2="${y(10 ** d)}" stroke="#fff" stroke-width="1"/>`;
    s += `<text x="${L - 4}" y="${y(10 ** d) + 3}" text-anchor="end" font-size="10" fill="#78909c">${10 ** d >= 1 ? 10 ** d : (10 ** d).toFixed(-d)} ms</text>`;
  }
  for (let k = 0; k <= 4; k++) {
    const t = now - span + (k * span) / 4;
    s += `<text x="${x(t)}" y="${H - 4}" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}" font-size="10" fill="#78909c">${k === 4 ? 'now' : `−${Math.round((span - (k * span) / 4) / 1000)}s`}</text>`;
  }
  s += `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#b0bec5"/>`;
  // the running average ± one standard deviation, min and max
  if (pts.length > 1) {
    const band = pts.map((p) => `${x(p.t)},${y(p.average + p.standardDeviation)}`).concat(pts.slice().reverse().map((p) => `${x(p.t)},${y(Math.max(0, p.average - p.standardDeviation))}`));
    s += `<polygon points="${band.join(' ')}" fill="#90caf9" fill-opacity="0.35"/>`;
    s += `<polyline points="${pts.map((p) => `${x(p.t)},${y(p.maximum)}`).join(' ')}" fill="none" stroke="#b0bec5" stroke-width="1"/>`;
    s += `<polyline points="${pts.map((p) => `${x(p.t)},${y(p.minimum)}`).join(' ')}" fill="none" stroke="#b0bec5" stroke-width="1"/>`;
    s += `<polyline points="${pts.map((p) => `${x(p.t)},${y(p.average)}`).join(' ')}" fill="none" stroke="#1e88e5" stroke-width="1" stroke-dasharray="4 2"/>`;
  }
  // current, coloured per segment by health
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1], b = pts[i];
    if (a.lead !== b.lead) continue;
    const h = b.fail > a.fail ? 'bad' : b.current < th.ok ? 'ok' : b.current < th.warn ? 'warn' : 'bad';
    s += `<line x1="${x(a.t)}" y1="${y(a.current)}" x2="${x(b.t)}" y2="${y(b.current)}" stroke="${COLOR[h]}" stroke-width="2" stroke-linecap="round"/>`;
  }
  const last = pts[pts.length - 1];
  if (last) s += `<circle cx="${x(last.t)}" cy="${y(last.current)}" r="3" fill="${COLOR[last.current < th.ok ? 'ok' : last.current < th.warn ? 'warn' : 'bad']}"/>`;
  // leader changes
  for (const c of changes) {
    if (c.t < now - span) continue;
    s += `<line class="leader-change" x1="${x(c.t)}" x2="${x(c.t)}" y1="${T}" y2="${H - B}" stroke="#1565c0" stroke-dasharray="3 3"/>`;
    s += `<text x="${x(c.t) + 3}" y="${T + 10}" font-size="10" fill="#1565c0">${esc(c.leader || 'no leader')}</text>`;
  }
  return s + '</svg>';
}

// renderChanges lists the leader changes this page has seen, newest first.
export function renderChanges(history) {
  const cs = leaderChanges(history).reverse();
  if (!cs.length) return '<small>No leader change since this page opened.</small>';
  return '<ul>' + cs.map((c) => `<li><b>${esc(new Date(c.t).toLocaleTimeString())}</b> ${c.leader ? `${esc(c.leader)} leads` : 'no leader'}</li>`).join('') + '</ul>';
}

// render.js draws one moment of a timeline. Every function here is pure: it
// takes a state (and the time within it, for what moves) and returns markup;
// the page puts the markup in place and listens for clicks on the data-*
// attributes it carries.

import { currentIDs, cutOff, isLearner, lastIndexOf, leaderOf, MESSAGE_EVENTS, messageKind, termAt } from './trace.js';

// The ring's picture is wider than the ring so that the longest label
// ("pre-candidate (paused)", "not yet a member") fits beside a member.
export const RING = { width: 700, height: 500, cx: 350, cy: 250, r: 160, member: 34 };

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const num = (x) => (Math.round(x * 100) / 100).toString();

// termColor gives each term its own hue; successive terms differ most.
export function termColor(term, light = false) {
  if (!term) return light ? '#eceff1' : '#cfd8dc';
  const hue = Math.round((term * 137.508 + 200) % 360);
  return light ? `hsl(${hue} 55% 88%)` : `hsl(${hue} 60% 66%)`;
}

// roleName is what a member is, in words. A member left out of its own
// membership is removed, unless it is joining: started by a join and not
// yet a voter, its membership may come from a snapshot taken before the
// leader added it.
export function roleName(m) {
  if (m.absent) return 'not yet a member';
  if (m.gone) return 'departed';
  if (!m.up) return 'crashed';
  if (m.voters && !m.voters.includes(m.id) && !(m.learners || []).includes(m.id)) return m.joining ? 'joining' : 'removed';
  if (isLearner(m)) return 'learner';
  return m.role === 'precandidate' ? 'pre-candidate' : m.role;
}

// memberXY places member k of n on the ring, the first at the top.
export function memberXY(k, n, r = RING.r) {
  const a = -Math.PI / 2 + (2 * Math.PI * k) / Math.max(1, n);
  return { x: RING.cx + r * Math.cos(a), y: RING.cy + r * Math.sin(a) };
}

function arcPath(cx, cy, r, from, to) {
  // from, to: fractions of a turn clockwise from the top.
  const f = Math.max(0, Math.min(1, from));
  const t = Math.max(f, Math.min(0.9999, to));
  if (t - f <= 0.0005) return '';
  const p = (x) => {
    const a = -Math.PI / 2 + 2 * Math.PI * x;
    return `${num(cx + r * Math.cos(a))},${num(cy + r * Math.sin(a))}`;
  };
  return `M${p(f)} A${r},${r} 0 ${t - f > 0.5 ? 1 : 0} 1 ${p(t)}`;
}

// timerArc draws how much of the election timeout is left: the full circle
// is the longest timeout raft can draw (2 × election ticks). When the trace
// reveals the drawn timeout (the member timed out in this period) the arc is
// exact; otherwise it is solid up to the shortest possible timeout and
// dashed up to the longest.
function timerArc(tl, m, now, x, y) {
  const tm = tl.timer(m.id, now);
  const r = RING.member + 6;
  const full = tm.max;
  if (tm.deadline !== null) {
    const left = (tm.deadline - now) / full;
    return `<path class="arc exact" d="${arcPath(x, y, r, 0, left)}"/>`;
  }
  const sure = (tm.min - tm.elapsed) / full;
  const maybe = (tm.max - tm.elapsed) / full;
  return `<path class="arc range" d="${arcPath(x, y, r, Math.max(0, sure), maybe)}"/>` +
    `<path class="arc exact" d="${arcPath(x, y, r, 0, sure)}"/>`;
}

// renderRing draws members on a ring, the links between them (cut by a
// partition or clogged), and the messages in flight at time now.
// view.hit adds a wide, invisible twin to each half-link, to click (live).
export function renderRing(tl, state, now, sel = null, view = {}) {
  const ids = currentIDs(tl, state);
  const n = ids.length;
  const pos = new Map(ids.map((id, k) => [id, memberXY(k, n)]));
  const out = [];
  // Links: each half of a link belongs to the direction leaving that end.
  out.push('<g class="links">');
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const A = pos.get(ids[a]);
      const B = pos.get(ids[b]);
      const mx = (A.x + B.x) / 2;
      const my = (A.y + B.y) / 2;
      for (const [from, to, P] of [[ids[a], ids[b], A], [ids[b], ids[a], B]]) {
        const cut = cutOff(state, from, to);
        const clog = state.clogs.some(([f, t]) => f === from && t === to);
        const cls = cut ? 'link cut' : clog ? 'link clog' : 'link';
        out.push(`<line class="${cls}" data-from="${from}" data-to="${to}" x1="${num(P.x)}" y1="${num(P.y)}" x2="${num(mx)}" y2="${num(my)}"/>`);
        if (view.hit) out.push(`<line class="hit" data-from="${from}" data-to="${to}" x1="${num(P.x)}" y1="${num(P.y)}" x2="${num(mx)}" y2="${num(my)}"/>`);
      }
      if (cutOff(state, ids[a], ids[b]) && cutOff(state, ids[b], ids[a])) {
        out.push(`<text class="cutmark" x="${num(mx)}" y="${num(my + 4)}">✕</text>`);
      }
    }
  }
  out.push('</g>');

  // Partition groups: a halo of the group's colour behind each member.
  if (state.partition) {
    out.push('<g class="groups">');
    state.partition.groups.forEach((g, k) => {
      for (const id of g) {
        const P = pos.get(id);
        if (P) out.push(`<circle class="group g${k % 3}" cx="${num(P.x)}" cy="${num(P.y)}" r="${RING.member + 16}"/>`);
      }
    });
    out.push('</g>');
  }

  out.push('<g class="members">');
  for (const id of ids) {
    const m = state.members[id];
    const { x, y } = pos.get(id);
    const role = roleName(m);
    const cls = ['member', role.replace(/\s+/g, '-'), m.paused ? 'paused' : '', sel && sel.kind === 'member' && sel.id === id ? 'selected' : ''].join(' ').trim();
    out.push(`<g class="${cls}" data-id="${id}" data-role="${role}" data-term="${m.term}" data-up="${m.up}" data-paused="${m.paused}">`);
    const showArc = m.up && !m.paused && m.role !== 'leader' && !isLearner(m);
    if (showArc) {
      out.push(`<circle class="arc-track" cx="${num(x)}" cy="${num(y)}" r="${RING.member + 6}"/>`);
      out.push(timerArc(tl, m, now, x, y));
    }
    const fill = m.up ? termColor(m.term) : '#9e9e9e';
    out.push(`<circle class="body" cx="${num(x)}" cy="${num(y)}" r="${isLearner(m) ? RING.member - 8 : RING.member}" fill="${fill}"/>`);
    out.push(`<text class="term" x="${num(x)}" y="${num(y + 8)}">${m.term}</text>`);
    if (m.votes) {
      // One dot per voter: granted, refused, or not yet answered.
      const voters = m.voters && m.voters.length ? m.voters : ids;
      voters.forEach((peer, k) => {
        const ang = -Math.PI / 2 + (2 * Math.PI * k) / voters.length;
        const vx = x + (RING.member - 9) * Math.cos(ang);
        const vy = y + (RING.member - 9) * Math.sin(ang);
        const v = m.votes[peer];
        const vc = v === true ? 'granted' : v === false ? 'refused' : 'waiting';
        out.push(`<circle class="vote ${vc}" cx="${num(vx)}" cy="${num(vy)}" r="4"/>`);
      });
    }
    if (!m.up && !m.absent) out.push(`<text class="overlay" x="${num(x)}" y="${num(y + 28)}">✕</text>`);
    else if (m.paused) out.push(`<text class="overlay" x="${num(x)}" y="${num(y + 12)}">❚❚</text>`);
    // Names sit outside the ring, anchored away from it.
    const lab = memberXY(ids.indexOf(id), n, RING.r + RING.member + 12);
    const side = lab.x < RING.cx - 30 ? ' end' : lab.x > RING.cx + 30 ? ' start' : '';
    const ly = lab.y < RING.cy - RING.r ? lab.y - 10 : lab.y > RING.cy + RING.r ? lab.y + 14 : lab.y;
    out.push(`<text class="name${side}" x="${num(lab.x)}" y="${num(ly - 2)}">S${id}</text>`);
    out.push(`<text class="role-label${side}" x="${num(lab.x)}" y="${num(ly + 11)}">${esc(role)}${m.paused ? ' (paused)' : ''}</text>`);
    out.push('</g>');
  }
  out.push('</g>');

  // Messages in flight.
  out.push('<g class="messages">');
  for (const f of tl.inFlight(now)) {
    const m = f.m;
    const A = pos.get(m.from);
    const B = pos.get(m.to);
    if (!A || !B) continue;
    const dx = B.x - A.x;
    const dy = B.y - A.y;
    const len = Math.hypot(dx, dy) || 1;
    const ux = dx / len;
    const uy = dy / len;
    // Start and end at the circles' edges; keep the two directions apart.
    const travel = len - 2 * RING.member;
    const d = RING.member + f.frac * travel;
    const off = 5;
    const px = A.x + ux * d - uy * off;
    const py = A.y + uy * d + ux * off;
    const k = messageKind(m.msg);
    const cls = ['msg', k.family, k.response ? 'response' : 'request', m.reject ? 'rejected' : '', m.dup ? 'duplicated' : '',
      f.dead ? 'dropped' : '', sel && sel.kind === 'message' && sel.mid === m.mid ? 'selected' : ''].join(' ').replace(/\s+/g, ' ').trim();
    const ang = Math.atan2(dy, dx) * 180 / Math.PI;
    out.push(`<g class="${cls}" data-mid="${m.mid}" data-slot="${f.slot}" transform="translate(${num(px)},${num(py)})">`);
    if (m.dup) out.push('<circle class="dupring" r="10"/>');
    out.push(`<circle class="dot" r="7"/><path class="dir" d="M2,-3 L6,0 L2,3" transform="rotate(${num(ang)})"/>`);
    if (m.reject) out.push('<text class="reject" y="4">✗</text>');
    if (f.dead) out.push('<text class="dead" y="5">✕</text>');
    out.push('</g>');
  }
  out.push('</g>');

  // The partition in words, in the middle of the ring.
  const p = state.partition;
  const words = p ? `${p.kind}: ${p.groups.map((g) => '{' + g.join(',') + '}').join(' ')}` : cutWords(state, ids);
  const clogs = state.clogs.map(([f, t]) => `${f}→${t}`).join(' ');
  out.push(`<text class="center" x="${RING.cx}" y="${RING.cy - 6}">${esc(words)}</text>`);
  if (clogs) out.push(`<text class="center clogs" x="${RING.cx}" y="${RING.cy + 12}">clogged ${esc(clogs)}</text>`);
  return out.join('');
}

// cutWords says which links are cut by hand, shortly: a member cut off
// from every other is isolated; a link cut both ways is a↔b, one way a→b.
export function cutWords(state, ids) {
  const cuts = state.cuts || [];
  if (!cuts.length) return '';
  const has = (a, b) => cuts.some(([f, t]) => f === a && t === b);
  const alone = ids.filter((id) => ids.length > 1 && ids.every((x) => x === id || (has(id, x) && has(x, id))));
  const parts = alone.map((id) => `S${id} isolated`);
  for (const [f, t] of cuts) {
    if (alone.includes(f) || alone.includes(t)) continue;
    if (has(t, f)) {
      if (f < t) parts.push(`${f}↔${t}`);
    } else parts.push(`${f}→${t}`);
  }
  return `cut: ${parts.join(' ')}`;
}

// renderTerms is the legend of term colours: a swatch for each term on
// screen, held by a running member or by an entry in a drawn log (the
// newest 12).
export function renderTerms(state) {
  const seen = new Set();
  for (const m of Object.values(state.members)) {
    if (m.absent || m.gone) continue;
    if (m.up) seen.add(m.term);
    for (const r of m.runs) seen.add(r[2]);
  }
  const terms = [...seen].sort((a, b) => a - b).slice(-12);
  return terms.map((t) => `<span class="term-swatch" data-term="${t}" style="background:${termColor(t)}">${t}</span>`).join('');
}

// renderLogs draws one row per member: a cell per log index in a window,
// coloured by term, solid when committed, dashed when not; compacted
// indexes hatched; under each follower the leader's match (dot) and next
// (triangle) index.
export function renderLogs(tl, state, view = {}) {
  const W = view.logWidth || 27;
  const ids = currentIDs(tl, state);
  let hi = view.logEnd || 0;
  if (!hi) for (const id of ids) hi = Math.max(hi, lastIndexOf(state.members[id]));
  hi = Math.max(hi, W);
  const lo = hi - W + 1;
  const cw = 24;
  const rh = 30;
  const left = 70;
  const top = 18;
  const width = left + W * cw + 190;
  const height = top + ids.length * rh + 6;
  const lead = leaderOf(state);
  const out = [`<svg class="logs" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" data-lo="${lo}" data-hi="${hi}">`];
  for (let i = lo; i <= hi; i++) {
    if (i % 5 === 0) out.push(`<text class="index" x="${left + (i - lo) * cw + cw / 2}" y="12">${i}</text>`);
  }
  ids.forEach((id, row) => {
    const m = state.members[id];
    const y = top + row * rh;
    const rcls = `logrow ${m.up ? '' : 'down'}`.trim();
    out.push(`<g class="${rcls}" data-id="${id}" data-commit="${m.commit}" data-last="${lastIndexOf(m)}" data-snap="${m.snapIndex}">`);
    out.push(`<text class="rowname ${esc(roleName(m).replace(/\s+/g, '-'))}" x="4" y="${y + 16}">S${id} ${m.role === 'leader' && m.up ? '★' : ''}</text>`);
    for (let i = lo; i <= hi; i++) {
      const x = left + (i - lo) * cw;
      if (i <= m.snapIndex) {
        out.push(`<rect class="cell compacted" x="${x + 1}" y="${y + 2}" width="${cw - 2}" height="${rh - 12}" data-index="${i}"/>`);
        continue;
      }
      const term = termAt(m, i);
      if (!term) {
        out.push(`<rect class="cell empty" x="${x + 1}" y="${y + 2}" width="${cw - 2}" height="${rh - 12}"/>`);
        continue;
      }
      const committed = i <= m.commit;
      out.push(`<g class="entry ${committed ? 'committed' : 'uncommitted'}" data-index="${i}" data-term="${term}">` +
        `<rect class="cell" x="${x + 1}" y="${y + 2}" width="${cw - 2}" height="${rh - 12}" fill="${termColor(term, !committed)}"/>` +
        `<text x="${x + cw / 2}" y="${y + 15}">${term}</text></g>`);
    }
    if (m.snapIndex >= lo && m.snapIndex <= hi) {
      const x = left + (m.snapIndex - lo + 1) * cw;
      out.push(`<line class="snapline" x1="${x}" y1="${y}" x2="${x}" y2="${y + rh - 10}"/>`);
    }
    if (lead && lead.id !== id && lead.progress && lead.progress[id]) {
      const pr = lead.progress[id];
      const yy = y + rh - 5;
      if (pr.match >= lo && pr.match <= hi) {
        out.push(`<circle class="match" data-match="${pr.match}" cx="${left + (pr.match - lo) * cw + cw / 2}" cy="${yy}" r="3.5"><title>match ${pr.match}</title></circle>`);
      }
      if (pr.next >= lo && pr.next <= hi + 1) {
        const nx = left + (pr.next - lo) * cw + cw / 2;
        out.push(`<path class="next" data-next="${pr.next}" d="M${nx - 4},${yy + 4} L${nx},${yy - 3} L${nx + 4},${yy + 4} Z"><title>next ${pr.next} (${esc(pr.kind)})</title></path>`);
      }
    }
    const sx = left + W * cw + 8;
    out.push(`<text class="rowstat" x="${sx}" y="${y + 11}">commit ${m.commit} · applied ${m.applied}</text>`);
    const pr = lead && lead.id !== id && lead.progress ? lead.progress[id] : null;
    const extra = m.snapIndex ? `snap ${m.snapIndex}` : '';
    out.push(`<text class="rowstat" x="${sx}" y="${y + 22}">last ${lastIndexOf(m)}${extra ? ' · ' + extra : ''}${pr ? ' · ' + esc(pr.kind) : ''}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('');
}

const RESULT_CLASS = (r) => {
  if (!r) return 'pending';
  if (r === 'ok') return 'ok';
  if (r === 'not found' || r === 'compare failed' || r === 'already exists') return 'failed';
  return 'ambiguous';
};

// renderClients draws a lane per client: each operation's span from request
// to response, coloured by its outcome, in a window around now.
export function renderClients(tl, now, view = {}) {
  const span = view.clientSpanMs || 600;
  // The window ends a little after now, and never starts before 0.
  const t0 = Math.max(0, now - span * 0.8);
  const t1 = t0 + span;
  const W = 1000;
  const left = 36;
  const lh = 15;
  const clients = tl.clients;
  const H = Math.max(1, clients.length) * lh + 16;
  const X = (t) => left + ((t - t0) / (t1 - t0)) * (W - left);
  const out = [`<svg class="lanes" viewBox="0 0 ${W} ${H}" height="${H}" preserveAspectRatio="none" data-from="${num(t0)}" data-to="${num(t1)}">`];
  clients.forEach((c, k) => {
    const y = k * lh + 2;
    out.push(`<text class="lane-name" x="2" y="${y + 11}">c${c}</text>`);
    for (const op of tl.opsIn(c, t0, t1)) {
      const end = op.t1 === null || op.t1 > now ? now : op.t1;
      if (op.t0 > now) continue; // the future is not shown
      const x0 = Math.max(left, X(op.t0));
      const x1 = Math.max(x0 + 2, X(end));
      const cls = `op ${op.t1 !== null && op.t1 <= now ? RESULT_CLASS(op.result) : 'pending'}` +
        (view.sel && view.sel.kind === 'op' && view.sel.n === op.n ? ' selected' : '');
      const done = op.t1 !== null && op.t1 <= now;
      out.push(`<g class="${cls}" data-op="${op.n}" data-name="${esc(op.op)}" data-result="${done ? esc(op.result) : ''}" data-answer="${done ? esc(op.answer) : ''}">` +
        `<rect x="${num(x0)}" y="${y}" width="${num(x1 - x0)}" height="${lh - 3}"/>`);
      if (x1 - x0 > 60) out.push(`<text x="${num(x0 + 3)}" y="${y + 10}">${esc(op.op)} ${esc(op.key)}${op.value ? '=' + esc(op.value) : ''}</text>`);
      out.push('</g>');
    }
  });
  const nx = X(now);
  out.push(`<line class="now" x1="${num(nx)}" y1="0" x2="${num(nx)}" y2="${H}"/>`);
  out.push(`<text class="axis" x="${left}" y="${H - 2}">${num(t0)} ms</text><text class="axis end" x="${W - 2}" y="${H - 2}">${num(t1)} ms</text>`);
  out.push('</svg>');
  return out.join('');
}

// renderKV shows each member's key space as of its applied index.
export function renderKV(tl, state) {
  const ids = currentIDs(tl, state);
  const per = ids.map((id) => tl.kvAt(state.members[id].applied));
  const keys = new Set();
  for (const k of per) for (const key of Object.keys(k.kv)) keys.add(key);
  const sorted = [...keys].sort();
  const head = ids.map((id, k) => `<th title="as of index ${per[k].index}">S${id}<small>@${per[k].index}</small></th>`).join('');
  const rows = sorted.map((key) => {
    const vals = per.map((p) => p.kv[key]);
    const same = vals.every((v) => v === vals[0]);
    return `<tr data-key="${esc(key)}"><th>${esc(key)}</th>${vals.map((v) => `<td class="${same ? '' : 'differs'}">${v === undefined ? '<i>—</i>' : esc(v)}</td>`).join('')}</tr>`;
  }).join('');
  return `<table class="kv${ids.length > 6 ? ' many' : ''}"><thead><tr><th>key</th>${head}</tr></thead><tbody>${rows || `<tr><td colspan="${ids.length + 1}"><i>empty</i></td></tr>`}</tbody></table>`;
}

// describe says what an event is in a few words.
export function describe(e) {
  const S = (id) => `S${id}`;
  switch (e.type) {
    case 'role': return `${S(e.id)} ${e.role}${e.lead ? ` (leader S${e.lead})` : ''}, term ${e.term || 0}`;
    case 'term': return `${S(e.id)} term ${e.term || 0}${e.vote ? `, voted S${e.vote}` : ''}`;
    case 'timeout': return `${S(e.id)} election timeout (term ${e.term || 0})`;
    case 'send': case 'deliver': case 'drop': case 'duplicate': {
      const parts = [`${S(e.from)}→${S(e.to)} ${e.msg}`, `t${e.term || 0}`];
      if (e.index || e.logTerm) parts.push(`i${e.index || 0}/t${e.logTerm || 0}`);
      if (e.entries) parts.push(`+${e.entries}`);
      if (e.commit) parts.push(`c${e.commit}`);
      if (e.reject) parts.push('REJECT');
      if (e.reason) parts.push(`(${e.reason})`);
      return parts.join(' ');
    }
    case 'append': return `${S(e.id)} appends ${e.count} at ${e.index} (term ${e.term || 0})`;
    case 'truncate': return `${S(e.id)} truncates ${e.count} from ${e.index}`;
    case 'snapshot': return `${S(e.id)} installs snapshot ${e.index} (term ${e.term || 0})`;
    case 'compact': return `${S(e.id)} compacts its log to ${e.index}`;
    case 'commit': return `${S(e.id)} commits ${e.index}`;
    case 'apply': return `${S(e.id)} applies ${e.index}${e.count > 1 ? `–${e.index + e.count - 1}` : ''}`;
    case 'kv': return `key space at ${e.index}: ${Object.entries(e.kv || {}).map(([k, v]) => `${k}=${v}`).join(' ') || 'empty'}`;
    case 'progress': return `${S(e.id)} sees ${S(e.to)} ${e.kind}: match ${e.match || 0}, next ${e.next || 0}`;
    case 'conf': return `${S(e.id)} voters {${(e.voters || []).join(',')}}${(e.learners || []).length ? ` learners {${e.learners.join(',')}}` : ''}`;
    case 'request': return `c${e.client} → ${S(e.id)} ${e.op} ${e.key || ''}${e.value ? '=' + e.value : ''}${e.prev ? ` if ${e.prev}` : ''}`;
    case 'request-arrive': return `c${e.client} request reaches ${S(e.id)} (attempt ${e.attempt || 0})`;
    case 'redirect': return `c${e.client} redirected by ${S(e.id)}${e.lead ? ` to S${e.lead}` : ' (no leader known)'}`;
    case 'response': return `c${e.client} ${e.op} ${e.key || ''}: ${e.result}${e.value ? ' ' + e.value : ''}${e.index ? ` @${e.index}` : ''}`;
    case 'crash': return `${S(e.id)} crashes (${e.reason || 'fault'})`;
    case 'restart': return `${S(e.id)} restarts: term ${e.term || 0}, commit ${e.commit || 0}`;
    case 'pause': return `${S(e.id)} paused`;
    case 'resume': return `${S(e.id)} resumes`;
    case 'partition': return `partition ${e.kind}: ${(e.groups || []).map((g) => '{' + g.join(',') + '}').join(' ')}`;
    case 'heal': return 'network healed';
    case 'clog': return `link ${S(e.from)}→${S(e.to)} clogged`;
    case 'unclog': return `link ${S(e.from)}→${S(e.to)} flows again`;
    case 'transfer': return `${S(e.id)} told to hand leadership to ${S(e.to)}`;
    case 'stepdown': return `${S(e.id)} steps down${e.to ? ` for ${S(e.to)}` : ''}`;
    case 'churn': return `membership change: ${e.kind}${e.to ? ` add ${S(e.to)}` : ''}${e.from ? ` remove ${S(e.from)}` : ''}`;
    case 'conf-propose': return `${S(e.id)} proposes ${e.kind} ${S(e.to)}`;
    case 'join': return `${S(e.id)} starts, empty, to join {${(e.voters || []).join(',')}}`;
    case 'leave': return `${S(e.id)} removed and stopped`;
    case 'input': return `you: ${describeInput(e.input || e)}`;
    case 'phase': return `phase: ${e.phase}`;
    case 'end': return `end: ${e.result}${e.reason ? ' — ' + e.reason : ''}`;
    default: return e.type;
  }
}

// describeInput says what a user's action (a live input) is.
export function describeInput(x) {
  const S = (id) => `S${id}`;
  switch (x.kind) {
    case 'crash': case 'restart': case 'pause': case 'resume': case 'isolate': case 'rejoin': case 'remove':
      return `${x.kind} ${S(x.id)}`;
    case 'timeout': return `election timeout at ${S(x.id)}`;
    case 'transfer': return `transfer leadership to ${S(x.id)}`;
    case 'add': return 'add a member';
    case 'cut': case 'heal': return `${x.kind} ${S(x.from)}${x.both ? '↔' : '→'}${S(x.to)}`;
    case 'healAll': return 'heal every link';
    case 'clog': return `clog ${S(x.from)}→${S(x.to)} for ${x.ms} ms`;
    case 'drop': return `drop message ${x.mid}`;
    case 'client': return `${x.op}${x.op === 'get' ? (x.quorum === false ? ' (local)' : ' (linearizable)') : ''} ${x.key || ''}` +
      `${x.value ? '=' + x.value : ''}${x.prev ? ` if ${x.prev}` : ''} at ${S(x.id)}`;
    default: return x.kind || 'input';
  }
}

// eventCategory groups event types for the event log's filters.
export function eventCategory(type) {
  if (MESSAGE_EVENTS.has(type)) return 'messages';
  if (type === 'request' || type === 'request-arrive' || type === 'redirect' || type === 'response') return 'clients';
  if (type === 'progress' || type === 'kv' || type === 'apply' || type === 'append' || type === 'commit') return 'log';
  return 'cluster';
}

// renderEvents lists the events around i that pass the filters (a set of
// hidden categories), the current one marked.
export function renderEvents(tl, i, hidden = new Set(), around = 40) {
  const ev = tl.events;
  const show = (k) => !hidden.has(eventCategory(ev[k].type));
  // The scan is bounded: with rare kinds shown only, the list is shorter.
  const reach = 50000;
  const before = [];
  for (let k = i; k >= Math.max(0, i - reach) && before.length < around; k--) if (show(k) || k === i) before.push(k);
  const after = [];
  for (let k = i + 1; k < Math.min(ev.length, i + reach) && after.length < around; k++) if (show(k)) after.push(k);
  const rows = [...before.reverse(), ...after];
  return rows.map((k) => {
    const e = ev[k];
    return `<li class="ev ${eventCategory(e.type)} ${k === i ? 'current' : ''} ${k > i ? 'future' : ''}" data-i="${k}">` +
      `<span class="t">${e.t.toFixed(3)}</span><span class="ty">${esc(e.type)}</span> ${esc(describe(e))}</li>`;
  }).join('');
}

function fieldsTable(obj) {
  const rows = Object.entries(obj).filter(([, v]) => v !== undefined && v !== null && v !== '' && typeof v !== 'function')
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`);
  return `<table class="fields">${rows.join('')}</table>`;
}

// renderDetails shows every field of what is selected.
export function renderDetails(tl, state, now, sel) {
  if (!sel) return '<p class="hint">Click a member, a message, an operation or an event for its fields. Press <kbd>?</kbd> for keys.</p>';
  if (sel.kind === 'member') {
    const m = state.members[sel.id];
    if (!m) return '';
    const tm = tl.timer(m.id, now);
    const lead = leaderOf(state);
    const f = {
      member: `S${m.id}`, role: roleName(m), up: m.up, paused: m.paused, term: m.term, vote: m.vote || 'none',
      leader: m.lead ? `S${m.lead}` : 'none', commit: m.commit, applied: m.applied, lastIndex: lastIndexOf(m),
      snapshot: m.snapIndex ? `index ${m.snapIndex}, term ${m.snapTerm}` : 'none',
      voters: m.voters ? m.voters.join(',') : '', learners: m.learners && m.learners.length ? m.learners.join(',') : '',
      electionTimer: m.role === 'leader' || !m.up ? '' : tm.deadline !== null
        ? `fires at ${tm.deadline.toFixed(3)} ms (${(tm.deadline - now).toFixed(1)} ms left)`
        : `reset at ${tm.reset.toFixed(3)} ms; fires ${tm.min}–${tm.max} ms after it`,
    };
    if (m.votes) f.votes = Object.entries(m.votes).map(([id, v]) => `S${id}:${v ? 'yes' : 'no'}`).join(' ');
    if (m.progress) f.progress = Object.entries(m.progress).map(([id, p]) => `S${id}: ${p.kind} match ${p.match} next ${p.next}`).join('; ');
    else if (lead && lead.progress && lead.progress[m.id]) f.leaderSees = JSON.stringify(lead.progress[m.id]);
    return `<h3>Member S${m.id}</h3>${fieldsTable(f)}`;
  }
  if (sel.kind === 'message') {
    const m = tl.message(sel.mid);
    if (!m) return '';
    const k = messageKind(m.msg);
    const f = {
      mid: m.mid, type: m.msg, kind: `${k.family} ${k.response ? 'response' : 'request'}`, from: `S${m.from}`, to: `S${m.to}`,
      term: m.term, logTerm: m.logTerm, index: m.index, entries: m.entries, commit: m.commit, reject: m.reject,
      sent: `${m.t0.toFixed(3)} ms`, duplicated: m.dup,
      fate: m.ends.map((e) => `${e.kind}${e.reason ? ' (' + e.reason + ')' : ''} at ${e.t.toFixed(3)} ms`).join('; ') ||
        (tl.finished ? 'never delivered' : 'on the wire'),
    };
    return `<h3>Message ${m.mid}</h3>${fieldsTable(f)}`;
  }
  if (sel.kind === 'op') {
    const op = tl.ops[sel.n];
    if (!op) return '';
    const f = {
      client: `c${op.client}`, op: op.op, key: op.key, value: op.value, prev: op.prev,
      requested: `${op.t0.toFixed(3)} ms`, answered: op.t1 === null ? 'never' : `${op.t1.toFixed(3)} ms (${(op.t1 - op.t0).toFixed(3)} ms)`,
      result: op.result || 'pending', index: op.index, answer: op.answer, member: op.from ? `S${op.from}` : `S${op.target}`,
      attempts: op.attempts, redirects: op.redirects,
    };
    return `<h3>Operation of c${op.client}</h3>${fieldsTable(f)}`;
  }
  if (sel.kind === 'event') {
    const e = tl.events[sel.i];
    if (!e) return '';
    return `<h3>Event ${sel.i}</h3><p>${esc(describe(e))}</p>${fieldsTable(e)}`;
  }
  return '';
}

// renderMarkers draws the timeline strip: elections, crashes, partitions
// and phases at their times.
export function renderMarkers(tl, width = 1000, endT = tl.endT) {
  const T = endT || 1;
  const X = (t) => (t / T) * width;
  const out = [`<svg class="markers" viewBox="0 0 ${width} 18" preserveAspectRatio="none">`];
  // Partitions as spans.
  let open = null;
  for (const i of tl.jumps.partition) {
    const e = tl.events[i];
    if (e.type === 'partition') open = e.t;
    if (e.type === 'heal' && open !== null) {
      out.push(`<rect class="mk partition" x="${num(X(open))}" y="0" width="${num(Math.max(1, X(e.t) - X(open)))}" height="5"><title>partition ${num(open)}–${num(e.t)} ms</title></rect>`);
      open = null;
    }
  }
  const tick = (kind, cls, y, h) => {
    for (const i of tl.jumps[kind]) {
      const e = tl.events[i];
      if (kind === 'crash' && e.type !== 'crash') continue;
      out.push(`<rect class="mk ${cls}" x="${num(X(e.t))}" y="${y}" width="1.5" height="${h}"/>`);
    }
  };
  tick('election', 'election', 6, 12);
  tick('crash', 'crash', 6, 12);
  tick('phase', 'phase', 0, 18);
  tick('membership', 'membership', 0, 6);
  tick('input', 'input', 12, 6);
  out.push('</svg>');
  return out.join('');
}

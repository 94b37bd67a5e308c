// trace.js turns a raftkv-sim trace (JSON Lines, format 1: see sim/doc.go)
// into a timeline: the list of cluster states after each event, plus the
// tables the picture needs that are not a state (messages with their flight
// times, client operations with their spans, the key space per applied
// index, and where the interesting events are).
//
// Everything here is pure: a state is never changed once made, and a
// timeline is a function of the trace. States share whatever did not change
// with their predecessor, so keeping one every CHECKPOINT events is cheap,
// and the state after any event is the nearest checkpoint replayed forward.

export const TRACE_FORMAT = 1;
const CHECKPOINT = 256;

// How long (virtual ms) a dropped message stays visible where it died.
export const DROP_LINGER_MS = 1.5;

// The events that concern a message on the wire.
export const MESSAGE_EVENTS = new Set(['send', 'deliver', 'drop', 'duplicate']);

const RESPONSE = {
  MsgAppResp: 'MsgApp', MsgVoteResp: 'MsgVote', MsgPreVoteResp: 'MsgPreVote',
  MsgHeartbeatResp: 'MsgHeartbeat', MsgReadIndexResp: 'MsgReadIndex', MsgSnapResp: 'MsgSnap',
};
const FAMILY = {
  MsgApp: 'append', MsgHeartbeat: 'heartbeat', MsgVote: 'vote', MsgPreVote: 'prevote',
  MsgSnap: 'snapshot', MsgTimeoutNow: 'timeoutnow', MsgReadIndex: 'readindex',
};

function classify(type) {
  const base = RESPONSE[type] || type;
  return Object.freeze({ family: FAMILY[base] || 'other', response: base !== type });
}

// The kinds of raft's message types, made once (unknown types are
// classified when met).
const KINDS = Object.freeze(Object.fromEntries(
  [...Object.keys(RESPONSE), ...Object.keys(FAMILY)].map((t) => [t, classify(t)])));

// messageKind classifies a raft message type for styling: the family
// (append, heartbeat, vote, prevote, snapshot, timeoutnow, readindex, other)
// and whether it is a response.
export function messageKind(type) {
  return KINDS[type] || classify(type);
}

// Kinds of event one can jump to (see jumpKind).
export const JUMP_KINDS = {
  election: 'a member becomes leader',
  timeout: 'an election timeout',
  crash: 'a crash, restart, pause or resume',
  partition: 'a partition, heal, clog or unclog',
  commit: 'a commit index moves',
  snapshot: 'a snapshot installed or the log compacted',
  client: 'a request that did not succeed',
  membership: 'a member joins or leaves, or a membership change',
  input: 'an action of yours (live)',
  phase: 'a phase change or the end',
};

export class TraceError extends Error {}

// parseTrace reads the text of a trace: a header line, then one event a line.
// A last line cut off (a run stopped while writing it) is left out with a
// warning; a bad line anywhere else is an error.
export function parseTrace(text) {
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  let header;
  try {
    header = JSON.parse(first);
  } catch (err) {
    throw new TraceError(`line 1: not JSON: ${err.message}`);
  }
  if (!header || header.type !== 'header') {
    throw new TraceError('line 1: not a trace header (want {"type":"header",...})');
  }
  if (header.format !== TRACE_FORMAT) {
    throw new TraceError(`trace format ${header.format}: this visualizer reads format ${TRACE_FORMAT}`);
  }
  const events = [];
  let warning = '';
  let last = -Infinity;
  let line = 1;
  // One JSON.parse a line: faster in V8 than one over the whole body.
  for (let at = nl + 1; nl >= 0 && at < text.length;) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    line++;
    const src = text.slice(at, end);
    at = end + 1;
    let e;
    try {
      e = JSON.parse(src);
    } catch (err) {
      if (src.trim() === '') continue;
      if (text.slice(at).trim() === '') {
        warning = `line ${line} is cut off (${err.message}): read the ${events.length} events before it`;
        break;
      }
      throw new TraceError(`line ${line}: not JSON: ${err.message}`);
    }
    if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || typeof e.t !== 'number') {
      throw new TraceError(`line ${line}: not an event (want "t" and "type")`);
    }
    if (e.t < last) throw new TraceError(`line ${line}: time goes back (${e.t} after ${last})`);
    last = e.t;
    events.push(e);
  }
  return { header, events, warning };
}

// prefix is how many of the first n items satisfy ok, which holds for a
// prefix of them (binary search: the index of the first item that fails).
function prefix(n, ok) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---- log runs ---------------------------------------------------------------
// A member's log is a list of runs [first, last, term], ascending, covering
// snapIndex+1 .. lastIndex.

export function lastIndexOf(m) {
  return m.runs.length ? m.runs[m.runs.length - 1][1] : m.snapIndex;
}

// termAt is the term of entry i in m's log, 0 when m does not hold it.
export function termAt(m, i) {
  const r = m.runs;
  const k = prefix(r.length, (j) => r[j][0] <= i) - 1;
  return k >= 0 && i <= r[k][1] ? r[k][2] : 0;
}

// keepBelow keeps the entries of runs below index i.
function keepBelow(runs, i) {
  let n = runs.length;
  while (n > 0 && runs[n - 1][0] >= i) n--;
  const out = runs.slice(0, n);
  if (n > 0 && out[n - 1][1] >= i) out[n - 1] = [out[n - 1][0], i - 1, out[n - 1][2]];
  return out;
}

// keepAbove keeps the entries of runs above index i.
function keepAbove(runs, i) {
  let k = 0;
  while (k < runs.length && runs[k][1] <= i) k++;
  const out = runs.slice(k);
  if (out.length && out[0][0] <= i) out[0] = [i + 1, out[0][1], out[0][2]];
  return out;
}

// appendRuns replaces everything from the first new entry on.
function appendRuns(runs, add) {
  const out = keepBelow(runs, add[0][0]);
  for (const r of add) {
    const p = out[out.length - 1];
    if (p && p[2] === r[2] && p[1] + 1 === r[0]) out[out.length - 1] = [p[0], r[1], p[2]];
    else out.push(r);
  }
  return out;
}

// runsOf converts the trace's [first, count, term] runs.
function runsOf(log) {
  return (log || []).map(([first, count, term]) => [first, first + count - 1, term]);
}

// ---- states -----------------------------------------------------------------
// A state is the cluster after some event: members, the partition and clogs
// in force, each client's pending and last operation, the phase. An event
// that changes none of it (most messages) leaves the very same object.

function newMember(id) {
  return {
    id, up: true, paused: false, role: 'follower', term: 0, vote: 0, lead: 0,
    commit: 0, applied: 0, snapIndex: 0, snapTerm: 0, runs: [],
    voters: null, learners: null,
    // joining: started by a join and not yet a voter by its own
    // membership (which may lag: a snapshot from before it was added
    // leaves it out); gone: removed and stopped (a leave).
    joining: false, gone: false,
    // progress: the leader's view of each follower {match, next, kind}.
    progress: null,
    // votes: a (pre-)candidate's answers {id: true (granted) | false}.
    votes: null,
  };
}

// initialState has every member the trace names; one that is not in the
// header joins later and is absent until the trace first speaks of it.
function initialState(ids, initial) {
  const members = {};
  for (const id of ids) {
    members[id] = newMember(id);
    if (!initial.has(id)) Object.assign(members[id], { up: false, absent: true });
  }
  // cuts: one-way links cut by hand (the live simulator's links event).
  return { members, partition: null, cuts: [], clogs: [], clients: {}, phase: 'safety', end: null };
}

// isLearner: m is a learner by its own membership.
export function isLearner(m) {
  return !!(m.learners && m.learners.includes(m.id)) && m.role === 'follower';
}

// cutOff reports whether a state stops messages from a to b: the partition
// in force or a link cut by hand.
export function cutOff(state, a, b) {
  return blocked(state.partition, a, b) || (state.cuts || []).some(([f, t]) => f === a && t === b);
}

// blocked reports whether the partition in force stops messages from a to b.
export function blocked(partition, a, b) {
  if (!partition) return false;
  const g = partition.groups || [];
  const side = (id) => g.findIndex((grp) => grp.includes(id));
  switch (partition.kind) {
    case 'asymmetric-out':
      return g[0].includes(a) && !g[0].includes(b);
    case 'asymmetric-in':
      return g[0].includes(b) && !g[0].includes(a);
    case 'bridge': {
      const sa = side(a);
      const sb = side(b);
      return sa !== sb && sa !== 1 && sb !== 1 && sa >= 0 && sb >= 0;
    }
    default: {
      const sa = side(a);
      const sb = side(b);
      return sa >= 0 && sb >= 0 && sa !== sb;
    }
  }
}

// Election timers are not part of a state (a heartbeat would change the
// state on almost every event): the pass over the events records, per
// member, each time its timer restarts and the period of its randomized
// timeout (raft draws it anew on a change of role or term, keeps it
// otherwise), and which periods a timeout revealed.
class Timers {
  constructor(ids) {
    this.draws = 0;
    this.at = new Map(ids.map((id) => [id, { t: [], draw: [] }]));
    this.dur = new Map(); // draw -> revealed timeout (ms)
    for (const id of ids) this.reset(id, 0, true);
  }
  add(id) {
    if (this.at.has(id)) return;
    this.at.set(id, { t: [], draw: [] });
    this.reset(id, 0, true);
  }
  cur(id) {
    const r = this.at.get(id);
    const n = r.t.length;
    return n ? { t: r.t[n - 1], draw: r.draw[n - 1] } : { t: 0, draw: 0 };
  }
  reset(id, t, redraw) {
    const r = this.at.get(id);
    if (!r) return;
    const draw = redraw || !r.t.length ? ++this.draws : r.draw[r.draw.length - 1];
    r.t.push(t);
    r.draw.push(draw);
  }
  timeout(id, t) {
    const c = this.cur(id);
    if (!this.dur.has(c.draw)) this.dur.set(c.draw, t - c.t);
    this.reset(id, t, false);
  }
  // lookup is the last restart of id's timer at or before t.
  lookup(id, t) {
    const r = this.at.get(id);
    const k = r ? prefix(r.t.length, (j) => r.t[j] <= t) - 1 : -1;
    return k < 0 ? { t: 0, draw: 0 } : { t: r.t[k], draw: r.draw[k] };
  }
}

// applyEvent returns the state after event e (the same object when e
// changes nothing). timers, when given, records timer restarts (the first
// pass); op is the client operation the event belongs to.
function applyEvent(s, e, timers, op) {
  const t = e.t;
  const id = e.id;
  let m;
  switch (e.type) {
    case 'role': {
      if (!(m = copyMember(s, id))) return s;
      const changed = m.role !== e.role;
      m.lead = e.lead || 0;
      if (e.term) m.term = e.term;
      if (changed) {
        m.role = e.role;
        m.progress = e.role === 'leader' ? {} : null;
        m.votes = e.role === 'candidate' || e.role === 'precandidate' ? { [id]: true } : null;
      }
      // Raft keeps the drawn timeout when it becomes a pre-candidate only.
      if (timers) timers.reset(id, t, changed && e.role !== 'precandidate');
      return withMember(s, m);
    }
    case 'term': {
      if (!(m = copyMember(s, id))) return s;
      const termChanged = (e.term || 0) !== m.term;
      const voteChanged = (e.vote || 0) !== m.vote;
      m.term = e.term || 0;
      m.vote = e.vote || 0;
      if (termChanged) {
        if (timers) timers.reset(id, t, true);
        if (m.role === 'candidate') m.votes = { [id]: true };
      } else if (voteChanged && m.vote !== id && timers) timers.reset(id, t, false); // granted a vote
      return withMember(s, m);
    }
    case 'timeout': {
      if (timers) timers.timeout(id, t);
      const cur = s.members[id];
      if (!cur || !(cur.role === 'precandidate' || cur.role === 'candidate')) return s;
      m = copyMember(s, id);
      m.votes = { [id]: true };
      return withMember(s, m);
    }
    case 'deliver': {
      const to = s.members[e.to];
      if (!to) return s;
      const k = messageKind(e.msg);
      if (!k.response) {
        if (timers && (k.family === 'append' || k.family === 'heartbeat' || k.family === 'snapshot') &&
            to.role !== 'leader' && (e.term || 0) >= to.term) timers.reset(e.to, t, false);
        return s;
      }
      if ((k.family === 'vote' || k.family === 'prevote') && to.votes) {
        const want = k.family === 'vote' ? to.role === 'candidate' && e.term === to.term
          : to.role === 'precandidate' && (e.term === to.term + 1 || e.reject);
        if (want) {
          m = copyMember(s, e.to);
          m.votes = { ...m.votes, [e.from]: !e.reject };
          return withMember(s, m);
        }
      }
      return s;
    }
    case 'append': {
      if (!(m = copyMember(s, id))) return s;
      const add = e.log ? runsOf(e.log) : [[e.index, e.index + e.count - 1, e.term || 0]];
      m.runs = appendRuns(m.runs, add);
      return withMember(s, m);
    }
    case 'truncate':
      if (!(m = copyMember(s, id))) return s;
      m.runs = keepBelow(m.runs, e.index);
      return withMember(s, m);
    case 'snapshot':
      if (!(m = copyMember(s, id))) return s;
      m.snapIndex = e.index || 0;
      m.snapTerm = e.term || 0;
      m.runs = [];
      m.commit = Math.max(m.commit, m.snapIndex);
      m.applied = m.snapIndex;
      return withMember(s, m);
    case 'compact':
      if (!(m = copyMember(s, id))) return s;
      m.snapIndex = e.index || 0;
      m.snapTerm = e.term || 0;
      m.runs = keepAbove(m.runs, m.snapIndex);
      return withMember(s, m);
    case 'commit':
      if (!(m = copyMember(s, id))) return s;
      m.commit = e.index || 0;
      return withMember(s, m);
    case 'apply':
      if (!(m = copyMember(s, id))) return s;
      m.applied = (e.index || 0) + (e.count || 0) - 1;
      return withMember(s, m);
    case 'progress':
      if (!(m = copyMember(s, id))) return s;
      m.progress = { ...(m.progress || {}), [e.to]: { match: e.match || 0, next: e.next || 0, kind: e.kind || '' } };
      return withMember(s, m);
    case 'conf': {
      if (!(m = copyMember(s, id))) return s;
      m.voters = e.voters || [];
      m.learners = e.learners || [];
      if (m.voters.includes(id)) m.joining = false;
      // A leader stops tracking the members its configuration dropped.
      if (m.progress) {
        const keep = new Set([...m.voters, ...m.learners]);
        const p = Object.fromEntries(Object.entries(m.progress).filter(([k]) => keep.has(Number(k))));
        if (Object.keys(p).length !== Object.keys(m.progress).length) m.progress = p;
      }
      return withMember(s, m);
    }
    case 'join':
      if (!(m = copyMember(s, id))) return s;
      m.joining = true;
      return withMember(s, m);
    case 'leave':
      // Removed and stopped for good: no longer drawn.
      if (!(m = copyMember(s, id))) return s;
      Object.assign(m, { up: false, gone: true, paused: false, role: 'follower', lead: 0, progress: null, votes: null });
      return withMember(s, m);
    case 'crash':
      if (!(m = copyMember(s, id))) return s;
      Object.assign(m, { up: false, paused: false, role: 'follower', lead: 0, progress: null, votes: null });
      return withMember(s, m);
    case 'restart':
      if (!(m = copyMember(s, id))) return s;
      Object.assign(m, {
        up: true, paused: false, role: 'follower', lead: 0, term: e.term || 0, vote: e.vote || 0,
        commit: e.commit || 0, snapIndex: e.index || 0, snapTerm: e.logTerm || 0,
        applied: e.index || 0, runs: runsOf(e.log), progress: null, votes: null,
      });
      if (timers) timers.reset(id, t, true);
      return withMember(s, m);
    case 'pause':
    case 'resume':
      if (!(m = copyMember(s, id))) return s;
      m.paused = e.type === 'pause';
      return withMember(s, m);
    case 'partition':
      return { ...s, partition: { kind: e.kind, groups: e.groups || [] } };
    case 'heal':
      return { ...s, partition: null };
    case 'links':
      return { ...s, cuts: (e.cut || []).map(([f, to]) => [f, to]) };
    case 'clog':
      return { ...s, clogs: [...s.clogs, [e.from, e.to]] };
    case 'unclog': {
      const k = s.clogs.findIndex(([f, to]) => f === e.from && to === e.to);
      return k < 0 ? s : { ...s, clogs: s.clogs.filter((_, j) => j !== k) };
    }
    case 'request':
    case 'response': {
      if (!op) return s;
      const c = s.clients[e.client] || { pending: null, last: null, done: 0 };
      const nc = e.type === 'request' ? { ...c, pending: op } : { pending: null, last: op, done: c.done + 1 };
      return { ...s, clients: { ...s.clients, [e.client]: nc } };
    }
    case 'phase':
      return { ...s, phase: e.phase };
    case 'end':
      return { ...s, end: { result: e.result, reason: e.reason || '' } };
    default:
      return s;
  }
}

function copyMember(s, id) {
  const cur = s.members[id];
  if (!cur) return null;
  return cur.absent ? { ...cur, absent: false, up: true } : { ...cur };
}

function withMember(s, m) {
  return { ...s, members: { ...s.members, [m.id]: m } };
}

// jumpKind says which kind of event one can jump to e is, if any.
function jumpKind(e) {
  switch (e.type) {
    case 'role': return e.role === 'leader' ? 'election' : null;
    case 'timeout': return 'timeout';
    case 'crash': case 'restart': case 'pause': case 'resume': return 'crash';
    case 'partition': case 'heal': case 'clog': case 'unclog': case 'links': return 'partition';
    case 'commit': return 'commit';
    case 'snapshot': case 'compact': return 'snapshot';
    case 'response': return e.result !== 'ok' ? 'client' : null;
    case 'join': case 'leave': case 'churn': case 'conf-propose': return 'membership';
    case 'input': return 'input';
    case 'phase': case 'end': return 'phase';
    default: return null;
  }
}

// ---- tables -----------------------------------------------------------------

const BUCKET_MS = 5;

// Wire keeps the messages of a trace in typed arrays by mid: the event that
// sent each, the (at most two) events that end it, whether the network
// duplicated it; and which are on the wire in each BUCKET_MS of time. It
// grows with the trace: a message that has ended is filed in the buckets
// of its flight; one still on the wire is in the open set until it ends.
// A copy is a code, mid*2+slot (slot 1: a duplicate's second copy).
class Wire {
  constructor() {
    this.size = 0;
    this.max = 0;
    this.grow(1024);
    this.buckets = [];
    this.open = new Set();
  }
  grow(size) {
    const g = (A, old, fill) => {
      const a = new A(size).fill(fill);
      if (old) a.set(old);
      return a;
    };
    this.sent = g(Int32Array, this.sent, -1);
    this.end0 = g(Int32Array, this.end0, -1);
    this.end1 = g(Int32Array, this.end1, -1);
    this.dup = g(Uint8Array, this.dup, 0);
    this.size = size;
  }
  send(mid, i) {
    if (!(mid > 0)) return;
    while (mid >= this.size) this.grow(this.size * 2);
    this.sent[mid] = i;
    this.max = Math.max(this.max, mid);
    this.open.add(mid * 2);
  }
  has(mid) {
    return mid > 0 && mid < this.size && this.sent[mid] >= 0;
  }
  duplicate(mid) {
    if (!this.has(mid) || this.dup[mid]) return;
    this.dup[mid] = 1;
    this.open.add(mid * 2 + 1);
  }
  // end records event i (at time t) as the end of one copy of mid and files
  // that copy's flight, t0 to t (and a moment after, for a drop), in the
  // buckets.
  end(mid, i, t, t0) {
    if (!this.has(mid)) return;
    let slot;
    if (this.end0[mid] < 0) slot = 0;
    else if (this.end1[mid] < 0) slot = 1;
    else return;
    if (slot) this.end1[mid] = i;
    else this.end0[mid] = i;
    const code = mid * 2 + slot;
    this.open.delete(code);
    const b1 = Math.floor((t + DROP_LINGER_MS) / BUCKET_MS);
    for (let b = Math.floor(t0 / BUCKET_MS); b <= b1; b++) {
      while (this.buckets.length <= b) this.buckets.push(null);
      (this.buckets[b] || (this.buckets[b] = [])).push(code);
    }
  }
  // record is everything about one message.
  record(events, mid) {
    const e = events[this.sent[mid]];
    const ends = [];
    for (const k of [this.end0[mid], this.end1[mid]]) {
      if (k >= 0) ends.push({ t: events[k].t, kind: events[k].type, reason: events[k].reason || '', event: k });
    }
    return {
      mid, from: e.from, to: e.to, msg: e.msg, term: e.term || 0, logTerm: e.logTerm || 0,
      index: e.index || 0, entries: e.entries || 0, commit: e.commit || 0, reject: !!e.reject,
      t0: e.t, sendEvent: this.sent[mid], dup: !!this.dup[mid], ends,
    };
  }
  // at calls fn(mid, slot) for every copy that may be on the wire at t:
  // those filed in t's bucket and those still open.
  at(t, fn) {
    const b = Math.floor(t / BUCKET_MS);
    const a = b >= 0 && b < this.buckets.length ? this.buckets[b] : null;
    if (a) for (const c of a) fn(c >> 1, c & 1);
    for (const c of this.open) fn(c >> 1, c & 1);
  }
  event(events, i) {
    const e = events[i];
    switch (e.type) {
      case 'send':
        this.send(e.mid, i);
        break;
      case 'duplicate':
        this.duplicate(e.mid);
        break;
      case 'deliver':
      case 'drop':
        if (this.has(e.mid)) this.end(e.mid, i, e.t, events[this.sent[e.mid]].t);
        break;
      default:
        break;
    }
  }
}

// collectIDs adds to ids every member id event e names (members may join
// after the start); it reports whether it added one.
function collectIDs(ids, e) {
  const n = ids.size;
  switch (e.type) {
    case 'send':
      ids.add(e.from);
      ids.add(e.to);
      break;
    case 'conf':
      for (const x of e.voters || []) ids.add(x);
      for (const x of e.learners || []) ids.add(x);
      ids.add(e.id);
      break;
    case 'role': case 'restart': case 'append': case 'join':
      ids.add(e.id);
      break;
    default:
      return false;
  }
  ids.delete(undefined);
  ids.delete(0);
  return ids.size !== n;
}

// buildTimeline makes the timeline of a parsed trace.
export function buildTimeline({ header, events }) {
  const tl = createTimeline(header, { ids: allIDs(header, events) });
  tl.append(events);
  tl.finish();
  return tl;
}

function allIDs(header, events) {
  const ids = new Set(header.members || []);
  for (const e of events) collectIDs(ids, e);
  return ids;
}

// createTimeline makes an empty timeline that grows as events are appended
// (the live simulator's): tl.append(events) adds events in order, and every
// question the timeline answers covers the events appended so far. A
// timeline still growing (not finished) draws a message not yet delivered
// as on its way; a finished one, as never delivered. tl.prefix(k) is a new
// timeline of the first k events (time travel: forking from a moment).
// opts.ids: every member id there will be (else they are found as events
// name them; a member found late is absent until then either way).
export function createTimeline(header, opts = {}) {
  const initial = new Set(header.members || []);
  const idSet = new Set(opts.ids || initial);
  // known: opts.ids names every member there will be.
  const known = !!opts.ids;
  let ids = [...idSet].sort((a, b) => a - b);
  const events = [];
  let times = new Float64Array(1024);
  let opOf = new Int32Array(1024).fill(-1);

  // Messages by mid: the event that sent it and up to two that end it (a
  // duplicated message is delivered twice). Client operations, linked from
  // their events by opOf. The key space per applied index.
  const wire = new Wire();
  const ops = [];
  const opsByClient = new Map();
  const kvs = [];
  const jumps = Object.fromEntries(Object.keys(JUMP_KINDS).map((k) => [k, []]));
  const pendingOp = new Map();

  // States: one pass, keeping every CHECKPOINT-th.
  const timers = new Timers(ids);
  const checkpoints = [];
  let s = initialState(ids, initial);

  const messages = new Map(); // mid -> message record, made when first asked
  const message = (mid) => {
    let m = messages.get(mid);
    if (!m && wire.has(mid)) {
      m = wire.record(events, mid);
      messages.set(mid, m);
    }
    return m || null;
  };
  let memoI = -1;
  let memo = null;

  // A member first named by an event after the start: absent until then.
  function addMember(id) {
    ids = [...idSet].sort((a, b) => a - b);
    tl.ids = ids;
    timers.add(id);
    const absent = { ...newMember(id), up: false, absent: true };
    s = { ...s, members: { ...s.members, [id]: absent } };
    // Earlier states do not have it: add it to the checkpoints (a copy of
    // each, so no state ever changes).
    for (let k = 0; k < checkpoints.length; k++) {
      const c = checkpoints[k];
      if (!c.members[id]) checkpoints[k] = { ...c, members: { ...c.members, [id]: absent } };
    }
    memoI = -1;
  }

  function push(e) {
    const i = events.length;
    if (i > 0 && e.t < events[i - 1].t) throw new TraceError(`event ${i}: time goes back (${e.t} after ${events[i - 1].t})`);
    if (i >= times.length) {
      const nt = new Float64Array(times.length * 2);
      nt.set(times);
      times = nt;
      const no = new Int32Array(opOf.length * 2).fill(-1);
      no.set(opOf);
      opOf = no;
      tl.times = times;
    }
    if (!known && collectIDs(idSet, e)) for (const id of idSet) if (!s.members[id]) addMember(id);
    events.push(e);
    times[i] = e.t;
    wire.event(events, i);
    if (e.type === 'deliver' || e.type === 'drop') messages.delete(e.mid);
    switch (e.type) {
      case 'request': {
        const op = {
          n: ops.length, client: e.client, op: e.op, key: e.key || '', value: e.value || '', prev: e.prev || '',
          kind: e.kind || '', target: e.id || 0, t0: e.t, t1: null, result: '', index: 0, answer: '', from: 0,
          attempts: 0, redirects: 0, event: i, endEvent: -1,
        };
        ops.push(op);
        if (!opsByClient.has(e.client)) {
          opsByClient.set(e.client, []);
          tl.clients = [...opsByClient.keys()].sort((a, b) => a - b);
        }
        opsByClient.get(e.client).push(op);
        pendingOp.set(e.client, op);
        opOf[i] = op.n;
        break;
      }
      case 'request-arrive':
      case 'redirect':
      case 'response': {
        const op = pendingOp.get(e.client);
        if (!op) break;
        opOf[i] = op.n;
        if (e.type === 'request-arrive') {
          op.attempts = Math.max(op.attempts, e.attempt || 0);
          op.target = e.id || op.target;
        } else if (e.type === 'redirect') op.redirects++;
        else {
          Object.assign(op, { t1: e.t, result: e.result || '', index: e.index || 0, answer: e.value || '', from: e.id || 0, endEvent: i });
          pendingOp.delete(e.client);
        }
        break;
      }
      case 'kv':
        kvs.push({ index: e.index || 0, t: e.t, id: e.id, kv: e.kv || {} });
        break;
      default:
        break;
    }
    const jk = jumpKind(e);
    if (jk) jumps[jk].push(i);
    if (i % CHECKPOINT === 0) checkpoints.push(s);
    s = applyEvent(s, e, timers, opOf[i] >= 0 ? ops[opOf[i]] : null);
    tl.n = events.length;
    tl.endT = e.t;
  }

  const tl = {
    header, events, ids, n: 0, endT: 0, times, ops, opsByClient, kvs, jumps, message,
    options: header.options || {},
    clients: [],
    // finished: no event will come (messages still on the wire were lost).
    finished: false,
    append(batch) {
      for (const e of batch) push(e);
      return tl;
    },
    finish() {
      tl.finished = true;
      return tl;
    },
    // prefix is a new, growing timeline of the first k events.
    prefix(k) {
      const p = createTimeline(header, { ids: opts.ids });
      p.append(events.slice(0, Math.max(0, k)));
      return p;
    },
    // at returns the state after event i (-1: before any event).
    at(i) {
      const n = tl.n;
      i = Math.max(-1, Math.min(n - 1, Math.floor(i)));
      if (i === n - 1) return s;
      const k = Math.floor((i + 1) / CHECKPOINT);
      let from = k * CHECKPOINT - 1;
      let st = checkpoints[k];
      if (memoI <= i && memoI > from) {
        from = memoI;
        st = memo;
      }
      for (let j = from + 1; j <= i; j++) st = applyEvent(st, events[j], null, opOf[j] >= 0 ? ops[opOf[j]] : null);
      memoI = i;
      memo = st;
      return st;
    },
    // indexAt is the last event at or before virtual time t (-1: none).
    indexAt(t) {
      return prefix(tl.n, (j) => times[j] <= t) - 1;
    },
    // inFlight lists the messages on the wire at time t, each with its
    // progress along the link (0..1) and how it ends. In a growing
    // timeline a message not yet delivered is on its way (kind "flight"),
    // its progress guessed from the network's latency.
    inFlight(t) {
      const out = [];
      const endT = tl.endT;
      wire.at(t, (mid, slot) => {
        const m = message(mid);
        let end = m.ends[slot];
        if (!end) {
          // A finished trace draws a duplicate's second copy only if it
          // arrived.
          if (tl.finished && slot) return;
          if (tl.finished) end = { t: endT, kind: 'lost', reason: 'never delivered' };
          else {
            if (t < m.t0) return;
            const guess = expectedLatencyMs(tl.options);
            out.push({ m, slot, t0: m.t0, t1: null, kind: 'flight', reason: '', frac: Math.min(0.95, (t - m.t0) / guess), dead: false });
            return;
          }
        }
        if (t < m.t0 || t > end.t + (end.kind === 'deliver' ? 0 : DROP_LINGER_MS)) return;
        if (end.kind === 'deliver' && t === end.t && end.t > m.t0) return;
        const span = end.t - m.t0;
        const frac = span > 0 ? Math.min(1, (t - m.t0) / span) : 0.15;
        out.push({ m, slot, t0: m.t0, t1: end.t, kind: end.kind, reason: end.reason, frac, dead: end.kind !== 'deliver' && t >= end.t });
      });
      out.sort((a, b) => a.m.mid - b.m.mid || a.slot - b.slot);
      return out;
    },
    // kvAt is the key space once index is applied (the newest snapshot of
    // it at or below index), with the index it is as of.
    kvAt(index) {
      const k = prefix(kvs.length, (j) => kvs[j].index <= index) - 1;
      return k >= 0 ? kvs[k] : { index: 0, t: 0, id: 0, kv: {} };
    },
    // timer is member id's election timer at time t: when it last
    // restarted, and the deadline when the trace reveals it, else the
    // range raft draws the timeout from.
    timer(id, t) {
      const o = tl.options;
      const tick = o.tickMs || 10;
      const et = (o.electionTick || 10) * tick;
      const r = timers.lookup(id, t);
      const known = timers.dur.get(r.draw);
      return {
        reset: r.t, elapsed: t - r.t, min: et, max: 2 * et,
        deadline: known === undefined ? null : r.t + known,
      };
    },
    // jump finds the next (dir 1) or previous (dir -1) event of a kind
    // from event i; -2 when there is none.
    jump(kind, i, dir) {
      const a = jumps[kind];
      if (!a) return -2;
      const k = dir > 0 ? prefix(a.length, (j) => a[j] <= i) : prefix(a.length, (j) => a[j] < i) - 1;
      return k >= 0 && k < a.length ? a[k] : -2;
    },
    // opsIn lists the operations of a client that overlap [t0, t1].
    opsIn(client, t0, t1) {
      const a = opsByClient.get(client) || [];
      // A client's operations never overlap, so their spans are ordered.
      const first = prefix(a.length, (j) => a[j].t1 !== null && a[j].t1 < t0);
      const out = [];
      for (let k = first; k < a.length && a[k].t0 <= t1; k++) out.push(a[k]);
      return out;
    },
  };
  return tl;
}

// expectedLatencyMs is how long a message usually takes on the trace's
// network (for drawing one whose delivery is not known yet).
function expectedLatencyMs(o) {
  const n = o.net || {};
  return Math.max(0.5, (n.latencyMinMs || 1) + (n.latencyTailMs || 0) / 2);
}

// currentIDs lists the members of a state that are in the cluster now: not
// yet joined and departed ones are left out.
export function currentIDs(tl, state) {
  return tl.ids.filter((id) => {
    const m = state.members[id];
    return m && !m.absent && !m.gone;
  });
}

// leaderOf is the member that leads in the highest term at this state, or
// null.
export function leaderOf(state) {
  let best = null;
  for (const m of Object.values(state.members)) {
    if (m.up && m.role === 'leader' && (!best || m.term > best.term)) best = m;
  }
  return best;
}

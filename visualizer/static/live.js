// live.js is the page's side of the live simulator: the worker that runs
// raftkv's simulator compiled to WebAssembly (live/worker.js, whose
// messages visualizer/doc.go describes under "The live simulator"), the
// actions a click offers, and the runner of guided scenarios. What here is
// not the Live class is pure and tested in node (jstest/live.test.js).

import { cutOff, currentIDs, isLearner } from './trace.js';

// Speeds of the live simulation, in virtual milliseconds per real second:
// 1/100 of real time to 100 times it.
export const LIVE_SPEEDS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000];

// speedLabel names a speed as a fraction or multiple of real time.
export function speedLabel(msPerS) {
  const x = msPerS / 1000;
  return x < 1 ? `1/${Math.round(1 / x)}×` : `${x}×`;
}

// GRID_MS: the live simulation advances to multiples of it, so that the
// moment a scenario's step finds its condition true does not depend on how
// fast the page asked (a scenario plays the same on every machine).
export const GRID_MS = 5;
// The most one advance asks for (a long one would hold the answer back).
export const CHUNK_MS = 250;

// nextTarget is where to advance next from the engine's time now, towards
// want: at most chunk (CHUNK_MS unless told) on, on the grid.
export function nextTarget(now, want, chunk = CHUNK_MS) {
  const to = Math.min(want, now + chunk);
  const g = Math.floor(to / GRID_MS) * GRID_MS;
  return g > now ? g : nextGrid(now);
}

// nextGrid is the first grid time after now.
export function nextGrid(now) {
  return (Math.floor(now / GRID_MS + 1e-9) + 1) * GRID_MS;
}

// inputOf turns an input event of a trace back into the input that made
// it, with the time it was applied.
export function inputOf(e) {
  let x;
  if (e.input && typeof e.input === 'object') x = { ...e.input };
  else {
    const { t, type, ...rest } = e;
    x = rest;
  }
  if (x.atMs === undefined) x.atMs = e.t;
  return x;
}

// inputsUpTo lists the inputs of a timeline applied at or before time t:
// what a fork from t replays.
export function inputsUpTo(tl, t) {
  const out = [];
  for (const i of tl.jumps.input) {
    const e = tl.events[i];
    if (e.t > t) break;
    out.push(inputOf(e));
  }
  return out;
}

// isolated reports whether every link to and from id is cut.
export function isolated(state, ids, id) {
  const others = ids.filter((x) => x !== id);
  return others.length > 0 && others.every((x) => cutOff(state, id, x) && cutOff(state, x, id));
}

// memberActions lists what a click on member id offers: [{label, input}].
export function memberActions(tl, state, id) {
  const m = state.members[id];
  if (!m || m.absent || m.gone) return [];
  const ids = currentIDs(tl, state);
  const out = [];
  const act = (label, kind, extra = {}) => out.push({ label, input: { kind, id, ...extra } });
  if (!m.up) {
    act('restart', 'restart');
  } else {
    act('crash', 'crash');
    act(m.paused ? 'resume' : 'pause', m.paused ? 'resume' : 'pause');
    if (m.role !== 'leader' && !isLearner(m) && !m.paused) act('force an election timeout', 'timeout');
    if (m.role !== 'leader' && m.voters && m.voters.includes(id)) act('transfer leadership to it', 'transfer');
  }
  act(isolated(state, ids, id) ? 'rejoin the network' : 'isolate from the network', isolated(state, ids, id) ? 'rejoin' : 'isolate');
  act('remove from the cluster', 'remove');
  return out;
}

// linkActions lists what a click on the half-link leaving from towards to
// offers.
export function linkActions(state, from, to) {
  const out = [];
  const S = (x) => `S${x}`;
  const one = cutOff(state, from, to);
  const back = cutOff(state, to, from);
  if (!one) out.push({ label: `cut ${S(from)}→${S(to)}`, input: { kind: 'cut', from, to, both: false } });
  if (!one || !back) out.push({ label: `cut both ways`, input: { kind: 'cut', from, to, both: true } });
  if (one) out.push({ label: `heal ${S(from)}→${S(to)}`, input: { kind: 'heal', from, to, both: false } });
  if (one || back) out.push({ label: 'heal both ways', input: { kind: 'heal', from, to, both: true } });
  out.push({ label: `clog ${S(from)}→${S(to)} for 200 ms`, input: { kind: 'clog', from, to, ms: 200 } });
  return out;
}

// messageActions: a message still on the wire (no event has ended it yet)
// can be dropped.
export function messageActions(tl, mid, slot) {
  const m = tl.message(mid);
  if (!m || m.ends[slot]) return [];
  return [{ label: `drop message ${mid} (${m.msg} S${m.from}→S${m.to})`, input: { kind: 'drop', mid } }];
}

// clientInput makes a client input from the client panel's fields, or
// returns an error in words.
export function clientInput(f) {
  const op = f.op;
  const id = Number(f.id);
  if (!['put', 'get', 'cas', 'delete', 'watch'].includes(op)) return { error: `unknown operation ${op}` };
  if (!(id > 0)) return { error: 'choose a member' };
  const key = String(f.key || '').trim();
  if (!key) return { error: 'a key, please' };
  const x = { kind: 'client', op, id, key: key.startsWith('/') ? key : `/${key}` };
  if (op === 'put' || op === 'cas') {
    if (!f.value) return { error: 'a value, please' };
    x.value = String(f.value);
  }
  if (op === 'cas') {
    if (!f.prev) return { error: 'the value it must have now (prev), please' };
    x.prev = String(f.prev);
  }
  if (op === 'get') x.quorum = !!f.quorum;
  return { input: x };
}

// ---- scenarios ----------------------------------------------------------
// A scenario is data (live/scenarios.js): a seed and members, and steps.
// A step fires at the first grid time (after the previous step) at which
// its condition holds: at: a time in ms, or when(state, tl, ctx): a
// predicate; after firing it applies its inputs (input: one or a list;
// a function of (state, tl, ctx) when it depends on the run, e.g. "the
// leader") and shows its caption. ctx.fired is the time each step fired.
// expect(state, tl, ctx) at the end says whether the scenario reached what
// it shows (the tests check it); its string, if not true, says why not.

// stepDue reports whether step k of scenario sc is due at time now in
// state (the steps before it having fired at ctx.fired).
export function stepDue(sc, k, state, tl, now, ctx) {
  const st = sc.steps[k];
  const prev = k > 0 ? ctx.fired[k - 1] : 0;
  if (now < prev + (st.delay || 0)) return false;
  if (st.at !== undefined && now < st.at) return false;
  if (st.when && !st.when(state, tl, ctx)) return false;
  return true;
}

// stepInputs is the list of inputs step st applies.
export function stepInputs(st, state, tl, ctx) {
  let x = st.input;
  if (typeof x === 'function') x = x(state, tl, ctx);
  if (!x) return [];
  return Array.isArray(x) ? x : [x];
}

// newRun starts a playing of scenario sc: the next step, and what the
// steps found (ctx: fired, the time each fired, and whatever a step's
// functions keep there).
export function newRun(sc) {
  return { sc, k: 0, ctx: { fired: [] }, result: undefined };
}

// fireDue fires the steps of run that are due at time now, in state st of
// timeline tl, and returns what each asks: {step, inputs, caption, pause}.
// It stops after a step that pauses. When the last step fires, run.result
// is 'ok' or what the scenario's expect says is wrong. A step's function
// that throws throws here.
export function fireDue(run, st, tl, now) {
  const out = [];
  const sc = run.sc;
  while (run.k < sc.steps.length && stepDue(sc, run.k, st, tl, now, run.ctx)) {
    const step = sc.steps[run.k];
    run.ctx.fired[run.k] = now;
    const inputs = stepInputs(step, st, tl, run.ctx);
    const caption = typeof step.caption === 'function' ? step.caption(st, tl, run.ctx) : step.caption || '';
    run.k++;
    if (run.k === sc.steps.length) {
      let got;
      try {
        got = sc.expect ? sc.expect(st, tl, run.ctx) : true;
      } catch (err) {
        got = err.message;
      }
      run.result = got === true ? 'ok' : String(got);
    }
    out.push({ step, inputs, caption, pause: !!step.pause });
    if (step.pause) break;
  }
  return out;
}

// scenarioLimit bounds an advance from now to to so that the next step of
// run is looked at whenever it may fire: never past its time, and one grid
// step at a time while it waits for its condition.
export function scenarioLimit(run, now, to) {
  if (!run || run.k >= run.sc.steps.length) return to;
  const st = run.sc.steps[run.k];
  const at = Math.max(st.at || 0, (run.k > 0 ? run.ctx.fired[run.k - 1] : 0) + (st.delay || 0));
  if (at > now && at < to) return at;
  if (at <= now && st.when) return Math.min(to, nextGrid(now));
  return to;
}

// Live drives the worker: one request in flight at a time (the answers
// come in order), everything else queued. handlers: header(h),
// events(events, nowMs), check(msg), export(msg), error(message),
// ready().
export class Live {
  constructor(url, handlers) {
    this.h = handlers;
    this.nowMs = 0;
    this.busy = false;
    this.until = 0;
    this.queue = [];
    this.ready = false;
    try {
      this.w = new Worker(url);
    } catch (err) {
      setTimeout(() => handlers.error(`cannot start the simulator (${url}): ${err.message}`), 0);
      return;
    }
    this.w.onerror = (ev) => {
      ev.preventDefault();
      this.busy = false;
      handlers.error(`the simulator stopped: ${ev.message || 'worker error'} (${url})`);
    };
    this.w.onmessage = (ev) => this.receive(ev.data);
  }
  receive(d) {
    // Every answer but ready and header ends the request in flight, but
    // a start with untilMs, which ends with the events that reach it.
    if (d.type === 'events' && this.until > (typeof d.nowMs === 'number' ? d.nowMs : this.nowMs) + 1e-6) {
      // more of the start to come
    } else if (d.type === 'error' && (this.inflight === 'advance' || this.inflight === 'input')) {
      // an events answer follows (a start that fails ends with its error)
    } else if (d.type !== 'ready' && d.type !== 'header') {
      this.busy = false;
      this.until = 0;
    }
    switch (d.type) {
      case 'ready':
        this.ready = true;
        this.h.ready();
        break;
      case 'header':
        this.h.header(d.header);
        return; // a start also answers with events
      case 'events':
        if (typeof d.nowMs === 'number') this.nowMs = d.nowMs;
        this.h.events(d.events || [], this.nowMs);
        break;
      case 'check':
        this.h.check(d);
        break;
      case 'export':
        this.h.export(d);
        break;
      case 'error':
        this.h.error(d.message);
        break;
      default:
        break;
    }
    this.pump();
  }
  send(msg) {
    this.queue.push(msg);
    this.pump();
  }
  pump() {
    if (this.busy || !this.ready || !this.w || !this.queue.length) return;
    const msg = this.queue.shift();
    this.busy = true;
    this.until = msg.type === 'start' ? msg.untilMs || 0 : 0;
    this.inflight = msg.type;
    this.w.postMessage(msg);
  }
  // idle: nothing asked and nothing waiting.
  get idle() {
    return this.ready && !this.busy && !this.queue.length;
  }
  start(seed, options, inputs, untilMs) {
    this.queue = this.queue.filter((m) => m.type !== 'advance');
    const msg = { type: 'start', seed, options };
    if (inputs && inputs.length) msg.inputs = inputs;
    if (untilMs !== undefined) msg.untilMs = untilMs;
    this.send(msg);
  }
  advance(toMs) { this.send({ type: 'advance', toMs }); }
  step() { this.send({ type: 'advance', events: 1 }); }
  input(x) { this.send({ type: 'input', input: x }); }
  check() { this.send({ type: 'check' }); }
  exportSession() { this.send({ type: 'export' }); }
  stop() {
    if (this.w) this.w.terminate();
    this.w = null;
  }
}

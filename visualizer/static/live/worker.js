// worker.js runs raftkv's simulator, compiled to WebAssembly
// (visualizer/wasm), in a classic Web Worker: new Worker('live/worker.js').
// It loads wasm_exec.js and raftkv.wasm from its own folder; neither is in
// the repository: make site (and raftkv-sim -live) build them. The
// messages it takes and sends are the contract of visualizer/doc.go, "The
// live simulator":
//
//   main -> worker                       worker -> main
//   {type:'start', seed, options?,       {type:'ready'}  (once, when loaded)
//    inputs?, untilMs?}                  {type:'header', header}
//   {type:'advance', toMs}               {type:'events', events, nowMs}
//   {type:'advance', events: n}          {type:'check', verdict, detail, html, ...}
//   {type:'input', input}                {type:'export', trace, command, filename}
//   {type:'check'} {type:'export'}       {type:'error', message}
//
// Every start, advance and input is answered with at least one 'events'
// message (possibly with no events), so the page can keep one request in
// flight; a refused input or advance answers 'error' first. Only when
// there is no session (a start failed: a bad seed or options) is the
// answer an 'error' alone.

/* global importScripts, Go */
'use strict';

// How far one 'events' message of a start (a fork replaying its inputs)
// goes in virtual time, so that a long replay shows its progress.
const START_CHUNK_MS = 5000;

const post = (m) => self.postMessage(m);

// parseLines turns JSON Lines into an array of objects in one parse.
function parseLines(text) {
  const body = text.trimEnd();
  return body === '' ? [] : JSON.parse('[' + body.replace(/\n/g, ',') + ']');
}

// answer sends what the engine traced, and its error if it had one.
function answer(a) {
  if (a.error !== undefined) post({ type: 'error', message: a.error });
  if (a.events !== undefined) post({ type: 'events', events: parseLines(a.events), nowMs: a.nowMs });
  return a.error === undefined;
}

async function load() {
  importScripts('wasm_exec.js');
  const go = new Go();
  const url = new URL('raftkv.wasm', self.location.href);
  let inst;
  try {
    inst = await WebAssembly.instantiateStreaming(fetch(url), go.importObject);
  } catch (e) {
    // A server that does not say application/wasm: compile from bytes.
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
    inst = await WebAssembly.instantiate(await res.arrayBuffer(), go.importObject);
  }
  go.run(inst.instance); // runs main, which registers raftkvLive, and waits
  if (!self.raftkvLive) throw new Error('raftkv.wasm did not register raftkvLive');
  return self.raftkvLive;
}

function start(eng, m) {
  const options = m.options ? JSON.stringify(m.options) : '';
  const a = eng.start(String(m.seed ?? 1), options);
  if (a.error !== undefined && a.header === undefined) return answer(a);
  post({ type: 'header', header: JSON.parse(a.header) });
  // The first events are held back and sent with the replay's first
  // chunk; each chunk ends at a multiple of START_CHUNK_MS or the end.
  let text = a.events;
  let now = a.nowMs;
  let nextPost = START_CHUNK_MS;
  const flush = () => {
    post({ type: 'events', events: parseLines(text), nowMs: now });
    text = '';
  };
  for (const input of m.inputs || []) {
    const at = input.atMs ?? input.t ?? 0;
    // Strictly before the input's time: at its very time, only the
    // engine knows how many events ran before it (applyAt).
    while (at > nextPost) {
      const b = eng.advance(nextPost);
      text += b.events;
      now = b.nowMs;
      if (b.error !== undefined) {
        flush();
        return answer({ error: b.error });
      }
      flush();
      nextPost += START_CHUNK_MS;
    }
    const b = eng.applyAt(JSON.stringify(input));
    text += b.events;
    now = b.nowMs;
    if (b.error !== undefined) {
      flush();
      return answer({ error: `replaying ${input.kind} at ${at} ms: ${b.error}` });
    }
  }
  const until = m.untilMs ?? 0;
  while (now < until) {
    const b = eng.advance(Math.min(until, nextPost));
    text += b.events;
    now = b.nowMs;
    if (b.error !== undefined) {
      flush();
      return answer({ error: b.error });
    }
    if (now >= nextPost) {
      flush();
      nextPost += START_CHUNK_MS;
    }
  }
  flush();
  return true;
}

function handle(eng, m) {
  switch (m.type) {
    case 'start':
      return start(eng, m);
    case 'advance':
      if (m.events !== undefined) return answer(eng.step(m.events));
      return answer(eng.advance(m.toMs));
    case 'input':
      return answer(eng.input(JSON.stringify(m.input)));
    case 'check': {
      const a = eng.check();
      if (a.error !== undefined) return answer(a);
      post({ type: 'check', ...a });
      return true;
    }
    case 'export': {
      const a = eng.export();
      if (a.error !== undefined) return answer(a);
      post({ type: 'export', ...a });
      return true;
    }
    default:
      post({ type: 'error', message: `unknown message type ${JSON.stringify(m.type)}` });
      return false;
  }
}

// Messages that arrive while the engine loads wait for it, in order.
const engine = load();
engine.then(
  () => post({ type: 'ready' }),
  (e) => post({ type: 'error', message: `loading the simulator: ${e.message || e}` }),
);
self.onmessage = (ev) => {
  engine.then((eng) => {
    try {
      handle(eng, ev.data);
    } catch (e) {
      post({ type: 'error', message: String((e && e.message) || e) });
    }
  }, () => {});
};

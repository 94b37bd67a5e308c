// app.js wires the page: it loads a trace (or runs the live simulator),
// keeps what the viewer chose (the moment, play or pause, speed,
// selection) and redraws with the pure functions of render.js. Everything
// it changes lives in the closure of start; nothing is global.

import { buildTimeline, createTimeline, currentIDs, parseTrace, TraceError } from './trace.js';
import {
  describeInput, renderClients, renderDetails, renderEvents, renderKV, renderLogs, renderMarkers, renderRing, renderTerms,
} from './render.js';
import {
  CHUNK_MS, clientInput, fireDue, inputsUpTo, Live, LIVE_SPEEDS, linkActions, memberActions, messageActions, newRun, nextTarget,
  scenarioLimit, speedLabel,
} from './live.js';
import { SCENARIOS } from './live/scenarios.js';

// Playback speeds of a replay in virtual milliseconds per real second.
const SPEEDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];
const JUMP_KEYS = { e: 'election', t: 'timeout', c: 'crash', p: 'partition', m: 'commit', s: 'snapshot', f: 'client', h: 'phase' };
const LAYOUT_KEY = 'raftkv.visualizer.layout';
const WORKER_URL = 'live/worker.js';

function start(doc, win) {
  const $ = (id) => doc.getElementById(id);
  const ui = {
    mode: 'replay', tl: null, i: -1, now: 0, playing: false, speed: 20, sel: null, logEnd: 0,
    hidden: new Set(), drawn: null, lastTs: 0, looping: false,
    // While playing, the panels that change by event (logs, key space,
    // event log, timeline marks) are redrawn at most every PANEL_MS; what
    // moves, every frame.
    panelTs: 0, renderMs: 0, frameMs: 0,
  };
  // The live session: the engine, where the viewer wants the clock, and
  // whether the view follows the engine (else it shows the past).
  const live = {
    eng: null, seed: 1, members: 5, extra: {}, opts: {}, speed: 100, want: 0, following: true, header: null,
    fork: null, afterFork: [], scenario: null,
  };
  const PANEL_MS = 100;
  const status = (state, text) => {
    $('status').dataset.state = state;
    $('status').textContent = text;
  };

  function fillSpeeds() {
    const sel = $('speed');
    sel.innerHTML = '';
    const list = ui.mode === 'live' ? LIVE_SPEEDS : SPEEDS;
    for (const s of list) {
      const o = doc.createElement('option');
      o.value = String(s);
      o.textContent = ui.mode === 'live' ? speedLabel(s) : s < 1000 ? `${s} ms/s` : `${s / 1000} s/s`;
      o.selected = s === ui.speed;
      sel.append(o);
    }
  }
  const readFilters = () => {
    ui.hidden = new Set([...doc.querySelectorAll('#events-panel input[data-cat]')].filter((c) => !c.checked).map((c) => c.dataset.cat));
  };
  readFilters();

  // ---- layout ----

  function setLayout(simple, remember) {
    doc.body.classList.toggle('simple', simple);
    $('layout').textContent = simple ? 'full view' : 'simple view';
    $('layout').setAttribute('aria-pressed', String(simple));
    if (remember) {
      try {
        win.localStorage.setItem(LAYOUT_KEY, simple ? 'simple' : 'full');
      } catch {
        // Storage may be off: the choice lasts as long as the page.
      }
    }
    ui.drawn = null;
    render(true);
  }
  function storedLayout() {
    try {
      return win.localStorage.getItem(LAYOUT_KEY);
    } catch {
      return null;
    }
  }

  // ---- loading a trace ----

  function load(text, name, porcupine, t0) {
    stopLive();
    ui.mode = 'replay';
    doc.body.classList.remove('live');
    ui.playing = false;
    let parsed;
    const tParse = performance.now();
    try {
      parsed = parseTrace(text);
    } catch (err) {
      status('error', err instanceof TraceError ? `${name}: ${err.message}` : `${name}: ${err}`);
      return;
    }
    const tBuild = performance.now();
    const tl = buildTimeline(parsed);
    const tDone = performance.now();
    show(tl);
    const h = tl.header;
    const o = tl.options;
    const end = tl.events.length ? tl.events[tl.events.length - 1] : null;
    $('info').innerHTML = '';
    $('info').append(
      span('seed', `seed ${h.seed}`), span('', `preset ${o.preset || '?'}`),
      span('', `${tl.ids.length} members · ${tl.clients.length} clients`),
      span('', `${(tl.endT / 1000).toFixed(1)} s simulated · ${tl.n.toLocaleString('en')} events`),
      span(end && end.type === 'end' && end.result !== 'ok' ? 'bad' : 'good', end && end.type === 'end' ? `result ${end.result}` : 'no end'),
    );
    $('info').title = h.replay || '';
    const pl = $('porcupine');
    if (porcupine) {
      pl.href = porcupine;
      pl.hidden = false;
    } else pl.hidden = true;
    fillSpeeds();
    const bad = applyHash();
    if (bad === null) seekIndex(-1);
    render(true);
    const tShown = performance.now();
    const ms = (x) => Math.round(x);
    const loadMs = ms(tShown - t0);
    doc.body.dataset.loadMs = String(loadMs);
    doc.body.dataset.events = String(tl.n);
    const msg = `${name}: ${(text.length / 1e6).toFixed(1)} MB, ${tl.n.toLocaleString('en')} events, shown in ${loadMs} ms ` +
      `(read ${ms(tParse - t0)}, parse ${ms(tBuild - tParse)}, states ${ms(tDone - tBuild)}, draw ${ms(tShown - tDone)})`;
    if (parsed.warning) status('warn', `${name}: ${parsed.warning}. ${msg}`);
    else if (bad) status('warn', `${bad}. ${msg}`);
    else status('ready', msg);
  }

  // show makes tl the timeline on screen.
  function show(tl) {
    ui.tl = tl;
    ui.sel = null;
    ui.logEnd = 0;
    ui.drawn = null;
    $('scrub').max = String(tl.endT);
    $('goto-i').max = String(Math.max(0, tl.n - 1));
    $('markers').innerHTML = renderMarkers(tl);
  }

  function span(cls, text) {
    const s = doc.createElement('span');
    if (cls) s.className = cls;
    s.textContent = text;
    return s;
  }

  async function loadURL(url, name, porcupine) {
    const t0 = performance.now();
    status('loading', `loading ${name}…`);
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      load(await r.text(), name, porcupine, t0);
    } catch (err) {
      status('error', `${name}: ${err.message}`);
    }
  }

  async function boot() {
    const stored = storedLayout();
    setLayout(stored === 'simple', false);
    const q = new URLSearchParams(win.location.search);
    if (q.get('live') !== null && q.get('live') !== '0') {
      const seed = Number(q.get('seed'));
      const members = Number(q.get('members'));
      if (Number.isInteger(members) && members >= 1 && members <= 9) {
        live.members = members;
        $('members').value = String(members);
      }
      startLive(Number.isSafeInteger(seed) && seed > 0 ? seed : 1, q.get('scenario') || '');
      return;
    }
    if (q.get('trace')) return loadURL(q.get('trace'), q.get('trace'), q.get('porcupine') || '');
    try {
      const r = await fetch('api/run');
      if (r.ok) {
        const run = await r.json();
        if (run.trace) return loadURL(run.trace, run.name || run.trace, run.porcupine || '');
      }
    } catch {
      // Served as plain files: no run to load.
    }
    status('empty', 'Open a trace written by raftkv-sim -trace (or run raftkv-sim -visualize), or start the live simulator.');
  }

  $('file').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    const t0 = performance.now();
    status('loading', `reading ${f.name}…`);
    load(await f.text(), f.name, '', t0);
  });

  // ---- the live simulator ----

  function startLive(seed, scenario) {
    stopLive();
    ui.mode = 'live';
    doc.body.classList.add('live');
    live.seed = seed;
    $('seed').value = String(seed);
    ui.speed = live.speed;
    fillSpeeds();
    $('porcupine').hidden = true;
    $('info').innerHTML = '';
    $('info').append(span('seed', `live · seed ${seed}`), span('', 'starting the simulator…'));
    status('loading', 'loading the simulator (WebAssembly)…');
    live.header = null;
    live.want = 0;
    live.following = true;
    live.fork = null;
    live.afterFork = [];
    live.scenario = null;
    const eng = new Live(WORKER_URL, {
      ready: () => {
        status('ready', 'simulator loaded');
        if (scenario) playScenario(scenario);
        else resetLive(true);
      },
      header: (h) => {
        live.header = h;
        show(createTimeline(h));
        ui.i = -1;
        ui.now = 0;
        $('info').innerHTML = '';
        $('info').append(span('seed', `live · seed ${h.seed}`), span('', `${(h.members || []).length} members`),
          span('', h.options && h.options.preset ? `preset ${h.options.preset}` : ''));
        fillMembers();
      },
      events: (evs, nowMs) => liveEvents(evs, nowMs),
      check: (d) => showCheck(d),
      export: (d) => showExport(d),
      error: (message) => {
        const missing = !live.header && /wasm_exec\.js|raftkv\.wasm/.test(message);
        status('error', `simulator: ${message}` + (missing
          ? ' — the WebAssembly build is not served here: run go run ./cmd/raftkv-sim -live, or serve a folder made by make site'
          : ''));
        if (live.fork) live.fork = null;
      },
    });
    live.eng = eng;
  }

  function stopLive() {
    if (live.eng) live.eng.stop();
    live.eng = null;
    closeMenu();
  }

  function liveOptions() {
    return { ...live.extra, members: live.members };
  }

  // resetLive starts the session over from time 0 with the seed chosen.
  function resetLive(run) {
    if (!live.eng) return;
    live.scenario = null;
    $('caption').hidden = true;
    live.want = 0;
    live.following = true;
    live.fork = null;
    // A session is its seed, its options and its inputs: a fork starts
    // with the same options.
    live.opts = liveOptions();
    live.eng.start(live.seed, live.opts);
    // Play once the new session's first events are in.
    live.autoplay = run;
  }

  // liveEvents takes a batch of new events from the engine.
  function liveEvents(evs, nowMs) {
    const tl = ui.tl;
    if (!tl) return;
    if (evs.length) {
      try {
        tl.append(evs);
      } catch (err) {
        status('error', `simulator: ${err.message}`);
        return;
      }
      $('goto-i').max = String(Math.max(0, tl.n - 1));
      const end = evs.find((e) => e.type === 'end');
      if (end && end.result !== 'ok') {
        // A checker fired: the session stops here (export it: it is a bug report).
        pause();
        status('error', `the simulator stopped: ${end.result}${end.reason ? ': ' + end.reason : ''}`);
      }
    }
    // The scrubber reaches the engine's time.
    $('scrub').max = String(nowMs);
    if (live.fork && nowMs >= live.fork.untilMs - 1e-6) {
      const f = live.fork;
      live.fork = null;
      live.following = true;
      live.want = nowMs;
      status('ready', `forked at ${f.untilMs.toFixed(1)} ms: a new history from here`);
      for (const x of live.afterFork.splice(0)) sendInput(x);
    }
    if (live.following && !ui.playing && !live.fork) {
      ui.now = nowMs;
      ui.i = tl.n - 1;
      live.want = nowMs;
    }
    doc.body.dataset.liveMs = String(nowMs);
    doc.body.dataset.events = String(tl.n);
    if (live.autoplay && !live.fork) {
      live.autoplay = false;
      play();
    }
    scenarioTick();
    pumpLive();
    if (!ui.playing) render(false);
  }

  // lookahead: how far the engine runs ahead of the clock on screen, so
  // that a message drawn on the wire is known to arrive (or not): about
  // a frame and a half at the speed chosen.
  // (At most MAX_LOOKAHEAD_MS: faster, a message crosses a link within a
  // frame anyway, and a pause jumps to the engine's time.)
  const lookahead = () => Math.max(0.5, Math.min(MAX_LOOKAHEAD_MS, ui.speed * 0.05));
  const MAX_LOOKAHEAD_MS = 100;
  // chunk: the most one advance asks for: a twentieth of a second's worth
  // (fast, the round trips to the worker would hold it back), at least
  // CHUNK_MS.
  const chunk = () => Math.max(CHUNK_MS, ui.speed / 20);

  // pumpLive asks the engine for more when it is idle and behind.
  function pumpLive() {
    const eng = live.eng;
    if (!eng || !eng.idle || !ui.tl || live.fork) return;
    if (!ui.playing || !live.following) return;
    if (live.scenario && live.scenario.waiting) return;
    const target = live.want + lookahead();
    if (target > eng.nowMs + 1e-9) {
      // A scenario's timed step is not overshot; one waiting for a
      // condition looks at every grid time (so it fires at the same time
      // on every machine).
      eng.advance(scenarioLimit(live.scenario, eng.nowMs, nextTarget(eng.nowMs, target, chunk())));
    }
  }

  // sendInput applies an action now, or, while the past is on screen,
  // forks from the moment shown and applies it there.
  function sendInput(x) {
    const eng = live.eng;
    if (!eng || !ui.tl) return;
    if (live.fork) {
      live.afterFork.push(x);
      return;
    }
    // While following the present, an input applies at the engine's time
    // (a frame or so ahead of the clock on screen).
    if (!live.following) {
      live.afterFork.push(x);
      forkHere();
      return;
    }
    eng.input(x);
    status('ready', `you: ${describeInput(x)}`);
  }

  // forkHere starts the session again with the inputs up to the moment on
  // screen: the history after it is dropped.
  function forkHere() {
    const eng = live.eng;
    const tl = ui.tl;
    if (!eng || !tl) return;
    // The trace's times are whole microseconds.
    const t = Math.floor(ui.now * 1000 + 1e-6) / 1000;
    pause();
    live.fork = { untilMs: t };
    live.scenario = null;
    $('caption').hidden = true;
    status('loading', `forking at ${t.toFixed(1)} ms…`);
    eng.start(live.seed, live.opts, inputsUpTo(tl, t), t);
  }

  function backToNow() {
    if (!live.eng) return;
    live.following = true;
    ui.now = live.eng.nowMs;
    ui.i = ui.tl ? ui.tl.n - 1 : -1;
    live.want = ui.now;
    settle();
  }

  function fillMembers() {
    const sel = $('client-member');
    const keep = sel.value;
    sel.innerHTML = '';
    const ids = ui.tl ? currentIDs(ui.tl, ui.tl.at(ui.tl.n - 1)) : [];
    for (const id of ids) {
      const o = doc.createElement('option');
      o.value = String(id);
      o.textContent = `S${id}`;
      sel.append(o);
    }
    if (ids.map(String).includes(keep)) sel.value = keep;
  }

  // ---- scenarios ----

  function playScenario(name) {
    const sc = SCENARIOS.find((s) => s.id === name);
    if (!sc || !live.eng) {
      status('error', `no scenario ${name}`);
      return;
    }
    live.seed = sc.seed;
    live.members = sc.members || 5;
    live.extra = sc.options || {};
    $('seed').value = String(sc.seed);
    $('scenario').value = sc.id;
    win.history.replaceState(null, '', `?live=1&scenario=${encodeURIComponent(sc.id)}`);
    resetLive(false);
    live.scenario = { ...newRun(sc), waiting: false };
    delete doc.body.dataset.scenarioResult;
    doc.body.dataset.scenarioStep = '0';
    setSpeed(sc.speed || 100);
    showCaption(sc.title, sc.intro, false);
    live.autoplay = true;
  }

  // scenarioTick fires the steps that are due at the engine's time (the
  // engine is idle: between two advances).
  function scenarioTick() {
    const sc = live.scenario;
    const eng = live.eng;
    if (!sc || !eng || !eng.idle || live.fork || sc.waiting) return;
    const tl = ui.tl;
    let fired;
    try {
      fired = fireDue(sc, tl.at(tl.n - 1), tl, eng.nowMs);
    } catch (err) {
      status('error', `scenario ${sc.sc.id}, step ${sc.k + 1}: ${err.message}`);
      live.scenario = null;
      return;
    }
    for (const f of fired) {
      for (const x of f.inputs) eng.input(x);
      const k = sc.sc.steps.indexOf(f.step) + 1;
      doc.body.dataset.scenarioStep = String(k);
      if (f.caption) showCaption(`${sc.sc.title} · ${k}/${sc.sc.steps.length}`, f.caption, f.pause);
      if (f.pause) {
        sc.waiting = true;
        pause();
      }
    }
    // What the scenario set out to show (the browser test reads it).
    if (sc.result !== undefined) doc.body.dataset.scenarioResult = sc.result;
  }

  // readOn goes on with a scenario paused at a caption.
  function readOn() {
    const sc = live.scenario;
    if (!sc || !sc.waiting) return;
    sc.waiting = false;
    $('caption-next').hidden = true;
    scenarioTick();
    // (The next step may be due at once, and pause again.)
    if (!sc.waiting) play();
  }

  function showCaption(title, text, wait) {
    $('caption').hidden = false;
    $('caption-title').textContent = title;
    $('caption-text').textContent = text;
    $('caption-next').hidden = !wait;
  }

  // ---- check and export ----

  function showCheck(d) {
    const box = $('result');
    box.hidden = false;
    box.dataset.kind = 'check';
    box.dataset.verdict = d.verdict;
    const words = { ok: 'linearizable ✓', illegal: 'NOT linearizable ✗', unknown: 'unknown (the check timed out)' };
    $('result-title').textContent = `Porcupine: the client history is ${words[d.verdict] || d.verdict}`;
    $('result-text').textContent = d.detail || '';
    const a = $('result-link');
    if (d.html) {
      a.href = URL.createObjectURL(new Blob([d.html], { type: 'text/html' }));
      a.textContent = "open Porcupine's view ↗";
      a.removeAttribute('download');
      a.hidden = false;
    } else a.hidden = true;
    status(d.verdict === 'illegal' ? 'error' : 'ready', $('result-title').textContent);
  }

  function showExport(d) {
    const box = $('result');
    box.hidden = false;
    box.dataset.kind = 'export';
    $('result-title').textContent = 'Session exported: the trace, and the command that replays it byte for byte';
    $('result-text').textContent = d.command || '';
    const a = $('result-link');
    a.href = URL.createObjectURL(new Blob([d.trace], { type: 'application/x-ndjson' }));
    const name = d.filename || `raftkv-live-${live.seed}.jsonl`;
    a.download = name;
    a.textContent = `download ${name}`;
    a.hidden = false;
    status('ready', 'session exported');
  }

  // ---- moving in time ----

  function seekIndex(i) {
    const tl = ui.tl;
    if (!tl) return;
    ui.i = Math.max(-1, Math.min(tl.n - 1, i));
    ui.now = ui.i < 0 ? 0 : tl.times[ui.i];
    viewedPast();
  }
  function seekTime(t) {
    const tl = ui.tl;
    if (!tl) return;
    const end = ui.mode === 'live' && live.eng ? live.eng.nowMs : tl.endT;
    ui.now = Math.max(0, Math.min(end, t));
    ui.i = tl.indexAt(ui.now);
  }
  // viewedPast: in a live session, a move back in time leaves the engine
  // where it is and shows the past.
  function viewedPast() {
    if (ui.mode !== 'live' || !live.eng) return;
    live.following = ui.now >= live.eng.nowMs - 1e-6 && ui.i >= ui.tl.n - 1;
    if (live.following) live.want = ui.now;
  }
  function jump(kind, dir) {
    const tl = ui.tl;
    if (!tl) return;
    const k = tl.jump(kind, ui.i, dir);
    if (k < -1) {
      status('ready', `no ${dir > 0 ? 'later' : 'earlier'} ${kind} event`);
      return;
    }
    pause();
    seekIndex(k);
    const e = tl.events[k];
    if (e.id && !('client' in e)) ui.sel = { kind: 'member', id: e.id };
    else ui.sel = { kind: 'event', i: k };
    settle();
  }
  // applyHash moves to the moment the address names: null when it names
  // none, '' when it did, else what is wrong with it.
  function applyHash() {
    const h = new URLSearchParams(win.location.hash.slice(1));
    const read = (k) => {
      const v = h.get(k).trim();
      const x = Number(v);
      return v !== '' && Number.isFinite(x) ? x : null;
    };
    if (h.has('i')) {
      const i = read('i');
      if (i === null || !Number.isInteger(i)) return `#i=${h.get('i')} is not an event number: showing the start`;
      seekIndex(i);
      return '';
    }
    if (h.has('t')) {
      const t = read('t');
      if (t === null) return `#t=${h.get('t')} is not a time in ms: showing the start`;
      seekTime(t);
      return '';
    }
    return null;
  }
  // settle redraws after a move made while paused, and remembers it in the
  // address so that it can be shared.
  function settle() {
    render(false);
    if (ui.tl && ui.mode === 'replay') win.history.replaceState(null, '', `#i=${ui.i}`);
  }

  function play() {
    if (!ui.tl || ui.playing) return;
    if (ui.mode === 'replay' && ui.now >= ui.tl.endT) seekIndex(-1);
    if (ui.mode === 'live') {
      // Play (the button, space) at a scenario's caption reads on.
      if (live.scenario && live.scenario.waiting) {
        readOn();
        return;
      }
      // From the past, play replays what happened until the present,
      // then goes on live.
      live.want = ui.now;
    }
    ui.playing = true;
    ui.lastTs = 0;
    $('play').textContent = '❚❚';
    loop();
  }
  function loop() {
    if (ui.looping) return;
    ui.looping = true;
    win.requestAnimationFrame(frame);
  }
  function pause() {
    ui.playing = false;
    $('play').textContent = '▶';
    if (ui.mode === 'live' && live.eng && live.following) {
      // The engine is a little ahead: show where it is.
      ui.now = live.eng.nowMs;
      ui.i = ui.tl ? ui.tl.n - 1 : -1;
      live.want = ui.now;
    }
  }
  function togglePlay() {
    if (!ui.playing) {
      play();
      return;
    }
    pause();
    settle();
  }
  function frame(ts) {
    ui.looping = false;
    if (!ui.playing) return;
    const dt = ui.lastTs ? Math.min(0.25, (ts - ui.lastTs) / 1000) : 0;
    if (ui.lastTs) ui.frameMs = ui.frameMs ? 0.95 * ui.frameMs + 0.05 * (ts - ui.lastTs) : ts - ui.lastTs;
    ui.lastTs = ts;
    if (ui.mode === 'live' && !live.following) {
      seekTime(ui.now + dt * ui.speed);
      if (ui.now >= live.eng.nowMs - 1e-6) {
        live.following = true;
        live.want = ui.now;
      }
    } else if (ui.mode === 'live') {
      const eng = live.eng;
      // The clock runs ahead of the engine by at most a chunk (a slow
      // engine slows the clock rather than leave it behind).
      live.want = Math.min(live.want + dt * ui.speed, eng.nowMs + Math.max(lookahead(), chunk()));
      ui.now = Math.max(ui.now, Math.min(live.want, eng.nowMs));
      ui.i = ui.tl.indexAt(ui.now);
      pumpLive();
    } else {
      seekTime(ui.now + dt * ui.speed);
      if (ui.now >= ui.tl.endT) pause();
    }
    render(false);
    if (ui.playing) loop();
    else settle();
  }
  function setSpeed(v) {
    ui.speed = v;
    if (ui.mode === 'live') live.speed = v;
    $('speed').value = String(ui.speed);
  }
  function stepSpeed(dir) {
    const list = ui.mode === 'live' ? LIVE_SPEEDS : SPEEDS;
    const k = Math.max(0, Math.min(list.length - 1, list.indexOf(ui.speed) + dir));
    setSpeed(list[k]);
  }
  function stepForward() {
    pause();
    if (ui.mode === 'live' && live.eng && live.following) {
      // The next event: from the engine when the screen shows its latest.
      if (ui.i >= ui.tl.n - 1) {
        live.eng.step();
        return;
      }
    }
    seekIndex(ui.i + 1);
    settle();
  }

  // ---- drawing ----

  // put sets an element's markup, unless it is what is there already (a
  // paused picture, the details of one selection: the browser is spared
  // parsing and laying it out again).
  const markup = new Map();
  function put(id, html) {
    if (markup.get(id) === html) return;
    markup.set(id, html);
    $(id).innerHTML = html;
  }

  function render(force) {
    const tl = ui.tl;
    if (!tl) return;
    const t0 = performance.now();
    const st = tl.at(ui.i);
    put('ring', renderRing(tl, st, ui.now, ui.sel, { hit: ui.mode === 'live' }));
    put('clients', renderClients(tl, ui.now, { sel: ui.sel }));
    put('details', renderDetails(tl, st, ui.now, ui.sel));
    const key = `${ui.i}|${tl.n}|${ui.logEnd}|${[...ui.hidden].join()}|${JSON.stringify(ui.sel)}`;
    if (force || (key !== ui.drawn && (!ui.playing || t0 - ui.panelTs >= PANEL_MS))) {
      ui.drawn = key;
      ui.panelTs = t0;
      put('logs', renderLogs(tl, st, { logEnd: ui.logEnd }));
      put('terms', renderTerms(st));
      if (!doc.body.classList.contains('simple')) {
        put('kv', renderKV(tl, st));
        const list = $('events');
        list.innerHTML = renderEvents(tl, ui.i, ui.hidden);
        const cur = list.querySelector('.current');
        if (cur) list.scrollTop = cur.offsetTop - list.clientHeight / 2;
      }
      $('goto-i').value = String(Math.max(0, ui.i));
      if (ui.mode === 'live') {
        $('markers').innerHTML = renderMarkers(tl, 1000, live.eng ? live.eng.nowMs : tl.endT);
        if ($('client-member').options.length !== currentIDs(tl, st).length) fillMembers();
      }
    }
    let where = '';
    if (ui.mode === 'live') {
      where = live.fork ? ' · forking…' : !live.following ? (ui.playing ? ' · replaying the past' : ' · the past (act to fork)')
        : ui.playing ? ' · live' : ' · paused';
      $('fork').disabled = live.following || !!live.fork;
      $('now').disabled = live.following;
    }
    $('clock').textContent = `t = ${ui.now.toFixed(3)} ms · event ${ui.i + 1} / ${tl.n} · ${ui.mode === 'live' ? speedLabel(ui.speed) : st.phase}` +
      `${st.end ? ' · end ' + st.end.result : ''}${where}`;
    $('scrub').value = String(ui.now);
    const sc = live.scenario;
    if (sc && ui.mode === 'live') doc.body.dataset.scenario = sc.sc.id;
    // How long drawing takes (a moving average), for the browser test.
    ui.renderMs = ui.renderMs ? 0.9 * ui.renderMs + 0.1 * (performance.now() - t0) : performance.now() - t0;
    doc.body.dataset.renderMs = ui.renderMs.toFixed(2);
    doc.body.dataset.ops = String(tl.ops.length);
    doc.body.dataset.frameMs = ui.frameMs.toFixed(2);
  }

  // ---- the action menu (live) ----

  function openMenu(ev, title, actions) {
    const menu = $('menu');
    if (!actions.length) {
      closeMenu();
      return;
    }
    menu.innerHTML = '';
    const h = doc.createElement('h3');
    h.textContent = title;
    menu.append(h);
    for (const a of actions) {
      const b = doc.createElement('button');
      b.textContent = a.label;
      b.dataset.kind = a.input.kind;
      b.addEventListener('click', () => {
        closeMenu();
        sendInput(a.input);
      });
      menu.append(b);
    }
    menu.hidden = false;
    const r = menu.getBoundingClientRect();
    const x = Math.min(ev.clientX + 8, win.innerWidth - r.width - 8);
    const y = Math.min(ev.clientY + 8, win.innerHeight - r.height - 8);
    menu.style.left = `${Math.max(0, x)}px`;
    menu.style.top = `${Math.max(0, y)}px`;
  }
  function closeMenu() {
    $('menu').hidden = true;
  }

  // ---- input ----

  $('play').addEventListener('click', () => togglePlay());
  $('start').addEventListener('click', () => { pause(); seekIndex(-1); settle(); });
  $('prev').addEventListener('click', () => { pause(); seekIndex(ui.i - 1); settle(); });
  $('next').addEventListener('click', () => stepForward());
  $('speed').addEventListener('change', (ev) => setSpeed(Number(ev.target.value)));
  $('kind-prev').addEventListener('click', () => jump($('kind').value, -1));
  $('kind-next').addEventListener('click', () => jump($('kind').value, 1));
  $('scrub').addEventListener('input', (ev) => {
    pause();
    seekTime(Number(ev.target.value));
    viewedPast();
    render(false);
  });
  $('scrub').addEventListener('change', () => settle());
  $('goto').addEventListener('submit', (ev) => {
    ev.preventDefault();
    pause();
    seekIndex(Number($('goto-i').value));
    settle();
  });
  $('markers').addEventListener('click', (ev) => {
    if (!ui.tl) return;
    const r = $('markers').getBoundingClientRect();
    const end = ui.mode === 'live' && live.eng ? live.eng.nowMs : ui.tl.endT;
    pause();
    seekTime(((ev.clientX - r.left) / r.width) * end);
    viewedPast();
    settle();
  });
  for (const c of doc.querySelectorAll('#events-panel input[data-cat]')) {
    c.addEventListener('change', () => { readFilters(); render(false); });
  }
  // The ring and the client lanes are drawn anew every frame while time
  // runs: a click's press and release may land on two different nodes (and
  // the click then on the picture as a whole), so they act on the press.
  $('ring').addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    const msg = ev.target.closest('[data-mid]');
    const mem = ev.target.closest('[data-id]');
    const link = ev.target.closest('[data-from]');
    ui.sel = msg ? { kind: 'message', mid: Number(msg.dataset.mid) } : mem ? { kind: 'member', id: Number(mem.dataset.id) } : null;
    render(false);
    if (ui.mode !== 'live' || !ui.tl) return;
    const st = ui.tl.at(ui.i);
    if (msg) openMenu(ev, `Message ${msg.dataset.mid}`, messageActions(ui.tl, Number(msg.dataset.mid), Number(msg.dataset.slot || 0)));
    else if (mem) openMenu(ev, `Member S${mem.dataset.id}`, memberActions(ui.tl, st, Number(mem.dataset.id)));
    else if (link) {
      const from = Number(link.dataset.from);
      const to = Number(link.dataset.to);
      openMenu(ev, `Link S${from}→S${to}`, linkActions(st, from, to));
    } else closeMenu();
  });
  doc.addEventListener('pointerdown', (ev) => {
    // (The path as it was: the ring's handler may have drawn it anew.)
    const path = ev.composedPath();
    if (!$('menu').hidden && !path.includes($('menu')) && !path.includes($('ring'))) closeMenu();
  });
  $('logs').addEventListener('click', (ev) => {
    const row = ev.target.closest('[data-id]');
    if (row) ui.sel = { kind: 'member', id: Number(row.dataset.id) };
    render(false);
  });
  $('logs').addEventListener('wheel', (ev) => {
    if (!ui.tl) return;
    ev.preventDefault();
    scrollLogs(ev.deltaY > 0 ? 5 : -5);
  }, { passive: false });
  $('clients').addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    const op = ev.target.closest('[data-op]');
    ui.sel = op ? { kind: 'op', n: Number(op.dataset.op) } : null;
    render(false);
  });
  $('events').addEventListener('click', (ev) => {
    const li = ev.target.closest('[data-i]');
    if (!li) return;
    pause();
    seekIndex(Number(li.dataset.i));
    const e = ui.tl.events[ui.i];
    ui.sel = e.mid ? { kind: 'message', mid: e.mid } : { kind: 'event', i: ui.i };
    settle();
  });
  const help = (show) => { $('help').hidden = !show; };
  $('help-button').addEventListener('click', () => help($('help').hidden));
  $('help-close').addEventListener('click', () => help(false));
  $('layout').addEventListener('click', () => setLayout(!doc.body.classList.contains('simple'), true));
  win.addEventListener('hashchange', () => {
    const bad = applyHash();
    if (bad) status('warn', bad);
    if (bad !== null) render(false);
  });

  // Live controls.
  $('go-live').addEventListener('click', () => {
    const seed = Number($('seed').value);
    win.history.replaceState(null, '', `?live=1&seed=${seed > 0 ? seed : 1}`);
    startLive(seed > 0 ? seed : 1, '');
  });
  $('reset').addEventListener('click', () => {
    const seed = Number($('seed').value);
    if (!Number.isSafeInteger(seed) || seed < 1) {
      status('error', 'the seed is a whole number from 1');
      return;
    }
    live.seed = seed;
    live.members = Number($('members').value) || 5;
    live.extra = {};
    // The address names the session, so that it can be shared.
    win.history.replaceState(null, '', `?live=1&seed=${seed}${live.members !== 5 ? `&members=${live.members}` : ''}`);
    resetLive(ui.playing);
  });
  $('add-member').addEventListener('click', () => sendInput({ kind: 'add' }));
  $('heal-all').addEventListener('click', () => sendInput({ kind: 'healAll' }));
  $('check').addEventListener('click', () => { if (live.eng) { status('loading', 'checking linearizability…'); live.eng.check(); } });
  $('export').addEventListener('click', () => { if (live.eng) live.eng.exportSession(); });
  $('fork').addEventListener('click', () => forkHere());
  $('now').addEventListener('click', () => backToNow());
  $('result-close').addEventListener('click', () => {
    $('result').hidden = true;
    delete $('result').dataset.kind;
    delete $('result').dataset.verdict;
  });
  $('scenario-play').addEventListener('click', () => {
    if ($('scenario').value) playScenario($('scenario').value);
  });
  $('caption-next').addEventListener('click', () => readOn());
  $('caption-close').addEventListener('click', () => { $('caption').hidden = true; });
  for (const sc of SCENARIOS) {
    const o = doc.createElement('option');
    o.value = sc.id;
    o.textContent = sc.title;
    $('scenario').append(o);
  }
  const clientFields = () => ({
    op: $('client-op').value, id: $('client-member').value, key: $('client-key').value,
    value: $('client-value').value, prev: $('client-prev').value, quorum: $('client-quorum').checked,
  });
  const showClientFields = () => {
    const op = $('client-op').value;
    $('client-value').hidden = !(op === 'put' || op === 'cas');
    $('client-prev').hidden = op !== 'cas';
    $('client-quorum-label').hidden = op !== 'get';
  };
  $('client-op').addEventListener('change', showClientFields);
  showClientFields();
  $('client').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const r = clientInput(clientFields());
    if (r.error) {
      status('error', r.error);
      return;
    }
    sendInput(r.input);
  });

  function scrollLogs(d) {
    const svg = $('logs').querySelector('svg');
    const hi = ui.logEnd || (svg ? Number(svg.dataset.hi) : 0);
    ui.logEnd = Math.max(1, hi + d);
    render(false);
  }

  doc.addEventListener('keydown', (ev) => {
    const tag = ev.target.tagName;
    if ((tag === 'INPUT' && ev.target.type !== 'range' && ev.target.type !== 'checkbox') || tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tl = ui.tl;
    const k = ev.key;
    let handled = true;
    if (k === '?') help($('help').hidden);
    else if (k === 'Escape') { help(false); closeMenu(); ui.sel = null; render(false); }
    else if (!tl) handled = false;
    else if (k === ' ') togglePlay();
    else if (k === 'ArrowRight' && !ev.shiftKey) stepForward();
    else if (k === 'ArrowRight' || k === 'ArrowLeft') {
      pause();
      const dir = k === 'ArrowRight' ? 1 : -1;
      if (ev.shiftKey) seekTime(ui.now + dir * (tl.options.tickMs || 10));
      else seekIndex(ui.i + dir);
      viewedPast();
      settle();
    } else if (k === 'Home') { pause(); seekIndex(-1); settle(); }
    else if (k === 'End') {
      pause();
      if (ui.mode === 'live') backToNow();
      else { seekIndex(tl.n - 1); settle(); }
    } else if (k === '+' || k === '=') stepSpeed(1);
    else if (k === '-' || k === '_') stepSpeed(-1);
    else if (k === '[') scrollLogs(-10);
    else if (k === ']') scrollLogs(10);
    else if (k === '0') { ui.logEnd = 0; render(false); }
    else if (JUMP_KEYS[k.toLowerCase()]) {
      $('kind').value = JUMP_KEYS[k.toLowerCase()];
      jump(JUMP_KEYS[k.toLowerCase()], ev.shiftKey ? -1 : 1);
    } else handled = false;
    if (handled) ev.preventDefault();
  });

  boot();
}

start(document, window);

// app.js wires the page: it loads a trace, keeps what the viewer chose
// (the moment, play or pause, speed, selection) and redraws with the pure
// functions of render.js. Everything it changes lives in the closure of
// start; nothing is global.

import { buildTimeline, parseTrace, TraceError } from './trace.js';
import { renderClients, renderDetails, renderEvents, renderKV, renderLogs, renderMarkers, renderRing } from './render.js';

// Playback speeds in virtual milliseconds per real second.
const SPEEDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];
const JUMP_KEYS = { e: 'election', t: 'timeout', c: 'crash', p: 'partition', m: 'commit', s: 'snapshot', f: 'client', h: 'phase' };

function start(doc, win) {
  const $ = (id) => doc.getElementById(id);
  const ui = {
    tl: null, i: -1, now: 0, playing: false, speed: 20, sel: null, logEnd: 0,
    hidden: new Set(), drawn: null, lastTs: 0,
    // While playing, the panels that change by event (logs, key space,
    // event log) are redrawn at most every PANEL_MS; what moves, every frame.
    panelTs: 0, renderMs: 0,
  };
  const PANEL_MS = 100;
  const status = (state, text) => {
    $('status').dataset.state = state;
    $('status').textContent = text;
  };

  for (const s of SPEEDS) {
    const o = doc.createElement('option');
    o.value = String(s);
    o.textContent = s < 1000 ? `${s} ms/s` : `${s / 1000} s/s`;
    o.selected = s === ui.speed;
    $('speed').append(o);
  }
  const readFilters = () => {
    ui.hidden = new Set([...doc.querySelectorAll('#events-panel input[data-cat]')].filter((c) => !c.checked).map((c) => c.dataset.cat));
  };
  readFilters();

  // ---- loading ----

  function load(text, name, porcupine, t0) {
    ui.playing = false;
    let parsed;
    let tl;
    const tParse = performance.now();
    try {
      parsed = parseTrace(text);
    } catch (err) {
      status('error', err instanceof TraceError ? `${name}: ${err.message}` : `${name}: ${err}`);
      return;
    }
    const tBuild = performance.now();
    tl = buildTimeline(parsed);
    const tDone = performance.now();
    ui.tl = tl;
    ui.sel = null;
    ui.logEnd = 0;
    ui.drawn = null;
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
    $('scrub').max = String(tl.endT);
    $('goto-i').max = String(tl.n - 1);
    $('markers').innerHTML = renderMarkers(tl);
    if (!applyHash()) seekIndex(-1);
    render(true);
    const tShown = performance.now();
    const ms = (x) => Math.round(x);
    const loadMs = ms(tShown - t0);
    doc.body.dataset.loadMs = String(loadMs);
    doc.body.dataset.events = String(tl.n);
    status('ready', `${name}: ${(text.length / 1e6).toFixed(1)} MB, ${tl.n.toLocaleString('en')} events, shown in ${loadMs} ms ` +
      `(read ${ms(tParse - t0)}, parse ${ms(tBuild - tParse)}, states ${ms(tDone - tBuild)}, draw ${ms(tShown - tDone)})`);
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
    const q = new URLSearchParams(win.location.search);
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
    status('empty', 'Open a trace written by raftkv-sim -trace (or run raftkv-sim -visualize).');
  }

  $('file').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    const t0 = performance.now();
    status('loading', `reading ${f.name}…`);
    load(await f.text(), f.name, '', t0);
  });

  // ---- moving in time ----

  function seekIndex(i) {
    const tl = ui.tl;
    if (!tl) return;
    ui.i = Math.max(-1, Math.min(tl.n - 1, i));
    ui.now = ui.i < 0 ? 0 : tl.times[ui.i];
  }
  function seekTime(t) {
    const tl = ui.tl;
    if (!tl) return;
    ui.now = Math.max(0, Math.min(tl.endT, t));
    ui.i = tl.indexAt(ui.now);
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
  function applyHash() {
    const h = new URLSearchParams(win.location.hash.slice(1));
    if (h.has('i')) {
      seekIndex(Number(h.get('i')));
      return true;
    }
    if (h.has('t')) {
      seekTime(Number(h.get('t')));
      return true;
    }
    return false;
  }
  // settle redraws after a move made while paused, and remembers it in the
  // address so that it can be shared.
  function settle() {
    render(false);
    if (ui.tl) win.history.replaceState(null, '', `#i=${ui.i}`);
  }

  function play() {
    if (!ui.tl || ui.playing) return;
    if (ui.now >= ui.tl.endT) seekIndex(-1);
    ui.playing = true;
    ui.lastTs = 0;
    $('play').textContent = '❚❚';
    win.requestAnimationFrame(frame);
  }
  function pause() {
    ui.playing = false;
    $('play').textContent = '▶';
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
    if (!ui.playing) return;
    const dt = ui.lastTs ? Math.min(0.25, (ts - ui.lastTs) / 1000) : 0;
    ui.lastTs = ts;
    seekTime(ui.now + dt * ui.speed);
    if (ui.now >= ui.tl.endT) pause();
    render(false);
    if (ui.playing) win.requestAnimationFrame(frame);
    else settle();
  }
  function setSpeed(dir) {
    const k = Math.max(0, Math.min(SPEEDS.length - 1, SPEEDS.indexOf(ui.speed) + dir));
    ui.speed = SPEEDS[k];
    $('speed').value = String(ui.speed);
  }

  // ---- drawing ----

  function render(force) {
    const tl = ui.tl;
    if (!tl) return;
    const t0 = performance.now();
    const st = tl.at(ui.i);
    $('ring').innerHTML = renderRing(tl, st, ui.now, ui.sel);
    $('clients').innerHTML = renderClients(tl, ui.now, { sel: ui.sel });
    $('details').innerHTML = renderDetails(tl, st, ui.now, ui.sel);
    const key = `${ui.i}|${ui.logEnd}|${[...ui.hidden].join()}|${JSON.stringify(ui.sel)}`;
    if (force || (key !== ui.drawn && (!ui.playing || t0 - ui.panelTs >= PANEL_MS))) {
      ui.drawn = key;
      ui.panelTs = t0;
      $('logs').innerHTML = renderLogs(tl, st, { logEnd: ui.logEnd });
      $('kv').innerHTML = renderKV(tl, st);
      const list = $('events');
      list.innerHTML = renderEvents(tl, ui.i, ui.hidden);
      const cur = list.querySelector('.current');
      if (cur) list.scrollTop = cur.offsetTop - list.clientHeight / 2;
      $('goto-i').value = String(Math.max(0, ui.i));
    }
    $('clock').textContent = `t = ${ui.now.toFixed(3)} ms · event ${ui.i + 1} / ${tl.n} · ${st.phase}${st.end ? ' · end ' + st.end.result : ''}`;
    $('scrub').value = String(ui.now);
    // How long drawing takes (a moving average), for the browser test.
    ui.renderMs = ui.renderMs ? 0.9 * ui.renderMs + 0.1 * (performance.now() - t0) : performance.now() - t0;
    doc.body.dataset.renderMs = ui.renderMs.toFixed(2);
  }

  // ---- input ----

  $('play').addEventListener('click', () => togglePlay());
  $('start').addEventListener('click', () => { pause(); seekIndex(-1); settle(); });
  $('prev').addEventListener('click', () => { pause(); seekIndex(ui.i - 1); settle(); });
  $('next').addEventListener('click', () => { pause(); seekIndex(ui.i + 1); settle(); });
  $('speed').addEventListener('change', (ev) => { ui.speed = Number(ev.target.value); });
  $('kind-prev').addEventListener('click', () => jump($('kind').value, -1));
  $('kind-next').addEventListener('click', () => jump($('kind').value, 1));
  $('scrub').addEventListener('input', (ev) => { seekTime(Number(ev.target.value)); render(false); });
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
    seekTime(((ev.clientX - r.left) / r.width) * ui.tl.endT);
    settle();
  });
  for (const c of doc.querySelectorAll('#events-panel input[data-cat]')) {
    c.addEventListener('change', () => { readFilters(); render(false); });
  }
  $('ring').addEventListener('click', (ev) => {
    const msg = ev.target.closest('[data-mid]');
    const mem = ev.target.closest('[data-id]');
    ui.sel = msg ? { kind: 'message', mid: Number(msg.dataset.mid) } : mem ? { kind: 'member', id: Number(mem.dataset.id) } : null;
    render(false);
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
  $('clients').addEventListener('click', (ev) => {
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
  win.addEventListener('hashchange', () => { if (applyHash()) render(false); });

  function scrollLogs(d) {
    const svg = $('logs').querySelector('svg');
    const hi = ui.logEnd || (svg ? Number(svg.dataset.hi) : 0);
    ui.logEnd = Math.max(1, hi + d);
    render(false);
  }

  doc.addEventListener('keydown', (ev) => {
    const tag = ev.target.tagName;
    if ((tag === 'INPUT' && ev.target.type !== 'range') || tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tl = ui.tl;
    const k = ev.key;
    let handled = true;
    if (k === '?') help($('help').hidden);
    else if (k === 'Escape') { help(false); ui.sel = null; render(false); }
    else if (!tl) handled = false;
    else if (k === ' ') togglePlay();
    else if (k === 'ArrowRight' || k === 'ArrowLeft') {
      pause();
      const dir = k === 'ArrowRight' ? 1 : -1;
      if (ev.shiftKey) seekTime(ui.now + dir * (tl.options.tickMs || 10));
      else seekIndex(ui.i + dir);
      settle();
    } else if (k === 'Home') { pause(); seekIndex(-1); settle(); }
    else if (k === 'End') { pause(); seekIndex(tl.n - 1); settle(); }
    else if (k === '+' || k === '=') setSpeed(1);
    else if (k === '-' || k === '_') setSpeed(-1);
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

// keys.js is the key browser's effects: requests to this member's /v2/keys
// (with Basic credentials once v2 auth asks for them), a live v2 watch, and
// the state they produce, rendered by keysrender.js.

import { parent, renderAuth, renderListing, renderSelected, renderWatch, v2error } from './keysrender.js';

const $ = (id) => document.getElementById(id);

let s = { dir: '/', listing: null, selected: null, watch: null, error: '', notice: '', needAuth: false, user: '' };
let creds = ''; // "Basic …", kept in memory only
let watchAbort = null;

function set(patch) {
  s = { ...s, ...patch };
  $('keys-listing').innerHTML = renderListing(s);
  $('keys-node').innerHTML = renderSelected(s);
  $('keys-watch').innerHTML = renderWatch(s);
  $('keys-auth').innerHTML = renderAuth(s);
  const msg = $('keys-message');
  msg.textContent = s.error || s.notice;
  msg.className = s.error ? 'error' : 'notice';
}

const keyURL = (key) => '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');

// v2 sends one request; it resolves to the parsed body and throws the v2
// error (with its message) otherwise.
async function v2(method, key, params = {}, signal) {
  const form = new URLSearchParams(params);
  let url = keyURL(key);
  // X-Requested-With marks the page's requests: their 401 carries no
  // WWW-Authenticate, so it comes back to the page, which asks with its own
  // form, instead of opening the browser's dialog; and the browser may send
  // its client certificate (a cluster with --client-cert-auth).
  const opts = { method, headers: { 'X-Requested-With': 'raftkv-dashboard' }, signal, credentials: 'same-origin' };
  const used = creds;
  if (used) opts.headers.Authorization = used;
  if (method === 'PUT' || method === 'POST') {
    opts.body = form;
  } else if ([...form].length) {
    url += '?' + form;
  }
  const resp = await fetch(url, opts);
  const body = await resp.json().catch(() => ({ message: `${resp.status} ${resp.statusText}` }));
  // A 401 to a request sent before a sign-in does not undo it.
  if (resp.status === 401 && used === creds) set({ needAuth: true });
  if (!resp.ok) throw Object.assign(new Error(v2error(body)), { body, status: resp.status });
  return body;
}

async function open(dir) {
  try {
    const r = await v2('GET', dir, { quorum: 'true' });
    if (!r.node.dir) return select(r.node.key, r.node);
    set({ dir: r.node.key || '/', listing: r.node, error: '' });
  } catch (e) {
    set({ error: e.message });
  }
}

async function select(key, node) {
  try {
    const n = node || (await v2('GET', key, { quorum: 'true' })).node;
    set({ selected: n, error: '' });
    fill({ key: n.key, value: n.value ?? '', ttl: n.ttl || '' });
  } catch (e) {
    set({ error: e.message });
  }
}

function fill({ key, value, ttl }) {
  const f = $('key-form');
  f.key.value = key;
  f.value.value = value;
  f.ttl.value = ttl;
}

async function submit(op) {
  const f = $('key-form');
  const key = f.key.value.trim().replace(/^([^/])/, '/$1');
  if (!key) return set({ error: 'a key is needed' });
  const params = {};
  if (f.ttl.value) params.ttl = f.ttl.value;
  try {
    let r;
    if (op === 'set') r = await v2('PUT', key, { ...params, value: f.value.value });
    if (op === 'mkdir') r = await v2('PUT', key, { ...params, dir: 'true' });
    if (op === 'create') r = await v2('POST', key, { ...params, value: f.value.value });
    if (op === 'delete') r = await v2('DELETE', key, { recursive: 'true', dir: s.listing?.nodes?.find((n) => n.key === key)?.dir ? 'true' : 'false' });
    set({ notice: `${r.action} ${r.node.key} (index ${r.node.modifiedIndex})`, error: '' });
    await open(op === 'mkdir' ? key : parent(r.node.key));
    if (op === 'set' || op === 'create') await select(r.node.key, r.node);
    if (op === 'delete' && s.selected?.key === r.node.key) set({ selected: null });
  } catch (e) {
    set({ error: e.message, notice: '' });
  }
}

// watch follows key (recursively for a directory) with v2 long polls,
// from the index after the one the listing was read at.
async function watch(key) {
  unwatch();
  const ctl = new AbortController();
  watchAbort = ctl;
  set({ watch: { key, events: [], status: 'starting…', live: false } });
  let from = 0;
  try {
    const headers = { 'X-Requested-With': 'raftkv-dashboard' };
    if (creds) headers.Authorization = creds;
    const head = await fetch(keyURL(key), { headers, signal: ctl.signal, credentials: 'same-origin' });
    from = +head.headers.get('X-Etcd-Index') + 1;
  } catch {
    // the first watch then starts at the current index
  }
  if (watchAbort !== ctl) return;
  // From here on every change after the index read is seen.
  set({ watch: { ...s.watch, status: `waiting for changes after index ${from - 1}…`, live: true } });
  while (!ctl.signal.aborted) {
    try {
      const params = { wait: 'true', recursive: 'true' };
      if (from) params.waitIndex = from;
      const ev = await v2('GET', key, params, ctl.signal);
      from = ev.node.modifiedIndex + 1;
      if (watchAbort !== ctl) return;
      set({ watch: { ...s.watch, events: [...s.watch.events, ev], status: 'live' } });
      if (parent(ev.node.key) === s.dir || ev.node.key.startsWith(s.dir)) open(s.dir);
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (e.body?.errorCode === 401) from = 0; // the index was cleared: start from now
      if (watchAbort === ctl) set({ watch: { ...s.watch, status: e.message } });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function unwatch() {
  if (watchAbort) watchAbort.abort();
  watchAbort = null;
  if (s.watch) set({ watch: null });
}

export function startKeys() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest('[data-action]');
    if (!a || !a.closest('#keys-view')) return;
    const { action, key } = a.dataset;
    if (a.tagName === 'FORM') return;
    e.preventDefault();
    if (action === 'open') open(key);
    if (action === 'select') select(key);
    if (action === 'edit') select(key);
    if (action === 'delete') { fill({ key, value: '', ttl: '' }); submit('delete'); }
    if (action === 'watch') watch(key);
    if (action === 'unwatch') unwatch();
    if (action === 'logout') { creds = ''; set({ user: '', needAuth: false }); open(s.dir); }
    if (['set', 'create', 'mkdir', 'remove'].includes(action)) submit(action === 'remove' ? 'delete' : action);
  });
  document.addEventListener('submit', (e) => {
    if (e.target.id === 'auth-form') {
      e.preventDefault();
      const f = e.target;
      creds = 'Basic ' + btoa(`${f.user.value}:${f.password.value}`);
      set({ user: f.user.value, needAuth: false, error: '' });
      open(s.dir);
      if (s.watch) watch(s.watch.key);
    } else if (e.target.id === 'key-form') {
      e.preventDefault();
      submit('set');
    }
  });
  open('/');
}

// keysrender.js draws the key browser. Pure: markup from the browser's
// state (plain data: the directory listed, the node selected, the watch's
// events, the last error); keys.js owns the requests and the state.

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// parent is the directory of a key ('/' for a top-level one).
export function parent(key) {
  const i = key.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? '/' : key.slice(0, i);
}

export const base = (key) => key.replace(/\/+$/, '').split('/').pop() || '/';

// v2error formats a v2 error body as the API states it.
export function v2error(e) {
  if (!e) return '';
  return `${e.message}${e.cause ? ` (${e.cause})` : ''}${e.errorCode ? ` [error ${e.errorCode}]` : ''}`;
}

function crumbs(dir) {
  const parts = dir.split('/').filter(Boolean);
  let path = '';
  const links = [`<a href="#" data-action="open" data-key="/">/</a>`];
  for (const p of parts) {
    path += '/' + p;
    links.push(`<a href="#" data-action="open" data-key="${esc(path)}">${esc(p)}</a>`);
  }
  return links.join('<span class="sep">/</span>');
}

function ttl(n) {
  return n.ttl ? `<span class="ttl" title="expires ${esc(n.expiration)}">ttl ${n.ttl}s</span>` : '';
}

export function renderListing(s) {
  const nodes = (s.listing?.nodes || []).slice().sort((a, b) => (b.dir - a.dir) || a.key.localeCompare(b.key));
  const rows = nodes.map((n) => `<li class="${n.dir ? 'dir' : 'key'}${s.selected?.key === n.key ? ' selected' : ''}">
      <a href="#" data-action="${n.dir ? 'open' : 'select'}" data-key="${esc(n.key)}">${esc(base(n.key))}${n.dir ? '/' : ''}</a>
      ${n.dir ? '' : `<span class="val">${esc(String(n.value).slice(0, 60))}</span>`}${ttl(n)}</li>`);
  return `<div class="crumbs" id="crumbs" data-dir="${esc(s.dir)}">${crumbs(s.dir)}</div>
    <ul id="listing">${s.dir !== '/' ? `<li class="dir"><a href="#" data-action="open" data-key="${esc(parent(s.dir))}">..</a></li>` : ''}${rows.join('') || '<li class="none">(empty directory)</li>'}</ul>`;
}

export function renderSelected(s) {
  const n = s.selected;
  if (!n) return '<p class="hint">Select a key to see it; the form below sets, creates and deletes.</p>';
  return `<div id="node" data-key="${esc(n.key)}"><h3>${esc(n.key)} ${ttl(n)}</h3>
    <pre id="node-value">${esc(n.value)}</pre>
    <p class="meta">created at index ${n.createdIndex}, modified at ${n.modifiedIndex}</p>
    <button data-action="edit" data-key="${esc(n.key)}">edit</button>
    <button data-action="delete" data-key="${esc(n.key)}" class="danger">delete</button>
    <button data-action="watch" data-key="${esc(n.key)}">watch this key</button></div>`;
}

export function renderWatch(s) {
  if (!s.watch) return `<button data-action="watch" data-key="${esc(s.dir)}" id="watch-dir">watch ${esc(s.dir)} (recursively)</button>`;
  const evs = s.watch.events.slice(-50).reverse().map((e) => `<li><b>${esc(e.action)}</b> <code>${esc(e.node.key)}</code>${e.node.value != null ? ` = <span class="val">${esc(e.node.value)}</span>` : ''} <small>@${e.node.modifiedIndex}</small></li>`);
  return `<div id="watch" data-key="${esc(s.watch.key)}" data-live="${s.watch.live}"><b>Watching ${esc(s.watch.key)}</b> <small>${esc(s.watch.status)}</small>
    <button data-action="unwatch">stop</button><ul id="watch-events">${evs.join('') || '<li class="none">no change yet</li>'}</ul></div>`;
}

export function renderAuth(s) {
  if (!s.needAuth && !s.user) return '';
  if (s.user && !s.needAuth) return `<span class="user">as <b>${esc(s.user)}</b> <button data-action="logout">sign out</button></span>`;
  return `<form id="auth-form" data-action="login"><b>v2 auth is on:</b> sign in
    <input name="user" placeholder="user" autocomplete="username" required>
    <input name="password" type="password" placeholder="password" autocomplete="current-password">
    <button>sign in</button></form>`;
}

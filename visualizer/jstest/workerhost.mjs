// workerhost.mjs runs static/live/worker.js in this node process, with the
// few globals of a worker it uses, the way a page's Worker would: the
// host of scenarios.node.mjs and of visualizer/wasm/testdata/
// worker.test.mjs. Their Go tests put worker.js, raftkv.wasm and
// wasm_exec.js in one folder.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

// hostWorker puts a worker's globals on this process's global object and
// runs dir/worker.js. It returns inbox, the messages the worker has posted
// and nobody has taken yet (in order), and wait, a promise of the next
// post. The worker gets a message with self.onmessage({ data: m }).
export function hostWorker(dir) {
  const inbox = [];
  let waiters = [];
  globalThis.self = globalThis;
  globalThis.location = { href: 'file://' + path.join(dir, 'worker.js') };
  globalThis.postMessage = (m) => {
    inbox.push(structuredClone(m));
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };
  globalThis.importScripts = (...names) => {
    for (const n of names) vm.runInThisContext(fs.readFileSync(path.join(dir, n), 'utf8'), { filename: n });
  };
  globalThis.fetch = async (url) => {
    const p = new URL(String(url)).pathname;
    return new Response(fs.readFileSync(p), { headers: { 'content-type': 'application/wasm' } });
  };
  vm.runInThisContext(fs.readFileSync(path.join(dir, 'worker.js'), 'utf8'), { filename: 'worker.js' });
  const wait = () => new Promise((r) => waiters.push(r));
  return { inbox, wait };
}

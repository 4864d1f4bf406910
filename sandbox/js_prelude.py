"""The JavaScript that every webtask context runs before the rule: the extension error
classes, ``console`` (buffered), timers, ``require`` and the call/poll/RPC plumbing that
sandbox.js drives. Kept apart from sandbox/js.py because it is JavaScript, not Python."""

from __future__ import annotations

# Runs once per context, before the rule. Names starting with __wt are ours; rules can see them
# but they only reach this context's own state.
PRELUDE = r"""
(function (g) {
  'use strict';
  class ExtensibilityUserError extends Error {
    constructor(message) { super(message); this.name = this.constructor.name; }
  }
  class InvalidRequestError extends ExtensibilityUserError {}
  class InvalidScopeError extends ExtensibilityUserError {}
  class ServerError extends ExtensibilityUserError {}
  class PreUserRegistrationError extends ExtensibilityUserError {
    constructor(message, friendlyMessage) {
      super(message); this.friendlyMessage = friendlyMessage || message;
    }
  }
  class SendPhoneMessageError extends ExtensibilityUserError {
    constructor(message, friendlyMessage) {
      super(message); this.friendlyMessage = friendlyMessage || message;
    }
  }
  Object.assign(g, { ExtensibilityUserError, InvalidRequestError, InvalidScopeError,
                     ServerError, PreUserRegistrationError, SendPhoneMessageError });
  // No calls into Python while a time limit is set (the binding forbids it): console output
  // is buffered here and collected by the worker after every step, within a byte budget.
  const logs = [];
  let logBytes = 0;
  const logBudget = g.__wt_log_budget;
  delete g.__wt_log_budget;
  function log(level, text) {
    logBytes += text.length + 1;
    if (logBytes > logBudget) {
      throw new Error('Log output is limited to ' + logBudget + ' bytes per call.');
    }
    logs.push([level, text]);
  }
  function show(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; }
    catch (e) { return String(v); }
  }
  const line = (level) => (...args) => log(level, args.map(show).join(' '));
  g.console = { log: line('info'), info: line('info'), warn: line('warn'),
                error: line('error'), debug: line('debug') };
  const timers = [];
  let nextTimer = 1;
  g.setTimeout = (fn, ms, ...args) => {
    const id = nextTimer++;
    timers.push({ id, at: Date.now() + Math.max(0, Number(ms) || 0), fn, args });
    return id;
  };
  g.setImmediate = (fn, ...args) => g.setTimeout(fn, 0, ...args);
  g.clearTimeout = g.clearImmediate = (id) => {
    const i = timers.findIndex((t) => t.id === id);
    if (i >= 0) timers.splice(i, 1);
  };
  g.__wt_next_timer = () => {
    if (!timers.length) return -1;
    timers.sort((a, b) => a.at - b.at);
    return timers[0].at;
  };
  g.__wt_fire_timer = () => {
    const t = timers.shift();
    if (t) t.fn(...t.args);
  };
  g.require = (name) => {
    // node's wording first (webtask code tests for it), then why.
    // A version suffix names no other module ('bogus@1.0.0' is 'bogus'), as in webtask-runtime.
    const spec = String(name);
    const at = spec.indexOf('@', 1);
    const err = new Error("Cannot find module '" + (at > 0 ? spec.slice(0, at) : spec) +
      "': wthost rules run without npm modules or network access.");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  };
  // wt create --bundle asks for process.version (the node version to bundle for).
  g.process = { env: {}, version: 'v8.17.0', versions: { node: '8.17.0' } };
  function describe(err) {
    if (err instanceof Error) {
      const props = {};
      for (const key of Object.getOwnPropertyNames(err)) {
        if (key !== 'stack') props[key] = err[key];
      }
      return { props, kind: err.name, text: String(err) };
    }
    const message = (err && err.message) || String(err) || 'Unknown error';
    return { props: { message: String(message) }, kind: 'Error', text: String(err),
             plain: true, value: err };
  }
  // Requests to the server (storage) and raw-model output, collected by the worker's loop.
  const out = [];
  const rpcs = [];
  const rpcCallbacks = new Map();
  let rpcId = 0;
  function rpc(op, args, cb) {
    rpcId += 1;
    rpcCallbacks.set(rpcId, cb);
    rpcs.push([rpcId, op, args]);
  }
  g.__wt_rpc_done = (id, ok, value, message, code, conflict) => {
    const cb = rpcCallbacks.get(id);
    rpcCallbacks.delete(id);
    if (!cb) return;
    if (ok) return cb(null, value);
    const err = new Error(message);
    err.code = code;
    if (conflict !== undefined && conflict !== null) err.conflict = conflict;
    return cb(err);
  };
  const NO_GET = 'When calling storage.set without having called storage.get before, ' +
    'you must specify the .force option.';
  function storage() {
    let etag;  // undefined until read; null when read empty (webtask-runtime's storage.etag)
    let read = false;
    return {
      get etag() { return etag; },
      get(options, cb) {
        if (!cb) { cb = options; options = {}; }
        if (typeof cb !== 'function') throw new Error('Callback must be a function.');
        rpc('storage.get', {}, (err, v) => {
          if (err) return cb(err);
          etag = v.etag; read = true;
          return cb(null, v.data === null ? undefined : v.data);
        });
      },
      set(data, options, cb) {
        if (!cb) { cb = options; options = {}; }
        if (cb && typeof cb !== 'function') throw new Error('Callback must be a function.');
        options = options || {};
        if (typeof options !== 'object') throw new Error('Options must be an object.');
        const force = !!options.force;
        if (data !== undefined && data !== null && !read && !force) throw new Error(NO_GET);
        const payload = { data: data === undefined ? null : data,
                          mode: force ? 'force' : 'match', etag: etag === undefined ? null : etag };
        rpc('storage.set', payload, (err, v) => {
          if (err) {
            if (err.code === 409) err.message = 'Item was modified since it was read.';
            return cb && cb(err);
          }
          etag = v.etag; read = true;
          return cb && cb(null);
        });
      },
    };
  }
  function response(finish) {
    const headers = {};
    const res = { statusCode: 200, headersSent: false, finished: false };
    const head = () => {
      if (res.headersSent) return;
      res.headersSent = true;
      out.push(['head', res.statusCode, headers]);
    };
    res.setHeader = (n, v) => {
      if (res.headersSent) throw new Error('Headers were already sent.');
      headers[String(n).toLowerCase()] = String(v);
    };
    res.getHeader = (n) => headers[String(n).toLowerCase()];
    res.writeHead = (status, a, b) => {
      res.statusCode = status;
      const h = (a && typeof a === 'object') ? a : b;
      if (h) for (const k of Object.keys(h)) res.setHeader(k, h[k]);
      head();
      return res;
    };
    res.write = (data) => {
      if (res.finished) throw new Error('write after end');
      head();
      if (data === undefined || data === null) return true;
      out.push(['chunk', data instanceof Uint8Array ? Array.from(data) : String(data)]);
      return true;
    };
    res.end = (data) => {
      if (res.finished) return;
      if (data !== undefined && data !== null) res.write(data);
      head();
      res.finished = true;
      finish();
    };
    return res;
  }
  g.__wt_call = (entry, args, raw, withStorage, holes) => {
    for (const i of holes) args[i] = undefined;
    g.__wt_result = undefined;
    logBytes = 0;
    let done = false;
    if (withStorage && args[0] && typeof args[0] === 'object') args[0].storage = storage();
    const cb = function (err, data) {
      if (done) return;
      done = true;
      if (err) { g.__wt_result = { error: describe(err) }; return; }
      g.__wt_result = arguments.length > 1 ? { value: data } : { value: undefined };
    };
    try {
      if (raw) {
        const res = response(() => {
          if (!done) { done = true; g.__wt_result = { value: null, streamed: true }; }
        });
        entry(args[0], args[1], res);
      } else {
        entry.apply(null, args.concat([cb]));
      }
    } catch (e) {
      if (!done) { done = true; g.__wt_result = { error: describe(e), thrown: true }; }
    }
  };
  g.__wt_poll = () => {
    if (!logs.length && !out.length && !rpcs.length && g.__wt_result === undefined) {
      return undefined;
    }
    const polled = {};
    if (logs.length) polled.logs = logs.splice(0);
    if (out.length) polled.out = out.splice(0);
    if (rpcs.length) polled.rpcs = rpcs.splice(0);
    const taken = g.__wt_take();
    if (taken !== undefined) polled.result = taken;
    return JSON.stringify(polled);
  };
  g.__wt_take = () => {
    const r = g.__wt_result;
    if (r === undefined) return undefined;
    g.__wt_result = undefined;
    if (r.error) {
      try { return JSON.stringify(r); }
      catch (e) {
        const message = String(r.error.props.message);
        return JSON.stringify({ error: { props: { message }, kind: String(r.error.kind),
                                         text: String(r.error.text), plain: !!r.error.plain },
                                thrown: !!r.thrown });
      }
    }
    try {
      const text = JSON.stringify(r.value);
      return JSON.stringify({ json: text === undefined ? null : text, streamed: !!r.streamed });
    } catch (e) {
      return JSON.stringify({ error: { props: {
        message: 'Error when JSON serializing the result of the extension point' },
        kind: 'ResultError', text: String(e) } });
    }
  };
})(globalThis);
"""

// Answers each ported case with the real auth0-ext-compilers 6.1.0 + webtask-runtime 2.0.0.
//
// Usage: NODE_PATH=<dir holding both packages> node reference_oracle.js < cases.json
// Input: [{id, compiler, js, body, headers, secrets, method, parse_body, compile_only}].
// Output: [{id, arity}] for compile-only cases (the arity of the compiled webtask function),
// else [{id, status, body}] where body is the response text with every `stack` field removed
// (the reference leaks host stack traces; wthost never does).
'use strict';

const Compilers = require('auth0-ext-compilers');
const Runtime = require('webtask-runtime');

// The reference suite's own test/nodejsCompiler.js does the same: CommonJS via a wrapper.
function nodejsCompiler(script, cb) {
  let exported;
  try {
    const m = { exports: {} };
    new Function('module', script)(m);
    exported = m.exports;
  } catch (e) {
    return cb(e);
  }
  return cb(null, exported);
}

function withoutStack(text) {
  const value = JSON.parse(text);
  if (value && typeof value === 'object') {
    delete value.stack;
    if (value.data && typeof value.data === 'object') delete value.data.stack;
  }
  return JSON.stringify(value);
}

function run(c) {
  return new Promise((resolve) => {
    Compilers[c.compiler]({ nodejsCompiler, script: c.js }, (error, func) => {
      if (error) return resolve({ id: c.id, compile_error: error.message });
      if (c.compile_only) return resolve({ id: c.id, arity: func.length });
      const headers = Object.assign({}, c.headers, { 'Content-Type': 'application/json' });
      Runtime.simulate(
        func,
        {
          headers,
          payload: JSON.stringify(c.body),
          method: c.method,
          parseBody: c.parse_body,
          secrets: c.secrets,
          logger: { info() {} },
        },
        (response) =>
          resolve({ id: c.id, status: response.statusCode, body: withoutStack(response.payload) })
      );
    });
  });
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const answers = [];
  for (const c of cases) answers.push(await run(c));
  process.stdout.write(JSON.stringify(answers));
}

main();

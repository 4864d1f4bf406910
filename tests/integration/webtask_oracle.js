// Answers each ported plain-webtask case with the real webtask-runtime 2.0.0 (its `simulate`).
//
// Usage: NODE_PATH=<dir holding webtask-runtime> node webtask_oracle.js < cases.json
// Input: [{id, code, method, url, payload, headers, parseBody, mergeBody, secrets, params, meta}]
// Output: [{id, status, body}] where body is the response text exactly as sent.
'use strict';

const Runtime = require('webtask-runtime');

const logger = { info() {}, warn() {}, error() {} };

function run(c) {
  return new Promise((resolve) => {
    Runtime.simulate(
      c.code,
      {
        logger,
        method: c.method,
        url: c.url,
        payload: c.payload,
        headers: c.headers,
        parseBody: c.parseBody,
        mergeBody: c.mergeBody,
        secrets: c.secrets,
        params: c.params,
        meta: c.meta,
      },
      (response) => resolve({ id: c.id, status: response.statusCode, body: response.payload })
    );
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

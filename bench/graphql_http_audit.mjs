// The graphql-http audit (every MUST and SHOULD of the GraphQL-over-HTTP spec) against a
// running API. Not part of the test suite (it needs Node); tests/api/test_graphql_over_http.py
// checks the same answers in Python.
//
//   mkdir /tmp/audit && cd /tmp/audit && npm install graphql-http@1 graphql@16
//   PAYMENT_PROVIDER=sandbox DATABASE_URL=... REDIS_URL=... adledger serve --port 8101 &
//   NODE_PATH=/tmp/audit/node_modules node --experimental-default-type=module \
//     bench/graphql_http_audit.mjs http://127.0.0.1:8101/graphql
//   (or copy this file into /tmp/audit and run `node audit.mjs URL` there)
//
// Prints each audit that is not ok, then the counts; 2026-11-23: {"ok":61,"warn":0,"error":0}.
import { serverAudits } from 'graphql-http';
const url = process.argv[2] || 'http://127.0.0.1:8101/graphql';
const counts = { ok: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  counts[result.status]++;
  if (result.status !== 'ok') console.log(result.status.toUpperCase(), audit.name, '-', result.reason);
}
console.log(JSON.stringify(counts));

'use strict';
// Checks rmq-sim's stats file after the ali-ons run: exactly the sent messages (topic, tags,
// keys, bodies), and the route answered in the legacy unquoted-key form (ali-ons sends an old
// protocol version).
//   node check.js STATS_FILE TOPIC COUNT
const assert = require('assert');
const fs = require('fs');

const [statsFile, topic, countText] = process.argv.slice(2);
const count = Number(countText);
const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8'));

assert(stats.namesrv.route_legacy >= 1, `no legacy route answer: ${JSON.stringify(stats.namesrv)}`);
assert.strictEqual(stats.namesrv.route_standard, 0, 'a standard route answer was served');
const messages = stats.messages.filter(m => m.topic === topic);
assert.strictEqual(stats.messages.length, count, `stored ${stats.messages.length} messages`);
assert.strictEqual(messages.length, count, `stored ${messages.length} messages on ${topic}`);

const seen = new Set();
for (const m of messages) {
  const match = /^ali-ons body (\d+)$/.exec(m.body);
  assert(match, `unexpected body ${JSON.stringify(m.body)}`);
  const i = Number(match[1]);
  assert(!seen.has(i), `message ${i} stored twice`);
  seen.add(i);
  assert.strictEqual(m.tags, `Tag${i % 3}`, `tags of message ${i}`);
  assert.strictEqual(m.keys, `key-${i}`, `keys of message ${i}`);
  assert.strictEqual(m.request_code, 310, `request code of message ${i}`);
  assert.strictEqual(m.producer_group, 'ali_ons_conformance');
}
assert.strictEqual(seen.size, count);
console.log(`rmq-sim holds the ${count} ali-ons messages; legacy route answers: ${stats.namesrv.route_legacy}`);

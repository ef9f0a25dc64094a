'use strict';
// Sends COUNT messages with tags and keys through the ali-ons producer to the name server given
// on the command line, and fails unless every send is SEND_OK.
//   node producer.js NAMESRV TOPIC COUNT
const assert = require('assert');
const urllib = require('urllib');
const { Producer, Message } = require('ali-ons');

async function main() {
  const [nameSrv, topic, countText] = process.argv.slice(2);
  assert(nameSrv && topic && countText, 'usage: node producer.js NAMESRV TOPIC COUNT');
  const count = Number(countText);
  const producer = new Producer({
    httpclient: urllib,
    nameSrv,
    producerGroup: 'ali_ons_conformance',
    instanceName: `ali_ons_${process.pid}`,
  });
  await producer.ready();
  for (let i = 0; i < count; i++) {
    const msg = new Message(topic, `Tag${i % 3}`, `ali-ons body ${i}`);
    msg.keys = [ `key-${i}` ];
    const result = await producer.send(msg);
    assert.strictEqual(result.sendStatus, 'SEND_OK', `message ${i}: ${JSON.stringify(result)}`);
  }
  await producer.close();
  console.log(`sent ${count}`);
}

main().then(() => process.exit(0), err => {
  console.error(err);
  process.exit(1);
});

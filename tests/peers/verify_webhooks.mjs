// The official Standard Webhooks receiver (npm `standardwebhooks`) verifying
// webhooks the function sent. Reads {"secrets": [...], "messages": [{"body", "headers"}]}
// on stdin; prints, per secret (in order), how many messages verified and the first error.
import { Webhook } from 'standardwebhooks';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const { secrets, messages } = JSON.parse(input);
const out = [];
for (const secret of secrets) {
  const wh = new Webhook(secret);
  let ok = 0;
  let error = null;
  for (const m of messages) {
    try {
      const payload = wh.verify(m.body, m.headers);
      if (typeof payload !== 'object' || !payload.type) throw new Error('no payload');
      ok += 1;
    } catch (e) {
      error = error || String(e.message || e);
    }
  }
  out.push({ ok, error });
}
console.log(JSON.stringify(out));

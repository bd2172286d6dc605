// Every Serverless Devs deployment file in the repository, read the way `s`
// reads it and checked for what Serverless Devs, the fc3 component or Function
// Compute would refuse or mis-run.
//
// - Parsed with js-yaml 4 from npm, the parser Serverless Devs uses
//   (Serverless-Devs/toolkit packages/parse-spec: `jsYaml.load(content)`), so
//   a duplicated key is an error here exactly as it is for `s`.
// - `${vars.*}` and `${config('AccountID')}` are filled in as `s` does; the
//   vars are left as shipped except the JWT key, which gets a real RSA modulus,
//   i.e. what a user who fills in only names gets.
// - The filled-in environment is then given to the shipped `bootstrap` in a
//   fresh network namespace, without FC_CUSTOM_LISTEN_PORT: it must accept the
//   configuration and listen on 0.0.0.0:<customRuntimeConfig.port>.
// - The same environment is given to `oss-direct-upload deploy-facts`, the
//   function's own account of its routes (methods, deadlines) and of the
//   upload profiles it reads (src/deploy_facts.rs): the HTTP trigger allows
//   exactly the methods the routes serve, the function timeout outlasts every
//   route's and the upload check's deadline, and the OSS triggers cover every
//   profile's prefix.
//
// Run: node --test tests/deploy/   (scripts/test.sh runs it after the musl build).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(repo, 'tests/peers/package.json'));
const yaml = require('js-yaml');
const yamlVersion = require('js-yaml/package.json').version;

const ACCOUNT_ID = '1234567890123456';
// fc3's own ARN test (devsapp/fc3 src/resources/ram/index.ts isRoleArnFormat),
// tightened to RAM's role-name alphabet and length.
const ROLE_ARN = /^acs:ram::\d+:role\/[A-Za-z0-9._-]{1,64}$/;
const ROLE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
// The other ARNs a deployment file names: the OSS trigger's bucket
// (acs:oss:<region>:<account>:<bucket>) and the failure destination's MNS
// topic (acs:mns:<region>::/topics/<name>/messages, devsapp/fc3 complete-props).
const BUCKET_ARN = /^acs:oss:[a-z0-9-]+:\d+:[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const MNS_TOPIC_ARN = /^acs:mns:[a-z0-9-]+::\/topics\/[A-Za-z0-9-]{1,256}\/messages$/;
// AppendObject and PutSymlink: oss:PutObject, which /v1/sts credentials carry,
// allows both, so they are uploads the check must see (issue 19, item 1).
const UPLOAD_EVENTS = [
  'oss:ObjectCreated:PutObject', 'oss:ObjectCreated:PostObject', 'oss:ObjectCreated:CompleteMultipartUpload',
  'oss:ObjectCreated:AppendObject', 'oss:ObjectCreated:PutSymlink',
];
const ENV_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Deployment files: any YAML in the repo whose resources use the fc3 component. */
function deploymentFiles() {
  const skip = new Set(['.git', 'target', 'node_modules', '.venv', 'dist', 'test-output', 'local-data']);
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (skip.has(e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name) && /component:\s*fc3\b/.test(fs.readFileSync(p, 'utf8'))) out.push(p);
    }
  };
  walk(repo);
  return out.sort();
}

/** The names in README's configuration table (tests/env_vars.rs holds that table to the code). */
function documentedVariables() {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = readme.split('\n## Configuration')[1].split('\n## ')[0];
  const names = new Set();
  for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const cell = line.split('|')[1];
    cell.split('`').forEach((part, i) => { if (i % 2 === 1) names.add(part); });
  }
  return names;
}

/** Fills in `${vars.x}` and `${config('AccountID')}` in every string; anything else is an error. */
function resolve(value, vars, where = '') {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]*)\}/g, (whole, expr) => {
      const v = expr.trim().match(/^vars\.([A-Za-z0-9_]+)$/);
      if (v) {
        assert.ok(v[1] in vars, `${where}: ${whole} names no var`);
        return String(vars[v[1]]);
      }
      if (/^config\(\s*['"]AccountID['"]\s*\)$/.test(expr.trim())) return ACCOUNT_ID;
      assert.fail(`${where}: ${whole} is not a variable this test (or a user filling in names) can resolve`);
    });
  }
  if (Array.isArray(value)) return value.map((x, i) => resolve(x, vars, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, resolve(x, vars, `${where}.${k}`)]));
  }
  return value;
}

/** Every string in a document, with its path. */
function strings(value, where = '', out = []) {
  if (typeof value === 'string') out.push([where, value]);
  else if (Array.isArray(value)) value.forEach((x, i) => strings(x, `${where}[${i}]`, out));
  else if (value && typeof value === 'object') for (const [k, x] of Object.entries(value)) strings(x, `${where}.${k}`, out);
  return out;
}

/** The binary that ships (dist/, after scripts/build-fc.sh), else the cargo build. */
function functionBinary() {
  const dist = path.join(repo, 'dist', 'oss-direct-upload');
  if (fs.existsSync(dist)) return { bin: dist, shipped: true };
  return { bin: process.env.OSS_DIRECT_UPLOAD_BIN || path.join(repo, 'target/debug/oss-direct-upload'), shipped: false };
}

/**
 * `oss-direct-upload deploy-facts` run with a deployment's environment: the
 * routes with their methods and deadlines, the upload check's deadline and
 * every upload profile's prefix, read as the function reads them. Off dist/,
 * the profile file build-fc.sh would ship (./profiles.toml) is named with
 * PROFILES_FILE, since the function looks for it beside its binary.
 */
function deployFacts(env, extra = {}) {
  const { bin, shipped } = functionBinary();
  const more = {};
  if (!shipped && !env.PROFILES_FILE && fs.existsSync(path.join(repo, 'profiles.toml'))) {
    more.PROFILES_FILE = path.join(repo, 'profiles.toml');
  }
  const r = spawnSync(bin, ['deploy-facts'], { env: { PATH: process.env.PATH, ...env, ...more, ...extra }, encoding: 'utf8' });
  assert.equal(r.status, 0, `${bin} deploy-facts refused this environment:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Profile prefixes no OSS trigger checks: one with the upload events, suffix '', on a prefix of it. */
function uncoveredPrefixes(facts, triggers) {
  const oss = triggers.filter((t) => t.triggerType === 'oss');
  const covers = (t, prefix) => {
    const k = t.triggerConfig.filter.key;
    return prefix.startsWith(k.prefix) && k.suffix === ''
      && UPLOAD_EVENTS.every((e) => t.triggerConfig.events.includes(e));
  };
  return facts.profilePrefixes.filter((p) => !oss.some((t) => covers(t, p.prefix))).map((p) => p.prefix);
}

/** README's deploy section (the RAM steps a user follows). */
function readmeDeploySection() {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const i = readme.search(/\n## Deploy/);
  assert.ok(i >= 0, 'README has a Deploy section');
  return readme.slice(i + 1).split('\n## ')[0];
}

/** What `scripts/build-fc.sh` copies into `dist/`: the file names there. */
function builtIntoDist() {
  const script = fs.readFileSync(path.join(repo, 'scripts/build-fc.sh'), 'utf8');
  const names = new Set();
  for (const m of script.matchAll(/^\s*cp\s+\S+\s+dist\/(\S+)\s*$/gm)) names.add(m[1]);
  return names;
}

/** A user's real RS256 key, as they would paste its modulus in. */
const modulus = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n;

test('the parser is js-yaml 4 and refuses duplicated keys, as `s` does', () => {
  assert.match(yamlVersion, /^4\./);
  assert.throws(() => yaml.load('a:\n  b: 1\n  b: 2\n'), /duplicated mapping key/);
});

test('the trigger events are the events the upload check handles (src/check/parse.rs)', () => {
  const parse = fs.readFileSync(path.join(repo, 'src/check/parse.rs'), 'utf8');
  const block = parse.match(/pub const CHECKED_EVENTS[^=]*=\s*\[([^\]]*)\]/);
  assert.ok(block, 'CHECKED_EVENTS in src/check/parse.rs');
  // Each entry is a string literal or the name of a const defined in the file.
  const names = block[1].split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    if (x.startsWith('"')) return JSON.parse(x);
    const def = parse.match(new RegExp(`pub const ${x}: &str = ("[^"]*");`));
    assert.ok(def, `const ${x} in src/check/parse.rs`);
    return JSON.parse(def[1]);
  });
  assert.deepEqual(names.map((n) => `oss:${n}`).sort(), [...UPLOAD_EVENTS].sort());
});

test('there are deployment files for both jwt and fc-jwt', () => {
  const modes = deploymentFiles().map((f) => {
    const doc = yaml.load(fs.readFileSync(f, 'utf8'));
    return Object.values(doc.resources).map((r) => r.props.environmentVariables.AUTH_MODE);
  }).flat();
  assert.ok(modes.includes('jwt'), `modes: ${modes}`);
  assert.ok(modes.includes('fc-jwt'), `modes: ${modes}`);
});

test('the jwt deployment file takes its keys from the provider\'s JWKS URL (follows key rotation)', () => {
  const doc = yaml.load(fs.readFileSync(path.join(repo, 's.yaml'), 'utf8'));
  const [props] = Object.values(doc.resources).map((r) => resolve(r.props, { ...doc.vars }, 's.yaml'));
  const env = props.environmentVariables;
  assert.equal(env.AUTH_MODE, 'jwt');
  assert.match(env.JWT_JWKS_URL, /^https:\/\//, 'JWT_JWKS_URL is the recommended key source, over https');
  for (const pasted of ['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS']) assert.ok(!(pasted in env), `${pasted} set beside JWT_JWKS_URL`);
  assert.ok(env.JWT_ISSUER && env.JWT_AUDIENCE, 'iss and aud still checked');
});

test('a profile whose prefix no OSS trigger covers is found (profiles.example.toml against s.yaml)', () => {
  const doc = yaml.load(fs.readFileSync(path.join(repo, 's.yaml'), 'utf8'));
  const vars = { ...doc.vars, jwtKeyModulus: modulus };
  const [props] = Object.values(doc.resources).map((r) => resolve(r.props, vars, 's.yaml'));
  const facts = deployFacts(props.environmentVariables, { PROFILES_FILE: path.join(repo, 'profiles.example.toml') });
  assert.deepEqual(facts.profilePrefixes.map((x) => x.prefix), ['uploads/', 'avatars/', 'documents/', 'videos/']);
  assert.deepEqual(uncoveredPrefixes(facts, props.triggers), ['avatars/', 'documents/', 'videos/']);
  // And a trigger per profile, as s.yaml's comment shows, covers them all.
  const base = props.triggers.find((t) => t.triggerType === 'oss');
  const more = ['avatars/', 'documents/', 'videos/'].map((prefix) => ({
    ...base, triggerName: `oss-${prefix.slice(0, -1)}`,
    triggerConfig: { ...base.triggerConfig, filter: { key: { prefix, suffix: '' } } },
  }));
  assert.deepEqual(uncoveredPrefixes(facts, [...props.triggers, ...more]), []);
});

test('the HTTP trigger check sees DELETE: the route table serves it (Uppy abort, DELETE /v1/multipart)', () => {
  const doc = yaml.load(fs.readFileSync(path.join(repo, 's.yaml'), 'utf8'));
  const vars = { ...doc.vars, jwtKeyModulus: modulus };
  const [props] = Object.values(doc.resources).map((r) => resolve(r.props, vars, 's.yaml'));
  const facts = deployFacts(props.environmentVariables);
  const methodsOf = (p) => facts.routes.find((r) => r.path === p).methods;
  assert.deepEqual(methodsOf('/s3/multipart/{uploadId}'), ['GET', 'DELETE']);
  assert.ok(methodsOf('/v1/multipart').includes('DELETE'));
  const complete = facts.routes.find((r) => r.path === '/s3/multipart/{uploadId}/complete');
  assert.ok(complete.deadlineSeconds > 10, `complete may take longer than the old 10 s timeout: ${complete.deadlineSeconds}`);
});

test("README's RAM steps grant mns:PublishMessage: the failure destination is an MNS topic", () => {
  // Events whose retries ran out go to the asyncInvokeConfig destination;
  // publishing to a topic is mns:PublishMessage (SendMessage writes to queues).
  const topics = deploymentFiles().flatMap((f) => Object.values(yaml.load(fs.readFileSync(f, 'utf8')).resources))
    .map((r) => r.props.asyncInvokeConfig?.destinationConfig?.onFailure?.destination || '')
    .filter((d) => /^acs:mns:[^:]*::\/topics\//.test(d));
  assert.ok(topics.length > 0, 'the deployment files send failed events to an MNS topic');
  const deploy = readmeDeploySection();
  assert.match(deploy, /mns:PublishMessage/, "README's Deploy section must grant mns:PublishMessage on the failed-events topic");
  assert.doesNotMatch(deploy, /mns:SendMessage/, "README's Deploy section grants mns:SendMessage, a queue action; the destination is a topic");
});

for (const file of deploymentFiles()) {
  const rel = path.relative(repo, file);
  const text = fs.readFileSync(file, 'utf8');

  test(`${rel}: Serverless Devs parses it and fc3 / FC would accept it`, async (t) => {
    const doc = yaml.load(text); // throws on duplicated keys, bad indentation, tabs
    assert.equal(doc.edition, '3.0.0');
    assert.equal(typeof doc.access, 'string');
    const vars = { ...(doc.vars || {}) };
    if ('jwtKeyModulus' in vars) vars.jwtKeyModulus = modulus;
    const documented = documentedVariables();
    const baseDir = path.dirname(file);

    for (const [name, resource] of Object.entries(doc.resources)) {
      assert.equal(resource.component, 'fc3', `${name}: component`);
      const p = resolve(resource.props, vars, `${name}.props`);
      const actions = resolve(resource.actions || {}, vars, `${name}.actions`);
      const where = `${rel} ${name}`;

      // No placeholder survives: nothing like <account-id>, every ARN valid.
      for (const [at, s] of strings(p)) {
        assert.doesNotMatch(s, /<[a-z][a-z0-9 -]*>/i, `${where}${at}: placeholder left in ${JSON.stringify(s)}`);
        if (s.startsWith('acs:oss:')) assert.match(s, BUCKET_ARN, `${where}${at}: ${s} is not a bucket ARN`);
        else if (s.startsWith('acs:mns:')) assert.match(s, MNS_TOPIC_ARN, `${where}${at}: ${s} is not an MNS topic ARN`);
        else if (s.startsWith('acs:')) assert.match(s, ROLE_ARN, `${where}${at}: ${s} is not a role ARN`);
      }
      // The function role: a full ARN, or a bare name fc3 completes to one.
      assert.ok(ROLE_ARN.test(p.role) || ROLE_NAME.test(p.role), `${where}: role ${p.role}`);
      const completed = ROLE_ARN.test(p.role) ? p.role : `acs:ram::${ACCOUNT_ID}:role/${p.role}`;
      assert.match(completed.toLowerCase(), ROLE_ARN);

      // Runtime and build.
      assert.equal(p.runtime, 'custom.debian12', `${where}: runtime`);
      const preDeploy = actions['pre-deploy'] || [];
      assert.ok(preDeploy.some((a) => /(^|\/)scripts\/build-fc\.sh$/.test(a.run.trim())), `${where}: pre-deploy builds with scripts/build-fc.sh`);
      for (const a of preDeploy) assert.equal(path.resolve(baseDir, a.path), repo, `${where}: action runs at the repo root`);
      assert.equal(path.resolve(baseDir, p.code), path.join(repo, 'dist'), `${where}: code is the dist/ build-fc.sh fills`);
      const crc = p.customRuntimeConfig;
      assert.ok(Array.isArray(crc.command) && crc.command.length === 1, `${where}: command`);
      const commandFile = crc.command[0].replace(/^\/code\//, '');
      assert.notEqual(commandFile, crc.command[0], `${where}: command runs from /code, where FC unpacks the code`);
      assert.ok(builtIntoDist().has(commandFile), `${where}: scripts/build-fc.sh puts no ${commandFile} into dist/`);
      assert.ok(Number.isInteger(crc.port) && crc.port > 0 && crc.port < 65536, `${where}: port`);
      const hc = crc.healthCheckConfig;
      if (hc) {
        assert.match(hc.httpGetUrl, /^\//);
        assert.ok(hc.timeoutSeconds >= 1 && hc.timeoutSeconds <= 3, `${where}: health check timeoutSeconds 1-3`);
      }

      // Sizes FC's API checks.
      assert.ok(Number.isInteger(p.memorySize) && p.memorySize % 64 === 0 && p.memorySize >= 128, `${where}: memorySize`);
      const ratio = p.memorySize / 1024 / p.cpu;
      assert.ok(ratio >= 1 && ratio <= 4, `${where}: vCPU:GB must be 1:1 to 1:4, is 1:${ratio}`);
      assert.ok(p.timeout >= 1 && p.instanceConcurrency >= 1 && p.instanceConcurrency <= 200, `${where}: timeout / concurrency`);

      // Lifecycle hooks: FC calls POST /initialize and GET /pre-stop only when configured.
      const hooks = p.instanceLifecycleConfig || {};
      for (const hook of ['initializer', 'preStop']) {
        assert.ok(hooks[hook], `${where}: ${hook} hook configured`);
        assert.equal(typeof hooks[hook].handler, 'string', `${where}: ${hook}.handler`);
        assert.ok(hooks[hook].timeout >= 1, `${where}: ${hook}.timeout`);
      }
      const facts = deployFacts(p.environmentVariables);
      assert.ok(hooks.preStop.timeout > facts.drainSeconds, `${where}: preStop.timeout must outlast the ${facts.drainSeconds} s drain`);
      // FC's initializer call has no body; its deadline is two STS waits.
      assert.ok(hooks.initializer.timeout > facts.initializerDeadlineSeconds,
        `${where}: initializer.timeout ${hooks.initializer.timeout} s must exceed /initialize's deadline of ${facts.initializerDeadlineSeconds} s`);

      // Every route answers (JSON, from the function) before FC's timeout
      // cuts it: its deadline after its body has arrived, and the upload
      // check's per event.
      const slowest = facts.routes.reduce((a, r) => (r.deadlineSeconds > a.deadlineSeconds ? r : a));
      assert.ok(facts.bodyReadSeconds + slowest.deadlineSeconds < p.timeout,
        `${where}: timeout ${p.timeout} s must exceed ${slowest.path}'s deadline of ${slowest.deadlineSeconds} s plus ${facts.bodyReadSeconds} s for its body`);
      if ((p.triggers || []).some((t) => t.triggerType === 'oss')) {
        assert.ok(facts.bodyReadSeconds + facts.eventDeadlineSeconds < p.timeout,
          `${where}: timeout ${p.timeout} s must exceed the upload check's ${facts.eventDeadlineSeconds} s (EVENT_TIMEOUT_MS) plus ${facts.bodyReadSeconds} s for the event`);
      }

      // Logs: one record per line (DefaultRegex would glue lines that start without a date).
      assert.equal(typeof p.logConfig, 'object', `${where}: logConfig spelled out, not "auto" (DefaultRegex)`);
      assert.equal(p.logConfig.logBeginRule, 'None', `${where}: logBeginRule`);
      assert.ok(p.logConfig.project && p.logConfig.logstore, `${where}: log project and logstore`);

      // Environment: names FC accepts, none reserved, under 4 KB, all read by the function.
      const env = p.environmentVariables;
      for (const [k, v] of Object.entries(env)) {
        assert.match(k, ENV_NAME, `${where}: env name ${k}`);
        assert.ok(!k.startsWith('FC_'), `${where}: ${k} uses FC's reserved FC_ prefix; FC refuses the whole deployment`);
        assert.equal(typeof v, 'string', `${where}: ${k} must be a string (quote numbers)`);
        assert.ok(documented.has(k), `${where}: ${k} is not a variable the function reads (README's table)`);
      }
      const envBytes = Buffer.byteLength(JSON.stringify(env));
      assert.ok(envBytes < 4096, `${where}: environment is ${envBytes} bytes; FC allows 4 KB`);

      // The trigger and the auth mode agree.
      const triggers = p.triggers || [];
      const http = triggers.filter((t) => t.triggerType === 'http');
      assert.equal(http.length, 1, `${where}: one HTTP trigger`);
      const tc = http[0].triggerConfig;
      // Upload events (README "Upload checks and webhooks"): the five upload
      // calls only (ObjectCreated:* also fires per UploadPart), under the upload
      // prefix, and an async-invocation config with explicit limits.
      // One native OSS trigger per upload profile, on exactly its prefix (a
      // native trigger filters on one prefix; a shorter one would also fire
      // for keys no profile owns), every profile covered, at most 10 per
      // bucket (FC: more only with EventBridge-based triggers).
      const ossTriggers = triggers.filter((x) => x.triggerType === 'oss');
      const profilePrefixes = facts.profilePrefixes.map((x) => x.prefix);
      assert.deepEqual(uncoveredPrefixes(facts, triggers), [],
        `${where}: uploads under these profile prefixes are never checked; add an OSS trigger for each (s.yaml shows how)`);
      assert.ok(ossTriggers.length <= 10, `${where}: ${ossTriggers.length} OSS triggers; a bucket takes at most 10 native ones`);
      const names = triggers.map((x) => x.triggerName);
      assert.equal(new Set(names).size, names.length, `${where}: trigger names are unique (${names})`);
      for (const t of triggers.filter((x) => x.triggerType !== 'http')) {
        assert.equal(t.triggerType, 'oss', `${where}: trigger ${t.triggerName}`);
        const oc = t.triggerConfig;
        assert.deepEqual([...oc.events].sort(), [...UPLOAD_EVENTS].sort(), `${where}: ${t.triggerName} events`);
        assert.equal(typeof oc.filter.key.suffix, 'string', `${where}: fc3's schema requires filter.key.suffix`);
        assert.ok(profilePrefixes.includes(oc.filter.key.prefix),
          `${where}: ${t.triggerName}'s prefix ${JSON.stringify(oc.filter.key.prefix)} is no upload profile's prefix (${profilePrefixes})`);
        assert.match(t.sourceArn, BUCKET_ARN, `${where}: ${t.triggerName} sourceArn`);
        assert.ok(t.sourceArn.endsWith(`:${p.environmentVariables.OSS_BUCKET}`), `${where}: the trigger watches OSS_BUCKET`);
        const ai = p.asyncInvokeConfig;
        assert.ok(ai, `${where}: an OSS trigger needs an explicit asyncInvokeConfig`);
        assert.ok(Number.isInteger(ai.maxAsyncRetryAttempts) && ai.maxAsyncRetryAttempts >= 0 && ai.maxAsyncRetryAttempts <= 8, `${where}: maxAsyncRetryAttempts 0-8`);
        // The narrower of fc3's schema (<= 2592000) and FC's API (<= 604800).
        assert.ok(ai.maxAsyncEventAgeInSeconds >= 1 && ai.maxAsyncEventAgeInSeconds <= 604800, `${where}: maxAsyncEventAgeInSeconds`);
        assert.match(ai.destinationConfig.onFailure.destination, MNS_TOPIC_ARN, `${where}: failure destination`);
      }
      assert.ok(['anonymous', 'function', 'jwt'].includes(tc.authType), `${where}: authType ${tc.authType}`);
      for (const m of tc.methods) assert.ok(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'].includes(m));
      if (env.ALLOWED_ORIGINS) assert.ok(tc.methods.includes('OPTIONS'), `${where}: CORS preflights need OPTIONS`);
      // FC refuses a method the trigger does not list before the function
      // sees it: the trigger lists exactly what the routes serve (Uppy's
      // abort is a DELETE) plus OPTIONS for preflights.
      const served = new Set([...facts.routes.flatMap((r) => r.methods), facts.preflightMethod]);
      assert.deepEqual([...new Set(tc.methods)].sort(), [...served].sort(),
        `${where}: the HTTP trigger's methods must be the routes' methods plus OPTIONS`);

      if (env.AUTH_MODE === 'fc-jwt') {
        assert.equal(tc.authType, 'jwt', `${where}: fc-jwt needs the trigger to verify the JWT`);
        const ac = tc.authConfig;
        assert.ok(ac.jwks.keys.length >= 1 && ac.jwks.keys.every((k) => k.kty && k.n !== undefined || k.x !== undefined));
        assert.ok(!(ac.whitelist && ac.blacklist), `${where}: whitelist and blacklist together make fc3 skip the trigger`);
        for (const l of ac.tokenLookup) {
          if (l.readPosition === 'header' && l.prefix) assert.ok(l.prefix.endsWith(' '), `${where}: tokenLookup prefix must end in a space`);
        }
        const passed = ac.claimPassBy.filter((c) => c.mappingParameterPosition === 'header').map((c) => c.mappingParameterName.toLowerCase());
        assert.ok(passed.includes(env.TRIGGER_USER_HEADER.toLowerCase()), `${where}: TRIGGER_USER_HEADER must be a header claimPassBy writes (${passed})`);
      } else {
        assert.notEqual(tc.authType, 'jwt', `${where}: a JWT-verifying trigger belongs with AUTH_MODE=fc-jwt`);
      }

      await t.test(`${name}: the shipped bootstrap accepts this environment and listens on port ${crc.port}`, async () => {
        await bootstrapListens(where, commandFile, env, crc.port);
      });
    }
  });
}

/**
 * An x86-64 ELF executable with no program interpreter (PT_INTERP): statically
 * linked, so it runs on custom.debian12 (or any custom.* image) whatever its glibc.
 */
function staticX86_64(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('latin1', 0, 4), '\x7fELF', `${file} is not an ELF binary`);
  assert.equal(b[4], 2, `${file}: not 64-bit`);
  assert.equal(b.readUInt16LE(18), 62, `${file}: not x86-64 (FC runs x86-64 only)`);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    assert.notEqual(b.readUInt32LE(phoff + i * phentsize), 3, `${file} needs a dynamic loader; build it static (scripts/build-fc.sh)`);
  }
}

test('the deploy build (dist/) is a static x86-64 binary behind bootstrap', { skip: !fs.existsSync(path.join(repo, 'dist')) && 'dist/ not built (scripts/build-fc.sh)' }, () => {
  const boot = fs.readFileSync(path.join(repo, 'dist/bootstrap'), 'utf8');
  assert.match(boot, /^#!\/bin\/sh\n/, 'a script bootstrap needs its interpreter line');
  const target = boot.match(/exec "\$\(dirname "\$0"\)\/([^"]+)"/);
  assert.ok(target, 'bootstrap execs the binary beside it');
  staticX86_64(path.join(repo, 'dist', target[1]));
  const os = fs.readFileSync('/etc/os-release', 'utf8');
  console.log(`dist/bootstrap (started by the deployment-file tests) ran on: ${(os.match(/^PRETTY_NAME="?([^"\n]*)/m) || [])[1]}`);
});

/** Is a LISTEN socket on 0.0.0.0:port in this process's network namespace? */
function listening(pid, port) {
  let table = '';
  try { table = fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8'); } catch { return false; }
  const want = `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table.split('\n').some((l) => { const f = l.trim().split(/\s+/); return f[1] === want && f[3] === '0A'; });
}

/**
 * Runs `dist/<command>` (or the cargo build when dist/ is absent) with the
 * deployment's environment and what FC adds, but no FC_CUSTOM_LISTEN_PORT, in
 * its own network namespace (so port 9000 is free whatever else runs here).
 */
async function bootstrapListens(where, commandFile, env, port) {
  const dist = path.join(repo, 'dist', commandFile);
  let argv;
  if (fs.existsSync(dist)) {
    const st = fs.statSync(dist);
    assert.ok(st.mode & 0o111, `${dist} is not executable`);
    argv = [dist];
  } else {
    argv = [process.env.OSS_DIRECT_UPLOAD_BIN || path.join(repo, 'target/debug/oss-direct-upload')];
    console.log(`${where}: dist/ not built; running ${argv[0]} instead`);
  }
  const fcEnv = {
    PATH: process.env.PATH,
    FC_FUNCTION_NAME: 'oss-direct-upload',
    FC_REGION: env.OSS_REGION,
    FC_ACCOUNT_ID: ACCOUNT_ID,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'STS.deploy-test',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'deploy-test-secret',
    ALIBABA_CLOUD_SECURITY_TOKEN: 'deploy-test-token',
    ...env,
  };
  // A user + network namespace (unprivileged), or just a network namespace as root.
  const flags = [['-rn'], ['-n']].find((f) => spawnSync('unshare', [...f, 'true']).status === 0);
  assert.ok(flags, 'this check needs `unshare -rn` (or root for `unshare -n`) to run the binary on its own port 9000');
  const child = spawn('unshare', [...flags, ...argv], { env: fcEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  try {
    const deadline = Date.now() + 10_000;
    while (!listening(child.pid, port)) {
      assert.equal(exited, null, `${where}: the function refused this configuration (${JSON.stringify(exited)}):\n${output}`);
      assert.ok(Date.now() < deadline, `${where}: not listening on 0.0.0.0:${port} after 10 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (exited ? r() : child.on('exit', r)));
  }
  assert.ok(!output.includes('deploy-test-secret') && !output.includes(modulus.slice(0, 40)), 'no secret or key in the log');
}

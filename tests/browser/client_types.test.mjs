// The browser client's declarations and size, judged by TypeScript and esbuild
// (installed in tests/browser/client-types by scripts/setup-peers.sh):
//
//   node tests/browser/client_types.test.mjs
//
// - `tsc --noEmit` accepts an app's use of the types (client-types/example.ts);
// - it rejects each misuse in client-types/misuse.ts, on exactly the lines marked `// ERROR`;
// - the module exports exactly what oss-direct-upload.d.ts declares, and imports nothing;
// - minified (esbuild --minify) and gzipped (-9) it is at most 6 KiB.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { REPO, check, step, finish } from './lib.mjs';

const DIR = path.join(REPO, 'tests', 'browser', 'client-types');
const BIN = path.join(DIR, 'node_modules', '.bin');
const CLIENT = path.join(REPO, 'client', 'oss-direct-upload.js');
const TYPES = path.join(REPO, 'client', 'oss-direct-upload.d.ts');
const SIZE_BUDGET = 6 * 1024;

const tsc = (args) => spawnSync(path.join(BIN, 'tsc'), args, { cwd: DIR, encoding: 'utf8' });

async function main() {
  if (!fs.existsSync(path.join(BIN, 'tsc')) || !fs.existsSync(path.join(BIN, 'esbuild'))) {
    check('typescript and esbuild are installed (run scripts/setup-peers.sh)', false, BIN);
    return finish();
  }
  await step('tsc accepts the example', async () => {
    const r = tsc(['-p', 'tsconfig.json', '--noEmit']);
    check('tsc --noEmit accepts an app using the declarations (example.ts)', r.status === 0, r.stdout + r.stderr);
  });

  await step('tsc rejects misuses', async () => {
    const r = tsc(['--ignoreConfig', '--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext',
      '--moduleResolution', 'bundler', '--lib', 'es2022,dom', 'misuse.ts']);
    const lines = fs.readFileSync(path.join(DIR, 'misuse.ts'), 'utf8').split('\n');
    const marked = lines.flatMap((l, i) => (l.includes('// ERROR') ? [i + 1] : []));
    const flagged = [...new Set([...r.stdout.matchAll(/misuse\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])))];
    check(`tsc rejects each of the ${marked.length} misuses, and only those lines`,
      r.status !== 0 && marked.length >= 5 && flagged.join() === marked.join(), JSON.stringify({ marked, flagged, out: r.stdout.slice(0, 800) }));
  });

  await step('exports match the declarations', async () => {
    const source = fs.readFileSync(CLIENT, 'utf8');
    const mod = await import(pathToFileURL(CLIENT).href);
    const declared = [...fs.readFileSync(TYPES, 'utf8').matchAll(/^export declare (?:function|class|const) (\w+)/gm)].map((m) => m[1]).sort();
    check('the module exports exactly what the .d.ts declares', Object.keys(mod).sort().join() === declared.join(),
      JSON.stringify({ exported: Object.keys(mod).sort(), declared }));
    check('the module imports nothing (dependency-free)', !/^\s*import\s/m.test(source) && !/\bimport\(/.test(source));
  });

  await step('size', async () => {
    const min = execFileSync(path.join(BIN, 'esbuild'), [CLIENT, '--minify'], { encoding: 'buffer' });
    const gz = zlib.gzipSync(min, { level: 9 }).length;
    console.log(`# client/oss-direct-upload.js: ${fs.statSync(CLIENT).size} B source, ${min.length} B minified, ${gz} B minified+gzip`);
    check(`minified+gzip size is at most ${SIZE_BUDGET} B (${gz} B)`, gz <= SIZE_BUDGET && gz > 1000, String(gz));
  });
  finish();
}

main();

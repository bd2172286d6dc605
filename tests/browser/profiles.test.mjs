// Browser test of upload profiles on the page, against the real `local` mode
// in Debian's Chromium:
//
//   cargo build && node tests/browser/profiles.test.mjs
//
// `local` runs with a profile file of two kinds besides `default`. The page
// must offer them, show the picked profile's limits, send uploads under that
// profile (the object lands in its key space, read back from the emulator with
// the account key) and show the function's refusal when a file breaks the
// profile's size rule.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet, accountList, makePng,
} from './lib.mjs';

const PROFILES = `
[[profile]]
name = "photo"
prefix = "photos/"
content_types = ["image/png"]
max_bytes = 65536
methods = ["post-policy", "presign"]

[[profile]]
name = "note"
prefix = "notes/"
content_types = ["text/plain"]
max_bytes = 100
methods = ["presign"]
`;

async function settled(page, name) {
  await page.waitForSelector(`#uploads li[data-name="${name}"][data-state="done"][data-link], #uploads li[data-name="${name}"][data-state="error"]`,
    { timeout: 60_000 });
  return page.evaluate((name) => {
    const row = document.querySelector(`#uploads li[data-name="${name}"]`);
    return { state: row.dataset.state, key: row.dataset.key || '', message: row.textContent };
  }, name);
}

let child = null;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'page-profiles-'));
  const disarm = watchdog(180_000, () => child?.kill('SIGKILL'));
  const cleanup = [];
  try {
    const profilesFile = path.join(tmp, 'profiles.toml');
    fs.writeFileSync(profilesFile, PROFILES);
    // The upload check is off: this test is about which rules the page asks for.
    const local = await startLocal(path.join(tmp, 'data'), { AUTH_MODE: 'anonymous', PROFILES_FILE: profilesFile }, ['--no-trigger']);
    child = local.child;
    cleanup.push(() => stopChild(local.child));
    const bucket = local.config.bucket;
    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(local.base + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-ready="true"]');

    await step('the page offers every profile', async () => {
      const offered = await page.evaluate(() => ({
        visible: !document.querySelector('#profile-box').hidden,
        names: [...document.querySelectorAll('#profile option')].map((o) => o.value),
        label: document.querySelector('label[for="profile"]')?.textContent,
      }));
      check('profile picker is shown with default, photo, note', offered.visible && offered.names.join() === 'default,photo,note',
        JSON.stringify(offered));
      check('profile picker has a label', Boolean(offered.label));
    });

    await step('picking a profile shows its limits', async () => {
      await page.selectOption('#profile', 'photo');
      const limits = await page.textContent('#limits');
      check('limits name the profile\'s size, type and methods',
        limits.includes('64 KiB') && limits.includes('image/png') && limits.includes('post-policy, presign') && !limits.includes('text/plain'),
        limits);
    });

    const image = makePng(8, 8);
    await step('a POST-form upload under the photo profile lands in its key space', async () => {
      await page.click('#tab-post');
      await page.setInputFiles('#files', { name: 'dot.png', mimeType: 'image/png', buffer: image });
      const row = await settled(page, 'dot.png');
      check('photo upload finished', row.state === 'done', JSON.stringify(row));
      check('photo key is under photos/', row.key.startsWith('photos/'), row.key);
      const got = await accountGet(local.emulator, bucket, row.key);
      check('stored bytes and type are the PNG', got.status === 200 && got.body.equals(image) && got.type === 'image/png',
        `${got.status} ${got.type} ${got.body.length}`);
    });

    await step('a file over the note profile\'s limit is refused by the function', async () => {
      await page.selectOption('#profile', 'note');
      await page.click('#tab-put');
      await page.setInputFiles('#files', { name: 'long.txt', mimeType: 'text/plain', buffer: Buffer.alloc(500, 'a') });
      const row = await settled(page, 'long.txt');
      check('oversized note is refused with the profile in the message',
        row.state === 'error' && row.message.includes('100 bytes') && row.message.includes('note'), JSON.stringify(row));
      const notes = await accountList(local.emulator, bucket, 'notes/');
      check('nothing was stored under notes/', notes.length === 0, notes.join());
      await page.setInputFiles('#files', { name: 'short.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, notes') });
      const ok = await settled(page, 'short.txt');
      check('a note within the limit lands under notes/', ok.state === 'done' && ok.key.startsWith('notes/'), JSON.stringify(ok));
    });

    check('no uncaught errors in the page', pageErrors.length === 0, pageErrors.join(' | '));
  } finally {
    disarm();
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  finish();
}

main().catch(async (e) => {
  console.error(e);
  await stopChild(child).catch(() => {});
  process.exit(1);
});

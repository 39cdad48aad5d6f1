import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { dataDir } from '../helpers/data.js';
import { ADMIN, startServer } from '../server/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const faces = (...p: string[]) => path.join(dataDir('faces', 'face_recognition_examples'), ...p);
let s: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;

before(async () => {
  s = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await s?.close();
});

test(
  'the page: enroll, identify (the drawn name), verify, a style job to 100 %',
  { skip: !fs.existsSync(CHROMIUM) && 'no /usr/bin/chromium' },
  async (t) => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(s.url + '/');
    await page.fill('#key', ADMIN);

    await page.click('button[data-tab=enroll]');
    await page.fill('#enroll-name', 'obama');
    await page.setInputFiles('#enroll-file', faces('obama', 'obama.jpg'));
    await page.click('#enroll-go');
    await page.waitForFunction(() =>
      document.getElementById('enroll-result')!.textContent!.includes('enrolled obama'),
    );

    await page.click('button[data-tab=identify]');
    await page.setInputFiles('#identify-file', faces('obama', 'obama2.jpg'));
    await page.waitForFunction(() => document.getElementById('identify-canvas')!.dataset.labels);
    const labels = JSON.parse((await page.getAttribute('#identify-canvas', 'data-labels'))!);
    assert.deepEqual(labels, ['obama']);
    // The page as a user sees it after an identify (the README's picture), kept after the test in
    // the test's own temp folder (the server's --data folder is not).
    const shot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'visage-page-')), 'page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000);
    t.diagnostic(`screenshot: ${shot}`);

    await page.click('button[data-tab=verify]');
    await page.setInputFiles('#verify-a', faces('obama', 'obama.jpg'));
    await page.setInputFiles('#verify-b', faces('biden', 'biden.jpg'));
    await page.click('#verify-go');
    await page.waitForFunction(() => document.getElementById('verify-result')!.textContent);
    assert.match(
      (await page.textContent('#verify-result'))!,
      /different people — distance [\d.]+, τ [\d.]+, confidence/,
    );

    await page.click('button[data-tab=people]');
    await page.waitForFunction(() => document.querySelectorAll('#people-list tr').length === 1);

    await page.click('button[data-tab=style]');
    await page.setInputFiles('#style-content', faces('obama', 'obama.jpg'));
    await page.setInputFiles('#style-style', path.join(dataDir('images'), 'scream.jpg'));
    await page.fill('#style-size', '64');
    await page.fill('#style-steps', '4');
    await page.click('#style-go');
    await page.waitForFunction(() => !document.getElementById('style-download')!.hidden, undefined, {
      timeout: 60_000,
    });
    assert.equal(await page.$eval('#style-progress', (p) => (p as HTMLProgressElement).value), 100);

    // A wrong key shows the code and what to do.
    await page.fill('#key', 'wrong');
    await page.click('button[data-tab=people]');
    await page.waitForFunction(() =>
      document.getElementById('message')!.textContent!.startsWith('E_UNAUTHORIZED'),
    );
  },
);

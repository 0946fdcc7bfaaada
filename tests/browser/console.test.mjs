// The web console, end to end in Debian's chromium (playwright-core): run by
// test_console.py, which starts the daemon and passes its addresses:
//   GH_CONSOLE_URL       the admin listener (http://127.0.0.1:PORT)
//   GH_PUBLIC_URL        the public listener
//   GH_ADMIN_TOKEN_FILE  the daemon's admin token file (NAME:TOKEN)
//   GH_TEST_PLAYWRIGHT   the playwright-core package directory
//   GH_DAEMON_PID        the daemon (SIGHUP rereads the token file)
//   GH_LINKED_PLAYER     {user_id, guest_secret, subject}: a guest with a steam identity
//   GH_TEST_TMP          a scratch directory (the browser profile goes there)
//   GH_TEST_SCREENSHOTS  optional: write overview.png, user.png, keys.png there
// Every step waits for what the page shows; nothing depends on timing.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.GH_TEST_PLAYWRIGHT);

const CONSOLE = process.env.GH_CONSOLE_URL;
const PUBLIC = process.env.GH_PUBLIC_URL;
const TOKEN = fs.readFileSync(process.env.GH_ADMIN_TOKEN_FILE, 'utf8').trim().split(':').slice(1).join(':');
const SHOTS = process.env.GH_TEST_SCREENSHOTS || '';
const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
const HOSTILE_DOC = '<script>alert(2)</script>';

let stepNo = 0;
function step(text) {
  stepNo += 1;
  console.log(`step ${stepNo}: ${text}`);
}

// ---- the public API, as game clients call it ----

async function pub(method, route, { body, auth } = {}) {
  const headers = {};
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(PUBLIC + route, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

async function newGuest() {
  const r = await pub('POST', '/login-as-guest', { body: {} });
  assert.equal(r.status, 200, r.text);
  return r.json();
}

function guestLogin(g) {
  return pub('POST', '/login-as-guest', { body: { user_id: g.user_id, guest_secret: g.guest_secret } });
}

async function setName(g, name) {
  const r = await pub('GET', '/set-player-data?player_name=' + encodeURIComponent(name),
    { auth: g.auth_token });
  assert.equal(r.status, 200, r.text);
}

async function putDoc(g, key, value) {
  const r = await pub('PUT', '/player-data/' + key, { body: value, auth: g.auth_token });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

function refresh(refreshToken) {
  return pub('POST', '/refresh-access-token', { body: { refresh_token: refreshToken } });
}

async function admin(method, route) {
  const r = await fetch(CONSOLE + '/admin' + route,
    { method, headers: { Authorization: 'Bearer ' + TOKEN } });
  return { status: r.status, text: await r.text() };
}

// Polls until the daemon has reread its token file (a reload is asynchronous).
async function adminStatusBecomes(status) {
  for (let i = 0; i < 600; i++) {
    if ((await admin('GET', '/stats')).status === status) return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error('the admin API never answered ' + status + ' after the reload');
}

// ---- the browser ----

const profile = fs.mkdtempSync(path.join(process.env.GH_TEST_TMP || '/tmp', 'chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1200, height: 820 },
  acceptDownloads: true,
});
const page = context.pages()[0] || await context.newPage();
// Under valgrind the daemon is some thirty times slower (a key rotation takes
// tens of seconds): the same waits, longer patience.
page.setDefaultTimeout(process.env.GH_TEST_VALGRIND === '1' ? 180000 : 15000);

const consoleErrors = [];
const pageErrors = [];
const dialogs = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });

const text = (sel) => page.locator(sel).textContent();
async function waitText(sel, pattern) {
  await page.waitForFunction(([s, src]) => {
    const e = document.querySelector(s);
    return e && new RegExp(src).test(e.textContent);
  }, [sel, pattern.source]);
}

// The number of finished loads of a page (the console's data-loads).
const loads = (sel) => page.evaluate((s) => Number(document.querySelector(s).dataset.loads || 0), sel);
const loadedSince = (sel, n) => page.waitForFunction(([s, k]) =>
  Number(document.querySelector(s).dataset.loads || 0) > k, [sel, n]);

// Searches a player by user id and opens their page, waiting for fresh answers.
async function openUser(id) {
  await page.evaluate((h) => { location.hash = h; }, '#/users');
  await page.locator('#page-users').waitFor();
  await page.fill('#search-form input[name=identity]', '');
  await page.fill('#search-form input[name=user_id]', id);
  const searched = await loads('#page-users');
  await page.click('#search-form button[type=submit]');
  await loadedSince('#page-users', searched);
  const opened = await loads('#page-user');
  await page.locator(`#users-table tr[data-user="${id}"] a`).click();
  await loadedSince('#page-user', opened);
  await page.locator('#page-user').waitFor();
  assert.equal(await text('#user-id'), id);
}

// The page down to the end of its content (not the empty viewport below).
async function shot(name) {
  if (!SHOTS) return;
  const height = await page.evaluate(() => Math.ceil(
    Math.max(...[...document.querySelectorAll('main > section:not([hidden])')]
      .map((e) => e.getBoundingClientRect().bottom)) + 24));
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true,
    clip: { x: 0, y: 0, width: 1200, height } });
  console.log(`wrote ${path.join(SHOTS, name)}`);
}

let failed = null;
try {
  // A player with a hostile name and document, made the way clients do.
  step('a guest with a hostile player name, made through the public API');
  const g = await newGuest();
  await setName(g, HOSTILE_NAME);
  await putDoc(g, 'notes', HOSTILE_DOC);
  // More documents than the console's first page holds (20, by key: these come first).
  const writes = [...Array(21)].map((_, i) => ({ key: 'item-' + String(i).padStart(2, '0'), value: { i }, if_none_match: '*' }));
  const batch = await pub('POST', '/player-data-batch', { body: { writes }, auth: g.auth_token });
  assert.equal(batch.status, 200, batch.text);

  const linked = JSON.parse(process.env.GH_LINKED_PLAYER);
  let nice = null;
  const extras = [];
  if (SHOTS) {
    nice = (await guestLogin(linked)).json();
    await setName(nice, 'Captain Nova');
    await putDoc(nice, 'progress', { level: 12, xp: 4830, zone: 'harbor' });
    await putDoc(nice, 'settings', { music: 0.6, language: 'en', subtitles: true });
    await guestLogin(nice);
    for (let i = 0; i < 4; i++) {
      extras.push(await newGuest());
      await setName(extras[i], 'Player ' + (i + 1));
    }
  }

  step('the console page and its security headers');
  const resp = await page.goto(CONSOLE + '/console');
  assert.equal(resp.status(), 200);
  const h = resp.headers();
  const csp = h['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'(;|$)/, csp);
  assert.match(csp, /default-src 'none'/, csp);
  assert.match(csp, /connect-src 'self'/, csp);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|nonce-|sha256-/, csp);
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['x-content-type-options'], 'nosniff');
  await page.locator('#page-signin').waitFor();

  step('a wrong token is refused with an error and no sign-in');
  await page.fill('#signin-token', 'not-the-token-' + 'x'.repeat(20));
  await page.click('#signin-form button[type=submit]');
  await waitText('#signin-error', /401/);
  assert.ok(await page.locator('#nav').isHidden());

  step('sign in; the overview shows the counts and the rates from /metrics');
  await page.fill('#signin-token', TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#page-overview').waitFor();
  await waitText('#stat-users', /^\d+$/);
  assert.ok(Number(await text('#stat-users')) >= 1);
  assert.ok(Number(await text('#stat-guests')) >= 1);
  await waitText('#rate-requests', /^\d+(\.\d+)?$/);
  await waitText('#rate-logins', /^\d+(\.\d+)?$/);
  // The token is in no storage the page could leave behind.
  const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
  assert.deepEqual(stored, [0, 0, '']);
  if (SHOTS) {
    // Some traffic for the picture's rates: logins and reads between two samples.
    const samples = Number(await page.getAttribute('#rate-note', 'data-samples'));
    const logins = await Promise.all([...Array(12)].map(() => guestLogin(extras[0])));
    await Promise.all(logins.map((r) => pub('GET', '/get-player-data', { auth: r.json().auth_token })));
    await page.waitForFunction((n) => Number(document.querySelector('#rate-note').dataset.samples) > n, samples);
    await shot('console-overview.png');
  }

  if (nice) {
    await openUser(nice.user_id);
    await page.locator('#documents .doc').first().waitFor();
    await shot('console-user.png');
  }

  step('search by creation time, one player a page; by identity; a bad identity is an error');
  await newGuest(); // a second player in the time range below
  const created = JSON.parse((await admin('GET', '/users/' + g.user_id)).text).created_at;
  const utc = (t) => new Date(t * 1000).toISOString().slice(0, 19);
  const listed = await loads('#page-users');
  await page.click('#nav a[data-page=users]');
  await loadedSince('#page-users', listed);
  await page.fill('#search-form input[name=user_id]', '');
  await page.fill('#search-form input[name=created_after]', utc(created - 1));
  await page.fill('#search-form input[name=created_before]', utc(created + 3600));
  await page.fill('#search-form input[name=limit]', '1');
  const ranged = await loads('#page-users');
  await page.click('#search-form button[type=submit]');
  await loadedSince('#page-users', ranged);
  assert.equal(await page.locator('#users-table tbody tr').count(), 1);
  await page.locator('#users-next').waitFor();
  const firstRow = await page.locator('#users-table tbody tr').getAttribute('data-user');
  await page.click('#users-next');
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll('#users-table tbody tr');
    return rows.length === 1 && rows[0].dataset.user !== id;
  }, firstRow);
  const seen = [firstRow, await page.locator('#users-table tbody tr').getAttribute('data-user')];
  for (const id of seen) {
    const t = JSON.parse((await admin('GET', '/users/' + id)).text).created_at;
    assert.ok(t >= created - 1 && t <= created + 3600, id + ' created at ' + t);
  }
  await page.fill('#search-form input[name=created_after]', '');
  await page.fill('#search-form input[name=created_before]', '');
  await page.fill('#search-form input[name=limit]', '20');
  await page.fill('#search-form input[name=identity]', 'steam:76561198000000000');
  await page.click('#search-form button[type=submit]');
  await page.locator('#users-empty').waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 0);
  await page.fill('#search-form input[name=identity]', 'no-colon-here');
  await page.click('#search-form button[type=submit]');
  await waitText('#error-text', /^400 /);
  await page.fill('#search-form input[name=identity]', '');

  step('search by identity, open the player, unlink the identity');
  await page.fill('#search-form input[name=identity]', 'steam:' + linked.subject);
  await page.click('#search-form button[type=submit]');
  await page.locator(`#users-table tr[data-user="${linked.user_id}"]`).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 1);
  await page.click(`#users-table tr[data-user="${linked.user_id}"] a`);
  await page.locator('#identities-table tr[data-provider=steam]').waitFor();
  assert.equal(await text('#identities-table tr[data-provider=steam] code'), linked.subject);
  assert.match(await text('#user-kind'), /^linked/);
  await page.click('#identities-table tr[data-provider=steam] button');
  await page.locator('#confirm').waitFor();
  await page.click('#confirm-ok');
  await waitText('#notice', /^Unlinked steam/);
  await waitText('#identities-table tbody', /^None\.$/);
  assert.equal(JSON.parse((await admin('GET', '/users?identity=steam:' + linked.subject)).text).users.length, 0);
  assert.equal((await guestLogin(linked)).status, 200);

  step('search the guest by user id and open it');
  await openUser(g.user_id);

  step('the hostile name and document show as text; nothing ran');
  assert.equal(await text('#user-name'), HOSTILE_NAME);
  await waitText('#user-docs', /^23 /);
  await page.locator('#documents .doc').nth(19).waitFor();
  assert.equal(await page.locator('#documents .doc').count(), 20);
  await page.click('#documents-next');
  await page.locator('#documents .doc[data-key="notes"] pre').waitFor();
  assert.equal(await page.locator('#documents .doc').count(), 23);
  assert.ok(await page.locator('#documents-next').isHidden());
  assert.equal(await text('#documents .doc[data-key="notes"] pre'), JSON.stringify(HOSTILE_DOC));
  assert.equal(await page.locator('main img, main script').count(), 0);
  assert.deepEqual(dialogs, []);
  assert.ok((await page.locator('#identities-table tbody tr').count()) >= 1);
  assert.ok((await page.locator('#sessions-table tbody tr[data-session]').count()) >= 1);

  step('ban until a time: the public login is refused');
  await page.fill('#ban-form input[name=until]', '2099-01-02T03:04');
  await page.click('#ban-form button[type=submit]');
  await waitText('#user-ban', /banned until 2099-01-02 03:04:00Z/);
  let r = await guestLogin(g);
  assert.equal(r.status, 403, r.text);

  step('unban: the public login works again');
  await page.click('#unban');
  await waitText('#user-ban', /^not banned$/);
  r = await guestLogin(g);
  assert.equal(r.status, 200, r.text);

  step('ban for good, then unban');
  assert.equal(await page.inputValue('#ban-form input[name=until]'), '');
  await page.click('#ban-form button[type=submit]');
  await waitText('#user-ban', /^banned for good$/);
  assert.equal((await guestLogin(g)).status, 403);
  await page.click('#unban');
  await waitText('#user-ban', /^not banned$/);

  step('end all sessions: the refresh token is refused');
  const s1 = (await guestLogin(g)).json();
  assert.equal((await refresh(s1.refresh_token)).status, 200);
  const s2 = (await guestLogin(g)).json();
  await page.click('#end-all');
  await waitText('#notice', /^Ended/);
  r = await refresh(s2.refresh_token);
  assert.equal(r.status, 401, r.text);
  assert.equal(await page.locator('#sessions-table button').count(), 0);

  step('end one session: that refresh token is refused, the other still works');
  const s3 = (await guestLogin(g)).json();
  const s4 = (await guestLogin(g)).json();
  await openUser(g.user_id);
  assert.equal(await page.locator('#sessions-table button').count(), 2);
  // The newest session (s4) is the one whose refresh keeps working.
  const sid3 = JSON.parse(Buffer.from(s3.auth_token.split('.')[1], 'base64url')).sid;
  await page.click(`#sessions-table tr[data-session="${sid3}"] button`);
  await waitText('#notice', /^Ended session/);
  assert.equal((await refresh(s3.refresh_token)).status, 401);
  assert.equal((await refresh(s4.refresh_token)).status, 200);

  step('export downloads the player\'s JSON');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.user.user_id, g.user_id);
  assert.ok(exported.player_data.some((d) => d.key === 'player_name'));
  assert.match(download.suggestedFilename(), new RegExp(g.user_id));

  step('the keys page lists the keys; rotate adds one');
  await page.click('#nav a[data-page=keys]');
  await page.locator('#keys-table tbody tr').first().waitFor();
  const before = await page.locator('#keys-table tbody tr').count();
  await page.click('#rotate');
  await page.locator('#confirm').waitFor();
  await page.click('#confirm-ok');
  await page.waitForFunction((n) => document.querySelectorAll('#keys-table tbody tr').length > n, before);
  await waitText('#notice', /^Rotated/);
  await shot('console-keys.png');

  step('delete asks for the user id, then the player is gone');
  await openUser(g.user_id);
  await page.click('#delete');
  await page.locator('#confirm').waitFor();
  assert.match(await text('#confirm-title'), new RegExp(g.user_id));
  assert.ok(await page.locator('#confirm-ok').isDisabled());
  await page.fill('#confirm-input', g.user_id.slice(0, 8));
  assert.ok(await page.locator('#confirm-ok').isDisabled());
  await page.fill('#confirm-input', g.user_id);
  await page.click('#confirm-ok');
  await waitText('#notice', new RegExp('Deleted player ' + g.user_id));
  await page.locator('#page-users').waitFor();
  // The list after a delete is a fresh search, without the player.
  await page.locator('#users-table tbody tr').first().waitFor();
  assert.equal(await page.locator(`#users-table tr[data-user="${g.user_id}"]`).count(), 0);
  assert.equal((await guestLogin(g)).status, 401);
  assert.equal((await admin('GET', '/users/' + g.user_id)).status, 404);

  step('an unknown player shows an error');
  await page.evaluate((h) => { location.hash = h; }, '#/user/' + g.user_id);
  await waitText('#error-text', /^404/);

  step('a reload forgets the token');
  await page.reload();
  await page.locator('#page-signin').waitFor();
  assert.ok(await page.locator('#nav').isHidden());

  step('a token taken back (file changed, SIGHUP) sends the open console to sign-in');
  await page.fill('#signin-token', TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#nav').waitFor();
  const tokenFile = process.env.GH_ADMIN_TOKEN_FILE;
  const original = fs.readFileSync(tokenFile, 'utf8');
  fs.writeFileSync(tokenFile, 'someone-else:' + 'y'.repeat(40) + '\n');
  process.kill(Number(process.env.GH_DAEMON_PID), 'SIGHUP');
  await adminStatusBecomes(401);
  await page.click('#nav a[data-page=keys]');
  await page.locator('#page-signin').waitFor();
  await waitText('#signin-error', /401/);
  // Nothing read with the taken-back token stays in the page.
  assert.equal(await page.evaluate((id) => document.querySelector('main').textContent.includes(id), g.user_id), false);
  assert.equal(await page.evaluate(() => document.querySelectorAll('tbody tr, #documents *').length), 0);
  fs.writeFileSync(tokenFile, original);
  process.kill(Number(process.env.GH_DAEMON_PID), 'SIGHUP');
  await adminStatusBecomes(200);

  step('no script ran from data, no CSP violation, no page error');
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
  // Chrome logs each non-2xx fetch as "Failed to load resource"; the 400 of
  // the bad identity, the 401s of the wrong and the taken-back token, the 404
  // of the deleted player (and of the favicon the browser asks for) are expected.
  const unexpected = consoleErrors.filter((m) => !/Failed to load resource: the server responded with a status of (400|401|404)/.test(m));
  assert.deepEqual(unexpected, []);
  assert.equal(consoleErrors.filter((m) => /Content Security Policy|Refused to/.test(m)).length, 0);

  step('the CSP is enforced: an injected inline handler does not run');
  const refused = page.waitForEvent('console', { predicate: (m) => /Content Security Policy/.test(m.text()) });
  await page.evaluate(() => {
    const d = document.createElement('div');
    d.innerHTML = '<img src="x" onerror="window.__injected = 1">';
    document.body.append(d);
  });
  await refused;
  assert.equal(await page.evaluate(() => window.__injected), undefined);
} catch (e) {
  failed = e;
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
if (failed) {
  console.error(`FAILED at step ${stepNo}:`, failed);
  process.exit(1);
}
console.log('console browser test passed');

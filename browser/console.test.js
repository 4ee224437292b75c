'use strict';
// Browser tests of wabagate's web console (/console) in headless Chromium, with Node's built-in
// test runner and playwright-core driving the system's Chromium (never a downloaded browser).
//
//   cargo build -p wabagate                   # at the repository root
//   cd browser && npm ci && npm test          # WABAGATE_BIN=... / CHROMIUM_BIN=... to override
//
// Each test starts from a real server: `wabagate serve --listen 127.0.0.1:<free port> --data
// <fresh temp dir>` (the demo world), and for the non-admin test a second one with `--fixtures`.
// Elements are found the way a person finds them: by role and visible label or text. Every check
// prints what it checks. Screenshots go to browser/screenshots/ (git-ignored); the admin flow's
// are numbered in order. Set WABAGATE_KEEP_DATA=1 to keep the servers' data dirs and logs, and
// WABAGATE_UPDATE_DOCS=1 to copy the WhatsApp account access screenshot to docs/console.png.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { test, before, after } = require('node:test');

const { chromium } = require('playwright-core');

const REPO_ROOT = path.resolve(__dirname, '..');
const DEFAULT_BIN = path.join(REPO_ROOT, 'target', 'debug', 'wabagate');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'];
const SHOTS = path.join(__dirname, 'screenshots');
const DOCS_SHOT = path.join(REPO_ROOT, 'docs', 'console.png');
const STARTUP_TIMEOUT_MS = 20_000;
const ACTION_TIMEOUT_MS = 10_000;
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 390, height: 844 };
const NAV_LINKS = ['System Users', 'WhatsApp Accounts', 'Access overview', 'Tokens', 'Activity log', 'Webhooks'];

// ------------------------------------------------------------------------------ checks

function check(cond, what, detail = '') {
  console.log(`  [${cond ? 'ok' : 'FAIL'}] ${what}${detail ? `  (${detail})` : ''}`);
  if (!cond) throw new assert.AssertionError({ message: `${what}${detail ? `: ${detail}` : ''}` });
}

function checkEqual(actual, expected, what) {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  check(ok, what, ok ? JSON.stringify(actual) : `got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}

const short = (s) => (String(s).length > 16 ? `${String(s).slice(0, 12)}...` : String(s));

// ------------------------------------------------------------------------------ server
// The harness of compat/node/sdk.test.js: a free port, a fresh data dir, wait for bootstrap.json
// and the port, and a watchdog process that stops the server if this process dies.

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portAnswers(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// Runs as `node -e WATCHDOG_SRC <server pid> [<dir to remove>]`: when its stdin (a pipe from
// the test process) closes, SIGTERM then SIGKILL the server and remove the temp dir; exits by
// itself if the server goes away first.
const WATCHDOG_SRC = `
const pid = Number(process.argv[1]);
const dir = process.argv[2];
const done = () => {
  if (dir) { try { require('fs').rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
};
const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
const poll = setInterval(() => { if (!alive()) process.exit(0); }, 1000);
process.stdin.on('data', () => {});
process.stdin.on('close', () => {
  clearInterval(poll);
  try { process.kill(pid, 'SIGTERM'); } catch { done(); }
  const t0 = Date.now();
  setInterval(() => {
    if (!alive()) done();
    if (Date.now() - t0 > 10000) { try { process.kill(pid, 'SIGKILL'); } catch {} setTimeout(done, 500); }
  }, 100);
});
`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts a server on a fresh data dir; `fixtures` is the TOML text of a world to start from. */
async function startServer({ fixtures } = {}) {
  const binary = process.env.WABAGATE_BIN || DEFAULT_BIN;
  if (!fs.existsSync(binary)) {
    throw new Error(`wabagate binary not found at ${binary}; run \`cargo build -p wabagate\` ` +
      'at the repository root or set WABAGATE_BIN');
  }
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'wabagate-browser-'));
  const dataDir = path.join(workdir, 'data'); // fresh: does not exist yet
  const stdoutPath = path.join(workdir, 'server.stdout');
  const stderrPath = path.join(workdir, 'server.stderr');
  const port = await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir];
  if (fixtures !== undefined) {
    const file = path.join(workdir, 'fixtures.toml');
    fs.writeFileSync(file, fixtures);
    args.push('--fixtures', file);
  }
  console.log(`[wabagate] starting: ${binary} ${args.join(' ')}`);

  const env = { ...process.env };
  delete env.WABAGATE_DATA; // --data wins anyway; keep the env clean
  const outFd = fs.openSync(stdoutPath, 'w');
  const errFd = fs.openSync(stderrPath, 'w');
  const child = spawn(binary, args, { stdio: ['ignore', outFd, errFd], env });
  fs.closeSync(outFd);
  fs.closeSync(errFd);

  let exit = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    child.once('error', (error) => {
      exit = { error };
      resolve(exit);
    });
  });
  const keep = Boolean(process.env.WABAGATE_KEEP_DATA);
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SRC, String(child.pid), keep ? '' : workdir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => {});
  watchdog.stdin.on('error', () => {});
  watchdog.unref();
  watchdog.stdin.unref();
  const killOnExit = () => {
    if (exit === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const logs = () => `--- stderr ---\n${readText(stderrPath)}\n--- stdout ---\n${readText(stdoutPath)}`;

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exit === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    watchdog.kill('SIGKILL');
    if (exit && exit.signal !== 'SIGTERM' && exit.code !== 0) {
      console.log(`[wabagate] exited with ${JSON.stringify(exit)}\n${logs()}`);
    }
    if (keep) {
      console.log(`[wabagate] keeping ${workdir}`);
    } else {
      fs.rmSync(workdir, { recursive: true, force: true });
    }
  };

  try {
    const bootstrapPath = path.join(dataDir, 'bootstrap.json');
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (exit !== null) {
        throw new Error(`wabagate exited during startup: ${JSON.stringify(exit)}\n${logs()}`);
      }
      if (fs.existsSync(bootstrapPath) && (await portAnswers(port))) break;
      if (Date.now() > deadline) {
        throw new Error(`wabagate did not answer on 127.0.0.1:${port} with ${bootstrapPath} present ` +
          `within ${STARTUP_TIMEOUT_MS / 1000}s\n${logs()}`);
      }
      await sleep(100);
    }
    const bootstrap = JSON.parse(fs.readFileSync(bootstrapPath, 'utf8'));
    const base = bootstrap.graph_url.replace(/\/+$/, '');
    console.log(`[wabagate] up at ${base} (data ${dataDir})`);
    return { bootstrap, base, port, stop, logs };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ------------------------------------------------------------------------------ Graph API

/** A Graph API call with plain fetch: { status, body }. `form` is sent url-encoded. */
async function graph(base, method, pathAndQuery, { token, form } = {}) {
  const url = new URL(`${base}/v23.0/${pathAndQuery.replace(/^\//, '')}`);
  if (token && method === 'GET') url.searchParams.set('access_token', token);
  const init = { method, headers: {} };
  if (method !== 'GET') {
    const body = new URLSearchParams(form || {});
    if (token) body.set('access_token', token);
    init.body = body;
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  const shown = url.toString().replace(/access_token=[^&]+/, 'access_token=…');
  console.log(`  ${method} ${shown.slice(base.length)} -> HTTP ${res.status} ` +
    `${JSON.stringify(body).replace(/EAA[A-Za-z0-9]+/g, 'EAA…').slice(0, 300)}`);
  return { status: res.status, body };
}

async function createSystemUserViaApi(base, token, business, name, role = 'EMPLOYEE') {
  const r = await graph(base, 'POST', `${business}/system_users`, { token, form: { name, role } });
  check(r.status === 200 && /^\d+$/.test(String(r.body && r.body.id)), `API created system user ${JSON.stringify(name)}`,
    `HTTP ${r.status} id=${r.body && r.body.id}`);
  return String(r.body.id);
}

async function systemUserNames(base, token, business) {
  const r = await graph(base, 'GET', `${business}/system_users?fields=id,name&limit=100`, { token });
  check(r.status === 200 && Array.isArray(r.body.data), 'API lists the system users', `HTTP ${r.status}`);
  return r.body.data;
}

// ------------------------------------------------------------------------------ browser

let browser;
// Everything the pages said that a person would not want to see: uncaught exceptions and console
// errors, from every page of every context, with the URL they came from.
const jsErrors = [];
// Pages deliberately loaded with an error status (a wrong password, a refused URL): Chromium logs
// "Failed to load resource: ... status of N" for them, which is the browser reporting the status,
// not a script error.
const expectedErrorUrls = new Set();
const visited = new Set();
const dialogs = [];

function watchPage(page) {
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  page.on('pageerror', (err) => jsErrors.push(`pageerror on ${page.url()}: ${err && err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = (msg.location() && msg.location().url) || page.url();
    if (/^Failed to load resource: the server responded with a status of \d+/.test(msg.text()) &&
      expectedErrorUrls.has(where)) return;
    jsErrors.push(`console error on ${page.url()} (${where}): ${msg.text()}`);
  });
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()} on ${page.url()}: ${d.message()}`);
    console.log(`  !! dialog ${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.add(frame.url().replace(/\?.*$/, ''));
  });
}

async function newContext(options = {}) {
  const context = await browser.newContext({ viewport: WIDE, ...options });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.on('page', watchPage);
  return context;
}

let shotCount = 0;
/** A full-page screenshot to screenshots/NN-name.png. */
async function shot(page, name) {
  shotCount += 1;
  const file = path.join(SHOTS, `${String(shotCount).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${path.relative(__dirname, file)}`);
  return file;
}

const nav = (page) => page.getByRole('navigation', { name: 'Business Settings' });
const heading1 = (page) => page.getByRole('heading', { level: 1 });

/** Clicks a link (or anything that navigates) and waits for the next page to load. */
async function follow(page, locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

async function clickNav(page, name) {
  await follow(page, nav(page).getByRole('link', { name, exact: true }));
}

async function expectHeading(page, text) {
  const h = heading1(page);
  await h.waitFor();
  const got = (await h.textContent()).trim();
  checkEqual(got, text, `page heading (${new URL(page.url()).pathname})`);
}

/** Submits a form by clicking its button; returns the response of the form's request. */
async function submit(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().resourceType() === 'document'),
    page.waitForEvent('load'),
    button.click(),
  ]);
  return response;
}

async function signIn(page, base, email, password) {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
  check(new URL(page.url()).pathname === '/console/system-users', `signed in as ${email}: on System Users`,
    page.url());
}

/** The cells' texts of the rows of a table. */
async function tableRows(table) {
  return table.locator('tbody tr').evaluateAll((rows) =>
    rows.map((tr) => [...tr.querySelectorAll('td, th')].map((c) => c.textContent.replace(/\s+/g, ' ').trim())));
}

/** The table right after the heading with this text (the console's tables follow their h2,
 * directly or inside a horizontally scrolling container). */
const tableAfter = (page, headingText) =>
  page.locator(`h2:text-is("${headingText}") + table, h2:text-is("${headingText}") + .scroll > table`);

/** The page's own CSRF token (every signed-in page has one, in the Sign out form at least). */
async function csrfOf(page) {
  const value = await page.locator('input[name="csrf"]').first().inputValue();
  check(typeof value === 'string' && value.length >= 20, 'the page carries a csrf token', short(value));
  return value;
}

/** Layout at a viewport width: body scroll, nav links, form controls; returns the problems. */
async function layoutProblems(page, width, { signedIn }) {
  const problems = await page.evaluate((w) => {
    const out = [];
    const describe = (el) => {
      const label = (el.labels && el.labels[0] && el.labels[0].textContent.trim()) || el.textContent.trim() ||
        el.getAttribute('name') || '';
      return `<${el.tagName.toLowerCase()}${el.type ? ` type=${el.type}` : ''}> "${label.slice(0, 40)}"`;
    };
    const sw = document.documentElement.scrollWidth;
    if (sw > w) {
      // The outermost elements that stick out past the viewport (children of a non-overflowing parent).
      const culprits = [];
      for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right <= w + 0.5) continue;
        const p = el.parentElement.getBoundingClientRect();
        if (p.right > w + 0.5) continue;
        culprits.push(`${el.tagName.toLowerCase()}${el.className ? `.${el.className}` : ''} ` +
          `(right edge ${Math.round(r.right)}px: "${el.textContent.replace(/\s+/g, ' ').trim().slice(0, 60)}")`);
      }
      out.push(`document.documentElement.scrollWidth ${sw} > ${w}; sticking out: ${culprits.join('; ')}`);
    }
    for (const el of document.querySelectorAll('form input, form select, form button, form textarea')) {
      if (el.type === 'hidden' || el.hidden || el.closest('.scroll')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') {
        out.push(`${describe(el)} is not visible`);
      } else if (r.left < -0.5 || r.right > w + 0.5) {
        out.push(`${describe(el)} is outside the viewport (${Math.round(r.left)}..${Math.round(r.right)}px)`);
      }
    }
    return out;
  }, width);
  if (signedIn) {
    for (const name of NAV_LINKS) {
      const link = nav(page).getByRole('link', { name, exact: true });
      const box = (await link.isVisible()) ? await link.boundingBox() : null;
      if (!box) problems.push(`nav link "${name}" is not visible`);
      else if (box.x < -0.5 || box.x + box.width > width + 0.5) problems.push(`nav link "${name}" is outside the viewport`);
    }
    if (!(await page.getByRole('button', { name: 'Sign out' }).isVisible())) problems.push('"Sign out" is not visible');
  }
  return problems;
}

// ------------------------------------------------------------------------------ the demo server

let demo; // { bootstrap, base, stop }

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; set CHROMIUM_BIN`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  console.log(`[chromium] ${CHROMIUM} ${browser.version()}`);
  demo = await startServer();
  for (const key of ['graph_url', 'business_id', 'app_id', 'admin_system_user_id', 'admin_token', 'person_email',
    'person_password', 'waba_id', 'client_waba_id']) {
    assert.ok(typeof demo.bootstrap[key] === 'string' && demo.bootstrap[key] !== '', `bootstrap.json lacks ${key}`);
  }
});

after(async () => {
  if (browser) await browser.close();
  if (demo) await demo.stop();
});

/** Runs the steps of a test as subtests; after a failing step the later ones are skipped. */
function stepper(t, { chained = true } = {}) {
  let failed = null;
  return (name, fn, options = {}) => t.test(name, { skip: failed ? `previous step failed (${failed})` : false, ...options }, async () => {
    console.log(`--- ${name}`);
    try {
      await fn();
    } catch (err) {
      if (chained) failed = name;
      throw err;
    }
  });
}

// ------------------------------------------------------------------------------ 1. admin flow

let docsShot = null; // the WhatsApp account access page after the assignment, at 1280 px

test('1. the whole flow as an admin, by visible labels', { timeout: 180_000 }, async (t) => {
  const bs = demo.bootstrap;
  const base = demo.base;
  const context = await newContext();
  t.after(() => context.close());
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  const step = stepper(t);
  const s = {};

  await step('sign in: a wrong password is refused, the right one opens System Users', async () => {
    await page.goto(`${base}/console/sign-in`);
    await expectHeading(page, 'Sign in');
    await shot(page, 'sign-in');
    await page.getByLabel('Email', { exact: true }).fill(bs.person_email);
    await page.getByLabel('Password', { exact: true }).fill(`${bs.person_password}-wrong`);
    expectedErrorUrls.add(`${base}/console/sign-in`);
    const refused = await submit(page, page.getByRole('button', { name: 'Sign in' }));
    checkEqual(refused.status(), 401, 'wrong password: HTTP status');
    check(await page.getByText('Incorrect email or password.').isVisible(), 'wrong password: "Incorrect email or password." shown');
    checkEqual(await page.getByLabel('Email', { exact: true }).inputValue(), bs.person_email, 'the email is kept in the form');
    checkEqual((await context.cookies()).filter((c) => c.name === 'wabagate_session').length, 0, 'no session cookie yet');

    await page.getByLabel('Password', { exact: true }).fill(bs.person_password);
    await submit(page, page.getByRole('button', { name: 'Sign in' }));
    checkEqual(new URL(page.url()).pathname, '/console/system-users', 'redirected to /console/system-users');
    const cookie = (await context.cookies()).find((c) => c.name === 'wabagate_session');
    check(Boolean(cookie), 'session cookie wabagate_session set');
    checkEqual([cookie.httpOnly, cookie.sameSite, cookie.path], [true, 'Strict', '/console'],
      'cookie is HttpOnly, SameSite=Strict, Path=/console');
    check(!(await page.evaluate(() => document.cookie)).includes('wabagate_session'), 'scripts cannot read the cookie');
  });

  await step('System Users page and the signed-in chrome', async () => {
    await expectHeading(page, 'System Users');
    check(await page.locator('header').getByText('Business Settings', { exact: true }).isVisible(),
      'header "Business Settings"');
    check(await page.getByRole('button', { name: 'Sign out' }).isVisible(), '"Sign out" button');
    for (const name of NAV_LINKS) {
      check(await nav(page).getByRole('link', { name, exact: true }).isVisible(), `side navigation link "${name}"`);
    }
    const users = await tableRows(page.locator('main table').first());
    check(users.some((r) => r[0] === 'Acme Admin System User' && r[1] === 'Admin'),
      'system users table lists "Acme Admin System User" (Admin)', JSON.stringify(users));
    const people = await tableRows(tableAfter(page, 'People'));
    check(people.some((r) => r[0] === 'Ada Admin' && r[1] === 'Admin'), 'People table lists "Ada Admin" (Admin)',
      JSON.stringify(people));
    await shot(page, 'system-users');
  });

  await step('Add → System user policy → Accept → Create system user form', async () => {
    await follow(page, page.getByRole('link', { name: 'Add', exact: true }));
    const policy = page.getByRole('region', { name: 'System user policy' });
    check(await policy.isVisible(), 'first Add shows the "System user policy" section');
    await shot(page, 'system-user-policy');
    await submit(page, policy.getByRole('button', { name: 'Accept' }));
    check(await page.getByRole('heading', { name: 'Create system user' }).isVisible(),
      'after Accept: "Create system user" shown');
    check(!(await page.getByRole('region', { name: 'System user policy' }).isVisible()), 'the policy is gone');
  });

  await step('create system user "Console Bot" (Employee)', async () => {
    await page.getByLabel('Name', { exact: true }).fill('Console Bot');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'Employee' });
    await shot(page, 'create-system-user');
    await submit(page, page.getByRole('button', { name: 'Create system user' }));
    const m = new URL(page.url()).pathname.match(/^\/console\/system-users\/(\d+)$/);
    check(Boolean(m), "lands on the new system user's page", page.url());
    s.suId = m[1];
    await expectHeading(page, 'Console Bot');
    check(await page.getByText(`Employee · ID ${s.suId}`).isVisible(), 'shows role Employee and its ID', s.suId);
    for (const h of ['Rename', 'Installed apps', 'Tokens', 'Assigned WhatsApp accounts']) {
      check(await page.getByRole('heading', { name: h, exact: true }).isVisible(), `section "${h}"`);
    }
    checkEqual(await page.getByLabel('Name', { exact: true }).inputValue(), 'Console Bot', 'Rename: Name holds the current name');
    check(await page.getByText('No tokens.').isVisible(), 'Tokens table: "No tokens."');
    check(!(await page.getByRole('button', { name: 'Revoke tokens' }).isVisible()), 'no "Revoke tokens" without tokens');
    await shot(page, 'system-user');
  });

  await step('Generate new token: Acme Onboarding, Never, two permissions', async () => {
    await follow(page, page.getByRole('link', { name: 'Generate new token' }));
    await expectHeading(page, 'Generate new token');
    await page.getByLabel('App', { exact: true }).selectOption({ label: 'Acme Onboarding' });
    const expiration = page.getByRole('group', { name: 'Token expiration' });
    await expiration.getByRole('radio', { name: 'Never' }).check();
    check(await expiration.getByRole('radio', { name: '60 days' }).isVisible(), 'radio "60 days" offered');
    const boxes = page.getByRole('checkbox');
    const count = await boxes.count();
    check(count >= 30, 'a checkbox per permission', `${count} checkboxes`);
    for (const scope of ['catalog_management', 'whatsapp_business_messaging']) {
      check(await page.getByRole('checkbox', { name: scope, exact: true }).isVisible(), `permission "${scope}" offered`);
    }
    await page.getByRole('checkbox', { name: 'business_management', exact: true }).check();
    await page.getByRole('checkbox', { name: 'whatsapp_business_management', exact: true }).check();
    await shot(page, 'generate-token');
    await submit(page, page.getByRole('button', { name: 'Generate token' }));
    await expectHeading(page, 'Token generated');
    check(await page.getByText("You won't be able to see it again").isVisible(), 'warning: it will not be shown again');
    const field = page.getByLabel('Access token', { exact: true });
    s.token = await field.inputValue();
    check(s.token.startsWith('EAA') && s.token.length > 20, '"Access token" holds a token starting with EAA', short(s.token));
    check((await field.getAttribute('readonly')) !== null, 'the field is readonly');
    check(await page.getByText('business_management, whatsapp_business_management').isVisible(),
      'the page names the permissions');
    const copy = page.getByRole('button', { name: 'Copy' });
    check(await copy.isVisible(), '"Copy" button shown (script on)');
    const errorsBefore = jsErrors.length;
    await copy.click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    check(jsErrors.length === errorsBefore, 'clicking Copy throws nothing', jsErrors.slice(errorsBefore).join(' | '));
    const clip = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `(unreadable: ${e.message})`);
    checkEqual(short(clip), short(s.token), 'the clipboard holds the token');
    check(await page.getByRole('link', { name: 'Done' }).isVisible(), 'link "Done"');
    s.tokenShot = await shot(page, 'token-generated');
  });

  await step('WhatsApp Accounts → Acme Support', async () => {
    await clickNav(page, 'WhatsApp Accounts');
    await expectHeading(page, 'WhatsApp Accounts');
    const owned = await tableRows(tableAfter(page, 'Owned'));
    check(owned.some((r) => r[0] === 'Acme Support' && r[1] === bs.waba_id), 'Owned: Acme Support with its ID',
      JSON.stringify(owned));
    const shared = await tableRows(tableAfter(page, 'Shared with this business'));
    check(shared.some((r) => r[0] === 'Lucky Shrub' && r[1] === bs.client_waba_id),
      'Shared with this business: Lucky Shrub with its ID', JSON.stringify(shared));
    await shot(page, 'whatsapp-accounts');
    await follow(page, page.getByRole('link', { name: 'Acme Support', exact: true }));
    checkEqual(new URL(page.url()).pathname, `/console/whatsapp-accounts/${bs.waba_id}`, 'on the WABA page');
    await expectHeading(page, 'Acme Support');
    check(await page.getByRole('heading', { name: 'WhatsApp Account Access' }).isVisible(),
      'table "WhatsApp Account Access"');
    await shot(page, 'waba-before');
  });

  await step('Add People: Console Bot (system user), Full control, Assign', async () => {
    await follow(page, page.getByRole('link', { name: 'Add People' }));
    await expectHeading(page, 'Add People');
    const who = page.getByLabel('Person or system user', { exact: true });
    const options = await who.locator('option').allTextContents();
    check(options.includes('Console Bot (system user)') && options.includes('Ada Admin (person)'),
      'options name system users and people', JSON.stringify(options));
    await who.selectOption({ label: 'Console Bot (system user)' });
    await page.getByRole('radio', { name: 'Full control', exact: true }).check();
    check(await page.getByRole('radio', { name: 'Partial access' }).isVisible(), 'radio "Partial access" offered');
    check(await page.getByRole('checkbox', { name: 'Manage templates (MANAGE_TEMPLATES)' }).isVisible(),
      'task checkbox "Manage templates (MANAGE_TEMPLATES)"');
    await shot(page, 'add-people');
    await submit(page, page.getByRole('button', { name: 'Assign' }));
    checkEqual(new URL(page.url()).pathname, `/console/whatsapp-accounts/${bs.waba_id}`, 'back on the WABA page');
    const rows = await tableRows(tableAfter(page, 'WhatsApp Account Access'));
    const bot = rows.find((r) => r[0] === 'Console Bot');
    check(Boolean(bot), 'the access table lists Console Bot', JSON.stringify(rows));
    checkEqual(bot.slice(1, 3), ['System user', 'Full control'], 'Console Bot: System user, Full control');
    const row = tableAfter(page, 'WhatsApp Account Access').getByRole('row').filter({ hasText: 'Console Bot' });
    check(await row.getByRole('link', { name: 'Change' }).isVisible(), 'Actions: "Change" link');
    check(await row.getByRole('button', { name: 'Remove' }).isVisible(), 'Actions: "Remove" button');
    docsShot = await shot(page, 'waba-access');
  });

  await step('the Graph API sees what the console did (plain fetch)', async () => {
    const users = await systemUserNames(base, bs.admin_token, bs.business_id);
    check(users.some((u) => u.name === 'Console Bot' && String(u.id) === s.suId),
      `GET /{business}/system_users lists "Console Bot" (${s.suId})`);
    const me = await graph(base, 'GET', 'me', { token: s.token });
    checkEqual([me.status, String(me.body.id)], [200, s.suId], "GET /me with the new token: Console Bot's id");
    const assigned = await graph(base, 'GET', `${bs.waba_id}/assigned_users?business=${bs.business_id}`,
      { token: bs.admin_token });
    const entry = assigned.status === 200 && assigned.body.data.find((u) => String(u.id) === s.suId);
    check(Boolean(entry), 'GET /{waba}/assigned_users lists Console Bot');
    checkEqual(entry.tasks, ['MANAGE'], 'Console Bot tasks');
    const waba = await graph(base, 'GET', bs.waba_id, { token: s.token });
    checkEqual([waba.status, String(waba.body.id)], [200, bs.waba_id], 'GET /{waba} with the new token succeeds');
  });

  await step('Access overview and its CSV list the assignment', async () => {
    await clickNav(page, 'Access overview');
    await expectHeading(page, 'Access overview');
    await page.getByLabel('Filter', { exact: true }).fill('Console Bot');
    await follow(page, page.getByRole('button', { name: 'Filter' }));
    const table = page.locator('table.matrix');
    const header = await table.locator('thead th').allTextContents();
    const col = header.findIndex((h) => h.includes('Acme Support'));
    const rows = await tableRows(table);
    check(rows.length === 1 && rows[0][0].startsWith('Console Bot'), 'filtered to Console Bot', JSON.stringify(rows));
    checkEqual(rows[0][col], 'Full control', 'Console Bot × Acme Support');
    await shot(page, 'access-overview');
    const href = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    check(href.startsWith('/console/access.csv'), 'Download CSV links /console/access.csv', href);
    const csv = await page.request.get(new URL(href, base).toString());
    checkEqual(csv.status(), 200, 'CSV: HTTP 200');
    check(csv.headers()['content-type'].startsWith('text/csv'), 'CSV: text/csv', csv.headers()['content-type']);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    checkEqual(lines[0], 'user_id,user_name,user_type,waba_id,waba_name,tasks', 'CSV header');
    // The overview is of effective tasks: MANAGE comes with every task it implies.
    const row = lines.find((l) => l.startsWith(`${s.suId},Console Bot,SYSTEM_USER,${bs.waba_id},Acme Support,`));
    check(Boolean(row) && row.split(',')[5].split(' ').includes('MANAGE'),
      'CSV row: Console Bot, Acme Support, tasks with MANAGE', row || JSON.stringify(lines.slice(1)));
  });

  await step('Revoke tokens: the token stops working (190)', async () => {
    await clickNav(page, 'System Users');
    await follow(page, page.getByRole('link', { name: 'Console Bot', exact: true }));
    await expectHeading(page, 'Console Bot');
    let tokens = await tableRows(tableAfter(page, 'Tokens'));
    check(tokens.length === 1 && tokens[0][0] === 'Acme Onboarding' && tokens[0][3] === 'Never' &&
      tokens[0][5] === 'Active', 'Tokens: one Active, never-expiring Acme Onboarding token', JSON.stringify(tokens));
    checkEqual(tokens[0][1], 'business_management, whatsapp_business_management', 'Tokens: its permissions');
    // Last-use times are flushed to the store every few seconds (USAGE_FLUSH_INTERVAL): reload until shown.
    for (const deadline = Date.now() + 15_000; tokens[0][4] === '—' && Date.now() < deadline;) {
      await sleep(1000);
      await page.reload();
      tokens = await tableRows(tableAfter(page, 'Tokens'));
    }
    check(tokens[0][4] !== '—', 'Tokens: "Last used" is set (the API calls above used it)', tokens[0][4]);
    const assigned = await tableRows(tableAfter(page, 'Assigned WhatsApp accounts'));
    check(assigned.some((r) => r[0] === 'Acme Support' && r[2] === 'Full control'),
      'Assigned WhatsApp accounts: Acme Support, Full control', JSON.stringify(assigned));
    await submit(page, page.getByRole('button', { name: 'Revoke tokens' }));
    tokens = await tableRows(tableAfter(page, 'Tokens'));
    checkEqual(tokens.map((r) => r[5]), ['Revoked'], 'Tokens: status Revoked');
    await shot(page, 'tokens-revoked');
    const me = await graph(base, 'GET', 'me', { token: s.token });
    checkEqual([me.status, me.body && me.body.error && me.body.error.code], [401, 190], 'GET /me: HTTP 401, code 190');
  });

  await step('Tokens and Activity log pages show what happened', async () => {
    await clickNav(page, 'Tokens');
    await expectHeading(page, 'Tokens');
    const tokens = await tableRows(page.locator('main table'));
    check(tokens.some((r) => r[0] === 'Console Bot' && r[6] === 'Revoked'), 'Tokens: Console Bot, Revoked',
      JSON.stringify(tokens));
    check(tokens.some((r) => r[0] === 'Acme Admin System User' && r[6] === 'Active'),
      'Tokens: the admin system user, Active');
    await clickNav(page, 'Activity log');
    await expectHeading(page, 'Activity log');
    const events = await tableRows(page.locator('main table'));
    const actions = events.filter((r) => r[3].includes(s.suId)).map((r) => r[2]);
    for (const a of ['system_user.create', 'token.mint', 'assignment.add']) {
      check(actions.includes(a), `Activity log: ${a} for Console Bot`, JSON.stringify(actions));
    }
    await shot(page, 'activity');
  });

  await step('Sign out ends the session', async () => {
    await submit(page, page.getByRole('button', { name: 'Sign out' }));
    checkEqual(new URL(page.url()).pathname, '/console/sign-in', 'back on Sign in');
    await page.goto(`${base}/console/system-users`);
    checkEqual(new URL(page.url()).pathname, '/console/sign-in', 'System Users now redirects to Sign in');
  });
});

// ------------------------------------------------------------------------------ 2. API → console

test('2. changes made through the API show in the console at once', { timeout: 120_000 }, async (t) => {
  const bs = demo.bootstrap;
  const base = demo.base;
  const context = await newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  await signIn(page, base, bs.person_email, bs.person_password);
  const names = async () => (await tableRows(page.locator('main table').first())).map((r) => r[0]);
  check(!(await names()).includes('API Bot'), 'before: no "API Bot" in the System Users table');

  const id = await createSystemUserViaApi(base, bs.admin_token, bs.business_id, 'API Bot');
  await page.reload();
  const rows = await tableRows(page.locator('main table').first());
  check(rows.some((r) => r[0] === 'API Bot' && r[1] === 'Employee' && r[2] === id),
    'after a reload: "API Bot" (Employee) with its ID', JSON.stringify(rows));

  await clickNav(page, 'Activity log');
  await expectHeading(page, 'Activity log');
  let events = await tableRows(page.locator('main table'));
  const create = events.find((r) => r[2] === 'system_user.create' && r[3] === `API Bot (${id})`);
  check(Boolean(create), 'Activity log: system_user.create, target "API Bot (id)"',
    JSON.stringify(events.slice(0, 5)));
  check(create[1].startsWith('Acme Admin System User'), 'its actor is the admin system user', create[1]);

  await page.getByLabel('Target', { exact: true }).fill(id);
  await follow(page, page.getByRole('button', { name: 'Filter' }));
  events = await tableRows(page.locator('main table'));
  check(events.length >= 1 && events.every((r) => r[3].includes(id)), 'filtered by Target: only its events',
    JSON.stringify(events.map((r) => r[2])));
  await shot(page, 'activity-api-bot');

  const renamed = await graph(base, 'POST', `${bs.business_id}/system_users`,
    { token: bs.admin_token, form: { system_user_id: id, name: 'API Bot Renamed' } });
  check(renamed.status === 200, 'API renamed it', `HTTP ${renamed.status}`);
  await page.goto(`${base}/console/system-users/${id}`);
  await expectHeading(page, 'API Bot Renamed');
});

// ------------------------------------------------------------------------------ 2b. webhooks

/** A webhook receiver on loopback: echoes the handshake for `verifyToken`, checks each POST's
 *  X-Hub-Signature-256 with `secret`, answers 500 to the first `failFirst` POSTs, then 200. */
async function startReceiver(secret, verifyToken, failFirst) {
  const posts = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'GET') {
      const ok = url.searchParams.get('hub.verify_token') === verifyToken;
      res.writeHead(ok ? 200 : 403);
      res.end(ok ? url.searchParams.get('hub.challenge') : '');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const expected = `sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;
      const status = posts.length < failFirst ? 500 : 200;
      posts.push({
        delivery: req.headers['x-wabagate-delivery'],
        signed: req.headers['x-hub-signature-256'] === expected,
        body: JSON.parse(raw.toString()),
        status,
      });
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, posts, close: () => server.close() };
}

async function waitFor(what, predicate, ms = 15_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return;
    await sleep(50);
  }
  check(false, what, 'not within 15 s');
}

test('2b. webhook deliveries are listed in the console and Redeliver sends one again', { timeout: 120_000 }, async (t) => {
  const bs = demo.bootstrap;
  const base = demo.base;
  const receiver = await startReceiver(bs.app_secret, 'browser-vt', 1);
  t.after(() => receiver.close());
  const subscribed = await graph(base, 'POST', `${bs.app_id}/subscriptions`, {
    token: `${bs.app_id}|${bs.app_secret}`,
    form: { object: 'whatsapp_business_account', callback_url: receiver.url, verify_token: 'browser-vt', fields: 'messages' },
  });
  check(subscribed.status === 200, 'the app subscribed (handshake answered)', JSON.stringify(subscribed.body));
  check((await graph(base, 'POST', `${bs.waba_id}/subscribed_apps`, { token: bs.admin_token })).status === 200,
    'the app subscribed to the WABA');
  const inbound = await graph(base, 'POST', `_wabagate/phone_numbers/${bs.phone_number_id}/inbound`,
    { token: bs.admin_token, form: { from: '16505551234', text: 'Hello from the browser test', name: 'Bo' } });
  check(inbound.status === 200, 'a customer message was simulated', JSON.stringify(inbound.body));
  await waitFor('the delivery failed once, then arrived', () => receiver.posts.length >= 2);
  check(receiver.posts.every((p) => p.signed), 'every POST carries the app secret\'s signature');

  const context = await newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  await signIn(page, base, bs.person_email, bs.person_password);
  await clickNav(page, 'Webhooks');
  await expectHeading(page, 'Webhooks');
  let rows = await tableRows(page.locator('main table'));
  const row = rows.find((r) => r[1].startsWith('messages') && r[1].includes('inbound message'));
  check(Boolean(row), 'the delivery is listed as "messages inbound message"', JSON.stringify(rows));
  check(row[2] === bs.waba_id, 'its target is the WABA', row[2]);
  check(row[3].startsWith('delivered 200'), 'delivered, 200', row[3]);
  check(row[4] === '2', 'after 2 attempts', row[4]);
  await page.locator('main table tbody tr').first().getByText('Body', { exact: true }).click();
  check(await page.getByText('Hello from the browser test').first().isVisible(), 'its body opens and shows the text');
  await shot(page, 'webhooks');

  await submit(page, page.locator('main table tbody tr').first().getByRole('button', { name: 'Redeliver' }));
  await expectHeading(page, 'Webhooks');
  await waitFor('the redelivery arrived', () => receiver.posts.length >= 3);
  const [first, , again] = receiver.posts;
  check(again.status === 200 && again.signed, 'the redelivery was signed and answered 200');
  check(JSON.stringify(again.body) === JSON.stringify(first.body), 'with the same body');
  check(again.delivery !== first.delivery, 'as a new delivery id', `${first.delivery} -> ${again.delivery}`);
  await page.reload();
  rows = await tableRows(page.locator('main table'));
  check(rows.length >= 2 && rows[0][3].startsWith('delivered 200') && rows[0][4] === '1',
    'the new delivery is listed first, delivered at once', JSON.stringify(rows.slice(0, 2)));
});

// ------------------------------------------------------------------------------ 3. non-admin

const FIXTURE_PASSWORDS = { admin: 'admin password for the browser test', employee: 'employee password for the browser test' };
const FIXTURES = `# The world of the browser tests' non-admin test.
[[business]]
key = "biz"
name = "Browser Test Partners"

[[person]]
key = "boss"
business = "biz"
name = "Bea Boss"
email = "boss@browser.test"
role = "ADMIN"
password = "${FIXTURE_PASSWORDS.admin}"

[[person]]
key = "eve"
business = "biz"
name = "Eve Employee"
email = "eve@browser.test"
role = "EMPLOYEE"
password = "${FIXTURE_PASSWORDS.employee}"

[[app]]
key = "app"
business = "biz"
name = "Browser App"

[[system_user]]
key = "admin_su"
business = "biz"
name = "Browser Admin System User"
role = "ADMIN"
apps = ["app"]

[[system_user]]
key = "worker"
business = "biz"
name = "Worker Bot"
role = "EMPLOYEE"
apps = ["app"]

[[token]]
key = "admin"
system_user = "admin_su"
app = "app"
scopes = ["business_management", "whatsapp_business_management"]

[[token]]
key = "worker"
system_user = "worker"
app = "app"
scopes = ["whatsapp_business_messaging"]

[[waba]]
key = "waba"
owner = "biz"
name = "Browser WABA"

[[assignment]]
waba = "waba"
user = "eve"
tasks = ["MESSAGING", "VIEW_TEMPLATES"]

[[assignment]]
waba = "waba"
user = "worker"
tasks = ["MESSAGING"]
`;

test('3. a non-admin person sees no change controls and forged POSTs are refused', { timeout: 180_000 }, async (t) => {
  const server = await startServer({ fixtures: FIXTURES });
  t.after(() => server.stop());
  const base = server.base;
  const bs = server.bootstrap;
  for (const key of ['biz', 'boss', 'eve', 'worker', 'waba']) {
    assert.ok(bs.ids && bs.ids[key], `bootstrap.json ids lack ${key}`);
  }
  const ids = bs.ids;
  const adminToken = bs.tokens.admin;
  const workerToken = bs.tokens.worker;
  const step = stepper(t);

  const context = await newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const s = {};

  const forge = async (what, pathname, form) => {
    const url = `${base}${pathname}`;
    const res = await page.request.post(url, { form, maxRedirects: 0 });
    const body = await res.text();
    const title = (body.match(/<h1>([^<]*)<\/h1>/) || [])[1];
    console.log(`  forged POST ${pathname} ${JSON.stringify({ ...form, csrf: form.csrf && short(form.csrf) })} ` +
      `-> HTTP ${res.status()} "${title}"${res.headers().location ? ` location ${res.headers().location}` : ''}`);
    return { status: res.status(), title, body, location: res.headers().location };
  };

  await step('the employee signs in; System Users has no "Add"', async () => {
    await signIn(page, base, 'eve@browser.test', FIXTURE_PASSWORDS.employee);
    await expectHeading(page, 'System Users');
    check(await page.getByText('Browser Test Partners · Eve Employee').isVisible(), 'header names the employee');
    check(!(await page.getByText('(admin)').isVisible()), 'not marked (admin)');
    checkEqual(await page.getByRole('link', { name: 'Add', exact: true }).count(), 0, 'no "Add" link');
    const users = (await tableRows(page.locator('main table').first())).map((r) => r[0]);
    check(users.includes('Worker Bot'), 'the system users are listed', JSON.stringify(users));
    await shot(page, 'employee-system-users');
    await page.goto(`${base}/console/system-users?add=1`);
    checkEqual(await page.getByRole('heading', { name: 'System user policy' }).count(), 0, '?add=1: no policy section');
    checkEqual(await page.getByRole('heading', { name: 'Create system user' }).count(), 0, '?add=1: no create form');
    s.csrf = await csrfOf(page);
  });

  await step("a system user's page: no Generate new token, Rename, Install or Revoke", async () => {
    await follow(page, page.getByRole('link', { name: 'Worker Bot', exact: true }));
    await expectHeading(page, 'Worker Bot');
    for (const [role, name] of [['link', 'Generate new token'], ['button', 'Rename'], ['button', 'Install'],
      ['button', 'Revoke tokens']]) {
      checkEqual(await page.getByRole(role, { name }).count(), 0, `no ${role} "${name}"`);
    }
    const tokens = await tableRows(tableAfter(page, 'Tokens'));
    check(tokens.length === 1 && tokens[0][5] === 'Active', 'its token is listed, Active', JSON.stringify(tokens));
    await shot(page, 'employee-system-user');
    const url = `${base}/console/system-users/${ids.worker}/token`;
    expectedErrorUrls.add(url);
    const res = await page.goto(url);
    checkEqual(res.status(), 403, 'GET the Generate new token page directly: HTTP 403');
    await expectHeading(page, 'Not allowed');
  });

  await step('the WABA page: no Add People, Change or Remove', async () => {
    await page.goto(`${base}/console/whatsapp-accounts`);
    const owned = await tableRows(tableAfter(page, 'Owned'));
    check(owned.some((r) => r[0] === 'Browser WABA'), 'the employee sees the WABA it is assigned to',
      JSON.stringify(owned));
    await follow(page, page.getByRole('link', { name: 'Browser WABA', exact: true }));
    await expectHeading(page, 'Browser WABA');
    for (const [role, name] of [['link', 'Add People'], ['link', 'Change'], ['button', 'Remove']]) {
      checkEqual(await page.getByRole(role, { name }).count(), 0, `no ${role} "${name}"`);
    }
    const rows = await tableRows(tableAfter(page, 'WhatsApp Account Access'));
    check(rows.some((r) => r[0] === 'Eve Employee' && r[2].split(', ').sort().join() === 'MESSAGING,VIEW_TEMPLATES'),
      'the access table shows its own tasks', JSON.stringify(rows));
    await shot(page, 'employee-waba');
    const url = `${base}/console/whatsapp-accounts/${ids.waba}/add-people`;
    expectedErrorUrls.add(url);
    const res = await page.goto(url);
    checkEqual(res.status(), 403, 'GET the Add People page directly: HTTP 403');
    checkEqual(await page.getByRole('button', { name: 'Assign' }).count(), 0, 'no Assign form');
    const activity = `${base}/console/activity`;
    expectedErrorUrls.add(activity);
    const act = await page.goto(activity);
    checkEqual(act.status(), 403, 'Activity log is for admins: HTTP 403');
  });

  await step("forged POSTs with the employee's own csrf token are refused with 403", async () => {
    const before = (await systemUserNames(base, adminToken, ids.biz)).map((u) => u.name).sort();
    // The business has not accepted the system user policy yet (no admin has pressed Add).
    let r = await forge('create', '/console/system-users', { csrf: s.csrf, name: 'X', role: 'EMPLOYEE' });
    check(r.status !== 200 && !/^\/console\/system-users\/\d+/.test(r.location || ''),
      'create a system user (policy not yet accepted): not created', `HTTP ${r.status} ${r.location || ''}`);
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'create a system user (policy not yet accepted): refused');
    r = await forge('policy', '/console/system-users/policy', { csrf: s.csrf });
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'accept the system user policy');
    r = await forge('mint', `/console/system-users/${ids.worker}/token`,
      { csrf: s.csrf, app: ids.app, expiration: 'never', scope: 'whatsapp_business_messaging' });
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'generate a token');
    check(!/EAA[A-Za-z0-9]{20,}/.test(r.body), 'no token in the answer');
    r = await forge('rename', `/console/system-users/${ids.worker}/rename`, { csrf: s.csrf, name: 'Hijacked' });
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'rename a system user');
    r = await forge('revoke', `/console/system-users/${ids.worker}/tokens/revoke`, { csrf: s.csrf });
    checkEqual([r.status, r.title], [403, 'Not allowed'], "revoke a system user's tokens");
    r = await forge('assign', `/console/whatsapp-accounts/${ids.waba}/people`,
      { csrf: s.csrf, user: ids.eve, access: 'full' });
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'give itself Full control');
    r = await forge('unassign', `/console/whatsapp-accounts/${ids.waba}/people/${ids.worker}/remove`, { csrf: s.csrf });
    checkEqual([r.status, r.title], [403, 'Not allowed'], 'remove an assignment');

    const after = (await systemUserNames(base, adminToken, ids.biz)).map((u) => u.name).sort();
    checkEqual(after, before, 'API: the system users are unchanged (no "X", no rename)');
    const me = await graph(base, 'GET', 'me', { token: workerToken });
    checkEqual(me.status, 200, "API: the worker's token still works");
    const assigned = await graph(base, 'GET', `${ids.waba}/assigned_users?business=${ids.biz}`, { token: adminToken });
    const tasks = Object.fromEntries(assigned.body.data.map((u) => [String(u.id), [...u.tasks].sort()]));
    checkEqual([tasks[ids.eve], tasks[ids.worker]], [['MESSAGING', 'VIEW_TEMPLATES'], ['MESSAGING']],
      'API: the assignments are unchanged');
  });

  await step('once an admin accepted the policy, the forged create is still refused', async () => {
    const adminContext = await newContext();
    try {
      const admin = await adminContext.newPage();
      await signIn(admin, base, 'boss@browser.test', FIXTURE_PASSWORDS.admin);
      await follow(admin, admin.getByRole('link', { name: 'Add', exact: true }));
      await submit(admin, admin.getByRole('button', { name: 'Accept' }));
      check(await admin.getByRole('heading', { name: 'Create system user' }).isVisible(), 'the admin accepted the policy');
      const adminCsrf = await csrfOf(admin);
      check(adminCsrf !== s.csrf, "each session has its own csrf token");

      const r = await forge('create', '/console/system-users', { csrf: s.csrf, name: 'X', role: 'ADMIN' });
      checkEqual([r.status, r.title], [403, 'Not allowed'], 'the employee: create a system user');
      const names = (await systemUserNames(base, adminToken, ids.biz)).map((u) => u.name);
      check(!names.includes('X'), 'API: no system user "X"', JSON.stringify(names));

      // The admin's own session: a POST without the right csrf token is refused too.
      const post = async (form) => {
        const res = await admin.request.post(`${base}/console/system-users`, { form, maxRedirects: 0 });
        return res.status();
      };
      checkEqual(await post({ name: 'No Csrf', role: 'EMPLOYEE' }), 403, 'admin POST without csrf: 403');
      checkEqual(await post({ csrf: 'wrong', name: 'Wrong Csrf', role: 'EMPLOYEE' }), 403, 'admin POST with a wrong csrf: 403');
      checkEqual(await post({ csrf: s.csrf, name: 'Other Csrf', role: 'EMPLOYEE' }), 403,
        "admin POST with another session's csrf: 403");
      const after = (await systemUserNames(base, adminToken, ids.biz)).map((u) => u.name);
      check(!after.some((n) => /Csrf/.test(n)), 'API: none of them was created', JSON.stringify(after));
      checkEqual(await post({ csrf: adminCsrf, name: 'Right Csrf', role: 'EMPLOYEE' }), 303,
        'admin POST with its own csrf: 303 to the new system user');
      const last = (await systemUserNames(base, adminToken, ids.biz)).map((u) => u.name);
      check(last.includes('Right Csrf'), 'API: "Right Csrf" created', JSON.stringify(last));
    } finally {
      await adminContext.close();
    }
  });
});

// ------------------------------------------------------------------------------ 4. escaping

test('4. names are shown as text, never run', { timeout: 120_000 }, async (t) => {
  const bs = demo.bootstrap;
  const base = demo.base;
  const script = '<script>alert(1)</script>';
  const attr = '"><img src=x onerror=alert(2)>';
  const scriptId = await createSystemUserViaApi(base, bs.admin_token, bs.business_id, script);
  const attrId = await createSystemUserViaApi(base, bs.admin_token, bs.business_id, attr);
  const context = await newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const dialogsBefore = dialogs.length;
  await signIn(page, base, bs.person_email, bs.person_password);
  await page.reload();

  const injected = () => page.evaluate(() => ({
    scripts: [...document.scripts].map((s) => s.getAttribute('src') || `inline: ${s.textContent.slice(0, 40)}`),
    imgs: document.images.length,
  }));
  const clean = async (where) => {
    checkEqual(await injected(), { scripts: ['/console/static/app.js'], imgs: 0 },
      `${where}: no injected <script> or <img> in the DOM`);
  };

  const link = page.getByRole('link', { name: script, exact: true });
  checkEqual(await link.count(), 1, 'System Users: a link whose text is the literal name');
  checkEqual(await link.textContent(), script, 'its textContent is the literal <script>alert(1)</script>');
  checkEqual(await page.getByRole('link', { name: attr, exact: true }).textContent(), attr,
    'the attribute-breaking name is literal text too');
  await clean('System Users');
  await shot(page, 'escaping-system-users');

  await follow(page, link);
  await expectHeading(page, script);
  checkEqual(await page.getByLabel('Name', { exact: true }).inputValue(), script, 'Rename: the input holds the literal name');
  checkEqual(await page.title(), `${script} · wabagate`, 'the <title> holds the literal name');
  await clean('its page');

  await page.goto(`${base}/console/system-users/${attrId}`);
  await expectHeading(page, attr);
  checkEqual(await page.getByLabel('Name', { exact: true }).inputValue(), attr, 'Rename: the value attribute holds the literal name');
  await clean('the attribute name page');

  await page.goto(`${base}/console/whatsapp-accounts/${bs.waba_id}/add-people`);
  const options = await page.getByLabel('Person or system user', { exact: true }).locator('option').allTextContents();
  check(options.includes(`${script} (system user)`) && options.includes(`${attr} (system user)`),
    'Add People: the names are literal option labels');
  await clean('Add People');

  await page.goto(`${base}/console/activity?target=${scriptId}`);
  const events = await tableRows(page.locator('main table'));
  check(events.some((r) => r[3] === `${script} (${scriptId})`), 'Activity log: the literal name as target',
    JSON.stringify(events.map((r) => r[3])));
  await clean('Activity log');

  await page.goto(`${base}/console/access?filter=${encodeURIComponent(script)}`);
  checkEqual(await page.getByLabel('Filter', { exact: true }).inputValue(), script, 'Access overview: the filter echoes literally');
  await clean('Access overview');
  const rows = await tableRows(page.locator('table.matrix'));
  check(rows.some((r) => r[0].startsWith(script)), 'Access overview: the literal name', JSON.stringify(rows));

  await sleep(300);
  checkEqual(dialogs.slice(dialogsBefore), [], 'no dialog fired');
});

// ------------------------------------------------------------------------------ 5. layout, JS, no-JS


test('5. no script errors, usable at 1280 and 390 px, forms work without JavaScript', { timeout: 240_000 },
  async (t) => {
    const bs = demo.bootstrap;
    const base = demo.base;
    const step = stepper(t, { chained: false }); // independent checks: each runs whatever the others did
    const layoutBot = await createSystemUserViaApi(base, bs.admin_token, bs.business_id, 'Layout Bot');

    for (const viewport of [WIDE, NARROW]) {
      await step(`every page at ${viewport.width} px`, async () => {
        const context = await newContext({ viewport });
        try {
          const page = await context.newPage();
          const problems = [];
          const look = async (name, { signedIn = true } = {}) => {
            const found = await layoutProblems(page, viewport.width, { signedIn });
            await page.screenshot({ path: path.join(SHOTS, `w${viewport.width}-${name}.png`), fullPage: true });
            const where = `${name} (${new URL(page.url()).pathname})`;
            check(true, `${viewport.width}px ${where}: ${found.length ? `${found.length} problem(s)` : 'fits'}`);
            for (const p of found) {
              console.log(`      - ${p}`);
              problems.push(`${where}: ${p}`);
            }
          };
          await page.goto(`${base}/console/sign-in`);
          await look('sign-in', { signedIn: false });
          await page.getByLabel('Email', { exact: true }).fill(bs.person_email);
          await page.getByLabel('Password', { exact: true }).fill('not the password');
          await submit(page, page.getByRole('button', { name: 'Sign in' }));
          await look('sign-in-error', { signedIn: false });
          await signIn(page, base, bs.person_email, bs.person_password);
          await look('system-users');
          await page.goto(`${base}/console/system-users?add=1`);
          if (await page.getByRole('button', { name: 'Accept' }).isVisible()) {
            await look('system-user-policy');
            await submit(page, page.getByRole('button', { name: 'Accept' }));
          }
          await look('create-system-user');
          await page.goto(`${base}/console/system-users/${bs.admin_system_user_id}`);
          await look('system-user-with-token');
          await page.goto(`${base}/console/system-users/${layoutBot}/token`);
          await look('generate-token');
          await page.getByRole('checkbox', { name: 'whatsapp_business_messaging', exact: true }).check();
          await submit(page, page.getByRole('button', { name: 'Generate token' }));
          await expectHeading(page, 'Token generated');
          await look('token-generated');
          await page.goto(`${base}/console/whatsapp-accounts`);
          await look('whatsapp-accounts');
          for (const [name, id] of [['waba-owned', bs.waba_id], ['waba-shared', bs.client_waba_id]]) {
            await page.goto(`${base}/console/whatsapp-accounts/${id}`);
            await look(name);
            await page.goto(`${base}/console/whatsapp-accounts/${id}/add-people`);
            await look(`${name}-add-people`);
          }
          for (const p of ['access', 'tokens', 'activity']) {
            await page.goto(`${base}/console/${p}`);
            await look(p);
          }
          const missing = `${base}/console/system-users/1`;
          expectedErrorUrls.add(missing);
          const res = await page.goto(missing);
          checkEqual(res.status(), 404, 'a missing system user: HTTP 404');
          await look('not-found', { signedIn: false });
          check(problems.length === 0, `every page is usable at ${viewport.width} px (known console bugs apart)`,
            problems.length ? `\n    ${problems.join('\n    ')}` : '');
        } finally {
          await context.close();
        }
      });
    }

    await step('with JavaScript disabled: sign in, create a system user, generate a token', async () => {
      const context = await newContext({ javaScriptEnabled: false });
      try {
        const page = await context.newPage();
        await signIn(page, base, bs.person_email, bs.person_password);
        await follow(page, page.getByRole('link', { name: 'Add', exact: true }));
        if (await page.getByRole('button', { name: 'Accept' }).isVisible()) {
          await submit(page, page.getByRole('button', { name: 'Accept' }));
        }
        await page.getByLabel('Name', { exact: true }).fill('No Script Bot');
        await page.getByLabel('Role', { exact: true }).selectOption({ label: 'Employee' });
        await submit(page, page.getByRole('button', { name: 'Create system user' }));
        await expectHeading(page, 'No Script Bot');
        const suId = new URL(page.url()).pathname.split('/').pop();
        await follow(page, page.getByRole('link', { name: 'Generate new token' }));
        await page.getByLabel('App', { exact: true }).selectOption({ label: 'Acme Onboarding' });
        await page.getByRole('radio', { name: '60 days' }).check();
        await page.getByRole('checkbox', { name: 'whatsapp_business_messaging', exact: true }).check();
        await submit(page, page.getByRole('button', { name: 'Generate token' }));
        await expectHeading(page, 'Token generated');
        const token = await page.getByLabel('Access token', { exact: true }).inputValue();
        check(token.startsWith('EAA'), 'the token is in the "Access token" field', short(token));
        checkEqual(await page.locator('button[data-copy]').getAttribute('hidden'), '',
          'the Copy button carries the hidden attribute (no script removed it)');
        check(await page.locator('button[data-copy]').isHidden(), 'the Copy button is not shown without JavaScript');
        await shot(page, 'no-js-token-generated');
        const me = await graph(base, 'GET', 'me', { token });
        checkEqual([me.status, String(me.body.id)], [200, suId], "API: the token is No Script Bot's");
        const debug = await graph(base, 'GET', `debug_token?input_token=${token}`, { token: bs.admin_token });
        check(debug.status === 200 && debug.body.data.expires_at > 0, 'API: it expires (60 days)',
          JSON.stringify(debug.body.data && debug.body.data.expires_at));
      } finally {
        await context.close();
      }
    });

    await step('no JavaScript errors on any page visited by these tests', async () => {
      check(visited.size >= 20, 'pages were visited', `${visited.size} distinct URLs`);
      check(jsErrors.length === 0, 'no uncaught exceptions and no console errors',
        jsErrors.length ? `\n    ${jsErrors.join('\n    ')}` : '');
    });
  });

// ------------------------------------------------------------------------------ 6. docs screenshot

test('6. the WhatsApp account access screenshot for docs/console.png', async (t) => {
  if (!docsShot) return t.skip('test 1 took no screenshot of the WhatsApp account access page');
  if (!process.env.WABAGATE_UPDATE_DOCS) {
    console.log(`  ${path.relative(REPO_ROOT, docsShot)} is the docs screenshot; ` +
      'WABAGATE_UPDATE_DOCS=1 copies it to docs/console.png');
    return t.skip('WABAGATE_UPDATE_DOCS is not set');
  }
  fs.copyFileSync(docsShot, DOCS_SHOT);
  check(fs.statSync(DOCS_SHOT).size > 0, `copied to ${path.relative(REPO_ROOT, DOCS_SHOT)}`);
  return undefined;
});

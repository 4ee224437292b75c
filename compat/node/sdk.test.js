'use strict';
// End-to-end: the UNMODIFIED npm package `facebook-nodejs-business-sdk` 24.0.1 against a
// real wabagate server, with Node's built-in test runner.
//
//   cargo build -p wabagate                     # at the repository root
//   cd compat/node && npm ci && npm test        # WABAGATE_BIN=... to use another binary
//
// The test starts `wabagate serve --listen 127.0.0.1:<free port> --data <fresh temp dir>`,
// reads `<data>/bootstrap.json`, points the SDK at the server by overriding the static
// `FacebookAdsApi.GRAPH` getter, and runs one scenario as ordered steps. Each step prints
// what it checks; the first failing step fails the run and the later steps are skipped
// ("previous step failed"). Set WABAGATE_KEEP_DATA=1 to keep the server's data dir and logs.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const sdk = require('facebook-nodejs-business-sdk');
const { FacebookAdsApi, Business, User, WhatsAppBusinessAccount } = sdk;
// The SDK's own axios instance (observed only, never altered): records every HTTP exchange
// so that failures show the last request/response and wire-level claims can be checked.
const axios = require(require.resolve('axios', {
  paths: [path.dirname(require.resolve('facebook-nodejs-business-sdk'))],
}));

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_BIN = path.join(REPO_ROOT, 'target', 'debug', 'wabagate');
const STARTUP_TIMEOUT_MS = 20_000;
const SCOPES = ['business_management', 'whatsapp_business_management'];
const MAX_PAGES = 50;

// ------------------------------------------------------------------------------ wire log

const exchanges = [];

function record(config, response) {
  let body = config && config.data;
  if (body !== undefined && typeof body !== 'string') body = JSON.stringify(body);
  exchanges.push({
    method: String((config && config.method) || '?').toUpperCase(),
    url: config && config.url,
    body,
    status: response ? response.status : null,
    response: response ? response.data : null,
  });
}

axios.interceptors.response.use(
  (response) => {
    record(response.config, response);
    return response;
  },
  (error) => {
    record(error.config, error.response);
    return Promise.reject(error);
  },
);

function describeExchange(x) {
  if (!x) return '(no HTTP exchange recorded)';
  const resp = typeof x.response === 'string' ? x.response : JSON.stringify(x.response);
  return `${x.method} ${x.url}` + (x.body ? `\n    body: ${x.body}` : '') +
    `\n  -> HTTP ${x.status} ${String(resp).slice(0, 800)}`;
}

function lastExchange() {
  return exchanges[exchanges.length - 1];
}

// ------------------------------------------------------------------------------ checks

function check(cond, what, detail = '') {
  console.log(`  [${cond ? 'ok' : 'FAIL'}] ${what}${detail ? `  (${detail})` : ''}`);
  if (!cond) {
    throw new assert.AssertionError({
      message: `${what}${detail ? `: ${detail}` : ''}\nlast exchange:\n  ${describeExchange(lastExchange())}`,
    });
  }
}

function checkEqual(actual, expected, what) {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  check(ok, what, ok ? JSON.stringify(actual) : `got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}

/** Await a promise that must reject with the SDK's FacebookRequestError; return the error. */
async function expectRequestError(promise, what) {
  let result;
  try {
    result = await promise;
  } catch (err) {
    console.log(`  ${what}: ${err && err.name} status=${err && err.status} ` +
      `response=${JSON.stringify(err && err.response)}`);
    check(err instanceof Error && err.name === 'FacebookRequestError',
      `${what}: rejects with FacebookRequestError`, `got ${err && err.name}: ${err && err.message}`);
    return err;
  }
  const data = result && typeof result.exportAllData === 'function' ? result.exportAllData() : result;
  check(false, `${what}: rejects with FacebookRequestError`, `resolved instead with ${JSON.stringify(data)}`);
  return undefined;
}

/** Follow a Cursor through every page (the SDK GETs `paging.next` verbatim). */
async function collectAll(firstPage, what) {
  const items = [];
  const pageSizes = [];
  let cursor = firstPage;
  for (;;) {
    pageSizes.push(cursor.length);
    items.push(...cursor);
    if (!cursor.hasNext()) break;
    if (pageSizes.length >= MAX_PAGES) check(false, `${what}: pagination ends within ${MAX_PAGES} pages`);
    const nextUrl = cursor.paging.next;
    check(typeof nextUrl === 'string' && nextUrl.startsWith(`${FacebookAdsApi.GRAPH}/`),
      `${what}: paging.next is an absolute URL on the server`, JSON.stringify(nextUrl));
    cursor = await cursor.next();
    const x = lastExchange();
    check(x && x.url === nextUrl, `${what}: page ${pageSizes.length + 1} fetched from paging.next verbatim`,
      x && x.url);
  }
  return { items, pageSizes };
}

// ------------------------------------------------------------------------------ server

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

async function startServer() {
  const binary = process.env.WABAGATE_BIN || DEFAULT_BIN;
  if (!fs.existsSync(binary)) {
    throw new Error(`wabagate binary not found at ${binary}; run \`cargo build -p wabagate\` ` +
      'at the repository root or set WABAGATE_BIN');
  }
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'wabagate-compat-node-'));
  const dataDir = path.join(workdir, 'data'); // fresh: does not exist yet
  const stdoutPath = path.join(workdir, 'server.stdout');
  const stderrPath = path.join(workdir, 'server.stderr');
  const port = await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir];
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
  // Never leave the server behind, even if this process dies without running any cleanup
  // (SIGKILL, a broken stdout pipe, the runner going away): a tiny watchdog process holds a
  // pipe from us and stops the server when that pipe closes.
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
    watchdog.kill('SIGKILL'); // the server is gone and reaped: the watchdog has nothing left to do
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
    console.log(`[wabagate] up at ${bootstrap.graph_url} (data ${dataDir})`);
    return { bootstrap, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ------------------------------------------------------------------------------ scenario

test('facebook-nodejs-business-sdk 24.0.1 against wabagate', { timeout: 120_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const bs = server.bootstrap;

  for (const key of ['graph_url', 'business_id', 'app_id', 'app_secret', 'admin_system_user_id',
    'admin_token', 'waba_id']) {
    assert.ok(typeof bs[key] === 'string' && bs[key] !== '', `bootstrap.json lacks ${key}`);
  }
  const graphUrl = bs.graph_url.replace(/\/+$/, '');

  // Point the unmodified SDK at the local server: GRAPH is a configurable static getter.
  Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => graphUrl, configurable: true });
  assert.equal(FacebookAdsApi.GRAPH, graphUrl, 'FacebookAdsApi.GRAPH override did not take');
  console.log(`SDK: FacebookAdsApi.GRAPH=${FacebookAdsApi.GRAPH} VERSION=${FacebookAdsApi.VERSION}`);
  const api = new FacebookAdsApi(bs.admin_token, 'en_US', false); // crash log off

  const s = {}; // state shared by the steps
  let failed = null;
  const step = (name, fn) => t.test(name, { skip: failed ? `previous step failed (${failed})` : false },
    async () => {
      console.log(`--- ${name}`);
      try {
        await fn();
      } catch (err) {
        failed = name;
        if (err && err.name === 'FacebookRequestError') {
          // An unexpected SDK rejection: say which request failed and what the server answered.
          err.message = `unexpected FacebookRequestError: HTTP ${err.status} ${err.method} ${err.url}\n` +
            `  error: ${JSON.stringify(err.response)}\nlast exchange:\n  ${describeExchange(lastExchange())}`;
        }
        throw err;
      }
    });

  await step('1. create a system user', async () => {
    const su = await new Business(bs.business_id, {}, undefined, api)
      .createSystemUser([], { name: 'Node Bot', role: 'EMPLOYEE' });
    const x = lastExchange();
    check(x.method === 'POST' && x.url.startsWith(`${graphUrl}/v24.0/${bs.business_id}/system_users?`),
      'POST /v24.0/{business}/system_users', x.url);
    check(su instanceof sdk.SystemUser, 'result is a SystemUser');
    check(typeof su.id === 'string' && /^\d+$/.test(su.id), 'new system user has a numeric string id', su.id);
    s.suId = su.id;
  });

  await step('2. list system users, limit 1, following every paging.next', async () => {
    const business = new Business(bs.business_id, {}, undefined, api);
    const first = await business.getSystemUsers(['id', 'name', 'role'], { limit: 1 });
    const { items, pageSizes } = await collectAll(first, 'system_users');
    const ids = items.map((u) => u.id);
    console.log(`  pages: ${JSON.stringify(pageSizes)}; ids: ${JSON.stringify(ids)}`);
    check(pageSizes.every((n) => n <= 1), 'every page holds at most 1 user (limit honoured)',
      JSON.stringify(pageSizes));
    check(pageSizes.length >= 2, 'more than one page was fetched', `${pageSizes.length} page(s)`);
    check(new Set(ids).size === ids.length, 'no user seen twice', JSON.stringify(ids));
    check(ids.includes(bs.admin_system_user_id), 'admin system user listed', bs.admin_system_user_id);
    check(ids.includes(s.suId), 'new system user listed', s.suId);
    const mine = items.find((u) => u.id === s.suId);
    checkEqual([mine.name, mine.role], ['Node Bot', 'EMPLOYEE'], 'new user name and role');

    const all = await business.getSystemUsers(['id'], { limit: 100 });
    check(!all.hasNext(), 'limit 100 fits everything on one page');
    checkEqual([...ids].sort(), all.map((u) => u.id).sort(), 'paged ids == the ids of one big page');
  });

  await step('3. install the app for the system user (User.createApplication)', async () => {
    const res = await new User(s.suId, {}, undefined, api).createApplication([], { business_app: bs.app_id });
    const x = lastExchange();
    check(x.method === 'POST' && x.url.startsWith(`${graphUrl}/v24.0/${s.suId}/applications?`),
      'POST /v24.0/{su}/applications', x.url);
    checkEqual(x.response, { success: true }, 'response body');
    check(res.exportAllData().success === true, 'SDK result carries success: true');
  });

  await step('4. mint a token (User.createAccessToken with appsecret_proof)', async () => {
    const proof = crypto.createHmac('sha256', bs.app_secret).update(bs.admin_token).digest('hex');
    const res = await new User(s.suId, {}, undefined, api).createAccessToken([], {
      business_app: bs.app_id,
      scope: SCOPES,
      appsecret_proof: proof,
    });
    const x = lastExchange();
    check(x.method === 'POST' && x.url.startsWith(`${graphUrl}/v24.0/${s.suId}/access_tokens?`),
      'POST /v24.0/{su}/access_tokens', x.url);
    const sent = JSON.parse(x.body);
    check(Array.isArray(sent.scope), 'SDK sent scope as a real JSON array', x.body);
    const token = res.exportAllData().access_token;
    check(typeof token === 'string' && token.startsWith('EAA'), 'access_token starts with EAA',
      String(token).slice(0, 12) + '...');
    check(token !== bs.admin_token, 'a new token, not the admin token');
    s.token = token;
  });

  await step('5. debug_token (raw api.call)', async () => {
    const res = await api.call('GET', ['debug_token'], { input_token: s.token });
    const d = res && res.data;
    check(d && typeof d === 'object', 'response has a data object', JSON.stringify(res));
    checkEqual(d.is_valid, true, 'is_valid');
    checkEqual(String(d.user_id), s.suId, 'user_id is the system user');
    checkEqual(d.type, 'SYSTEM_USER', 'type');
    checkEqual(String(d.app_id), bs.app_id, 'app_id');
    check(Array.isArray(d.scopes) && SCOPES.every((sc) => d.scopes.includes(sc)),
      'scopes include the requested ones', JSON.stringify(d.scopes));
  });

  await step('6. assign MANAGE on the WABA (createAssignedUser)', async () => {
    const res = await new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, api)
      .createAssignedUser([], { user: s.suId, tasks: ['MANAGE'] });
    const x = lastExchange();
    check(x.method === 'POST' && x.url.startsWith(`${graphUrl}/v24.0/${bs.waba_id}/assigned_users?`),
      'POST /v24.0/{waba}/assigned_users', x.url);
    const sent = JSON.parse(x.body);
    check(Array.isArray(sent.tasks) && sent.id === bs.waba_id,
      'SDK sent a JSON body with a real tasks array and a stray "id"', x.body);
    checkEqual(x.response, { success: true }, 'response body');
    check(res.exportAllData().success === true, 'SDK result carries success: true');
  });

  await step('7. getAssignedUsers lists the system user with MANAGE', async () => {
    const first = await new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, api)
      .getAssignedUsers(['id', 'name', 'tasks'], { business: bs.business_id });
    const { items } = await collectAll(first, 'assigned_users');
    const rows = items.map((u) => u.exportAllData());
    console.log(`  assigned users: ${JSON.stringify(rows)}`);
    const mine = rows.find((u) => String(u.id) === s.suId);
    check(Boolean(mine), 'system user is assigned', s.suId);
    checkEqual(mine.tasks, ['MANAGE'], 'its tasks');
    checkEqual(mine.name, 'Node Bot', 'its name');
  });

  await step('8. the new token reads the WABA', async () => {
    s.api2 = new FacebookAdsApi(s.token, 'en_US', false);
    const waba = await new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, s.api2).get(['id', 'name']);
    const x = lastExchange();
    check(x.url.includes(`access_token=${encodeURIComponent(s.token)}`), 'request used the new token');
    checkEqual(waba.id, bs.waba_id, 'WABA id');
    check(typeof waba.name === 'string' && waba.name.length > 0, 'WABA has a name', waba.name);
  });

  await step('9. deleteAssignedUsers removes the assignment', async () => {
    const res = await new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, api)
      .deleteAssignedUsers({ user: s.suId });
    const x = lastExchange();
    const url = new URL(x.url);
    check(x.method === 'DELETE' && url.pathname === `/v24.0/${bs.waba_id}/assigned_users`,
      'DELETE /v24.0/{waba}/assigned_users', x.url);
    check(url.searchParams.get('user') === s.suId && url.searchParams.get('id') === bs.waba_id,
      'SDK sent user and a stray id in the query', url.search.replace(/access_token=[^&]*/, 'access_token=...'));
    checkEqual(res, { success: true }, 'response');

    const first = await new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, api)
      .getAssignedUsers(['id', 'tasks'], { business: bs.business_id });
    const { items } = await collectAll(first, 'assigned_users');
    check(!items.some((u) => String(u.id) === s.suId), 'system user no longer listed',
      JSON.stringify(items.map((u) => u.id)));
  });

  await step('10. the new token can no longer read the WABA', async () => {
    const err = await expectRequestError(
      new WhatsAppBusinessAccount(bs.waba_id, {}, undefined, s.api2).get(['id', 'name']),
      'GET /{waba} with the unassigned token');
    checkEqual(err.status, 400, 'err.status (HTTP)');
    const r = err.response || {};
    checkEqual(r.code, 100, 'err.response.code');
    checkEqual(r.error_subcode, 33, 'err.response.error_subcode');
    checkEqual(r.type, 'GraphMethodException', 'err.response.type');
    check(typeof r.fbtrace_id === 'string' && r.fbtrace_id.length > 0, 'err.response.fbtrace_id', r.fbtrace_id);
    check(typeof r.message === 'string' && r.message.length > 0 && err.message === r.message,
      'err.message is the server message', r.message);
    check(err.method === 'GET' && String(err.url).includes(`/${bs.waba_id}?`), 'err.method / err.url', err.url);
  });

  await step('11. an EMPLOYEE token cannot create a system user', async () => {
    const err = await expectRequestError(
      new Business(bs.business_id, {}, undefined, s.api2)
        .createSystemUser([], { name: 'Not Allowed', role: 'EMPLOYEE' }),
      'POST /{business}/system_users with the EMPLOYEE token');
    checkEqual(err.status, 403, 'err.status (HTTP)');
    const r = err.response || {};
    checkEqual(r.code, 200, 'err.response.code');
    check(typeof r.type === 'string' && r.type.length > 0, 'err.response.type', r.type);
    check(typeof r.fbtrace_id === 'string' && r.fbtrace_id.length > 0, 'err.response.fbtrace_id', r.fbtrace_id);
  });
});

// mTLS through a real nginx: ssl_verify_client against our CA, auth_request to
// validate-cert, the service account's identity passed to an echo upstream.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { makeCsr, openssl, OPENSSL, workdir, type Workdir } from './helpers/openssl.js';
import { freePort } from './helpers/net.js';

const exec = promisify(execFile);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'].find(existsSync);
const CURL = ['/usr/bin/curl', '/usr/local/bin/curl'].find(existsSync);
const ready = NGINX && OPENSSL && CURL;
if (!ready) console.warn('pki-nginx.test: skipped, needs nginx, openssl and curl (apt-get install -y nginx openssl curl)');

let t: TestApp;
let w: Workdir;
let nginx: ChildProcess | undefined;
let upstream: http.Server;
let nginxPort: number;
/** A second server that checks client certificates with OCSP against our responder (no auth_request). */
let ocspPort: number;
let tenantA: string;
let adminA: string;

/** curl through nginx; returns the HTTP status (0 when the TLS handshake failed) and body. */
async function curl(args: string[], port = nginxPort): Promise<{ status: number; body: string }> {
  try {
    const { stdout } = await exec(CURL!, [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      w.file('server.pem'),
      '-w',
      '\n%{http_code}',
      ...args,
      `https://127.0.0.1:${port}/hello`,
    ]);
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '');
    const code = Number(out.slice(out.lastIndexOf('\n') + 1));
    return { status: Number.isFinite(code) ? code : 0, body: out };
  }
}

async function issue(name: string, username: string): Promise<void> {
  const csr = await makeCsr(w, name);
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v3/certs/sign?format=pem&requestedUsername=${username}&assignedRoles=tenant-user`,
    headers: { authorization: `Bearer ${adminA}`, 'content-type': 'application/pkcs10' },
    payload: csr,
  });
  if (res.statusCode !== 200) throw new Error(`sign failed: ${res.body}`);
  writeFileSync(w.file(`${name}.pem`), res.body);
}

beforeAll(async () => {
  if (!ready) return;
  t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1' });
  tenantA = await createTenant(t, 'Tenant A');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const apiPort = (t.app.server.address() as AddressInfo).port;
  w = workdir();

  upstream = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;

  writeFileSync(w.file('ca.pem'), (await call(t.app, undefined, 'GET', '/api/v3/certs/ca')).body);
  const srv = await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    w.file('server.key'),
    '-out',
    w.file('server.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  if (srv.code !== 0) throw new Error(srv.stderr);

  nginxPort = await freePort();
  ocspPort = await freePort();
  const conf = `
daemon off;
master_process off;
user root;
error_log ${w.file('error.log')} info;
pid ${w.file('nginx.pid')};
events { worker_connections 64; }
http {
  access_log ${w.file('access.log')};
  client_body_temp_path ${w.dir}/body;
  proxy_temp_path ${w.dir}/proxy;
  fastcgi_temp_path ${w.dir}/fastcgi;
  uwsgi_temp_path ${w.dir}/uwsgi;
  scgi_temp_path ${w.dir}/scgi;
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${w.file('server.pem')};
    ssl_certificate_key ${w.file('server.key')};
    ssl_client_certificate ${w.file('ca.pem')};
    ssl_verify_client on;
    ssl_verify_depth 1;

    location / {
      auth_request /_validate;
      auth_request_set $tenant $upstream_http_x_forwarded_tenant_id;
      auth_request_set $user_id $upstream_http_x_forwarded_user_id;
      auth_request_set $username $upstream_http_x_forwarded_user_username;
      auth_request_set $roles $upstream_http_x_forwarded_user_roles;
      proxy_set_header X-Forwarded-Tenant-Id $tenant;
      proxy_set_header X-Forwarded-User-Id $user_id;
      proxy_set_header X-Forwarded-User-Username $username;
      proxy_set_header X-Forwarded-User-Roles $roles;
      proxy_pass http://127.0.0.1:${upstreamPort};
    }
    location = /_validate {
      internal;
      proxy_pass http://127.0.0.1:${apiPort}/api/v3/session/validate-cert;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
    }
  }
  server {
    listen 127.0.0.1:${ocspPort} ssl;
    ssl_certificate ${w.file('server.pem')};
    ssl_certificate_key ${w.file('server.key')};
    ssl_client_certificate ${w.file('ca.pem')};
    ssl_verify_client on;
    ssl_ocsp leaf;
    ssl_ocsp_responder http://127.0.0.1:${apiPort}/api/v3/certs/ocsp;
    location / { proxy_pass http://127.0.0.1:${upstreamPort}; }
  }
}
`;
  writeFileSync(w.file('nginx.conf'), conf);
  nginx = spawn(NGINX!, ['-p', w.dir, '-c', w.file('nginx.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(nginxPort, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  if (nginx?.pid) nginx.kill('SIGTERM');
  upstream?.close();
  await t?.close();
  w?.remove();
});

(ready ? describe : describe.skip)('nginx mTLS with ssl_verify_client and auth_request to validate-cert', () => {
  let saId: string;

  it('a certificate we issued reaches the upstream with the service account headers', async () => {
    await issue('dev', 'edge-device');
    saId = (await t.db.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: tenantA, usernameLower: 'edge-device' } })).id;
    // A client-supplied identity header is overwritten by nginx with what validate-cert returned.
    const res = await curl(['--cert', w.file('dev.pem'), '--key', w.file('dev.key'), '-H', 'X-Forwarded-User-Id: spoofed']);
    expect(res.status, res.body).toBe(200);
    const headers = JSON.parse(res.body);
    expect(headers['x-forwarded-tenant-id']).toBe(tenantA);
    expect(headers['x-forwarded-user-id']).toBe(saId);
    expect(headers['x-forwarded-user-username']).toBe('edge-device');
    expect(headers['x-forwarded-user-roles']).toBe('tenant-user');
  });

  it('no client certificate, or one from another CA, is refused by nginx', async () => {
    expect((await curl([])).status).toBe(400);
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      w.file('foreign.key'),
      '-out',
      w.file('foreign.pem'),
      '-subj',
      '/CN=edge-device',
      '-days',
      '1',
    ]);
    const foreign = await curl(['--cert', w.file('foreign.pem'), '--key', w.file('foreign.key')]);
    expect(foreign.status).not.toBe(200);
    expect([0, 400]).toContain(foreign.status);
  });

  it('a revoked certificate is refused (403 from validate-cert), another stays accepted', async () => {
    await issue('dev2', 'edge-device-2');
    expect((await curl(['--cert', w.file('dev2.pem'), '--key', w.file('dev2.key')])).status).toBe(200);
    // nginx's own OCSP check (ssl_ocsp) against our responder accepts it too.
    expect((await curl(['--cert', w.file('dev2.pem'), '--key', w.file('dev2.key')], ocspPort)).status).toBe(200);
    const { X509Certificate } = await import('node:crypto');
    const serial = BigInt('0x' + new X509Certificate(w.read('dev2.pem')).serialNumber).toString();
    const rev = await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'Superseded' });
    expect(rev.statusCode).toBe(200);
    expect((await curl(['--cert', w.file('dev2.pem'), '--key', w.file('dev2.key')])).status).toBe(403);
    // nginx asks our OCSP responder and refuses the revoked certificate itself (400 from ssl_verify_client).
    expect((await curl(['--cert', w.file('dev2.pem'), '--key', w.file('dev2.key')], ocspPort)).status).toBe(400);
    expect(w.read('error.log').toString()).toMatch(/certificate status "revoked"|revoked/);
    expect((await curl(['--cert', w.file('dev.pem'), '--key', w.file('dev.key')], ocspPort)).status).toBe(200);
    expect((await curl(['--cert', w.file('dev.pem'), '--key', w.file('dev.key')])).status).toBe(200);
  });
});

// The client-certificate authority against the openssl CLI as the relying party.
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { makeCsr, openssl, OPENSSL, workdir, type Workdir } from './helpers/openssl.js';

const describeOpenssl = OPENSSL ? describe : describe.skip;
if (!OPENSSL) console.warn('pki.test: skipped, the openssl binary is absent (apt-get install -y openssl)');

let t: TestApp;
let w: Workdir;
let tenantA: string;
let tenantB: string;
let adminA: string;
let adminB: string;
let userA: string;
let baseUrl: string;

const escaped = (pem: string) => encodeURIComponent(pem);

async function sign(csr: Buffer | string, query = '', token = adminA, type = 'application/pkcs10') {
  return t.app.inject({
    method: 'POST',
    url: `/api/v3/certs/sign${query ? '?' + query : ''}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    payload: csr,
  });
}

const validateCert = (pem: string, remoteAddress = '127.0.0.1') =>
  t.app.inject({ method: 'GET', url: '/api/v3/session/validate-cert', headers: { 'x-ssl-client-cert': escaped(pem) }, remoteAddress });

beforeAll(async () => {
  t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1', PKI_CA_KEY_TYPE: 'p384', PKI_CERT_MAX_HOURS: '1000' });
  tenantA = await createTenant(t, 'Tenant A');
  tenantB = await createTenant(t, 'Tenant B');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'], { username: 'admin-a' })).pat;
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  userA = (await seedServiceAccountPat(t, tenantA, ['tenant-user'])).pat;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  w = workdir();
}, 60_000);
afterAll(async () => {
  w?.remove();
  await t?.close();
});

describeOpenssl('SignCSR, OCSP and CRL with the openssl CLI', () => {
  let certPem: string;
  let serial: string;

  it('serves the CA certificate, a P-384 CA as configured', async () => {
    const res = await call(t.app, undefined, 'GET', '/api/v3/certs/ca');
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^-----BEGIN CERTIFICATE-----/);
    writeFileSync(w.file('ca.pem'), res.body);
    const text = (await openssl(['x509', '-in', w.file('ca.pem'), '-noout', '-text'])).stdout;
    expect(text).toContain('NIST CURVE: P-384');
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
  });

  it('signs an openssl CSR; openssl verify accepts the certificate', async () => {
    const csr = await makeCsr(w, 'device1');
    const res = await sign(csr, 'format=pem&requestedUsername=device-1&certduration=48');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-pem-file/);
    certPem = res.body;
    writeFileSync(w.file('device1.pem'), certPem);
    const verify = await openssl(['verify', '-CAfile', w.file('ca.pem'), '-purpose', 'sslclient', w.file('device1.pem')]);
    expect(verify.stdout + verify.stderr).toContain('device1.pem: OK');

    const x = new X509Certificate(certPem);
    serial = BigInt('0x' + x.serialNumber).toString();
    expect(x.subject).toContain('CN=device-1');
    expect(x.subject).toContain(`O=${tenantA}`);
    expect(x.infoAccess).toContain('OCSP - URI:http://auth.iam.test/api/v3/certs/ocsp');
    const hours = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 3600_000;
    expect(hours).toBeCloseTo(48 + 5 / 60, 1);
    const text = (await openssl(['x509', '-in', w.file('device1.pem'), '-noout', '-text'])).stdout;
    expect(text).toContain('TLS Web Client Authentication');
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('URI:http://auth.iam.test/api/v3/certs/crl');
    expect(text).toContain('CA:FALSE');
    // The key in the certificate is the CSR's key.
    const keyPub = (await openssl(['pkey', '-in', w.file('device1.key'), '-pubout'])).stdout;
    expect(x.publicKey.export({ type: 'spki', format: 'pem' })).toBe(keyPub);
  });

  it('created the service account with the default role and records the certificate', async () => {
    const sa = await t.db.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: tenantA, usernameLower: 'device-1' }, include: { roles: true } });
    expect(sa.roles.map((r) => r.roleName)).toEqual(['tenant-contributor']);
    const res = await call(t.app, adminA, 'GET', `/api/v3/certs/${serial}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ serialNum: serial, status: 'Good', tenantId: tenantA, userId: sa.id, reason: 'Unspecified' });
    const list = await call(t.app, adminA, 'GET', '/api/v3/certs?page=1&pageSize=10');
    expect(list.statusCode).toBe(200);
    expect(list.json().data.map((d: { id: string }) => d.id)).toContain(serial);
    expect(list.json().meta.total).toBe(1);
    const row = await t.db.prisma.clientCertificate.findFirstOrThrow({ where: { tenantId: tenantA, serial: BigInt(serial) } });
    expect(Buffer.from(row.der).equals(new X509Certificate(certPem).raw)).toBe(true);
    expect(await t.db.prisma.auditEvent.count({ where: { tenantId: tenantA, action: 'certificate.issued', targetId: serial } })).toBe(1);
  });

  it('a second certificate for the same account reuses it (fast path) and is audited', async () => {
    const res = await sign(await makeCsr(w, 'device1b'), 'format=pem&requestedUsername=DEVICE-1');
    expect(res.statusCode, res.body).toBe(200);
    const x = new X509Certificate(res.body);
    expect(x.subject).toContain('CN=device-1');
    const again = BigInt('0x' + x.serialNumber);
    const row = await t.db.prisma.clientCertificate.findFirstOrThrow({ where: { tenantId: tenantA, serial: again } });
    expect(Buffer.from(row.der).equals(x.raw)).toBe(true);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenantA, usernameLower: 'device-1' } })).toBe(1);
    expect(await t.db.prisma.auditEvent.count({ where: { tenantId: tenantA, action: 'certificate.issued', targetId: again.toString() } })).toBe(1);
  });

  it('DER in, DER out (the default format), EC P-256 key', async () => {
    await openssl(['ecparam', '-name', 'prime256v1', '-out', w.file('p256.param')]);
    const csr = await makeCsr(w, 'device2', { newkey: `ec:${w.file('p256.param')}`, der: true });
    const res = await sign(csr, 'requestedUsername=device-2', adminA, 'application/octet-stream');
    expect(res.statusCode, res.body).toBe(200);
    writeFileSync(w.file('device2.der'), res.rawPayload);
    expect(res.headers['content-type']).toBe('application/pkix-cert');
    await openssl(['x509', '-inform', 'DER', '-in', w.file('device2.der'), '-out', w.file('device2.pem')]);
    const ok = await openssl(['verify', '-CAfile', w.file('ca.pem'), w.file('device2.pem')]);
    expect(ok.stdout).toContain('device2.pem: OK');
  });

  it('openssl ocsp reports good, with the nonce echoed', async () => {
    const r = await openssl([
      'ocsp',
      '-issuer',
      w.file('ca.pem'),
      '-cert',
      w.file('device1.pem'),
      '-CAfile',
      w.file('ca.pem'),
      '-url',
      `${baseUrl}/api/v3/certs/ocsp`,
      '-resp_text',
    ]);
    expect(r.stdout + r.stderr).toContain('Response verify OK');
    expect(r.stdout).toContain('device1.pem: good');
    expect(r.stdout).toContain('OCSP Nonce');
    expect(r.stdout).toMatch(/Next Update:/);
  });

  it('revocation: GetCert says Revoked, openssl ocsp says revoked with the reason, the CRL lists the serial', async () => {
    const before = await call(t.app, adminA, 'GET', `/api/v3/certs/${serial}`);
    const rev = await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'KeyCompromise' }, { 'content-type': 'application/json' });
    expect(rev.statusCode, rev.body).toBe(200);
    expect(rev.json()).toMatchObject({ status: 'Revoked', reason: 'KeyCompromise', expiry: before.json().expiry });

    const r = await openssl([
      'ocsp',
      '-issuer',
      w.file('ca.pem'),
      '-cert',
      w.file('device1.pem'),
      '-CAfile',
      w.file('ca.pem'),
      '-url',
      `${baseUrl}/api/v3/certs/ocsp`,
      '-resp_text',
    ]);
    expect(r.stdout + r.stderr).toContain('Response verify OK');
    expect(r.stdout).toContain('device1.pem: revoked');
    expect(r.stdout).toContain('Reason: keyCompromise');

    const crl = await call(t.app, undefined, 'GET', '/api/v3/certs/crl');
    expect(crl.statusCode).toBe(200);
    expect(crl.headers['content-type']).toMatch(/application\/pkix-crl/);
    writeFileSync(w.file('crl.der'), crl.rawPayload);
    const text = await openssl(['crl', '-inform', 'DER', '-in', w.file('crl.der'), '-noout', '-text', '-CAfile', w.file('ca.pem')]);
    expect(text.stdout + text.stderr).toContain('verify OK');
    const hexSerial = BigInt(serial).toString(16).toUpperCase().padStart(16, '0');
    expect(text.stdout).toContain(`Serial Number: ${hexSerial}`);
    expect(text.stdout).toContain('Key Compromise');
    // openssl verify with CRL checking now refuses the certificate.
    await openssl(['crl', '-inform', 'DER', '-in', w.file('crl.der'), '-out', w.file('crl.pem')]);
    const v = await openssl(['verify', '-crl_check', '-CAfile', w.file('ca.pem'), '-CRLfile', w.file('crl.pem'), w.file('device1.pem')]);
    expect(v.stdout + v.stderr).toContain('certificate revoked');
    // The other certificate is still good.
    const good = await openssl(['verify', '-crl_check', '-CAfile', w.file('ca.pem'), '-CRLfile', w.file('crl.pem'), w.file('device2.pem')]);
    expect(good.stdout).toContain('device2.pem: OK');

    expect((await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'Superseded' })).statusCode).toBe(409);
  });

  it('OCSP GET form, unknown serials, foreign issuers and malformed requests', async () => {
    await openssl(['ocsp', '-issuer', w.file('ca.pem'), '-cert', w.file('device2.pem'), '-no_nonce', '-reqout', w.file('req.der')]);
    const b64 = w.read('req.der').toString('base64');
    const get = await t.app.inject({ method: 'GET', url: `/api/v3/certs/ocsp/${encodeURIComponent(b64)}` });
    expect(get.statusCode).toBe(200);
    expect(get.headers['content-type']).toBe('application/ocsp-response');
    expect(get.headers['cache-control']).toMatch(/max-age=\d+/);
    writeFileSync(w.file('resp.der'), get.rawPayload);
    const r = await openssl(['ocsp', '-respin', w.file('resp.der'), '-issuer', w.file('ca.pem'), '-cert', w.file('device2.pem'), '-CAfile', w.file('ca.pem')]);
    expect(r.stdout).toContain('device2.pem: good');
    // Cached: the identical bytes again (same pre-signed response).
    const again = await t.app.inject({ method: 'GET', url: `/api/v3/certs/ocsp/${encodeURIComponent(b64)}` });
    expect(again.rawPayload.equals(get.rawPayload)).toBe(true);

    // A certificate of another CA: unknown.
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      w.file('other.key'),
      '-out',
      w.file('other.pem'),
      '-subj',
      '/CN=Other CA',
      '-days',
      '1',
    ]);
    const foreign = await openssl([
      'ocsp',
      '-issuer',
      w.file('other.pem'),
      '-cert',
      w.file('other.pem'),
      '-url',
      `${baseUrl}/api/v3/certs/ocsp`,
      '-CAfile',
      w.file('ca.pem'),
    ]);
    expect(foreign.stdout).toContain('other.pem: unknown');

    // An unknown serial of our issuer.
    const unk = await openssl(['ocsp', '-issuer', w.file('ca.pem'), '-serial', '0x1234', '-url', `${baseUrl}/api/v3/certs/ocsp`, '-CAfile', w.file('ca.pem')]);
    expect(unk.stdout).toContain('0x1234: unknown');

    // Malformed: garbage, truncated, empty — an OCSP malformedRequest response (30 03 0a 01 01), never an HTTP error.
    for (const payload of [Buffer.from('garbage'), w.read('req.der').subarray(0, 20), Buffer.alloc(0)]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v3/certs/ocsp', headers: { 'content-type': 'application/ocsp-request' }, payload });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.toString('hex')).toBe('30030a0101');
    }
    const badGet = await t.app.inject({ method: 'GET', url: '/api/v3/certs/ocsp/%%%not-base64' });
    expect([200, 400]).toContain(badGet.statusCode);
    const badGet2 = await t.app.inject({ method: 'GET', url: '/api/v3/certs/ocsp/AAAA' });
    expect(badGet2.rawPayload.toString('hex')).toBe('30030a0101');
  });
});

describeOpenssl('SignCSR refuses bad requests and issues nothing', () => {
  it.each([
    ['garbage', async () => Buffer.from('this is not a certificate request')],
    ['an empty body', async () => Buffer.alloc(0)],
    ['a truncated DER request', async () => (await makeCsr(w, 'trunc', { der: true })).subarray(0, 200)],
    ['a truncated PEM request', async () => Buffer.from((await makeCsr(w, 'trunc2')).toString().slice(0, 300) + '\n-----END CERTIFICATE REQUEST-----\n')],
    [
      'a wrong signature',
      async () => {
        const der = await makeCsr(w, 'badsig', { der: true });
        der[der.length - 10] = der[der.length - 10]! ^ 0xff;
        return der;
      },
    ],
    [
      'a signature over another subject',
      async () => {
        const der = await makeCsr(w, 'swapped', { der: true, subj: '/CN=aaaaaaa' });
        const i = der.indexOf(Buffer.from('aaaaaaa'));
        der.write('bbbbbbb', i, 'latin1');
        return der;
      },
    ],
    ['an RSA-1024 key', async () => makeCsr(w, 'weak', { newkey: 'rsa:1024' })],
    [
      'an unknown curve (secp256k1)',
      async () => {
        await openssl(['ecparam', '-name', 'secp256k1', '-out', w.file('k1.param')]);
        return makeCsr(w, 'k1', { newkey: `ec:${w.file('k1.param')}` });
      },
    ],
    ['a subject with a control character', async () => makeCsr(w, 'ctl', { subj: '/CN=evil\x01name' })],
    ['an oversized body', async () => Buffer.concat([await makeCsr(w, 'big'), Buffer.alloc(20_000, 0x41)])],
  ])('%s → 400', async (_name, build) => {
    const csr = await build();
    const before = await snapshot(t.db);
    const res = await sign(csr, 'requestedUsername=never-issued');
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ status: '400' });
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('bad parameters → 400; roles above the caller → 403; tenant-user → 403; nothing issued', async () => {
    const csr = await makeCsr(w, 'params');
    const before = await snapshot(t.db);
    expect((await sign(csr, 'certduration=abc')).statusCode).toBe(400);
    expect((await sign(csr, 'certduration=1001')).statusCode).toBe(400);
    expect((await sign(csr, 'format=p12')).statusCode).toBe(400);
    expect((await sign(csr, 'assignedRoles=no-such-role')).statusCode).toBe(400);
    expect((await sign(csr, `requestedUsername=${'x'.repeat(65)}`)).statusCode).toBe(400);
    expect((await sign(csr, 'assignedRoles=skylight-admin')).statusCode).toBe(403);
    expect((await sign(csr, '', userA)).statusCode).toBe(403);

    // admin-a holds tenant-admin; a tenant-admin may reuse it. The operator SA of another tenant is out of reach.
    expect((await sign(csr, 'format=der', 'pca_' + 'A'.repeat(46))).statusCode).toBe(401);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('no escalation: skylight-admin only in the operator tenant; an account holding more than the caller is not reused', async () => {
    const csr = await makeCsr(w, 'esc');
    await seedServiceAccountPat(t, tenantA, ['skylight-admin'], { username: 'root-sa' });
    const before = await snapshot(t.db);
    const operator = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/sign?assignedRoles=skylight-admin&requestedUsername=op-device',
      headers: { authorization: `Bearer ${t.adminPat}`, 'x-forwarded-tenant-id': tenantA, 'content-type': 'application/pkcs10' },
      payload: csr,
    });
    expect(operator.statusCode).toBe(422);
    const reuse = await sign(csr, 'requestedUsername=root-sa');
    expect(reuse.statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a JSON body is refused with 400, and an unsupported media type with 415', async () => {
    const res = await sign('{"a":1}', '', adminA, 'application/json');
    expect([400, 415]).toContain(res.statusCode);
    const xml = await sign('<a/>', '', adminA, 'application/xml');
    expect(xml.statusCode).toBe(415);
  });
});

describeOpenssl('validate-cert, the certificate authenticator and RenewCerts', () => {
  let pem: string;
  let saId: string;

  beforeAll(async () => {
    const csr = await makeCsr(w, 'sensor');
    const res = await sign(csr, 'format=pem&requestedUsername=sensor-7&assignedRoles=tenant-user,tenant-contributor');
    expect(res.statusCode, res.body).toBe(200);
    pem = res.body;
    saId = (await t.db.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: tenantA, usernameLower: 'sensor-7' } })).id;
  });

  it('200 with the service account headers for a valid certificate from a trusted proxy', async () => {
    const res = await validateCert(pem);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-forwarded-tenant-id']).toBe(tenantA);
    expect(res.headers['x-forwarded-user-id']).toBe(saId);
    expect(res.headers['x-forwarded-user-username']).toBe('sensor-7');
    expect(String(res.headers['x-forwarded-user-roles']).split(',').sort()).toEqual(['tenant-contributor', 'tenant-user']);
  });

  it('401 for a missing certificate, one from an untrusted peer, a foreign certificate and garbage', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-cert' })).statusCode).toBe(401);
    expect((await validateCert(pem, '10.9.9.9')).statusCode).toBe(401);
    expect((await validateCert(w.read('other.pem').toString())).statusCode).toBe(401);
    expect((await validateCert('garbage')).statusCode).toBe(401);
    expect((await validateCert('%E0%A4%A')).statusCode).toBe(401);
  });

  it('the certificate authenticates API calls; RenewCerts issues a new certificate for the same identity', async () => {
    const csr = await makeCsr(w, 'sensor-new');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/renew?format=pem&certduration=24',
      headers: { 'x-ssl-client-cert': escaped(pem), 'content-type': 'application/pkcs10' },
      payload: csr,
    });
    expect(res.statusCode, res.body).toBe(200);
    const renewed = new X509Certificate(res.body);
    expect(renewed.subject).toContain('CN=sensor-7');
    expect(renewed.serialNumber).not.toBe(new X509Certificate(pem).serialNumber);
    const v = await validateCert(res.body);
    expect(v.statusCode).toBe(200);
    expect(v.headers['x-forwarded-user-id']).toBe(saId);
    // The old certificate stays valid until revoked.
    expect((await validateCert(pem)).statusCode).toBe(200);
    // Renewal without a certificate, or with a PAT, is refused.
    const pat = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/renew',
      headers: { authorization: `Bearer ${adminA}`, 'content-type': 'application/pkcs10' },
      payload: csr,
    });
    expect(pat.statusCode).toBe(403);
    const none = await t.app.inject({ method: 'POST', url: '/api/v3/certs/renew', headers: { 'content-type': 'application/pkcs10' }, payload: csr });
    expect(none.statusCode).toBe(401);
    const untrusted = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/renew',
      remoteAddress: '10.1.1.1',
      headers: { 'x-ssl-client-cert': escaped(pem), 'content-type': 'application/pkcs10' },
      payload: csr,
    });
    expect(untrusted.statusCode).toBe(401);
  });

  it('revocation is seen at once by validate-cert (403), even after a cached 200', async () => {
    expect((await validateCert(pem)).statusCode).toBe(200);
    const serial = BigInt('0x' + new X509Certificate(pem).serialNumber).toString();
    const rev = await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'CertificateHold' });
    expect(rev.statusCode).toBe(200);
    expect((await validateCert(pem)).statusCode).toBe(403);
    // Released from hold: good again.
    const release = await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'RemoveFromCRL' });
    expect(release.json()).toMatchObject({ status: 'Good' });
    expect((await validateCert(pem)).statusCode).toBe(200);
    expect((await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'RemoveFromCRL' })).statusCode).toBe(422);
  });

  it('a disabled tenant makes its certificates 403', async () => {
    const csr = await makeCsr(w, 'tb');
    const res = await sign(csr, 'format=pem&requestedUsername=tb-device', adminB);
    expect(res.statusCode).toBe(200);
    expect((await validateCert(res.body)).statusCode).toBe(200);
    await t.db.prisma.tenant.update({ where: { id: tenantB }, data: { state: 'disabled' } });
    // Cached entries expire with the cache TTL; a new header spelling bypasses the cache for this check.
    const res2 = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-cert', headers: { 'x-ssl-client-cert': res.body } });
    expect(res2.statusCode).toBe(403);
    await t.db.prisma.tenant.update({ where: { id: tenantB }, data: { state: 'active' } });
  });

  it('another tenant cannot see or revoke tenant A certificates (404), and nothing changes', async () => {
    const serial = BigInt('0x' + new X509Certificate(pem).serialNumber).toString();
    const before = await snapshot(t.db);
    expect((await call(t.app, adminB, 'GET', `/api/v3/certs/${serial}`)).statusCode).toBe(404);
    expect((await call(t.app, adminB, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'KeyCompromise' })).statusCode).toBe(404);
    expect(
      (await call(t.app, adminB, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'KeyCompromise' }, { 'x-forwarded-tenant-id': tenantA })).statusCode,
    ).toBe(403);
    expect((await call(t.app, adminA, 'GET', '/api/v3/certs/not-a-serial')).statusCode).toBe(404);
    expect((await call(t.app, adminA, 'GET', '/api/v3/certs/99999999999999999999999')).statusCode).toBe(404);
    expect((await call(t.app, adminA, 'POST', `/api/v3/certs/${serial}/revoke`, { reason: 'Bogus' })).statusCode).toBe(400);
    const listB = await call(t.app, adminB, 'GET', '/api/v3/certs');
    expect(listB.json().data.map((d: { id: string }) => d.id)).not.toContain(serial);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('the CA private key is stored encrypted', async () => {
    const row = await t.db.prisma.pkiAuthority.findFirstOrThrow();
    const x = new X509Certificate(Buffer.from(row.certDer));
    expect(x.ca).toBe(true);
    expect(Buffer.from(row.keyEnc!).includes(Buffer.from('PRIVATE'))).toBe(false);
    expect(createHash('sha256').update(row.certDer).digest('hex')).toBe(row.id);
  });
});

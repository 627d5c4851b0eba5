// A CA imported from PEM files: certificates chain to it; a key that does not match fails the start.
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { makeCsr, openssl, OPENSSL, workdir } from './helpers/openssl.js';

if (!OPENSSL) console.warn('pki-import.test: skipped, the openssl binary is absent (apt-get install -y openssl)');
const w = workdir();
let t: TestApp | undefined;
afterAll(async () => {
  await t?.close();
  w.remove();
});

(OPENSSL ? describe : describe.skip)('imported CA', () => {
  it('issues certificates that chain to the imported CA', async () => {
    const ca = await openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      w.file('ca.key'),
      '-out',
      w.file('ca.pem'),
      '-days',
      '30',
      '-subj',
      '/CN=Corp Devices CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    expect(ca.code, ca.stderr).toBe(0);
    t = await startTestApp({ PKI_CA_CERT_FILE: w.file('ca.pem'), PKI_CA_KEY_FILE: w.file('ca.key') });
    const served = await t.app.inject({ method: 'GET', url: '/api/v3/certs/ca' });
    expect(served.body.replace(/\s/g, '')).toBe(w.read('ca.pem').toString().replace(/\s/g, ''));
    const row = await t.db.prisma.pkiAuthority.findFirstOrThrow();
    expect(row.imported).toBe(true);
    expect(row.keyEnc).toBeNull();

    const tenant = await createTenant(t, 'T');
    const { pat } = await seedServiceAccountPat(t, tenant, ['tenant-admin']);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/sign?format=pem&requestedUsername=corp-1',
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
      payload: await makeCsr(w, 'corp'),
    });
    expect(res.statusCode, res.body).toBe(200);
    writeFileSync(w.file('corp.pem'), res.body);
    const v = await openssl(['verify', '-CAfile', w.file('ca.pem'), w.file('corp.pem')]);
    expect(v.stdout).toContain('corp.pem: OK');
    const days = (await openssl(['x509', '-in', w.file('corp.pem'), '-noout', '-enddate'])).stdout;
    // Never beyond the CA's own expiry (30 days), although the default validity is a year.
    expect(Date.parse(days.split('=')[1]!.trim())).toBeLessThanOrEqual(Date.now() + 31 * 86400_000);
  }, 120_000);

  it('a key that does not belong to the certificate fails the start', async () => {
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', w.file('other.key')]);
    await expect(startTestApp({ PKI_CA_CERT_FILE: w.file('ca.pem'), PKI_CA_KEY_FILE: w.file('other.key') })).rejects.toThrow(/does not belong/);
  }, 120_000);
});

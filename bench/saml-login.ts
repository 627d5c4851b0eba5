// SAML SP throughput: AuthnRequest creation (findSamlRedirect: DB lookup, signed redirect,
// stored request id) and ACS verification (XML signatures, conditions, single use, user link).
// Run: npx tsx bench/saml-login.ts [iterations]   (embedded PGlite unless TEST_DATABASE_URL is set)
import { performance } from 'node:perf_hooks';
import { createTenant, seedServiceAccountPat, startTestApp } from '../test/helpers/app.js';
import { createTestIdp } from '../test/helpers/saml-idp.js';
import { findSamlRedirect, SAML_BINDING_COOKIE } from '../src/idps/saml-sp.js';

const N = Number(process.argv[2] ?? 200);
const CONCURRENCY = 8;

function stats(label: string, samples: number[], wallMs: number) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2);
  console.log(`${label.padEnd(34)} n=${s.length}  ${((s.length / wallMs) * 1000).toFixed(0)} ops/s  p50=${q(0.5)} ms  p99=${q(0.99)} ms`);
}

async function timed<T>(items: T[], fn: (item: T) => Promise<unknown>) {
  const samples: number[] = [];
  const queue = [...items];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const t0 = performance.now();
        await fn(item);
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { samples, wall: performance.now() - start };
}

const t = await startTestApp();
const tenantId = await createTenant(t, 'Bench');
const pat = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
const idp = await createTestIdp('https://bench-idp.test/metadata');
const fd = new FormData();
fd.append('name', 'Bench IdP');
fd.append('metadataXmlFile', new Blob([idp.metadata]), 'idp.xml');
const req = new Request('http://x/', { method: 'POST', body: fd });
const added = await t.app.inject({
  method: 'POST',
  url: '/api/v3/idps/saml',
  payload: Buffer.from(await req.arrayBuffer()),
  headers: { 'content-type': req.headers.get('content-type')!, authorization: `Bearer ${pat}` },
});
const idpId = added.json().id as string;
const emails = Array.from({ length: N }, (_, i) => `user${i}@bench.test`);
for (const email of emails) {
  await t.db.prisma.user.create({ data: { tenantId, username: email, email, idpId, state: 'active' } });
}
const spMd = (await t.app.inject({ method: 'GET', url: `/saml/${idpId}/metadata` })).body;

// Each login from its own browser: its URL and the binding cookie set on that browser.
const urls: [string, string, string][] = [];
const redirect = await timed(emails, async (email) => {
  const r = (await findSamlRedirect(t.app, tenantId, email, 'authz'))!;
  urls.push([email, r.url, r.binding]);
});
stats('findSamlRedirect (AuthnRequest)', redirect.samples, redirect.wall);

// IdP side (not measured): parse each request and sign a response for it.
const responses: [string, string][] = [];
for (const [email, url, binding] of urls) {
  const parsed = await idp.parseRedirect(url, spMd);
  responses.push([await idp.respond(spMd, parsed.requestId, email), binding]);
}
let ok = 0;
const acs = await timed(responses, async ([samlResponse, binding]) => {
  const res = await t.app.inject({
    method: 'POST',
    url: `/saml/${idpId}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${SAML_BINDING_COOKIE}=${binding}` },
    payload: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: 'authz' }).toString(),
  });
  if (res.statusCode === 200) ok++;
});
stats('POST /saml/:id/acs (verify + link)', acs.samples, acs.wall);
console.log(`ACS accepted ${ok}/${responses.length}`);
const md = await timed(
  Array.from({ length: N }, (_, i) => i),
  () => t.app.inject({ method: 'GET', url: `/saml/${idpId}/metadata` }),
);
stats('GET /saml/:id/metadata', md.samples, md.wall);
await t.close();

// The curl requests of seeds/003 ("Configure an External Identity Provider"), run as
// written with real curl against a listening server. Only the placeholders are filled in,
// and an Authorization header is added (the PCA proxy adds it in front of the real API).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';

const run = promisify(execFile);
const CURL = '/usr/bin/curl';
const haveCurl = existsSync(CURL);
if (!haveCurl) console.warn('curl is not installed (apt-get install -y curl): the guide curl tests are skipped');

let t: TestApp;
let base: string;
let pat: string;
let tenantId: string;
let dir: string;
let idp: TestIdp;
let metaServer: http.Server;
let metaUrl: string;
let userId: string;

/** Runs a guide command: placeholders substituted, then executed by bash; returns status and body. */
async function curl(command: string, vars: Record<string, string>) {
  let cmd = command;
  for (const [k, v] of Object.entries(vars)) cmd = cmd.replaceAll(`{${k}}`, v);
  cmd = cmd.trim() + ` \\\n        --header 'authorization: Bearer ${pat}' --silent --show-error --write-out '\\n%{http_code}'`;
  const { stdout } = await run('bash', ['-c', cmd]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

const ADD_AS_WRITTEN = `curl --request POST \\
        --url {baseUr}/api/v3/idps/saml \\
        --header 'content-type: multipart/form-data' \\
        --header 'x-forwarded-tenant-id: ' \\
        --form name=MyFirstSAMLIdP \\
        --form metadataXmlFile=@{absolutePathToSamlMetadataFile}/mock-saml-metadata.xml \\
        --form metadataUrl=https://mocksaml.com/api/saml/metadata`;

const LIST = `curl --request GET \\
        --url {baseUr}/api/v3/idps \\
        --header 'x-forwarded-tenant-id: '`;

const DISABLE = `curl --request DELETE \\
        --url {baseUr}/api/v3/idps \\
        --header 'content-type: application/json' \\
        --header 'x-forwarded-tenant-id: ' \\
        --data '{
        "data": {
        "ids": [
        "{idpId}"
        ]
        }
        }'`;

const ASSOCIATE = `curl --request PUT \\
        --url {baseUr}/api/v3/users/{userId}/idps \\
        --header 'content-type: application/json' \\
        --header 'x-forwarded-tenant-id: ' \\
        --data '{
        "data": {
        "ids": [
        "{idpId}"
        ]
        }
        }'`;

const READ_ASSOCIATION = `curl --request GET \\
        --url {baseUrl}/api/v3/users/{userId}/idps \\
        --header 'x-forwarded-tenant-id: '`;

const REMOVE_ASSOCIATION = `curl --request PUT \\
        --url {baseUr}/api/v3/users/{userId}/idps \\
        --header 'content-type: application/json' \\
        --header 'x-forwarded-tenant-id: ' \\
        --data '{
        "data": {
        "ids": []
        }
        }'`;

beforeAll(async () => {
  if (!haveCurl) return;
  t = await startTestApp({ SAML_METADATA_ALLOW_CIDRS: '127.0.0.1/32' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  tenantId = await createTenant(t, 'Guide tenant');
  pat = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  idp = await createTestIdp('https://saml.example.com/entityid', 'https://mocksaml.test/api/saml/sso');
  dir = mkdtempSync(path.join(tmpdir(), 'saml-guide-'));
  writeFileSync(path.join(dir, 'mock-saml-metadata.xml'), idp.metadata);
  metaServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/xml' }).end(idp.metadata));
  await new Promise<void>((r) => metaServer.listen(0, '127.0.0.1', r));
  metaUrl = `http://127.0.0.1:${(metaServer.address() as AddressInfo).port}/api/saml/metadata`;
  const u = await t.db.prisma.user.create({
    data: { tenantId, username: 'jane', email: 'jane@guide.test' },
  });
  userId = u.id;
});
afterAll(async () => {
  metaServer?.close();
  await t?.close();
});

describe.skipIf(!haveCurl)("the guide's curl requests", () => {
  const vars = () => ({ baseUr: base, baseUrl: base, absolutePathToSamlMetadataFile: dir });
  let idpId: string;

  it("step 2 as written sends both metadataXmlFile and metadataUrl: refused, as the guide's note says", async () => {
    const res = await curl(ADD_AS_WRITTEN, vars());
    expect(res.status, res.body).toBe(400);
    expect(JSON.parse(res.body).errors[0].detail).toMatch(/Exactly one of metadataUrl or metadataXmlFile/);
  });

  it('step 2 with the metadata file only provisions the IdP', async () => {
    const res = await curl(ADD_AS_WRITTEN.replace(/ \\\n\s*--form metadataUrl=\S+/, ''), vars());
    expect(res.status, res.body).toBe(200);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ isDefault: false, name: 'MyFirstSAMLIdP', type: 'IDENTITY_PROVIDER_TYPE_SAML' });
    idpId = body.id;
  });

  it('step 2 with a metadata URL only provisions the IdP from the URL', async () => {
    const cmd = ADD_AS_WRITTEN.replace(/ \\\n\s*--form metadataXmlFile=\S+/, '').replace('https://mocksaml.com/api/saml/metadata', metaUrl);
    const res = await curl(cmd, vars());
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body).name).toBe('MyFirstSAMLIdP');
  });

  it("step 3 lists the tenant's IdPs", async () => {
    const res = await curl(LIST, vars());
    expect(res.status).toBe(200);
    const idps = JSON.parse(res.body).data.idps;
    expect(idps).toHaveLength(2);
    expect(idps[0]).toMatchObject({
      id: idpId,
      name: 'MyFirstSAMLIdP',
      type: 'IDENTITY_PROVIDER_TYPE_SAML',
      state: 'IDP_STATE_ACTIVE',
      entityId: 'https://saml.example.com/entityid',
    });
  });

  it('associates a user, reads the association back and removes it', async () => {
    const put = await curl(ASSOCIATE, { ...vars(), userId, idpId });
    expect(put.status, put.body).toBe(200);
    const read = await curl(READ_ASSOCIATION, { ...vars(), userId });
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).data.ids).toEqual([idpId]);
    const removed = await curl(REMOVE_ASSOCIATION, { ...vars(), userId });
    expect(removed.status).toBe(200);
    expect(JSON.parse((await curl(READ_ASSOCIATION, { ...vars(), userId })).body).data.ids).toEqual([]);
    expect((await curl(ASSOCIATE, { ...vars(), userId, idpId })).status).toBe(200);
  });

  it('step 4 disables the IdP, which detaches its users', async () => {
    const res = await curl(DISABLE, { ...vars(), idpId });
    expect(res.status, res.body).toBe(204);
    const idps = JSON.parse((await curl(LIST, vars())).body).data.idps;
    expect(idps.find((i: { id: string }) => i.id === idpId).state).toBe('IDP_STATE_INACTIVE');
    expect(JSON.parse((await curl(READ_ASSOCIATION, { ...vars(), userId })).body).data.ids).toEqual([]);
    // No API re-enables it (as the guide warns): associating it again is refused.
    expect((await curl(ASSOCIATE, { ...vars(), userId, idpId })).status).toBe(422);
  });
});

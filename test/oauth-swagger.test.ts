import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
}, 60_000);
afterAll(() => t?.close());

describe('Swagger UI "Authorize"', () => {
  it('offers the authorization code flow with PKCE against this server, as a registered client', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const flow = doc.components.securitySchemes.oauth2.flows.authorizationCode;
    expect(flow.authorizationUrl).toBe(`${t.config.PUBLIC_URL}/oauth/v2/authorize`);
    expect(flow.tokenUrl).toBe(`${t.config.PUBLIC_URL}/oauth/v2/token`);
    const init = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain('usePkceWithAuthorizationCodeGrant');
    expect(init.body).toContain('swagger-ui');
    const redirect = await t.app.inject({ method: 'GET', url: '/docs/static/oauth2-redirect.html' });
    expect(redirect.statusCode).toBe(200);

    // The SwaggerUI client of the operator tenant accepts exactly that redirect, with PKCE.
    const app = await t.db.prisma.application.findUniqueOrThrow({ where: { clientId: 'swagger-ui' } });
    expect(app.tenantId).toBe(t.operatorTenantId);
    expect(app.redirectUris).toEqual([`${t.config.PUBLIC_URL}/docs/static/oauth2-redirect.html`]);
    const res = await t.app.inject({
      method: 'GET',
      url: `/oauth/v2/authorize?client_id=swagger-ui&response_type=code&redirect_uri=${encodeURIComponent(app.redirectUris[0]!)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256&scope=openid`,
    });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toMatch(/^\/ui\/login\?r=/);
  });
});

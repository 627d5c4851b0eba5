import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './helpers/openapi.js';

describe('OpenAPI document', () => {
  it('openapi/openapi.json matches the running app (run `npm run openapi` after changing routes)', async () => {
    const file = readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8');
    expect(JSON.parse(file)).toEqual(JSON.parse(await openApiDocument()));
  });

  it('documents every /api route with an operationId', async () => {
    const doc = JSON.parse(await openApiDocument());
    const ops = Object.entries(doc.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, id: op.operationId })),
    );
    const api = ops.filter((o) => o.path.startsWith('/api/'));
    expect(api.length).toBeGreaterThan(5);
    for (const o of api) expect(o.id, `${o.method} ${o.path}`).toBeTruthy();
  });
});

// The OpenAPI document as the app serves it. Kept outside test/ because scripts/write-openapi.ts needs it and
// neither the Docker build nor a production install carries test/; test/openapi.test.ts compares it with the committed file.
import { randomBytes } from 'node:crypto';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db.js';

/** The OpenAPI document as the app serves it, for a fixed public URL so the file is stable. */
export async function openApiDocument(): Promise<string> {
  const config = loadConfig({ PUBLIC_URL: 'http://localhost:8080', LOG_LEVEL: 'silent' });
  // No query runs while building the document, so a pool that never connects will do.
  const db = await openDatabase({ url: 'postgresql://unused@127.0.0.1:1/unused' });
  const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: false });
  await app.ready();
  const doc = JSON.stringify(app.swagger(), null, 2);
  await app.close();
  await db.close();
  return doc;
}

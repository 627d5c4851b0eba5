// Writes the OpenAPI document of the app to openapi/openapi.json (test/openapi.test.ts
// fails when the file and the running app differ). Usage: npm run openapi
import { writeFileSync } from 'node:fs';
import { openApiDocument } from './openapi-document.js';

writeFileSync(new URL('../openapi/openapi.json', import.meta.url), (await openApiDocument()) + '\n');
console.log('wrote openapi/openapi.json');

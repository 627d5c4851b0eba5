// Run by `npm run build` after tsc (and so in the image): makes the template a new embedded
// database starts from (src/platform/embedded-template.ts); a no-op when it is up to date.
import { templateDir, writeEmbeddedTemplate } from './platform/embedded-template.js';

const started = Date.now();
try {
  if (await writeEmbeddedTemplate()) console.log(`wrote the embedded database template to ${templateDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`could not write the embedded database template: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

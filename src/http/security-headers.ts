import type { IncomingMessage, ServerResponse } from 'node:http';
import applyHelmet, { type HelmetOptions } from 'helmet';

type Step = { set: string; value: string } | { remove: string };

/**
 * Helmet's headers for `options`, worked out once. With static directives (no nonce, nothing
 * read from the request) helmet writes the same headers on every response; replaying its
 * writes spares each request its chain of a dozen middlewares. Options that make helmet
 * depend on the request (a directive given as a function) are refused rather than frozen.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): (res: ServerResponse) => void {
  const directives = (options.contentSecurityPolicy as { directives?: Record<string, unknown> } | undefined)?.directives ?? {};
  if (Object.values(directives).some((d) => typeof d === 'function' || (Array.isArray(d) && d.some((v) => typeof v === 'function')))) {
    throw new Error('securityHeaders: a directive computed per request cannot be worked out once');
  }
  const steps: Step[] = [];
  const recorder = {
    setHeader: (name: string, value: string) => steps.push({ set: name, value }),
    removeHeader: (name: string) => steps.push({ remove: name }),
  };
  let done = false;
  applyHelmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err) => {
    if (err) throw err;
    done = true;
  });
  // Helmet's chain is synchronous today; a version that is not would leave the recording incomplete.
  if (!done) throw new Error('securityHeaders: helmet did not finish synchronously');
  return (res) => {
    for (const step of steps) {
      if ('set' in step) res.setHeader(step.set, step.value);
      else res.removeHeader(step.remove);
    }
  };
}

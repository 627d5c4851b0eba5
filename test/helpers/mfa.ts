import * as OTPAuth from 'otpauth';
import { Browser, formField } from './oauth.js';

/** The TOTP code of a base32 secret, `steps` time steps from now (the server accepts one either side). */
export function totpCode(secret: string, steps = 0): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({
    timestamp: Date.now() + steps * 30_000,
  });
}

/** The enrolment secret shown on an enrolment page. */
export const secretOnPage = (html: string) => /id="totp-secret">([A-Z2-7]+)</.exec(html)?.[1];

/** The recovery codes shown on a recovery-codes page. */
export const codesOnPage = (html: string) => [...html.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]!);

/** Enrols TOTP from /ui/account/totp with the browser's session; returns the secret and the recovery codes. */
export async function enrolFromAccount(browser: Browser): Promise<{ secret: string; codes: string[] }> {
  const page = await (await browser.get('/ui/account/totp')).text();
  const enrol = await browser.post('/ui/account/totp/enrol', { csrf: formField(page, 'csrf')! });
  const enrolPage = await enrol.text();
  const secret = secretOnPage(enrolPage);
  if (!secret) throw new Error(`no enrolment secret: ${enrol.status} ${enrolPage.slice(0, 300)}`);
  const done = await browser.post('/ui/account/totp/confirm', { csrf: formField(enrolPage, 'csrf')!, code: totpCode(secret) });
  const codes = codesOnPage(await done.text());
  if (codes.length !== 10) throw new Error(`enrolment not confirmed: ${done.status}`);
  return { secret, codes };
}

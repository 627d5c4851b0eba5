import { randomInt } from 'node:crypto';

// The user code of a device authorization (RFC 8628) and the page where it is entered.

/** RFC 8628 §6.1: consonants only (no vowels, so no words), no letters easily confused. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;
/** The page where the user enters the code, relative to the issuer. */
const DEVICE_PAGE = '/ui/device';

export function generateUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/** A code as a person typed it: case, dashes and spaces do not matter. Undefined when it cannot be one of ours. */
export function normalizeUserCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 32) return undefined;
  const code = input.toUpperCase().replace(/[\s-]/g, '');
  return code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c)) ? code : undefined;
}

/** XXXX-XXXX, as shown to the user. */
export const formatUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

/** Where a login for a device authorization returns to (a path of this server). */
export const deviceReturnPath = (code: string) => `${DEVICE_PAGE}?user_code=${formatUserCode(code)}`;

export const verificationUri = (issuer: string) => `${issuer}${DEVICE_PAGE}`;
export const verificationUriComplete = (issuer: string, code: string) => `${issuer}${DEVICE_PAGE}?user_code=${formatUserCode(code)}`;

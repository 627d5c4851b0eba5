import { crc32 } from 'node:zlib';
import { randomToken, sha256Hex } from '../platform/secrets.js';

// Format: "pca_" + 40 random base62 characters (~238 bits) + 6-character checksum.
// The prefix lets secret scanners recognise a leaked token; the checksum lets us
// refuse typos and random strings without touching the database.
export const PAT_PREFIX = 'pca_';
const BODY = 40;
const CHECK = 6;
const PATTERN = new RegExp(`^${PAT_PREFIX}[0-9A-Za-z]{${BODY + CHECK}}$`);
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECK; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function generatePat(): string {
  const body = randomToken(BODY);
  return PAT_PREFIX + body + checksum(body);
}

export function isWellFormedPat(token: string): boolean {
  if (!PATTERN.test(token)) return false;
  const body = token.slice(PAT_PREFIX.length, PAT_PREFIX.length + BODY);
  return token.slice(PAT_PREFIX.length + BODY) === checksum(body);
}

export function looksLikePat(token: string): boolean {
  return token.startsWith(PAT_PREFIX);
}

export const hashPat = sha256Hex;

import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { jwkThumbprint, ProofError, ProofParser } from './dpop-proof.js';

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
const claims = { jti: 'j1', htm: 'POST', htu: 'https://iam.example/oauth/v2/token', iat: 1 };

/** A proof signed by hand, so that the header may say what no library would sign. */
function handMade(key: KeyObject, header: Record<string, unknown>, hash: string | null = 'sha256', dsa = true) {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign(hash, Buffer.from(input), dsa ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${signature.toString('base64url')}`;
}

const publicJwk = (key: KeyObject) => createPublicKey(key).export({ format: 'jwk' });

describe('DPoP proof parsing', () => {
  it('accepts proofs of every allowed algorithm, with the thumbprint jose computes', async () => {
    for (const alg of ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']) {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      const jwk = await exportJWK(publicKey);
      const proof = await new SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).sign(privateKey);
      const parser = new ProofParser();
      const { header, claims: parsed } = parser.parse(proof);
      expect(header.jkt).toBe(await calculateJwkThumbprint(jwk));
      expect(jwkThumbprint(jwk as Record<string, unknown>)).toBe(header.jkt);
      expect(parsed).toMatchObject(claims);
      // The second proof of the same key takes its header from the cache, and is still verified.
      expect(parser.parse(proof).header.jkt).toBe(header.jkt);
      const [h, c, s] = proof.split('.');
      const tampered = `${h}.${b64({ ...claims, jti: 'j2' })}.${s}`;
      expect(() => parser.parse(tampered)).toThrow(ProofError);
      expect(() => parser.parse(`${h}.${c}.${Buffer.alloc(64).toString('base64url')}`)).toThrow(ProofError);
    }
  });

  it('refuses a header that does not fit the rules', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const jwk = publicJwk(ec);
    const refuse = (proof: string, message: RegExp) => expect(() => new ProofParser().parse(proof)).toThrow(message);
    refuse(handMade(ec, { alg: 'ES256', typ: 'JWT', jwk }), /typ dpop\+jwt/);
    refuse(handMade(ec, { alg: 'HS256', typ: 'dpop+jwt', jwk }), /algorithm not allowed/);
    refuse(handMade(ec, { alg: 'none', typ: 'dpop+jwt', jwk }), /algorithm not allowed/);
    refuse(handMade(ec, { alg: 'ES256', typ: 'dpop+jwt' }), /jwk header/);
    // The key must be of the algorithm's kind: a P-256 key cannot sign ES384, an EC key RS256.
    refuse(handMade(ec, { alg: 'ES384', typ: 'dpop+jwt', jwk }, 'sha384'), /jwk header that fits/);
    refuse(handMade(ec, { alg: 'RS256', typ: 'dpop+jwt', jwk }), /jwk header that fits/);
    refuse(handMade(ec, { alg: 'ES256', typ: 'dpop+jwt', jwk: ec.export({ format: 'jwk' }) }), /public key/);
    refuse(handMade(ec, { alg: 'ES256', typ: 'dpop+jwt', jwk, crit: ['exp'] }), /critical/);
    refuse(handMade(ec, { alg: 'ES256', typ: 'dpop+jwt', jwk: { ...jwk, x: jwk.y } }), /not a valid public key/);
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    refuse(handMade(weak, { alg: 'RS256', typ: 'dpop+jwt', jwk: publicJwk(weak) }, 'sha256', false), /2048 bits/);
    refuse('a.b', /not a JWT/);
    refuse(`${b64({ alg: 'ES256', typ: 'dpop+jwt', jwk })}.bm90IGpzb24.c2ln`, /not a JWT|not signed/);
    refuse(`${b64([1])}.${b64(claims)}.c2ln`, /not a JWT/);
  });
});

import { generateKeyPairSync, sign } from 'node:crypto';
import { OID, bits, integer, nul, oid, raw, seq, set, toDer } from '../../src/pki/der.js';
import { name } from '../../src/pki/x509.js';

/** A PKCS#10 request built and signed with node:crypto (RSA-2048, SHA-256), for tests that need no openssl. */
export function nodeCsr(cn = 'device'): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const attributes = { ...set([]), tagClass: 0x80, type: 0 } as ReturnType<typeof set>;
  const cri = toDer(seq([integer(0n), raw(name([[OID.commonName, cn]])), raw(spki), attributes]));
  return toDer(seq([raw(cri), seq([oid(OID.sha256WithRSA), nul()]), bits(sign('sha256', cri, privateKey))]));
}

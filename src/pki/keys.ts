// Private keys at rest (AES-256-GCM under the master key) and every signature the
// CA makes. Signing is node:crypto only: forge's JavaScript RSA is ~100x slower.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  sign,
  type KeyObject,
  type SignKeyObjectInput,
} from 'node:crypto';
import { promisify } from 'node:util';
import { OID, nul, oid, seq, type Asn1 } from './der.js';

const generate = promisify(generateKeyPair);

export type CaKeyType = 'rsa3072' | 'rsa4096' | 'p384' | 'p256';

export async function newKeyPair(type: CaKeyType): Promise<KeyObject> {
  const pair =
    type === 'rsa3072' || type === 'rsa4096'
      ? await generate('rsa', { modulusLength: type === 'rsa3072' ? 3072 : 4096, publicExponent: 0x10001 })
      : await generate('ec', { namedCurve: type === 'p384' ? 'P-384' : 'P-256' });
  return pair.privateKey;
}

const AAD = Buffer.from('pca-iam pki private key v1');

export function encryptKey(masterKey: Buffer, key: KeyObject): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(AAD);
  const body = Buffer.concat([cipher.update(key.export({ type: 'pkcs8', format: 'der' })), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function decryptKey(masterKey: Buffer, blob: Uint8Array): KeyObject {
  const b = Buffer.from(blob);
  const decipher = createDecipheriv('aes-256-gcm', masterKey, b.subarray(0, 12));
  decipher.setAAD(AAD);
  decipher.setAuthTag(b.subarray(12, 28));
  const der = Buffer.concat([decipher.update(b.subarray(28)), decipher.final()]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

export const spkiOf = (key: KeyObject): Buffer => (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });

/** A signer: the AlgorithmIdentifier it declares and the function producing the signature. */
export interface Signer {
  algorithm: () => Asn1;
  sign(data: Buffer): Buffer;
  /** The same signature computed on libuv's thread pool: an RSA-3072 signature takes ~1.5 ms of CPU. */
  signAsync(data: Buffer): Promise<Buffer>;
}

export function signerFor(key: KeyObject): Signer {
  const type = key.asymmetricKeyType;
  const make = (algorithm: () => Asn1, hash: string | null, k: KeyObject | SignKeyObjectInput): Signer => ({
    algorithm,
    sign: (data) => sign(hash, data, k),
    signAsync: (data) => new Promise((resolve, reject) => sign(hash, data, k, (err, sig) => (err ? reject(err) : resolve(sig)))),
  });
  // SHA-256 with every RSA size: the most widely accepted choice.
  if (type === 'rsa') return make(() => seq([oid(OID.sha256WithRSA), nul()]), 'sha256', key);
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const [hash, alg] = curve === 'secp384r1' ? ['sha384', OID.ecdsaSha384] : curve === 'secp521r1' ? ['sha512', OID.ecdsaSha512] : ['sha256', OID.ecdsaSha256];
    return make(() => seq([oid(alg!)]), hash!, { key, dsaEncoding: 'der' });
  }
  if (type === 'ed25519') return make(() => seq([oid(OID.ed25519)]), null, key);
  throw new Error(`unsupported CA key type ${type}`);
}

export const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();

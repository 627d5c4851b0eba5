import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPair, randomBytes, sign } from 'node:crypto';
import { promisify } from 'node:util';
import type Forge from 'node-forge';

/** AES-256-GCM under the master key; the output is base64(iv | tag | ciphertext). */
export function seal(masterKey: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function unseal(masterKey: Buffer, sealed: string, aad: string): string {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

/**
 * A fresh RSA key pair and self-signed certificate for signing AuthnRequests. forge only
 * builds the ASN.1; the signature comes from node:crypto (forge's RSA is far slower).
 */
export async function generateSpKeyPair(commonName: string, years = 10): Promise<{ privateKeyPem: string; certificatePem: string }> {
  // Off the event loop: RSA key generation takes tens of milliseconds.
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Loaded here, not at start: most servers never add an IdP (see pki/der.ts).
  const forge = ((await import('node-forge')) as { default: typeof Forge }).default;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + years * 365 * 86400_000);
  const name = [{ shortName: 'CN', value: commonName.slice(0, 64) }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, critical: true },
  ]);
  const oid = forge.pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  (cert as unknown as { md: Forge.md.MessageDigest }).md = forge.md.sha256.create();
  const tbs = forge.asn1.toDer((forge.pki as unknown as { getTBSCertificate(c: Forge.pki.Certificate): Forge.asn1.Asn1 }).getTBSCertificate(cert)).getBytes();
  cert.signature = sign('sha256', Buffer.from(tbs, 'binary'), createPrivateKey(privateKeyPem)).toString('binary');
  return { privateKeyPem, certificatePem: forge.pki.certificateToPem(cert) };
}

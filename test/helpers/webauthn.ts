import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/*
 * A software WebAuthn authenticator for server-side tests: ES256 keys from node:crypto,
 * attestation "none" in CBOR, assertions signed over authenticatorData || SHA-256(clientDataJSON)
 * as WebAuthn §6.3.3 and §7.2 describe. Each answer can be bent (origin, challenge, counter,
 * user verification) to test what the server refuses.
 */

// Just enough CBOR (RFC 8949) for attestation objects and COSE keys.
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}
type Cbor = number | string | Buffer | Map<Cbor, Cbor>;
export function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, s.length), s]);
  }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  const parts = [head(5, v.size)];
  for (const [k, val] of v) parts.push(cbor(k), cbor(val));
  return Buffer.concat(parts);
}

const b64u = (b: Buffer) => b.toString('base64url');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

interface Key {
  id: Buffer;
  privateKey: KeyObject;
  cose: Buffer;
  counter: number;
  userHandle: string;
  backedUp: boolean;
}

export interface AnswerOptions {
  origin?: string;
  challenge?: string;
  rpId?: string;
  /** User verified (UV flag); default true. */
  uv?: boolean;
  /** The signature counter to report; default the next one. */
  counter?: number;
}

export class SoftAuthenticator {
  readonly keys: Key[] = [];
  constructor(
    readonly origin: string,
    readonly opts: { backedUp?: boolean; aaguid?: Buffer } = {},
  ) {}

  private authData(rpId: string, flags: number, counter: number, attested?: Key): Buffer {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const parts: Buffer[] = [sha256(rpId), Buffer.from([flags]), c];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(attested.id.length);
      parts.push(this.opts.aaguid ?? Buffer.alloc(16), len, attested.id, attested.cose);
    }
    return Buffer.concat(parts);
  }

  private flags(uv: boolean, attested: boolean) {
    const backed = this.opts.backedUp ? 0x08 | 0x10 : 0;
    return 0x01 | (uv ? 0x04 : 0) | backed | (attested ? 0x40 : 0);
  }

  /** The answer to navigator.credentials.create with these options (PublicKeyCredentialCreationOptionsJSON). */
  register(options: { challenge: string; rp: { id?: string }; user: { id: string } }, a: AnswerOptions = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = cbor(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const key: Key = { id: randomBytes(32), privateKey, cose, counter: 0, userHandle: options.user.id, backedUp: Boolean(this.opts.backedUp) };
    const clientData = Buffer.from(
      JSON.stringify({ type: 'webauthn.create', challenge: a.challenge ?? options.challenge, origin: a.origin ?? this.origin, crossOrigin: false }),
    );
    const authData = this.authData(a.rpId ?? options.rp.id!, this.flags(a.uv ?? true, true), 0, key);
    const attestationObject = cbor(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    this.keys.push(key);
    return {
      id: b64u(key.id),
      rawId: b64u(key.id),
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientData), attestationObject: b64u(attestationObject), transports: ['internal'] },
    };
  }

  /** The answer to navigator.credentials.get (PublicKeyCredentialRequestOptionsJSON), with `key` (default: the first allowed, else the first). */
  assert(options: { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }, a: AnswerOptions & { key?: Key } = {}) {
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
    const key = a.key ?? this.keys.find((k) => !allowed.length || allowed.includes(b64u(k.id))) ?? this.keys[0]!;
    const counter = a.counter ?? ++key.counter;
    const clientData = Buffer.from(
      JSON.stringify({ type: 'webauthn.get', challenge: a.challenge ?? options.challenge, origin: a.origin ?? this.origin, crossOrigin: false }),
    );
    const authData = this.authData(a.rpId ?? options.rpId!, this.flags(a.uv ?? true, false), counter);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), key.privateKey);
    return {
      id: b64u(key.id),
      rawId: b64u(key.id),
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientData), authenticatorData: b64u(authData), signature: b64u(signature), userHandle: key.userHandle },
    };
  }
}

/** The WebAuthn options a passkey form carries (data-options), and its challenge handle. */
export function ceremonyOnPage(html: string, formId: string): { options: any; handle: string } | undefined {
  const form = new RegExp(`<form[^>]*data-options="([^"]*)"[^>]*id="${formId}">[\\s\\S]*?name="handle" value="([^"]*)"`).exec(html);
  if (!form) return undefined;
  const unescape = (s: string) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  return { options: JSON.parse(unescape(form[1]!)), handle: form[2]! };
}

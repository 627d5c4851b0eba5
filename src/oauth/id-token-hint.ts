import { compactVerify } from 'jose';
import type { KeyStore } from './keys.js';

/** What an id_token_hint tells: whom the client believes signed in, and for which client. */
export interface IdTokenHint {
  sub: string;
  /** The first audience: the client the ID token was issued to. */
  clientId?: string;
}

/**
 * Checks an ID token this server issued, presented back as a hint (OIDC Core 3.1.2.1,
 * RP-Initiated Logout 1.0 §2): signed by one of our published keys, our issuer, not an
 * access token. An expired hint is still a hint, so expiry is not checked. Undefined when
 * it is malformed or not ours.
 */
export async function verifyIdTokenHint(deps: { keys: KeyStore; issuer: string }, hint: string): Promise<IdTokenHint | undefined> {
  if (hint.length > 16384) return undefined;
  try {
    const { payload, protectedHeader } = await compactVerify(
      hint,
      async (h) => {
        const key = await deps.keys.verificationKey(h.kid, h.alg);
        if (!key) throw new Error('unknown key');
        return key;
      },
      { algorithms: ['RS256', 'ES256'] },
    );
    if (protectedHeader.typ === 'at+jwt') return undefined;
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss?: unknown; sub?: unknown; aud?: unknown };
    if (claims.iss !== deps.issuer || typeof claims.sub !== 'string') return undefined;
    const aud = Array.isArray(claims.aud) ? (claims.aud as unknown[])[0] : claims.aud;
    return { sub: claims.sub, clientId: typeof aud === 'string' ? aud : undefined };
  } catch {
    return undefined;
  }
}

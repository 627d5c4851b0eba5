// One principal model for every credential; authorization decisions read only this.

export type PrincipalKind = 'user' | 'serviceaccount';
export type CredentialKind = 'pat' | 'jwt' | 'opaque' | 'session' | 'cert' | 'proxy';

export interface Principal {
  kind: PrincipalKind;
  credential: CredentialKind;
  /** Id of the credential itself (PAT id, session id, token id, certificate serial). */
  credentialId: string;
  tenantId: string;
  subjectId: string;
  username: string;
  /** Effective role names: own plus those inherited from groups. */
  roles: string[];
  /** Ids of the user groups the subject belongs to. */
  groups: string[];
  /** When the credential stops being valid, if it does. */
  expiresAt?: Date;
  /** The OAuth grant a token was issued under: revoking the grant revokes the token. */
  grantId?: string;
  /** The DPoP key a token is bound to (cnf.jkt, RFC 9449): each use must come with a proof of it. */
  jkt?: string;
  /** How a browser session's user signed in: methods (RFC 8176 amr) and when the first factor was checked. */
  authentication?: { amr: string[]; authTime: Date };
}

export const SKYLIGHT_ADMIN = 'skylight-admin';
export const TENANT_ADMIN = 'tenant-admin';
export const TENANT_USER = 'tenant-user';
export const TENANT_CONTRIBUTOR = 'tenant-contributor';
export const BUILTIN_ROLES = [SKYLIGHT_ADMIN, TENANT_ADMIN, TENANT_USER, TENANT_CONTRIBUTOR] as const;

export const isBuiltinRole = (name: string) => (BUILTIN_ROLES as readonly string[]).includes(name);
export const isSkylightAdmin = (p: Principal) => p.roles.includes(SKYLIGHT_ADMIN);

/** tenant-admin of `tenantId`, or skylight-admin (who administers every tenant). */
export function isAdminOf(p: Principal, tenantId: string): boolean {
  return isSkylightAdmin(p) || (p.tenantId === tenantId && p.roles.includes(TENANT_ADMIN));
}

/** Why a presented credential was refused: `unknown` maps to 401, the rest to 403 on the validate routes. */
export type Refusal = 'unknown' | 'expired' | 'revoked' | 'locked' | 'tenant_disabled';

export type Verification = { ok: true; principal: Principal } | { ok: false; reason: Refusal };

// The audit events of authentication and issuance, with their metrics: what the login
// flows, the token endpoint and credential verification call, one line each.
import { LRUCache } from 'lru-cache';
import type { Prisma } from '../platform/db.js';
import { lockoutsTotal, loginFailuresTotal, loginsTotal, logoutsTotal, tokensIssuedTotal } from '../platform/metrics.js';
import { audit } from './audit.js';
import type { AuditOrigin } from './origin.js';

type Db = Pick<Prisma, 'auditEvent'>;
interface Account {
  id: string;
  username: string;
}

/**
 * Why a login was refused. An IdP login adds: `idp_error` (the IdP answered with an error),
 * `invalid_answer` (its answer failed a check: signature, state, replay, audience),
 * `not_associated` (no user to sign in as, and none created).
 */
export type LoginFailure = 'unknown_account' | 'bad_credentials' | 'throttled' | 'refused' | 'idp_error' | 'invalid_answer' | 'not_associated';

/** A refused login: the account (when the name matched one), why, and whether it locked the account. */
export async function recordLoginFailure(
  db: Db,
  f: { tenantId: string; account?: Account; method: string; reason: LoginFailure; lockedNow?: boolean; idpId?: string },
  origin?: AuditOrigin | string,
) {
  loginFailuresTotal.inc({ method: f.method, reason: f.reason });
  // The name typed is not recorded when it matched no account: people type passwords there.
  const actor = { kind: 'user', id: f.account?.id ?? null, name: f.account?.username ?? null };
  const target = { tenantId: f.tenantId, targetType: 'user', targetId: f.account?.id ?? null };
  await audit(
    db,
    actor,
    { ...target, action: 'login.failed', outcome: 'failure', details: { method: f.method, reason: f.reason, ...(f.idpId ? { idpId: f.idpId } : {}) } },
    origin,
  );
  if (f.lockedNow) {
    lockoutsTotal.inc();
    await audit(db, actor, { ...target, action: 'user.locked', outcome: 'success', details: { reason: 'failed_logins' } }, origin);
  }
}

/** A completed login (a browser session started), by authentication methods (RFC 8176 amr). */
export async function recordLogin(db: Db, l: { tenantId: string; account: Account; amr: string[]; sessionId: string }, origin?: AuditOrigin) {
  loginsTotal.inc({ method: l.amr[0] ?? 'unknown' });
  await audit(
    db,
    { kind: 'user', id: l.account.id, name: l.account.username },
    { tenantId: l.tenantId, action: 'login.succeeded', targetType: 'user', targetId: l.account.id, details: { amr: l.amr, sessionId: l.sessionId } },
    origin,
  );
}

/** RP-initiated logout: the session ended and the grants it carried revoked. */
export async function recordLogout(
  db: Db,
  l: { tenantId: string; userId: string; sessionId: string; clientId?: string; grantsRevoked: number },
  origin?: AuditOrigin,
) {
  logoutsTotal.inc();
  await audit(
    db,
    { kind: 'user', id: l.userId },
    {
      tenantId: l.tenantId,
      action: 'logout',
      targetType: 'session',
      targetId: l.sessionId,
      details: { grantsRevoked: l.grantsRevoked, ...(l.clientId ? { clientId: l.clientId } : {}) },
    },
    origin,
  );
}

/*
 * Machines ask for tokens often (a client_credentials client every few minutes, forever):
 * their issuance is recorded once per standing grant per hour on each instance, with the
 * metric counting every token. A user's tokens (code, refresh) are each recorded.
 */
const SAMPLE_WINDOW_MS = 3600_000;
// Made on the first machine grant: lru-cache allocates its arrays for `max` entries up front
// (over a megabyte here), which a server with no machine clients would hold for nothing.
let sampled: LRUCache<string, true> | undefined;
const MACHINE_GRANTS = new Set(['client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);

export async function recordTokenIssued(
  db: Db,
  t: {
    grantType: string;
    tenantId: string;
    subject: { kind: string; subjectId: string; username: string };
    clientId?: string;
    grantId: string;
    scope?: string;
  },
  origin?: AuditOrigin,
) {
  tokensIssuedTotal.inc({ grant_type: t.grantType });
  const machine = MACHINE_GRANTS.has(t.grantType);
  if (machine) {
    sampled ??= new LRUCache<string, true>({ max: 50_000, ttl: SAMPLE_WINDOW_MS });
    if (sampled.has(t.grantId)) return;
    sampled.set(t.grantId, true);
  }
  await audit(
    db,
    { kind: t.subject.kind, id: t.subject.subjectId, name: t.subject.username },
    {
      tenantId: t.tenantId,
      action: 'token.issued',
      targetType: 'grant',
      targetId: t.grantId,
      details: {
        grantType: t.grantType,
        ...(t.clientId ? { clientId: t.clientId } : {}),
        scope: t.scope ?? '',
        ...(machine ? { sampled: 'first per grant per hour' } : {}),
      },
    },
    origin,
  );
}

/**
 * A token exchange (RFC 8693): who the token is for (the subject), which client asked, and
 * who acts (the actor chain of the token's act claim, if any). Each one is recorded.
 */
export async function recordTokenExchanged(
  db: Db,
  t: {
    tenantId: string;
    subject: { kind: string; subjectId: string; username: string };
    clientId: string;
    actor?: { sub: string; client_id?: string; act?: unknown };
    grantId: string;
    scope: string;
    tokenId: string;
  },
  origin?: AuditOrigin,
) {
  tokensIssuedTotal.inc({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' });
  await audit(
    db,
    { kind: t.subject.kind, id: t.subject.subjectId, name: t.subject.username },
    {
      tenantId: t.tenantId,
      action: 'token.exchanged',
      targetType: 'grant',
      targetId: t.grantId,
      details: { clientId: t.clientId, scope: t.scope, tokenId: t.tokenId, ...(t.actor ? { actor: t.actor } : {}) },
    },
    origin,
  );
}

/** How often a PAT's lastUsedAt is brought up to date: its precision, and at most one write per PAT per hour. */
const USE_PRECISION_MS = 3600_000;

/**
 * Notes a PAT's use when it was verified (a credential cache miss): lastUsedAt is kept to
 * the hour, and its first use is an audit event.
 */
export async function notePatUse(
  db: Pick<Prisma, 'auditEvent' | 'personalAccessToken'>,
  pat: { id: string; tenantId: string; serviceAccountId: string; lastUsedAt: Date | null },
  username: string,
  now: Date,
  origin?: AuditOrigin,
) {
  if (pat.lastUsedAt && now.getTime() - pat.lastUsedAt.getTime() < USE_PRECISION_MS) return;
  const first = await db.personalAccessToken.updateMany({ where: { id: pat.id, lastUsedAt: null }, data: { lastUsedAt: now } });
  if (first.count) {
    await audit(
      db,
      { kind: 'serviceaccount', id: pat.serviceAccountId, name: username },
      { tenantId: pat.tenantId, action: 'serviceaccount.pat.first_used', targetType: 'pat', targetId: pat.id },
      origin,
    );
    return;
  }
  await db.personalAccessToken.updateMany({ where: { id: pat.id }, data: { lastUsedAt: now } });
}

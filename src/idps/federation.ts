// What SAML and OpenID Connect IdPs share once their answer is verified: which IdP an
// email step goes to (the user's own, or the one claiming the email's domain), and which
// user an asserted identity signs in as (the linked one, an existing user auto-linked by
// a verified email, or a user created just in time).
import type { IdentityProvider, Prisma as P } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import { recordLoginFailure, type LoginFailure } from '../audit/events.js';
import { AppError } from '../platform/errors.js';
import { foldCase } from '../platform/case-fold.js';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import { rolesHeldBy } from '../principals/policy.js';
import { SKYLIGHT_ADMIN } from '../principals/principal.js';
import { createUserIn } from '../users/service.js';
import { loginPolicyOf } from '../tenants/login-policy.js';

type Tx = P.TransactionClient;

/** The domain of an email address, lower case; undefined when the text is not an email. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  return email.slice(at + 1).toLowerCase();
}

/**
 * The IdP the email step sends this login name to: the enabled IdP the user is linked to,
 * else (with `domainDiscovery`) the enabled IdP claiming the email's domain, for known and
 * unknown users alike. An inactive or locked user goes nowhere (the password step answers).
 * With `usernameOnly` (disableLoginWithEmail) a user is found by username only.
 */
export async function idpForLogin(
  prisma: Prisma,
  tenantId: string,
  loginName: string,
  opts: { domainDiscovery: boolean; usernameOnly?: boolean },
): Promise<IdentityProvider | undefined> {
  if (!isUuid(tenantId)) return undefined;
  const key = await foldCase(prisma, loginName.trim());
  // As the password step finds users (oauth/login.ts findLoginName): by username only when the policy disables email.
  const user = await prisma.user.findFirst({
    where: { tenantId, OR: [...(opts.usernameOnly ? [] : [{ emailLower: key }]), { usernameLower: key }] },
    select: { idpId: true, state: true, email: true },
  });
  if (user && (user.state === 'inactive' || user.state === 'locked')) return undefined;
  if (user?.idpId) {
    const own = await prisma.identityProvider.findUnique({ where: { tenantId_id: { tenantId, id: user.idpId } } });
    if (own && usable(own)) return own;
  }
  if (!opts.domainDiscovery) return undefined;
  const domain = emailDomain(user?.email ?? loginName.trim());
  if (!domain) return undefined;
  const claiming = await prisma.identityProvider.findFirst({ where: { tenantId, state: 'active', domains: { has: domain } } });
  return claiming && usable(claiming) ? claiming : undefined;
}

// An imported OIDC IdP without a client secret cannot sign anyone in until an admin sets one.
const usable = (idp: IdentityProvider) =>
  idp.state === 'active' && !(idp.validUntil && idp.validUntil <= new Date()) && (idp.type !== 'oidc' || Boolean(idp.clientSecretEnc));

/** What an IdP asserted about the person signing in, after its answer was verified. */
export interface Asserted {
  /** OIDC `sub`; SAML logins match by email (the NameID) and carry none. */
  subject?: string;
  email?: string;
  /** OIDC `email_verified`; for SAML, the NameID counts as verified only where the IdP is trusted for email (autoLinkByEmail). */
  emailVerified: boolean;
  firstName?: string;
  lastName?: string;
}

/** Why an IdP login was refused, as the audit records it. */
export type FederatedFailure = Extract<LoginFailure, 'idp_error' | 'invalid_answer' | 'not_associated' | 'refused'>;

export type FederatedOutcome =
  | { ok: true; userId: string; how: 'linked' | 'auto-linked' | 'created' }
  | { ok: false; reason: string; failure: FederatedFailure; account?: { id: string; username: string } };

/** A refused IdP answer: 403 with words the person signing in can read, and the audit's reason. */
export class FederationRefused extends AppError {
  constructor(
    code: string,
    title: string,
    detail: string,
    readonly failure: FederatedFailure = 'invalid_answer',
    readonly account?: { id: string; username: string },
  ) {
    super(403, code, title, detail);
  }
}

/**
 * Runs an IdP login's verification and records its refusal as a `login.failed` event, as a
 * refused password login is (outside the verification's transaction, which rolled back).
 * A malformed answer counts as an invalid one; a failure on our side (5xx) is no refusal.
 */
export async function auditedFederatedLogin<T>(
  prisma: Prisma,
  idp: Pick<IdentityProvider, 'id' | 'tenantId'>,
  method: 'saml' | 'oidc',
  requestId: string | undefined,
  verify: () => Promise<T>,
): Promise<T> {
  try {
    return await verify();
  } catch (err) {
    if (err instanceof AppError && err.status < 500) {
      const refused = err instanceof FederationRefused ? err : undefined;
      await recordLoginFailure(
        prisma,
        { tenantId: idp.tenantId, account: refused?.account, method, reason: refused?.failure ?? 'invalid_answer', idpId: idp.id },
        requestId,
      );
    }
    throw err;
  }
}

const NOT_ASSOCIATED = 'No user of this tenant is associated with this identity provider and email';

/**
 * The user an IdP's verified answer signs in as, inside the caller's transaction:
 * 1. the user linked to this IdP with this subject;
 * 2. the user with this email linked to this IdP (its subject is learnt now; for OIDC only
 *    from a verified email, so an unverified one cannot take over a link);
 * 3. with `autoLinkByEmail`, an unlinked user with this verified email, linked now;
 * 4. with `jitProvisioning`, a new user (through the user-creation command, so the identity
 *    rule and the audit apply) with the IdP's default roles, linked now.
 * Anything else is refused, as before these options existed.
 */
export async function federatedUser(tx: Tx, idp: IdentityProvider, a: Asserted, requestId = ''): Promise<FederatedOutcome> {
  const tenantId = idp.tenantId;
  const refuse = (reason: string): FederatedOutcome => ({ ok: false, reason, failure: 'not_associated' });
  const blocked = (state: string) => (state === 'inactive' || state === 'locked' ? `The user is ${state}` : undefined);
  const refuseUser = (reason: string, account: { id: string; username: string }): FederatedOutcome => ({
    ok: false,
    reason,
    failure: 'refused',
    account: { id: account.id, username: account.username },
  });
  // Before anything is linked or created: a login the tenant's policy refuses at its end
  // (completeLogin) must not leave a just-in-time user or a new link behind.
  if (!(await loginPolicyOf(tx, tenantId)).allowExternalIdp) {
    return { ok: false, reason: 'This way of signing in is turned off for this organisation.', failure: 'refused' };
  }

  if (a.subject) {
    const bySubject = await tx.user.findFirst({ where: { tenantId, idpId: idp.id, idpSubject: a.subject }, select: { id: true, state: true, username: true } });
    if (bySubject) {
      const b = blocked(bySubject.state);
      return b ? refuseUser(b, bySubject) : { ok: true, userId: bySubject.id, how: 'linked' };
    }
  }
  const email = a.email?.trim();
  if (!email || !emailDomain(email)) return refuse(NOT_ASSOCIATED);
  const user = await tx.user.findUnique({ where: { tenantId_emailLower: { tenantId, emailLower: await foldCase(tx, email) } } });
  const where = (id: string) => ({ tenantId_id: { tenantId, id } });

  if (user && user.idpId === idp.id) {
    const b = blocked(user.state);
    if (b) return refuseUser(b, user);
    if (a.subject) {
      if (user.idpSubject && user.idpSubject !== a.subject) return refuse('This user is linked to another account at the identity provider');
      if (!user.idpSubject) {
        if (!a.emailVerified) return refuse('The identity provider did not verify this email address (email_verified), so it cannot be matched to a user');
        await tx.user.update({ where: where(user.id), data: { idpSubject: a.subject } });
      }
    }
    return { ok: true, userId: user.id, how: 'linked' };
  }

  if (user) {
    if (user.idpId || !idp.autoLinkByEmail) return refuse(NOT_ASSOCIATED);
    if (!a.emailVerified) return refuse('The identity provider did not verify this email address (email_verified), so it cannot be linked to a user');
    const b = blocked(user.state);
    if (b) return refuseUser(b, user);
    // An IdP never takes over the operator's accounts: those are linked by hand or not at all.
    if ((await rolesHeldBy(tx, tenantId, { kind: 'user', id: user.id })).includes(SKYLIGHT_ADMIN)) return refuse(NOT_ASSOCIATED);
    await tx.user.update({
      where: where(user.id),
      data: { idpId: idp.id, idpSubject: a.subject ?? null, state: user.state === 'initial' ? 'active' : undefined },
    });
    await audit(tx, 'system', {
      tenantId,
      action: 'user.idp_auto_linked',
      targetType: 'user',
      targetId: user.id,
      details: { idpId: idp.id, email },
    });
    return { ok: true, userId: user.id, how: 'auto-linked' };
  }

  if (!idp.jitProvisioning) return refuse(NOT_ASSOCIATED);
  if (idp.type === 'oidc' && !a.emailVerified) return refuse('The identity provider did not verify this email address (email_verified), so no user is created');
  // An IdP that claims domains creates users of those domains only.
  if (idp.domains.length && !idp.domains.includes(emailDomain(email)!))
    return refuse(`Users of ${emailDomain(email)} are not created through this identity provider`);
  const { user: created } = await createUserIn(
    tx,
    { principal: 'system', tenantId, requestId },
    { username: email, email, firstName: a.firstName?.slice(0, 200) ?? '', lastName: a.lastName?.slice(0, 200) ?? '', roles: idp.jitRoles },
    { passwordHash: null, state: 'active', invitationTtlMs: 0, invite: false },
  );
  await tx.user.update({ where: where(created.id), data: { idpId: idp.id, idpSubject: a.subject ?? null } });
  await audit(tx, 'system', {
    tenantId,
    action: 'user.jit_created',
    targetType: 'user',
    targetId: created.id,
    details: { idpId: idp.id, email, roles: idp.jitRoles },
  });
  return { ok: true, userId: created.id, how: 'created' };
}

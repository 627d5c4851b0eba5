import type { Prisma } from '../platform/db.js';
import { constantTimeEqual } from '../platform/secrets.js';
import { hashPat, isWellFormedPat } from './pat.js';
import type { Verification } from './principal.js';
import { notePatUse } from '../audit/events.js';
import type { AuditOrigin } from '../audit/origin.js';

export async function verifyPat(prisma: Prisma, token: string, now = new Date(), origin?: AuditOrigin): Promise<Verification> {
  if (!isWellFormedPat(token)) return { ok: false, reason: 'unknown' };
  const hash = hashPat(token);
  const pat = await prisma.personalAccessToken.findUnique({
    where: { tokenHash: hash },
    include: {
      serviceAccount: { include: { roles: { select: { roleName: true } }, tenant: { select: { state: true } } } },
    },
  });
  // The lookup is by hash, so timing reveals nothing of the token; compare anyway.
  if (!pat || !constantTimeEqual(pat.tokenHash, hash)) return { ok: false, reason: 'unknown' };
  const sa = pat.serviceAccount;
  if (pat.expiresAt <= now || (sa.expirationDate && sa.expirationDate <= now)) return { ok: false, reason: 'expired' };
  if (sa.tenant.state !== 'active') return { ok: false, reason: 'tenant_disabled' };
  await notePatUse(prisma, pat, sa.username, now, origin);
  return {
    ok: true,
    principal: {
      kind: 'serviceaccount',
      credential: 'pat',
      credentialId: pat.id,
      tenantId: pat.tenantId,
      subjectId: sa.id,
      username: sa.username,
      roles: sa.roles.map((r) => r.roleName),
      groups: [],
      expiresAt: sa.expirationDate && sa.expirationDate < pat.expiresAt ? sa.expirationDate : pat.expiresAt,
    },
  };
}

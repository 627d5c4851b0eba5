// Second factors in the export (`pca.mfa`, only with `withOtp`): per user, the TOTP enrolment
// (its secret as stored, sealed under the master key), the recovery codes' keyed hashes and
// the passkeys' public halves. ZITADEL's `otpCode` is a plain secret; ours never leaves
// the server unsealed. The section is user-scaled: read and written page by page.
import { z } from 'zod';
import { totpSecretOf } from '../users/totp.js';
import { toUuid } from './foreign-ids.js';
import { Streamed } from './json-stream.js';
import { byUser, userIdPages } from './user-pages.js';
import { clash, upsertRow, type ItemError, type Step, type Tx } from './write-step.js';

export interface PcaMfa {
  userId: string;
  /** As stored: sealed under the exporting deployment's master key; `confirmedAt` null while the enrolment waits for its first code. */
  totp?: { secretSealed: string; confirmedAt: string | null; lastUsedStep: number | null; createdAt: string };
  /** HMAC-SHA256 under the master key (users/recovery-codes.ts): usable only where the same key is. */
  recoveryCodes: { codeHash: string; usedAt: string | null; createdAt: string }[];
  passkeys: {
    id: string;
    credentialId: string;
    /** base64 of the COSE public key */
    publicKey: string;
    counter: string;
    transports: string[];
    name: string;
    aaguid: string;
    backupEligible: boolean;
    backedUp: boolean;
    createdAt: string;
    lastUsedAt: string | null;
  }[];
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The second factors of the tenant's users that have any, in user id order, a page of users at a time. */
export function exportMfa(tx: Tx, tenantId: string, size: number): Streamed<PcaMfa> {
  return new Streamed(async function* () {
    for await (const ids of userIdPages(tx, tenantId, size)) {
      const where = { tenantId, userId: { in: ids } };
      const totps = new Map((await tx.userTotp.findMany({ where })).map((t) => [t.userId, t]));
      const codes = byUser(await tx.recoveryCode.findMany({ where, orderBy: [{ userId: 'asc' }, { codeHash: 'asc' }] }));
      const keys = byUser(await tx.passkey.findMany({ where, orderBy: [{ userId: 'asc' }, { id: 'asc' }] }));
      for (const userId of ids) {
        const t = totps.get(userId);
        const mine = codes.get(userId) ?? [];
        const passkeys = keys.get(userId) ?? [];
        if (!t && !mine.length && !passkeys.length) continue;
        yield {
          userId,
          ...(t
            ? { totp: { secretSealed: t.secret, confirmedAt: iso(t.confirmedAt), lastUsedStep: t.lastUsedStep, createdAt: t.createdAt.toISOString() } }
            : {}),
          recoveryCodes: mine.map((c) => ({ codeHash: c.codeHash, usedAt: iso(c.usedAt), createdAt: c.createdAt.toISOString() })),
          passkeys: passkeys.map((k) => ({
            id: k.id,
            credentialId: k.credentialId,
            publicKey: Buffer.from(k.publicKey).toString('base64'),
            counter: k.counter.toString(),
            transports: k.transports,
            name: k.name,
            aaguid: k.aaguid,
            backupEligible: k.backupEligible,
            backedUp: k.backedUp,
            createdAt: k.createdAt.toISOString(),
            lastUsedAt: iso(k.lastUsedAt),
          })),
        };
      }
    }
  });
}

const datetime = z.iso.datetime();
const mfaEntry = z.object({
  userId: z.string().min(1).max(200),
  totp: z
    .object({
      secretSealed: z.string().min(1).max(1024),
      confirmedAt: datetime.nullable(),
      lastUsedStep: z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1)
        .nullable(),
      createdAt: datetime,
    })
    .optional(),
  recoveryCodes: z
    .array(z.object({ codeHash: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url HMAC-SHA256'), usedAt: datetime.nullable(), createdAt: datetime }))
    .max(100),
  passkeys: z
    .array(
      z.object({
        id: z.uuid(),
        credentialId: z.string().regex(/^[A-Za-z0-9_-]{1,1400}$/, 'must be base64url'),
        publicKey: z.base64().min(1).max(4096),
        counter: z.string().regex(/^(0|[1-9][0-9]{0,9})$/, 'must be an unsigned 32-bit integer'),
        transports: z.array(z.string().max(32)).max(10),
        name: z.string().trim().min(1).max(200),
        aaguid: z.string().max(64),
        backupEligible: z.boolean(),
        backedUp: z.boolean(),
        createdAt: datetime,
        lastUsedAt: datetime.nullable(),
      }),
    )
    .max(100),
});

const date = (s: string | null) => (s ? new Date(s) : null);

export function planMfa(raw: Record<string, unknown>, scope: string, errors: ItemError[]) {
  const list = (raw.pca as { mfa?: unknown } | undefined)?.mfa;
  const out = [];
  for (const item of Array.isArray(list) ? (list as unknown[]) : []) {
    const r = mfaEntry.safeParse(item);
    const rawId = String((item as { userId?: unknown })?.userId ?? '');
    if (!r.success) {
      errors.push({
        type: 'mfa',
        id: rawId,
        field: r.error.issues[0]?.path.join('.') || undefined,
        message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
      continue;
    }
    const m = r.data;
    out.push({
      rawId,
      userId: toUuid(m.userId, scope),
      totp: m.totp && {
        secret: m.totp.secretSealed,
        confirmedAt: date(m.totp.confirmedAt),
        lastUsedStep: m.totp.lastUsedStep,
        createdAt: new Date(m.totp.createdAt),
      },
      recoveryCodes: m.recoveryCodes.map((c) => ({ codeHash: c.codeHash, usedAt: date(c.usedAt), createdAt: new Date(c.createdAt) })),
      passkeys: m.passkeys.map((k) => ({
        id: k.id.toLowerCase(),
        data: {
          credentialId: k.credentialId,
          publicKey: new Uint8Array(Buffer.from(k.publicKey, 'base64')),
          counter: BigInt(k.counter),
          transports: k.transports,
          name: k.name,
          aaguid: k.aaguid,
          backupEligible: k.backupEligible,
          backedUp: k.backedUp,
          createdAt: new Date(k.createdAt),
          lastUsedAt: date(k.lastUsedAt),
        },
      })),
    });
  }
  return out;
}

export type MfaPlan = ReturnType<typeof planMfa>;

/**
 * After the users. A TOTP secret this server cannot open is reported and skipped, and so
 * are the user's recovery codes: their hashes are keyed by the same master key.
 */
export async function writeMfa(w: Step, plan: MfaPlan, holderOf: (id: string) => 'user' | 'serviceAccount' | undefined) {
  const { tx, tenantId } = w;
  for (const m of plan) {
    if (holderOf(m.userId) !== 'user') {
      w.errors.push({ type: 'mfa', id: m.rawId, field: 'userId', message: 'no such user in the org' });
      continue;
    }
    const userId = m.userId;
    let keyed = true;
    if (m.totp) {
      if (!w.masterKey || !totpSecretOf(w.masterKey, m.totp.secret)) {
        keyed = false;
        w.errors.push({
          type: 'mfa',
          id: m.rawId,
          field: 'totp.secretSealed',
          message:
            "the TOTP secret does not open with this server's master key (export withOtp from a server with the same master key); the user's TOTP and recovery codes are not imported",
        });
      } else {
        const cur = await tx.userTotp.findUnique({ where: { tenantId_userId: { tenantId, userId } } });
        await upsertRow(
          w,
          { type: 'mfa', id: `${m.rawId}/totp` },
          cur,
          m.totp,
          () => tx.userTotp.create({ data: { tenantId, userId, ...m.totp! } }),
          () => tx.userTotp.update({ where: { tenantId_userId: { tenantId, userId } }, data: m.totp! }),
        );
      }
    }
    if (keyed && m.recoveryCodes.length) {
      const existing = new Map(
        (await tx.recoveryCode.findMany({ where: { tenantId, userId, codeHash: { in: m.recoveryCodes.map((c) => c.codeHash) } } })).map((c) => [c.codeHash, c]),
      );
      for (const c of m.recoveryCodes) {
        const cur = existing.get(c.codeHash);
        await upsertRow(
          w,
          { type: 'mfa', id: `${m.rawId}/recoveryCode` },
          cur,
          c,
          () => tx.recoveryCode.create({ data: { tenantId, userId, ...c } }),
          () => tx.recoveryCode.update({ where: { id: cur!.id }, data: c }),
        );
      }
    }
    for (const k of m.passkeys) {
      const what = { type: 'passkey', id: k.id };
      const byCredential = await tx.passkey.findUnique({
        where: { tenantId_credentialId: { tenantId, credentialId: k.data.credentialId } },
        select: { id: true },
      });
      const cur = await tx.passkey.findUnique({ where: { id: k.id } });
      if (byCredential && byCredential.id !== k.id) {
        clash(w, { ...what, field: 'credentialId', message: 'another passkey of the org has this credential id' });
        continue;
      }
      if (cur && (cur.tenantId !== tenantId || cur.userId !== userId)) {
        clash(w, { ...what, message: 'the id belongs to another user or tenant' });
        continue;
      }
      await upsertRow(
        w,
        what,
        cur,
        k.data,
        () => tx.passkey.create({ data: { id: k.id, tenantId, userId, ...k.data } }),
        () => tx.passkey.update({ where: { id: k.id }, data: k.data }),
      );
    }
  }
}

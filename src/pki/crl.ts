// The CRL of the current CA: built on demand, kept until half its validity has passed or a
// certificate of the issuer changes status (trigger tag "crl:<authority id>").
import { Cache } from '../platform/cache.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { buildCrl, type ReasonName } from './authority.js';
import type { CurrentAuthority } from './ca.js';

export class CrlPublisher {
  readonly cache = new Cache<Buffer>({ max: 1 });

  constructor(
    private readonly prisma: Prisma,
    private readonly ca: CurrentAuthority,
    private readonly config: Config,
  ) {}

  async der(): Promise<Buffer> {
    const auth = await this.ca.ready();
    const hit = this.cache.get(auth.id);
    if (hit) return hit;
    const since = this.cache.generation;
    const now = Date.now();
    const validity = this.config.PKI_CRL_VALIDITY_HOURS * 3600_000;
    const numbered = await this.prisma.$queryRaw<{ crlNumber: bigint }[]>`
      UPDATE "PkiAuthority" SET "crlNumber" = "crlNumber" + 1, "updatedAt" = now() WHERE id = ${auth.id} RETURNING "crlNumber"`;
    const crlNumber = BigInt(numbered[0]!.crlNumber);
    const revoked = await this.prisma.clientCertificate.findMany({
      where: { issuerId: auth.id, status: 'revoked', notAfter: { gt: new Date(now) } },
      select: { serial: true, revokedAt: true, revocationReason: true },
      orderBy: { revokedAt: 'asc' },
    });
    const der = buildCrl(
      auth,
      revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt!, reason: (r.revocationReason ?? 'Unspecified') as ReasonName })),
      crlNumber,
      new Date(now),
      new Date(now + validity),
    );
    this.cache.set(auth.id, der, [`crl:${auth.id}`], since, validity / 2);
    return der;
  }
}

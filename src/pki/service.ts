// The certificate service as the HTTP layer sees it: one object over issuance,
// the certificate registry, the CRL, the OCSP responder and client-certificate
// authentication, whose caches it subscribes to the invalidation channel.
import type { ClientCertificate } from '../generated/prisma/client.js';
import type { Config } from '../platform/config.js';
import type { Database } from '../platform/db.js';
import type { Invalidation, InvalidationSubscriber } from '../platform/invalidation.js';
import type { ServiceContext } from '../principals/context.js';
import type { Principal, Verification } from '../principals/principal.js';
import type { Authority, ReasonName } from './authority.js';
import { CurrentAuthority } from './ca.js';
import { CertAuthenticator } from './cert-auth.js';
import { getCertificate, listCertificates, revokeCertificate } from './certificates.js';
import { CrlPublisher } from './crl.js';
import { Issuance, type CertFormat, type SignParams } from './issuance.js';
import { OcspResponder } from './ocsp-responder.js';

export { certView } from './certificates.js';

export class PkiService {
  private readonly ca: CurrentAuthority;
  private readonly issuance: Issuance;
  private readonly crl: CrlPublisher;
  private readonly responder: OcspResponder;
  private readonly certAuth: CertAuthenticator;
  private readonly caches: InvalidationSubscriber[];
  private readonly unsubscribe: (() => void)[];

  constructor(
    db: Database,
    masterKey: Buffer,
    config: Config,
    private readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
    private readonly invalidation: Invalidation,
  ) {
    this.ca = new CurrentAuthority(db.prisma, masterKey, config);
    this.issuance = new Issuance(db, this.ca, config);
    this.crl = new CrlPublisher(db.prisma, this.ca, config);
    this.responder = new OcspResponder(db.prisma, this.ca, config, log);
    this.certAuth = new CertAuthenticator(db.prisma, this.ca, config);
    this.caches = [this.crl.cache, this.responder.answers, this.responder.statuses, this.certAuth.verified];
    this.unsubscribe = this.caches.map((c) => invalidation.subscribe(c));
  }

  /** The CA, created or loaded on first use (so every app, test apps included, gets one). */
  ready(): Promise<Authority> {
    return this.ca.ready();
  }

  async close() {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
  }

  /** Whether caches are in use: status changes anywhere are known to reach this instance. */
  get cachesLive(): boolean {
    return this.invalidation.listening;
  }

  /** After an import installed a CA: the next use loads it (it replaces only a CA that issued nothing, so no cached answer is about it). */
  forgetAuthority() {
    this.ca.forget();
  }

  caPem(): Promise<string> {
    return this.ca.pem();
  }

  signCsr(ctx: ServiceContext, body: Buffer, params: SignParams): Promise<Buffer | string> {
    return this.issuance.signCsr(ctx, body, params);
  }

  renew(principal: Principal, requestId: string, body: Buffer, params: { certduration?: string; format: CertFormat }): Promise<Buffer | string> {
    return this.issuance.renew(principal, requestId, body, params);
  }

  list(ctx: ServiceContext, skip: number, take: number) {
    return listCertificates(ctx, skip, take);
  }

  get(ctx: ServiceContext, serialNum: string): Promise<ClientCertificate> {
    return getCertificate(ctx, serialNum);
  }

  async revoke(ctx: ServiceContext, serialNum: string, reason: ReasonName): Promise<ClientCertificate> {
    const row = await revokeCertificate(ctx, serialNum, reason);
    // The trigger's notification reaches other instances; this one forgets at once.
    const tags = [`cred:${row.serial}`, `crl:${row.issuerId}`];
    for (const cache of this.caches) cache.invalidate(tags);
    // Regenerated as soon as the revocation has reached this instance's caches, so the next
    // fetch is served at once; a failure only defers it to that fetch.
    void this.invalidation
      .settle()
      .then(() => this.crl.der())
      .catch((err) => this.log.error({ err }, 'pki: CRL regeneration failed'));
    return row;
  }

  crlDer(): Promise<Buffer> {
    return this.crl.der();
  }

  ocsp(requestDer: Buffer): Promise<{ der: Buffer; maxAge: number }> {
    return this.responder.respond(requestDer);
  }

  verifyClientCert(headerValue: string): Promise<Verification> {
    return this.certAuth.verify(headerValue);
  }
}

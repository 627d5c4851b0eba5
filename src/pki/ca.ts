// The CA of this instance: loaded (or created) on first use, so every app, test apps
// included, gets one; reloaded when its OCSP signer nears expiry, since loading renews it.
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { loadAuthority, type Authority } from './authority.js';
import { pem } from './der.js';

const OCSP_RELOAD_BEFORE_MS = 29 * 86400_000;

export class CurrentAuthority {
  private authority?: Promise<Authority>;
  private reloadAt?: number;

  constructor(
    private readonly prisma: Prisma,
    private readonly masterKey: Buffer,
    private readonly config: Config,
  ) {}

  ready(): Promise<Authority> {
    // A long-running process reloads when its OCSP signer nears expiry; loading renews it.
    if (this.authority && this.reloadAt !== undefined && Date.now() >= this.reloadAt) {
      this.authority = undefined;
      this.reloadAt = undefined;
    }
    if (!this.authority) {
      this.authority = loadAuthority(this.prisma, this.masterKey, this.config);
      this.authority.then(
        (a) => {
          const due = a.ocsp.cert.notAfter.getTime() - OCSP_RELOAD_BEFORE_MS;
          // Loading renews the signer only while the CA itself has 30 days left.
          this.reloadAt = a.cert.notAfter.getTime() - 30 * 86400_000 > due ? due : Infinity;
        },
        () => (this.authority = undefined),
      );
    }
    return this.authority;
  }

  /** Loads the CA again at next use: an import may have installed another one. */
  forget() {
    this.authority = undefined;
    this.reloadAt = undefined;
  }

  async pem(): Promise<string> {
    return pem('CERTIFICATE', (await this.ready()).cert.der);
  }
}

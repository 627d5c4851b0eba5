import { AsyncLocalStorage } from 'node:async_hooks';

/** Where the operation being audited came from: the request id and the caller's address. */
export interface AuditOrigin {
  requestId: string;
  clientAddress?: string;
}

/*
 * The HTTP layer runs each handler inside its request's origin, so that every audit event
 * written while handling it carries the caller's address, whichever service writes it:
 * the services' plain contexts stay free of transport details, and no call site has to
 * thread the address through.
 */
const origins = new AsyncLocalStorage<AuditOrigin>();

export function runWithOrigin<T>(origin: AuditOrigin, fn: () => T): T {
  return origins.run(origin, fn);
}

export const currentOrigin = (): AuditOrigin | undefined => origins.getStore();

/** Where an audited operation came from: the request id and the caller's address. */
export interface AuditOrigin {
  requestId: string;
  clientAddress?: string;
}

/*
 * The existing writers pass only their context's request id; the HTTP layer registers each
 * request's address under its id while it runs, and the writer looks it up. (Not
 * AsyncLocalStorage: on Node 20 it taxes every promise of every request, the proxies'
 * validate calls included.) Request ids may come from the client (X-Request-Id): while two
 * requests share one, neither's address is used, so an event never names a wrong address.
 */
const inFlight = new Map<string, { address: string | null; count: number }>();
/** A bound on requests whose end was never seen: past it the registry starts afresh. */
const MAX_IN_FLIGHT = 100_000;

export function requestStarted(requestId: string, clientAddress: string) {
  const entry = inFlight.get(requestId);
  if (entry) {
    entry.count++;
    entry.address = null;
    return;
  }
  if (inFlight.size >= MAX_IN_FLIGHT) inFlight.clear();
  inFlight.set(requestId, { address: clientAddress, count: 1 });
}

export function requestEnded(requestId: string) {
  const entry = inFlight.get(requestId);
  if (entry && --entry.count <= 0) inFlight.delete(requestId);
}

export const clientAddressOf = (requestId: string): string | undefined => inFlight.get(requestId)?.address ?? undefined;

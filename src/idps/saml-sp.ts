import { randomBytes } from 'node:crypto';
import type { CacheProvider, Profile } from '@node-saml/node-saml';
import type { IdentityProvider } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { badRequest, notFound } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { constantTimeEqual, randomToken, sha256Hex } from '../platform/secrets.js';
import { NAMEID_EMAIL, parseUntrustedXml } from './metadata.js';
import { spKeyAad } from './service.js';
import { unseal } from './sp-keys.js';
import { foldCase } from '../platform/case-fold.js';
import { auditedFederatedLogin, federatedUser, FederationRefused, type FederatedFailure } from './federation.js';

/** What the SAML service provider needs from the app (a FastifyInstance fits). */
export interface SamlDeps {
  db: { prisma: Prisma };
  config: Config;
  masterKey: Buffer;
}

export interface SamlLogin {
  tenantId: string;
  userId: string;
  idpId: string;
  /** The relay state given when the login started (the pending OAuth authorization id). */
  relayState: string;
}

/** SAML limits RelayState to 80 bytes. */
export const MAX_RELAY_STATE = 80;

export const spEntityId = (config: Config, idpId: string) => `${config.PUBLIC_URL}/saml/${idpId}/metadata`;
export const acsUrl = (config: Config, idpId: string) => `${config.PUBLIC_URL}/saml/${idpId}/acs`;

/** A refused SAML response: 403 with the reason (never a 500 for what an IdP or browser sent). */
export const samlRefused = (detail: string, failure?: FederatedFailure, account?: { id: string; username: string }) =>
  new FederationRefused('saml_refused', 'SAML response refused', detail, failure, account);

/**
 * The cookie that binds each AuthnRequest to the browser that started the login (against
 * login CSRF: a response the attacker obtained for their own account, posted from the
 * victim's browser). It holds a random secret; the SamlRequest row holds its SHA-256.
 * The IdP's POST to the ACS is cross-site, and SameSite=Lax cookies are not sent with a
 * cross-site POST: over https the cookie is SameSite=None; Secure (and __Host- prefixed, so
 * that a sibling subdomain cannot plant one, unless SESSION_COOKIE_DOMAIN shares it with
 * the tenants' hosts). Over plain http (development) SameSite=None is not allowed without
 * Secure, so the attribute is left out and the browser's default applies.
 */
export const SAML_BINDING_COOKIE = 'iam_saml';
const BINDING_FORMAT = /^[0-9A-Za-z]{43}$/;

export function samlBindingCookie(config: Pick<Config, 'PUBLIC_URL' | 'SESSION_COOKIE_DOMAIN' | 'SAML_REQUEST_TTL_MS'>) {
  const secure = config.PUBLIC_URL.startsWith('https:');
  const domain = config.SESSION_COOKIE_DOMAIN;
  return {
    name: secure ? `${domain ? '__Secure-' : '__Host-'}${SAML_BINDING_COOKIE}` : SAML_BINDING_COOKIE,
    options: {
      path: '/',
      httpOnly: true,
      secure,
      // @fastify/cookie defaults to Lax: undefined leaves the attribute out.
      sameSite: secure ? ('none' as const) : undefined,
      maxAge: Math.ceil(config.SAML_REQUEST_TTL_MS / 1000),
      ...(domain ? { domain } : {}),
    },
  };
}

const NOT_THIS_BROWSER =
  'This browser did not start this sign-in (its SAML binding cookie is missing or belongs to another sign-in). Start the sign-in again from the application, in this browser.';

// node-saml (and its XML stack) loads on the first SAML request: most processes never federate.
async function samlFor(deps: SamlDeps, idp: IdentityProvider, cacheProvider: CacheProvider, signedResponse: boolean) {
  const { SAML, ValidateInResponseTo } = await import('@node-saml/node-saml');
  return new SAML({
    issuer: spEntityId(deps.config, idp.id),
    callbackUrl: acsUrl(deps.config, idp.id),
    audience: spEntityId(deps.config, idp.id),
    entryPoint: idp.ssoRedirectUrl!,
    idpCert: idp.signingCerts,
    privateKey: unseal(deps.masterKey, idp.spPrivateKeyEnc!, spKeyAad(idp.tenantId, idp.id)),
    publicCert: idp.spCertificate!,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: NAMEID_EMAIL,
    wantAssertionsSigned: true,
    // A response-level signature is optional in SAML, but when present it must verify.
    wantAuthnResponseSigned: signedResponse,
    acceptedClockSkewMs: deps.config.SAML_CLOCK_SKEW_MS,
    validateInResponseTo: ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: deps.config.SAML_REQUEST_TTL_MS,
    disableRequestedAuthnContext: true,
    generateUniqueId: () => '_' + randomBytes(20).toString('hex'),
    cacheProvider,
  });
}

/**
 * node-saml's request-id cache, kept in PostgreSQL so any instance can take the response.
 * `pending` is what a new request is stored with (only a login start saves requests).
 */
function requestStore(deps: SamlDeps, idp: IdentityProvider, pending?: { relayState: string; bindingHash: string }): CacheProvider {
  const { prisma } = deps.db;
  return {
    async saveAsync(key, value) {
      if (!pending) throw new Error('SAML request saved outside a login start');
      // Abandoned logins leave requests behind; sweep the expired ones (indexed on expiresAt).
      await prisma.samlRequest.deleteMany({ where: { expiresAt: { lt: new Date() } } });
      await prisma.samlRequest.create({
        data: { tenantId: idp.tenantId, idpId: idp.id, id: key, ...pending, expiresAt: new Date(Date.now() + deps.config.SAML_REQUEST_TTL_MS) },
      });
      return { value, createdAt: Date.now() };
    },
    async getAsync(key) {
      const row = await prisma.samlRequest.findUnique({ where: { tenantId_id: { tenantId: idp.tenantId, id: key } } });
      return row && row.idpId === idp.id && row.expiresAt > new Date() ? row.createdAt.toISOString() : null;
    },
    // Consumption is done atomically after full verification (consumeRequest), not here.
    async removeAsync() {
      return null;
    },
  };
}

/** Loads an enabled IdP by id from any tenant (the SAML routes carry only the IdP id). */
async function enabledIdp(prisma: Prisma, idpId: string) {
  const idp = isUuid(idpId) ? await prisma.identityProvider.findUnique({ where: { id: idpId }, include: { tenant: { select: { state: true } } } }) : null;
  if (!idp || idp.type !== 'saml' || idp.state !== 'active' || idp.tenant.state !== 'active') return undefined;
  return idp;
}

export async function spMetadata(deps: SamlDeps, idpId: string): Promise<string> {
  const idp = await enabledIdp(deps.db.prisma, idpId);
  if (!idp) throw notFound('Identity provider');
  return (await samlFor(deps, idp, requestStore(deps, idp), true)).generateServiceProviderMetadata(null, idp.spCertificate);
}

export interface SamlRedirect {
  /** The IdP URL carrying the signed AuthnRequest. */
  url: string;
  /**
   * The browser binding secret: the response that sends the browser to `url` must set it
   * as the samlBindingCookie; the ACS accepts the answer only from a browser sending it.
   */
  binding: string;
}

/**
 * Starts an SP-initiated login: stores the request id, bound to the browser, and returns
 * the IdP URL. `browserBinding` is the binding cookie the browser already has, if any: it
 * is reused so that logins started in several tabs can all complete.
 */
export async function startSamlLogin(deps: SamlDeps, idp: IdentityProvider, relayState: string, browserBinding?: string): Promise<SamlRedirect> {
  if (Buffer.byteLength(relayState) > MAX_RELAY_STATE) throw badRequest(`The relay state exceeds ${MAX_RELAY_STATE} bytes`);
  const binding = browserBinding && BINDING_FORMAT.test(browserBinding) ? browserBinding : randomToken(43);
  const store = requestStore(deps, idp, { relayState, bindingHash: sha256Hex(binding) });
  const url = await (await samlFor(deps, idp, store, true)).getAuthorizeUrlAsync(relayState, undefined, {});
  return { url, binding };
}

/**
 * Email-first step of the hosted login: when the tenant's user with this email is
 * associated with an enabled IdP, the URL to redirect the browser to and the binding
 * cookie to set on it (see startSamlLogin); otherwise undefined.
 * `authorizationId` (the pending OAuth authorization) comes back as the login's relayState.
 */
export async function findSamlRedirect(
  deps: SamlDeps,
  tenantId: string,
  email: string,
  authorizationId = '',
  browserBinding?: string,
): Promise<SamlRedirect | undefined> {
  if (!isUuid(tenantId)) return undefined;
  // The login name typed: an email or a username, as the password step takes it.
  const key = await foldCase(deps.db.prisma, email.trim());
  const user = await deps.db.prisma.user.findFirst({
    where: { tenantId, OR: [{ emailLower: key }, { usernameLower: key }] },
    select: { idpId: true, state: true },
  });
  if (!user?.idpId || user.state === 'inactive' || user.state === 'locked') return undefined;
  const idp = await enabledIdp(deps.db.prisma, user.idpId);
  if (!idp || idp.tenantId !== tenantId || (idp.validUntil && idp.validUntil <= new Date())) return undefined;
  return startSamlLogin(deps, idp, authorizationId, browserBinding);
}

/** A text attribute of the assertion, under the first of its usual names. */
function profileText(profile: Profile, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = (profile as Record<string, unknown>)[n];
    if (typeof v === 'string' && v.trim()) return v.trim();
  }
  return undefined;
}

function attr(node: Element | null | undefined, name: string) {
  return node?.hasAttribute(name) ? (node.getAttribute(name) ?? undefined) : undefined;
}

// xml2js output as node-saml hands it over: untyped by the library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type XmlJs = Record<string, any>;

const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

const childrenNamed = (node: Element, localName: string) =>
  Array.from(node.childNodes).filter((n): n is Element => (n as Element).localName === localName && (n as Element).namespaceURI === PROTOCOL_NS);

/**
 * The top-level status must be Success (SAML Core 3.2.2.2): any other code means the IdP
 * did not authenticate the user, whatever assertion the response also carries. node-saml
 * only looks at the status when there is no assertion, so it is checked here.
 */
function requireSuccess(root: Element) {
  const status = childrenNamed(root, 'Status');
  if (status.length !== 1) throw samlRefused('The response must carry exactly one Status');
  const code = childrenNamed(status[0]!, 'StatusCode');
  const value = code.length === 1 ? attr(code[0], 'Value') : undefined;
  if (value === STATUS_SUCCESS) return;
  const short = (uri: string | undefined) => (uri ?? 'none').replace(/^urn:oasis:names:tc:SAML:2\.0:status:/, '').slice(0, 120);
  const sub = code.length === 1 ? childrenNamed(code[0]!, 'StatusCode').map((c) => short(attr(c, 'Value'))) : [];
  const message = childrenNamed(status[0]!, 'StatusMessage')[0]?.textContent?.trim().slice(0, 200);
  throw samlRefused(
    `The identity provider did not sign the user in: status ${short(value)}${sub.length ? ` (${sub.join(', ')})` : ''}${message ? `: ${message}` : ''}`,
    'idp_error',
  );
}

/**
 * Verifies a POSTed SAMLResponse for the IdP and returns the linked user. Signature,
 * audience, time conditions and InResponseTo are checked by node-saml (on xml-crypto);
 * the Success status, the browser binding, issuer, destination, recipient, single use and
 * the user link are checked here.
 */
export async function consumeSamlResponse(
  deps: SamlDeps,
  idpId: string,
  samlResponse: string,
  postedRelayState: string | undefined,
  /** The samlBindingCookie the posting browser sent. */
  browserBinding: string | undefined,
  requestId?: string,
): Promise<SamlLogin> {
  const idp = await enabledIdp(deps.db.prisma, idpId);
  if (!idp) throw notFound('Identity provider');
  return auditedFederatedLogin(deps.db.prisma, idp, 'saml', requestId, () => verifySamlAnswer(deps, idp, samlResponse, postedRelayState, browserBinding));
}

async function verifySamlAnswer(
  deps: SamlDeps,
  idp: NonNullable<Awaited<ReturnType<typeof enabledIdp>>>,
  samlResponse: string,
  postedRelayState: string | undefined,
  browserBinding: string | undefined,
): Promise<SamlLogin> {
  const { prisma } = deps.db;
  if (idp.validUntil && idp.validUntil <= new Date()) throw samlRefused('The identity provider metadata has expired (validUntil); upload fresh metadata');
  if (!samlResponse || samlResponse.length > 2_000_000) throw badRequest('SAMLResponse is missing or too large');
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  let doc: Document;
  try {
    doc = parseUntrustedXml(xml, 'The SAMLResponse');
  } catch (err) {
    throw samlRefused((err as Error).message);
  }
  const root = doc.documentElement;
  if (root.localName !== 'Response' || root.namespaceURI !== PROTOCOL_NS) throw samlRefused('Not a SAML 2.0 Response');
  requireSuccess(root);
  // Only answers to our own AuthnRequests are taken: an unsolicited (IdP-initiated) response
  // was started by no browser, so nothing would bind it to the one posting it.
  const inResponseTo = attr(root, 'InResponseTo');
  if (!inResponseTo) throw samlRefused('InResponseTo is missing: IdP-initiated (unsolicited) login is not accepted; start the sign-in from the application');
  // Before the signature work: a known request is answered only to the browser that started it.
  const bindingHash = browserBinding && BINDING_FORMAT.test(browserBinding) ? sha256Hex(browserBinding) : '';
  const pending = await prisma.samlRequest.findUnique({
    where: { tenantId_id: { tenantId: idp.tenantId, id: inResponseTo } },
    select: { idpId: true, bindingHash: true },
  });
  if (pending?.idpId === idp.id && !(bindingHash && constantTimeEqual(pending.bindingHash, bindingHash))) throw samlRefused(NOT_THIS_BROWSER);
  const signedResponse = Array.from(root.childNodes).some((n) => (n as Element).localName === 'Signature');

  let profile: Profile | null;
  try {
    ({ profile } = await (await samlFor(deps, idp, requestStore(deps, idp), signedResponse)).validatePostResponseAsync({ SAMLResponse: samlResponse }));
  } catch (err) {
    throw samlRefused((err as Error).message);
  }
  if (!profile) throw samlRefused('The response carries no assertion');

  // The response element is covered by its signature when signed; the assertion always is.
  const acs = acsUrl(deps.config, idp.id);
  const destination = attr(root, 'Destination');
  if (destination !== undefined && destination !== acs) throw samlRefused('Destination is not this ACS');
  if (signedResponse && destination === undefined) throw samlRefused('A signed response must name its Destination');
  const assertion = (profile.getAssertion?.() as XmlJs | undefined)?.Assertion as XmlJs | undefined;
  const confirmation = assertion?.Subject?.[0]?.SubjectConfirmation?.find((c: XmlJs) => c.$?.Method === 'urn:oasis:names:tc:SAML:2.0:cm:bearer');
  const data = confirmation?.SubjectConfirmationData?.[0]?.$ as Record<string, string> | undefined;
  if (!data || data.Recipient !== acs) throw samlRefused('SubjectConfirmationData Recipient is not this ACS');
  if (profile.issuer !== idp.entityId) throw samlRefused('The assertion was issued by another entity');
  const assertionId = assertion?.$?.ID as string | undefined;
  if (!assertionId) throw samlRefused('The assertion has no ID');
  if (profile.nameIDFormat && profile.nameIDFormat !== NAMEID_EMAIL && profile.nameIDFormat !== 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified') {
    throw samlRefused(`NameID format ${profile.nameIDFormat} is not an email address`);
  }
  const email = String(profile.nameID ?? '').trim();
  if (!email.includes('@')) throw samlRefused('NameID is not an email address');
  const notOnOrAfter = new Date(data.NotOnOrAfter ?? assertion?.Conditions?.[0]?.$?.NotOnOrAfter ?? Date.now() + 3600_000);

  return prisma.$transaction(async (tx) => {
    // Each AuthnRequest answers once, to the browser that sent it, and each assertion is
    // accepted once (replays refused).
    const consumed = await tx.$queryRaw<{ relayState: string }[]>`
      DELETE FROM "SamlRequest"
       WHERE "tenantId" = ${idp.tenantId}::uuid AND id = ${inResponseTo} AND "idpId" = ${idp.id}::uuid AND "expiresAt" > now()
         AND "bindingHash" = ${bindingHash}
      RETURNING "relayState"`;
    if (!consumed.length) throw samlRefused('The response answers no pending request (replayed or expired)');
    const relayState = consumed[0]!.relayState;
    // RelayState travels unsigned through the browser; the stored one is authoritative.
    if ((postedRelayState ?? '') !== relayState) throw samlRefused('RelayState does not match the request');
    await tx.samlAssertionUse.deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - deps.config.SAML_CLOCK_SKEW_MS) } } });
    const used = await tx.samlAssertionUse.createMany({
      data: [
        {
          tenantId: idp.tenantId,
          idpId: idp.id,
          assertionId,
          expiresAt: new Date(Math.max(notOnOrAfter.getTime(), Date.now()) + deps.config.SAML_CLOCK_SKEW_MS),
        },
      ],
      skipDuplicates: true,
    });
    if (!used.count) throw samlRefused('The assertion was already used');
    // The NameID is an email the IdP vouches for only where the admin trusts it to (autoLinkByEmail).
    const found = await federatedUser(tx, idp, {
      email,
      emailVerified: idp.autoLinkByEmail,
      firstName: profileText(profile, 'givenName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname'),
      lastName: profileText(profile, 'surname', 'sn', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname'),
    });
    if (!found.ok) throw samlRefused(found.reason, found.failure, found.account);
    const user = { id: found.userId };
    await tx.user.update({ where: { tenantId_id: { tenantId: idp.tenantId, id: user.id } }, data: { lastLoginAt: new Date() } });
    await audit(tx, 'system', {
      tenantId: idp.tenantId,
      action: 'user.saml_assertion_accepted',
      targetType: 'user',
      targetId: user.id,
      details: { idpId: idp.id, assertionId },
    });
    return { tenantId: idp.tenantId, userId: user.id, idpId: idp.id, relayState };
  });
}

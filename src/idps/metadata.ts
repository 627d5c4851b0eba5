import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Xmldom from '@xmldom/xmldom';
import type Xpath from 'xpath';
import { unprocessable } from '../platform/errors.js';

export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

export interface IdpMetadata {
  entityId: string;
  validUntil?: Date;
  ssoRedirectUrl: string;
  ssoPostUrl?: string;
  /** PEM certificates the IdP signs with. */
  signingCerts: string[];
  nameIdFormats: string[];
}

// The XML libraries load with the first SAML IdP or login, not at start (3 MB resident).
const load = createRequire(import.meta.url);
let selector: Xpath.XPathSelect | undefined;
const select = (expression: string, node: Node): Xpath.SelectReturnType =>
  (selector ??= (load('xpath') as typeof Xpath).useNamespaces({ md: MD, ds: DS }))(expression, node);

/**
 * Parses XML that came from outside. A DTD is refused outright: SAML never needs one,
 * and refusing it rules out entity expansion ("billion laughs") and external entities.
 */
export function parseUntrustedXml(xml: string, what: string): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw unprocessable(`${what} must not contain a DTD (DOCTYPE or ENTITY declarations)`);
  const problems: string[] = [];
  const onError = (msg: string) => problems.push(msg.split('\n')[0]!);
  const { DOMParser } = load('@xmldom/xmldom') as typeof Xmldom;
  const doc = new DOMParser({ locator: {}, errorHandler: { warning: () => {}, error: onError, fatalError: onError } }).parseFromString(xml, 'text/xml');
  if (problems.length || !doc?.documentElement) throw unprocessable(`${what} is not well-formed XML${problems[0] ? `: ${problems[0]}` : ''}`);
  return doc as unknown as Document;
}

function pem(base64: string): string {
  const body = base64.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function httpUrl(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const u = new URL(value.trim());
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** Reads and validates IdP metadata; every refusal is a 422 naming what is wrong. */
export function parseIdpMetadata(xml: string, now = new Date()): IdpMetadata {
  const doc = parseUntrustedXml(xml, 'The SAML metadata');
  const root = doc.documentElement;
  const descriptors = select('//md:EntityDescriptor[md:IDPSSODescriptor]', doc) as Element[];
  if (root.namespaceURI !== MD || (root.localName !== 'EntityDescriptor' && root.localName !== 'EntitiesDescriptor')) {
    throw unprocessable('The SAML metadata must be an md:EntityDescriptor');
  }
  if (descriptors.length !== 1) throw unprocessable('The SAML metadata must describe exactly one identity provider (IDPSSODescriptor)');
  const entity = descriptors[0]!;

  const entityId = entity.getAttribute('entityID')?.trim();
  if (!entityId) throw unprocessable('The SAML metadata has no entityID');

  let validUntil: Date | undefined;
  for (const node of [root, entity]) {
    const raw = node.getAttribute('validUntil');
    if (!raw) continue;
    const at = new Date(raw);
    if (Number.isNaN(at.getTime())) throw unprocessable(`The SAML metadata validUntil "${raw}" is not a date`);
    if (at <= now) throw unprocessable(`The SAML metadata expired at ${at.toISOString()} (validUntil)`);
    if (!validUntil || at < validUntil) validUntil = at;
  }

  const idp = (select('md:IDPSSODescriptor', entity) as Element[])[0]!;
  const protocols = idp.getAttribute('protocolSupportEnumeration') ?? '';
  if (!protocols.split(/\s+/).includes('urn:oasis:names:tc:SAML:2.0:protocol')) {
    throw unprocessable('The IdP does not support the SAML 2.0 protocol (protocolSupportEnumeration)');
  }

  const sso = (binding: string) =>
    (select(`md:SingleSignOnService[@Binding='${binding}']`, idp) as Element[]).map((e) => httpUrl(e.getAttribute('Location'))).find(Boolean);
  const ssoRedirectUrl = sso(BINDING_REDIRECT);
  const ssoPostUrl = sso(BINDING_POST);
  if (!ssoRedirectUrl) throw unprocessable('The SAML metadata has no http(s) SingleSignOnService with the HTTP-Redirect binding');

  const signingCerts: string[] = [];
  for (const kd of select('md:KeyDescriptor', idp) as Element[]) {
    const use = kd.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const c of select('ds:KeyInfo/ds:X509Data/ds:X509Certificate', kd) as Element[]) {
      const text = pem(c.textContent ?? '');
      try {
        const cert = new X509Certificate(text);
        if (new Date(cert.validTo) <= now) throw unprocessable(`The IdP signing certificate ${cert.subject.replace(/\n/g, ', ')} expired on ${cert.validTo}`);
        if (!signingCerts.includes(text)) signingCerts.push(text);
      } catch (err) {
        if (err instanceof Error && 'status' in err) throw err;
        throw unprocessable('The SAML metadata holds a signing certificate that is not a valid X.509 certificate');
      }
    }
  }
  if (!signingCerts.length) throw unprocessable('The SAML metadata has no signing certificate (KeyDescriptor use="signing")');

  const nameIdFormats = (select('md:NameIDFormat', idp) as Element[]).map((e) => (e.textContent ?? '').trim()).filter(Boolean);
  // Users are linked by email (the guide's auto-linking), so the IdP must offer that NameID format.
  if (!nameIdFormats.includes(NAMEID_EMAIL)) throw unprocessable(`The SAML metadata must list the NameIDFormat ${NAMEID_EMAIL}`);

  return { entityId, validUntil, ssoRedirectUrl, ssoPostUrl, signingCerts, nameIdFormats };
}

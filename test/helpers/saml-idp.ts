// A real SAML identity provider for tests: samlify in IdP mode, with its own key pair
// and metadata. It parses and verifies our signed AuthnRequests and signs responses.
import * as samlifyNs from 'samlify';
import * as xmllint from '@authenio/samlify-node-xmllint';
import { generateSpKeyPair } from '../../src/idps/sp-keys.js';

// samlify is CommonJS: under vitest its exports are the namespace, under plain tsx the default.
const samlify = (
  (samlifyNs as { SamlLib?: unknown }).SamlLib ? samlifyNs : (samlifyNs as unknown as { default: typeof samlifyNs }).default
) as typeof samlifyNs;
samlify.setSchemaValidator(xmllint);

export interface TestIdp {
  entityId: string;
  metadata: string;
  idp: ReturnType<typeof samlifyNs.IdentityProvider>;
  /** Parses and verifies an AuthnRequest redirect URL; returns the request id and relay state. */
  parseRedirect(url: string, spMetadata: string): Promise<{ requestId: string; relayState: string; extract: any }>;
  /** A signed SAMLResponse (base64) for the SP; `tags` overrides template values, `sign` picks what is signed. */
  respond(spMetadata: string, requestId: string, email: string, opts?: RespondOptions): Promise<string>;
}

export interface RespondOptions {
  tags?: Record<string, string>;
  /** both (default), assertion, response or none. */
  sign?: 'both' | 'assertion' | 'response' | 'none';
  /** Rewrites samlify's response template before its tags are filled in (e.g. a nested StatusCode). */
  template?: (template: string) => string;
}

const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

export async function createTestIdp(entityId: string, ssoUrl = 'https://idp.test/sso'): Promise<TestIdp> {
  const keys = await generateSpKeyPair('Test IdP');
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keys.privateKeyPem,
    signingCert: keys.certificatePem,
    wantAuthnRequestsSigned: true,
    nameIDFormat: [EMAIL],
    singleSignOnService: [
      { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: ssoUrl },
      { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: ssoUrl },
    ],
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  });
  const metadata = idp.getMetadata();

  const spFor = (spMetadata: string, sign: RespondOptions['sign'] = 'both') => {
    // samlify decides what to sign from the SP metadata (WantAssertionsSigned) and wantMessageSigned.
    const md = sign === 'response' ? spMetadata.replace(/WantAssertionsSigned="true"/, 'WantAssertionsSigned="false"') : spMetadata;
    return samlify.ServiceProvider({ metadata: md, wantMessageSigned: sign === 'both' || sign === 'response' });
  };

  return {
    entityId,
    metadata,
    idp,
    async parseRedirect(url, spMetadata) {
      const u = new URL(url);
      const raw = u.search.slice(1).split('&');
      const octetString = raw.filter((p) => !p.startsWith('Signature=')).join('&');
      const query = Object.fromEntries(u.searchParams);
      const parsed = await idp.parseLoginRequest(spFor(spMetadata), 'redirect', { query, octetString });
      return { requestId: String(parsed.extract.request?.id), relayState: query.RelayState ?? '', extract: parsed.extract };
    },
    async respond(spMetadata, requestId, email, opts = {}) {
      const sign = opts.sign ?? 'both';
      const sp = spFor(spMetadata, sign);
      const now = new Date();
      const later = new Date(now.getTime() + 5 * 60_000).toISOString();
      const acs = sp.entityMeta.getAssertionConsumerService('post') as string;
      const id = '_' + Math.random().toString(16).slice(2) + Date.now().toString(16);
      const values: Record<string, string> = {
        ID: id,
        AssertionID: '_a' + id,
        Destination: acs,
        Audience: sp.entityMeta.getEntityID(),
        EntityID: sp.entityMeta.getEntityID(),
        SubjectRecipient: acs,
        Issuer: entityId,
        IssueInstant: now.toISOString(),
        StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: EMAIL,
        NameID: email,
        InResponseTo: requestId,
        AuthnStatement: '',
        AttributeStatement: '',
        ...opts.tags,
      };
      const template = opts.template ?? ((x: string) => x);
      if (sign === 'none') {
        const xml = samlify.SamlLib.replaceTagsByValue(template(samlify.SamlLib.defaultLoginResponseTemplate.context), values);
        return Buffer.from(xml).toString('base64');
      }
      const res = await idp.createLoginResponse(sp, { extract: { request: { id: requestId } } }, 'post', { email }, (t: string) => ({
        id,
        context: samlify.SamlLib.replaceTagsByValue(template(t), values),
      }));
      return res.context as string;
    },
  };
}

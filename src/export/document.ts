// The export document: ZITADEL's instance export shape (`{ orgs: [...] }`, admin API
// POST /export) wherever our model maps onto it, with one `pca` object per org for
// what ZITADEL has no field for (groups, custom-role features, tenant state), and
// user attributes ZITADEL lacks carried as user metadata under the `pca:` prefix.
import type { PcaApplication } from './applications.js';
import type { MachineKey, PcaCertificate, PcaPat } from './credentials.js';
import type { PcaOidcIdp, PcaSamlIdp, UserLink, ZitadelOidcIdp } from './idps.js';
import type { PcaMfa } from './mfa-section.js';

export interface HumanUser {
  userId: string;
  user: {
    userName: string;
    profile: { firstName: string; lastName: string; displayName?: string; nickName?: string; preferredLanguage?: string; gender?: string };
    email: { email: string; isEmailVerified?: boolean };
    phone?: { phone?: string; isPhoneVerified?: boolean };
    password?: string;
    hashedPassword?: { value: string };
    passwordChangeRequired?: boolean;
  };
}

export interface MachineUser {
  userId: string;
  user: { userName: string; name: string; description?: string; accessTokenType?: string };
}

export interface PcaOrgExtension {
  state: string;
  isOperator: boolean;
  termsRequired: boolean;
  branding: Record<string, string>;
  identity: { subdomain: string; name: string; attributes: unknown } | null;
  customRoles: { roleId: string; name: string; description: string; featureRoles: string[] }[];
  groups: { groupId: string; name: string; description: string; externalId: string | null; members: string[]; roles: string[] }[];
  /** Every column of each application (ZITADEL's oidcApps/apiApps carry only part of them). */
  applications: PcaApplication[];
  samlIdps: PcaSamlIdp[];
  oidcIdps: PcaOidcIdp[];
  pats: PcaPat[];
  certificates: PcaCertificate[];
  /** Only with `withOtp`: the users' second factors (src/export/mfa-section.ts), streamed. */
  mfa?: PcaMfa[];
  /** The tenant's logo (PNG or JPEG), base64: src/export/logo-section.ts. */
  logo?: string;
}

export interface OrgExport {
  orgId: string;
  org: { name: string };
  labelPolicy?: Record<string, unknown>;
  privacyPolicy?: Record<string, string>;
  lockoutPolicy?: { maxPasswordAttempts: number };
  loginPolicy?: Record<string, unknown>;
  passwordComplexityPolicy?: { minLength: number; hasUppercase: boolean; hasLowercase: boolean; hasNumber: boolean; hasSymbol: boolean };
  projects: { projectId: string; project: { name: string; projectRoleAssertion?: boolean } }[];
  projectRoles: { projectId: string; roleKey: string; displayName: string; group?: string }[];
  oidcApps: { appId: string; app: Record<string, unknown> }[];
  apiApps: { appId: string; app: Record<string, unknown> }[];
  appKeys: Record<string, unknown>[];
  humanUsers: HumanUser[];
  machineUsers: MachineUser[];
  machineKeys: MachineKey[];
  oidcIdps: ZitadelOidcIdp[];
  userLinks: UserLink[];
  userGrants: { userId: string; projectId: string; roleKeys: string[] }[];
  orgMembers: { userId: string; roles: string[] }[];
  userMetadata: { id: string; key: string; value: string }[];
  domains: { orgId: string; domainName: string; isVerified: boolean; isPrimary: boolean; validationType: string }[];
  pca?: PcaOrgExtension;
}

export interface ExportDocument {
  orgs: OrgExport[];
}

/** ZITADEL label-policy colours that our tenant branding keeps under the same names. */
export const LABEL_KEYS = [
  'primaryColor',
  'warnColor',
  'backgroundColor',
  'fontColor',
  'primaryColorDark',
  'backgroundColorDark',
  'warnColorDark',
  'fontColorDark',
];

/** ZITADEL privacy-policy links that our tenant branding keeps under the same names. */
export const PRIVACY_KEYS = ['tosLink', 'privacyLink', 'helpLink', 'supportEmail', 'docsLink', 'customLink', 'customLinkText'];

export const META_PREFIX = 'pca:';

export const ACCESS_TOKEN_TYPES: Record<string, string> = { Bearer: 'ACCESS_TOKEN_TYPE_BEARER', Jwt: 'ACCESS_TOKEN_TYPE_JWT' };

/** ZITADEL's org-level manager role that corresponds to our tenant-admin. */
export const ORG_OWNER = 'ORG_OWNER';

export { toUuid } from './foreign-ids.js';

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
export const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

// The export document: ZITADEL's instance export shape (`{ orgs: [...] }`, admin API
// POST /export) wherever our model maps onto it, with one `pca` object per org for
// what ZITADEL has no field for (groups, custom-role features, tenant state), and
// user attributes ZITADEL lacks carried as user metadata under the `pca:` prefix.
import { createHash } from 'node:crypto';
import { isUuid } from '../platform/ids.js';

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
}

export interface OrgExport {
  orgId: string;
  org: { name: string };
  labelPolicy?: Record<string, unknown>;
  lockoutPolicy?: { maxPasswordAttempts: number };
  loginPolicy?: Record<string, unknown>;
  passwordComplexityPolicy?: { minLength: number; hasUppercase: boolean; hasLowercase: boolean; hasNumber: boolean; hasSymbol: boolean };
  projects: { projectId: string; project: { name: string; projectRoleAssertion?: boolean } }[];
  projectRoles: { projectId: string; roleKey: string; displayName: string; group?: string }[];
  humanUsers: HumanUser[];
  machineUsers: MachineUser[];
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

export const META_PREFIX = 'pca:';

export const ACCESS_TOKEN_TYPES: Record<string, string> = { Bearer: 'ACCESS_TOKEN_TYPE_BEARER', Jwt: 'ACCESS_TOKEN_TYPE_JWT' };

/** ZITADEL's org-level manager role that corresponds to our tenant-admin. */
export const ORG_OWNER = 'ORG_OWNER';

/**
 * Our ids are UUIDs; ZITADEL's are numeric strings. A foreign id becomes a UUID derived
 * from it, so importing the same file twice finds the rows of the first import.
 */
export function toUuid(id: string, scope: string): string {
  if (isUuid(id)) return id.toLowerCase();
  const h = createHash('sha256').update(`${scope}\u0000${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
export const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

// Discovery resources (RFC 7644 §4, RFC 7643 §5-7): what this service provider supports.
import { MAX_COUNT } from './users.js';
import { GROUP_SCHEMA, USER_SCHEMA } from './resources.js';

const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RT_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

export function serviceProviderConfig(base: string) {
  return {
    schemas: [SPC_SCHEMA],
    documentationUri: `${base.replace(/\/scim\/v2$/, '')}/docs`,
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_COUNT },
    changePassword: { supported: true },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'Personal access token of a service account holding tenant-admin',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string) {
  return [
    {
      schemas: [RT_SCHEMA],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'User Account',
      schema: USER_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: [RT_SCHEMA],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Group',
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

interface AttrDef {
  name: string;
  type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime';
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned?: 'always' | 'never' | 'default' | 'request';
  uniqueness?: 'none' | 'server' | 'global';
  subAttributes?: AttrDef[];
  referenceTypes?: string[];
  canonicalValues?: string[];
  description?: string;
}

function attr(d: AttrDef): Record<string, unknown> {
  return {
    name: d.name,
    type: d.type,
    multiValued: d.multiValued ?? false,
    description: d.description ?? '',
    required: d.required ?? false,
    caseExact: d.caseExact ?? false,
    mutability: d.mutability ?? 'readWrite',
    returned: d.returned ?? 'default',
    uniqueness: d.uniqueness ?? 'none',
    ...(d.subAttributes ? { subAttributes: d.subAttributes.map(attr) } : {}),
    ...(d.referenceTypes ? { referenceTypes: d.referenceTypes } : {}),
    ...(d.canonicalValues ? { canonicalValues: d.canonicalValues } : {}),
  };
}

const USER_ATTRS: AttrDef[] = [
  { name: 'userName', type: 'string', required: true, uniqueness: 'server', description: 'Unique identifier for the user, case-insensitive within the tenant' },
  {
    name: 'name',
    type: 'complex',
    subAttributes: [
      { name: 'formatted', type: 'string', mutability: 'readOnly' },
      { name: 'familyName', type: 'string' },
      { name: 'givenName', type: 'string' },
    ],
  },
  { name: 'displayName', type: 'string', mutability: 'readOnly', description: 'Derived from name, or userName' },
  { name: 'active', type: 'boolean', description: 'false deactivates the user' },
  { name: 'password', type: 'string', mutability: 'writeOnly', returned: 'never', caseExact: true },
  {
    name: 'emails',
    type: 'complex',
    multiValued: true,
    description: 'One address is kept: the primary, else the work one, else the first',
    subAttributes: [
      { name: 'value', type: 'string', uniqueness: 'server' },
      { name: 'type', type: 'string', canonicalValues: ['work'] },
      { name: 'primary', type: 'boolean' },
    ],
  },
  {
    name: 'groups',
    type: 'complex',
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [
      { name: 'value', type: 'string', mutability: 'readOnly' },
      { name: '$ref', type: 'reference', referenceTypes: ['Group'], mutability: 'readOnly' },
      { name: 'display', type: 'string', mutability: 'readOnly' },
      { name: 'type', type: 'string', canonicalValues: ['direct'], mutability: 'readOnly' },
    ],
  },
];

const GROUP_ATTRS: AttrDef[] = [
  { name: 'displayName', type: 'string', required: true, uniqueness: 'server' },
  {
    name: 'members',
    type: 'complex',
    multiValued: true,
    subAttributes: [
      { name: 'value', type: 'string', mutability: 'immutable' },
      { name: '$ref', type: 'reference', referenceTypes: ['User'], mutability: 'immutable' },
      { name: 'display', type: 'string', mutability: 'readOnly' },
      { name: 'type', type: 'string', canonicalValues: ['User'], mutability: 'immutable' },
    ],
  },
];

const COMMON: AttrDef[] = [
  { name: 'id', type: 'string', caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' },
  { name: 'externalId', type: 'string', caseExact: true },
];

export function schemas(base: string) {
  return [
    {
      schemas: [SCHEMA_SCHEMA],
      id: USER_SCHEMA,
      name: 'User',
      description: 'User Account',
      attributes: [...COMMON, ...USER_ATTRS].map(attr),
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${USER_SCHEMA}` },
    },
    {
      schemas: [SCHEMA_SCHEMA],
      id: GROUP_SCHEMA,
      name: 'Group',
      description: 'Group',
      attributes: [...COMMON, ...GROUP_ATTRS].map(attr),
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${GROUP_SCHEMA}` },
    },
  ];
}

import { describe, expect, it } from 'vitest';
import { assertMayActOnRoles, assertMayConfer, holdsRole, mayActInTenant, rolesBeyond } from './policy.js';
import type { Principal } from './principal.js';

const principal = (roles: string[], tenantId = 'tenant-a'): Principal => ({
  kind: 'serviceaccount',
  credential: 'pat',
  credentialId: 'c',
  tenantId,
  subjectId: 's',
  username: 'u',
  roles,
  groups: [],
});

describe('privilege policy', () => {
  it('orders roles: skylight-admin holds all, tenant-admin all but skylight-admin, others their own', () => {
    const sky = principal(['skylight-admin'], 'operator');
    const admin = principal(['tenant-admin']);
    const analyst = principal(['tenant-user', 'Analyst']);
    for (const role of ['skylight-admin', 'tenant-admin', 'tenant-user', 'Analyst']) expect(holdsRole(sky, role)).toBe(true);
    expect(holdsRole('system', 'skylight-admin')).toBe(true);
    expect(rolesBeyond(admin, ['skylight-admin', 'tenant-admin', 'tenant-contributor', 'Analyst'])).toEqual(['skylight-admin']);
    expect(rolesBeyond(analyst, ['tenant-user', 'Analyst', 'tenant-admin', 'Other'])).toEqual(['tenant-admin', 'Other']);
  });

  it('keeps tenant principals in their tenant; the operator acts everywhere', () => {
    expect(mayActInTenant(principal(['tenant-admin']), 'tenant-b')).toBe(false);
    expect(mayActInTenant(principal(['skylight-admin'], 'operator'), 'tenant-b')).toBe(true);
    expect(mayActInTenant('system', 'tenant-b')).toBe(true);
    expect(() => assertMayConfer(principal(['tenant-admin']), 'tenant-b', [])).toThrow(/outside your tenant/);
  });

  it('refuses conferring or acting beyond what the actor holds, naming the role', () => {
    const admin = principal(['tenant-admin']);
    expect(() => assertMayConfer(admin, 'tenant-a', ['tenant-user', 'skylight-admin'])).toThrow(/"skylight-admin"/);
    expect(() => assertMayActOnRoles(admin, 'tenant-a', ['tenant-admin', 'Analyst'])).not.toThrow();
    expect(() => assertMayActOnRoles(principal(['tenant-user']), 'tenant-a', ['tenant-user', 'tenant-admin'], 'serviceaccount')).toThrow(
      /service account holds the role "tenant-admin"/,
    );
  });
});

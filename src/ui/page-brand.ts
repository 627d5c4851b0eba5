import type { FastifyRequest } from 'fastify';
import { logoVersionOf } from '../tenants/logo.js';

/*
 * The tenant a hosted page belongs to: its branding stylesheet, name and logo. A route
 * names the tenant once it knows it (from the authorization request, the pending login,
 * the session or the link), and every page it answers with, errors included, shows that
 * tenant's branding; a page sent before the tenant is known shows the product's own look.
 */

export interface PageBrand {
  tenantId: string;
  name: string;
  /** The version of the tenant's logo (src/tenants/logo.ts), when it has one. */
  logoVersion?: string;
}

const brands = new WeakMap<FastifyRequest, PageBrand>();

/** Makes the pages of this request show the tenant's branding; an unknown or inactive tenant leaves the product's. */
export async function brandPages(request: FastifyRequest, tenantId: string): Promise<PageBrand | undefined> {
  const { prisma } = request.server.db;
  const tenant = await prisma.tenant.findUnique({ where: { id: tenantId }, select: { name: true, state: true } });
  if (tenant?.state !== 'active') return undefined;
  const brand = { tenantId, name: tenant.name, logoVersion: await logoVersionOf(prisma, tenantId) };
  brands.set(request, brand);
  return brand;
}

/** The branding the request's pages show, if a route named a tenant. */
export const pageBrandOf = (request: FastifyRequest): PageBrand | undefined => brands.get(request);

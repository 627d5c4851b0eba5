import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import applyHelmet, { type HelmetOptions } from 'helmet';
import { describe, expect, it } from 'vitest';
import { securityHeaders } from './security-headers.js';

const response = () => new ServerResponse(new IncomingMessage(new Socket()));

describe('securityHeaders', () => {
  const cases: Record<string, HelmetOptions> = {
    defaults: {},
    'the API options': {
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true },
      crossOriginResourcePolicy: { policy: 'same-site' },
    },
    'headers turned off': { contentSecurityPolicy: false, xFrameOptions: false, strictTransportSecurity: false },
  };
  for (const [name, options] of Object.entries(cases)) {
    it(`writes what helmet writes, ${name}`, () => {
      const expected = response();
      expected.setHeader('X-Powered-By', 'something');
      applyHelmet(options)(expected.req, expected, () => {});
      const actual = response();
      actual.setHeader('X-Powered-By', 'something');
      securityHeaders(options)(actual);
      expect(actual.getHeaders()).toEqual(expected.getHeaders());
      expect(Object.keys(actual.getHeaders()).length).toBeGreaterThan(0);
      expect(actual.hasHeader('x-powered-by')).toBe(false);
    });
  }

  it('refuses a directive computed per request', () => {
    expect(() => securityHeaders({ contentSecurityPolicy: { directives: { scriptSrc: [() => "'nonce-x'"] } } })).toThrow(/per request/);
  });
});

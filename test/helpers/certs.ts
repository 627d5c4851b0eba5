import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { TestApp } from './app.js';

/** POST /api/v3/certs/sign with a raw body of the given media type. */
export function signCsr(t: TestApp, token: string, query: string, body: Buffer | string, type: string | undefined): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: `/api/v3/certs/sign${query ? '?' + query : ''}`,
    headers: { authorization: `Bearer ${token}`, ...(type ? { 'content-type': type } : {}) },
    payload: body,
  });
}

/** Asserts a JSON:API error answer and returns its first error. */
export function expectJsonApiError(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
  const error = res.json().errors[0];
  expect(error).toMatchObject({ status: String(status), code });
  return error as { detail?: string; source?: Record<string, string> };
}

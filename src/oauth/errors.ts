/** An OAuth 2.0 error response (RFC 6749 5.2): `{ error, error_description }`. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

export const invalidRequest = (d: string) => new OAuthError('invalid_request', d);
export const invalidClient = (d = 'Client authentication failed') => new OAuthError('invalid_client', d, 401);
export const invalidGrant = (d: string) => new OAuthError('invalid_grant', d);
export const unauthorizedClient = (d: string) => new OAuthError('unauthorized_client', d);
export const unsupportedGrantType = (d: string) => new OAuthError('unsupported_grant_type', d);
export const invalidScope = (d: string) => new OAuthError('invalid_scope', d);

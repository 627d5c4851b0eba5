/**
 * Where the endpoints of the authorization server answer, relative to the issuer: first our
 * own path (the one discovery advertises), then the path the identity service of seed 001
 * gives it, so that clients written for that service work unchanged.
 */
export const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/oidc/.well-known/openid-configuration'] as const;
export const JWKS_PATHS = ['/oauth/v2/keys', '/oidc/oauth2/jwks'] as const;
export const TOKEN_ENDPOINT_PATHS = ['/oauth/v2/token', '/oidc/oauth2/token'] as const;
export const PAR_PATHS = ['/oauth/v2/par', '/oidc/oauth2/par'] as const;
export const DEVICE_AUTHORIZATION_PATHS = ['/oauth/v2/device_authorization', '/oidc/oauth2/device_authorization'] as const;
export const USERINFO_PATHS = ['/oidc/v1/userinfo', '/oidc/userinfo'] as const;

/** The absolute URLs of the token endpoint, each a valid audience of a JWT-bearer assertion (RFC 7523 §3). */
export const tokenEndpointUrls = (issuer: string) => TOKEN_ENDPOINT_PATHS.map((p) => `${issuer}${p}`);
export const INTROSPECTION_PATH = '/oauth/v2/introspect';
export const REVOCATION_PATH = '/oauth/v2/revoke';

/**
 * Every endpoint URL a client assertion may name as its audience besides the issuer (RFC 7523
 * §3: the token endpoint; OIDC Core §9 and RFC 9126 §2: the endpoint it is sent to).
 */
export const clientAuthAudiences = (issuer: string) => [...TOKEN_ENDPOINT_PATHS, ...PAR_PATHS, INTROSPECTION_PATH, REVOCATION_PATH].map((p) => `${issuer}${p}`);

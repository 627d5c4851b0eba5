/** Where the token endpoint answers, relative to the issuer; discovery advertises the first. */
export const TOKEN_ENDPOINT_PATHS = ['/oauth/v2/token'] as const;

/** The absolute URLs of the token endpoint, each a valid audience of a JWT-bearer assertion (RFC 7523 §3). */
export const tokenEndpointUrls = (issuer: string) => TOKEN_ENDPOINT_PATHS.map((p) => `${issuer}${p}`);

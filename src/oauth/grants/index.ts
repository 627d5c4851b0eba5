import {
  GRANT_AUTHORIZATION_CODE,
  GRANT_CLIENT_CREDENTIALS,
  GRANT_DEVICE_CODE,
  GRANT_JWT_BEARER,
  GRANT_REFRESH_TOKEN,
  GRANT_TOKEN_EXCHANGE,
} from '../schemas.js';
import { deviceCodeGrant } from './device-code.js';
import { jwtBearerGrant } from './jwt-bearer.js';
import { authorizationCodeGrant } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import { refreshTokenGrant } from './refresh-token.js';
import { tokenExchangeGrant } from './token-exchange.js';
import type { GrantHandler } from './types.js';

export type { GrantHandler } from './types.js';

/** The token endpoint's grant types; another module adds one with `app.oauth.grants.set(type, handler)`. */
export function defaultGrants(): Map<string, GrantHandler> {
  return new Map<string, GrantHandler>([
    [GRANT_AUTHORIZATION_CODE, authorizationCodeGrant],
    [GRANT_REFRESH_TOKEN, refreshTokenGrant],
    [GRANT_CLIENT_CREDENTIALS, clientCredentialsGrant],
    [GRANT_JWT_BEARER, jwtBearerGrant],
    [GRANT_TOKEN_EXCHANGE, tokenExchangeGrant],
    [GRANT_DEVICE_CODE, deviceCodeGrant],
  ]);
}

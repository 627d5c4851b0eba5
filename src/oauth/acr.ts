/*
 * Authentication context class references (OIDC Core 2, the ID token's `acr`): what an
 * authentication was worth, derived from its methods (RFC 8176 `amr`). A client asks for
 * a level with `acr_values`; a session below it is stepped up before a code is issued.
 */

/** One factor: a password, or a login at an identity provider. */
export const ACR_PWD = 'urn:pca:acr:pwd';
/** Two factors: a password (or an identity-provider login) and a second factor. */
export const ACR_MFA = 'urn:pca:acr:mfa';

export const ACR_VALUES_SUPPORTED = [ACR_PWD, ACR_MFA];

export const acrOf = (amr: readonly string[]) => (amr.includes('mfa') ? ACR_MFA : ACR_PWD);

/** Whether a request's acr_values can only be met by two factors: it names ACR_MFA and no lower level. */
export function acrRequiresMfa(acrValues: string | undefined): boolean {
  const values = acrValues?.split(' ') ?? [];
  return values.includes(ACR_MFA) && !values.includes(ACR_PWD);
}

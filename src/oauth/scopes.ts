// Scopes we grant: the OpenID Connect ones, `groups` (group ids and names in the tokens), and
// the urn:zitadel:iam:* scopes PCA frontends send (accepted so their requests work unchanged).
// Unknown scopes are dropped, as RFC 6749 3.3 allows; the granted scope is returned with the
// tokens.
const STANDARD = new Set(['openid', 'profile', 'email', 'offline_access', 'groups']);

export function grantableScopes(requested: string | undefined): string[] {
  const out: string[] = [];
  for (const s of (requested ?? '').split(' ')) {
    if (!s || out.includes(s)) continue;
    if (STANDARD.has(s) || (s.startsWith('urn:zitadel:iam:') && s.length <= 200)) out.push(s);
  }
  return out;
}

export const hasScope = (scope: string, name: string) => scope.split(' ').includes(name);

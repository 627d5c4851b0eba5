/** What a user resource shows: the user's columns (without secrets) and its own role names. */
export interface UserView {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  state: string;
  /** End of a temporary lockout after failed logins (state locked); null for an admin's lock. */
  lockedUntil: Date | null;
  idpId: string | null;
  termsAcceptedAt: Date | null;
  lastLoginAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  roles: string[];
}

export function userAttributes(u: UserView, now = new Date()) {
  // A temporary lockout shows while it lasts; once over it is gone, even before it is swept.
  const expired = u.state === 'locked' && u.lockedUntil !== null && u.lockedUntil <= now;
  return {
    username: u.username,
    email: u.email,
    firstName: u.firstName,
    lastName: u.lastName,
    state: (expired ? 'active' : u.state) as 'initial' | 'active' | 'inactive' | 'locked',
    lockedUntil: u.state === 'locked' && !expired ? (u.lockedUntil?.toISOString() ?? null) : null,
    roles: u.roles,
    idpId: u.idpId,
    termsAcceptedAt: u.termsAcceptedAt?.toISOString() ?? null,
    lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
    createdAt: u.createdAt.toISOString(),
    updatedAt: u.updatedAt.toISOString(),
  };
}

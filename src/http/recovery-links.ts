import type { Config } from '../platform/config.js';
import type { LinkSettings } from '../users/recovery.js';
import { setPasswordUrl } from './routes/set-password.js';

/** How invitation and reset links are made and mailed, from the deployment's settings. */
export function recoveryLinks(config: Config): LinkSettings {
  return {
    link: (token) => setPasswordUrl(config.PUBLIC_URL, token),
    invitationTtlMs: config.SET_PASSWORD_TOKEN_TTL_HOURS * 3600_000,
    resetTtlMs: config.PASSWORD_RESET_TTL_MINUTES * 60_000,
    smtpUrl: config.SMTP_URL,
    smtpFrom: config.SMTP_FROM ?? `no-reply@${config.BASE_DOMAIN}`,
  };
}

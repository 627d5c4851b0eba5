import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { resendInvitation, sendResetLink, type LinkDelivery } from '../../users/recovery.js';
import { contextOf } from '../context.js';
import { recoveryLinks } from '../recovery-links.js';
import { access, errors, jsonApi, sendJsonApi, WHO } from '../jsonapi.js';

const idParams = z.object({ id: z.string().max(64) });
const tags = ['UserService'];
const delivered = z
  .object({
    meta: z.object({
      delivery: z.enum(['mailed', 'link', 'mail_failed']),
      setPasswordUrl: z.string().optional().describe('the one-time link, returned only when SMTP is not configured'),
    }),
  })
  .describe('How the link went out');

/** Links that let a user choose a password: a resent invitation, a reset link. */
export default async function userRecoveryRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const links = recoveryLinks(app.config);
  const answer = (d: LinkDelivery) => ({ meta: { delivery: d.delivery, ...(d.delivery === 'link' ? { setPasswordUrl: d.url } : {}) } });

  r.post(
    '/api/v3/users/:id/invitation',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ResendUserInvitation',
        summary: 'Send a user a new invitation',
        description: access(
          [WHO.admin, WHO.policy],
          'For a user who has not set a password yet: a new one-time set-password link, valid SET_PASSWORD_TOKEN_TTL_HOURS, mailed when SMTP is configured (otherwise returned once in `meta.setPasswordUrl`). Earlier links of the user stop working. 409 when the user already has a password.',
        ),
        params: idParams,
        response: { 200: jsonApi('The invitation went out', delivered), ...errors(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const d = await resendInvitation(contextOf(request), request.params.id, links);
      if (d.delivery === 'mail_failed') request.log.warn({ userId: request.params.id, err: { message: d.error } }, 'invitation mail failed');
      return sendJsonApi(reply, 200, answer(d));
    },
  );

  r.post(
    '/api/v3/users/:id/password-reset',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SendUserPasswordReset',
        summary: 'Send a user a password-reset link',
        description: access(
          [WHO.admin, WHO.policy],
          'A one-time link to choose a new password, valid PASSWORD_RESET_TTL_MINUTES, mailed when SMTP is configured (otherwise returned once in `meta.setPasswordUrl`). Using it signs the user out everywhere and lifts a temporary lockout. Earlier links stop working. 409 for a user without a password (resend the invitation) or disabled by an administrator.',
        ),
        params: idParams,
        response: { 200: jsonApi('The link went out', delivered), ...errors(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const d = await sendResetLink(contextOf(request), request.params.id, links);
      if (d.delivery === 'mail_failed') request.log.warn({ userId: request.params.id, err: { message: d.error } }, 'password reset mail failed');
      return sendJsonApi(reply, 200, answer(d));
    },
  );
}

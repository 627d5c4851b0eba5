import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { checkPassword } from '../../oauth/login.js';
import { beginPasskeyRegistration, finishPasskeyRegistration, listPasskeys, removePasskey, renamePasskey } from '../../users/passkeys.js';
import { csrfValid } from '../../ui/csrf.js';
import { LAST_FACTOR_MESSAGE, refuseForm } from '../../ui/pages.js';
import { accountPasskeysPage, REGISTRATION_ERRORS } from '../../ui/passkey-pages.js';
import { mfaDeps } from '../login-flow.js';
import { relyingPartyFor } from '../passkey-rp.js';
import { accountUserOf } from '../session-cookie.js';
import { registerRateLimits } from '../rate-limit.js';

// The signed-in user's own passkeys, with the browser session: add (named), rename, remove.
// Removing needs the current password, so that a browser left signed in is not enough to
// take a second factor away.

const hide = { hide: true };
const field = (body: unknown, name: string): string => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

export default async function accountPasskeyRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const limit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };
  const { prisma } = app.db;

  async function show(
    request: FastifyRequest,
    reply: FastifyReply,
    u: { tenantId: string; userId: string },
    extra: { notice?: string; error?: string; status?: number } = {},
  ) {
    const ceremony = await beginPasskeyRegistration({ prisma }, await relyingPartyFor(request, u.tenantId), u.tenantId, u.userId);
    return accountPasskeysPage(request, reply, { passkeys: await listPasskeys(prisma, u.tenantId, u.userId), ceremony, ...extra });
  }

  /** A form of this site from a signed-in browser: the user, or undefined once the refusal is sent. */
  async function formOf(request: FastifyRequest, reply: FastifyReply) {
    if (!csrfValid(request, field(request.body, 'csrf'))) return void (await refuseForm(reply));
    return accountUserOf(request, reply);
  }

  app.get('/ui/account/passkeys', { schema: hide }, async (request, reply) => {
    const u = await accountUserOf(request, reply);
    return u ? show(request, reply, u) : reply;
  });

  app.post('/ui/account/passkeys/add', { schema: hide, config: limit }, async (request, reply) => {
    const u = await formOf(request, reply);
    if (!u) return reply;
    const result = await finishPasskeyRegistration(mfaDeps(request), await relyingPartyFor(request, u.tenantId), {
      tenantId: u.tenantId,
      userId: u.userId,
      handle: field(request.body, 'handle'),
      response: field(request.body, 'response'),
      name: field(request.body, 'name'),
    });
    if (!result.ok) return show(request, reply, u, { error: REGISTRATION_ERRORS[result.reason], status: result.reason === 'duplicate' ? 409 : 400 });
    return show(request, reply, u, { notice: `The passkey “${result.passkey.name}” was added.` });
  });

  app.post('/ui/account/passkeys/rename', { schema: hide, config: limit }, async (request, reply) => {
    const u = await formOf(request, reply);
    if (!u) return reply;
    const renamed = await renamePasskey(mfaDeps(request), u.tenantId, u.userId, field(request.body, 'passkey'), field(request.body, 'name'));
    if (!renamed) return show(request, reply, u, { error: 'Give the passkey a name of at most 64 characters.', status: 400 });
    return show(request, reply, u, { notice: 'The passkey was renamed.' });
  });

  app.post('/ui/account/passkeys/remove', { schema: hide, config: limit }, async (request, reply) => {
    const u = await formOf(request, reply);
    if (!u) return reply;
    const password = field(request.body, 'password');
    const proof =
      password && password.length <= 1024 ? await checkPassword(prisma, app.config, u.tenantId, u.username, password, request.ip, request.id) : undefined;
    if (proof && !proof.ok && proof.lockedNow) request.settleInvalidations = true;
    if (!proof?.ok || proof.userId !== u.userId) return show(request, reply, u, { error: 'The password is not valid.', status: 401 });
    const outcome = await removePasskey(mfaDeps(request), u.tenantId, u.userId, field(request.body, 'passkey'));
    if (outcome === 'last-factor') return show(request, reply, u, { error: LAST_FACTOR_MESSAGE, status: 409 });
    if (outcome === 'not-found') return show(request, reply, u, { error: 'That passkey is not one of yours.', status: 404 });
    return show(request, reply, u, { notice: 'The passkey was removed.' });
  });
}

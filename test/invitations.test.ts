import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argon2Params } from '../src/platform/passwords.js';
import { consumeSetPasswordToken } from '../src/users/invitations.js';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { startMailCatcher, type MailCatcher } from './helpers/mail.js';

// A real SMTP peer on a random port collects what nodemailer sends.
let smtp: MailCatcher;
const mails = () => smtp.mails;
let t: TestApp;

beforeAll(async () => {
  smtp = await startMailCatcher();
  t = await startTestApp({ SMTP_URL: smtp.url, SMTP_FROM: 'iam@iam.test' });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('invitations by mail', () => {
  it('mails the one-time set-password link instead of returning it', async () => {
    const tenant = await createTenant(t, 'Mailing Co');
    const admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
    const res = await call(t.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username: 'mia', email: 'Mia@Example.test' } } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.meta).toEqual({ invitation: 'mailed' });
    expect(res.body).not.toContain('set-password');

    expect(mails()).toHaveLength(1);
    expect(mails()[0]!.from).toBe('iam@iam.test');
    expect(mails()[0]!.to.map((a) => a.toLowerCase())).toEqual(['mia@example.test']);
    const text = mails()[0]!.text;
    expect(text).toContain('Mailing Co');
    const m = /http:\/\/auth\.iam\.test\/ui\/set-password\?token=([A-Za-z0-9_-]+)/.exec(text);
    expect(m).not.toBeNull();
    const result = await consumeSetPasswordToken(t.db.prisma, m![1]!, 'Mailed-Password-1', argon2Params(t.config));
    expect(result).toMatchObject({ ok: true, userId: body.data.id, tenantId: tenant });
  });

  it('creates the user and reports mail_failed when the SMTP server is unreachable', async () => {
    const broken = await startTestApp({ SMTP_URL: 'smtp://127.0.0.1:1' });
    try {
      const tenant = await createTenant(broken, 'No mail');
      const admin = (await seedServiceAccountPat(broken, tenant, ['tenant-admin'])).pat;
      const res = await call(broken.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username: 'ned', email: 'ned@x.test' } } });
      expect(res.statusCode).toBe(201);
      expect(res.json().meta).toEqual({ invitation: 'mail_failed' });
      expect(await broken.db.prisma.setPasswordToken.count({ where: { userId: res.json().data.id } })).toBe(1);
    } finally {
      await broken.close();
    }
  });
});

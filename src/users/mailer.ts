/** A mail carrying a one-time set-password link: an invitation or a password reset. */
export interface LinkMail {
  to: string;
  username: string;
  tenantName: string;
  url: string;
  expiresAt: Date;
}

async function send(smtpUrl: string, message: { from: string; to: string; subject: string; text: string }) {
  // Bounded waits: a request must not hang on a silent mail server.
  const { default: nodemailer } = await import('nodemailer'); // loaded when a mail is first sent
  const transport = nodemailer.createTransport({ url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
  try {
    await transport.sendMail(message);
  } finally {
    transport.close();
  }
}

/** Sends the set-password invitation through SMTP_URL. */
export async function sendInvitation(smtpUrl: string, from: string, inv: LinkMail): Promise<void> {
  await send(smtpUrl, {
    from,
    to: inv.to,
    subject: `Set your password for ${inv.tenantName}`,
    text:
      `An account "${inv.username}" was created for you in ${inv.tenantName}.\n\n` +
      `Choose your password here (the link works once, until ${inv.expiresAt.toISOString()}):\n${inv.url}\n`,
  });
}

/** Sends a password-reset link through SMTP_URL. */
export async function sendPasswordReset(smtpUrl: string, from: string, m: LinkMail): Promise<void> {
  await send(smtpUrl, {
    from,
    to: m.to,
    subject: `Reset your password for ${m.tenantName}`,
    text:
      `Someone asked to reset the password of the account "${m.username}" in ${m.tenantName}.\n\n` +
      `Choose a new password here (the link works once, until ${m.expiresAt.toISOString()}):\n${m.url}\n\n` +
      `If you did not ask for this, ignore this mail: your password stays as it is.\n`,
  });
}

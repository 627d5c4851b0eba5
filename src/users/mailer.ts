export interface Invitation {
  to: string;
  username: string;
  tenantName: string;
  url: string;
  expiresAt: Date;
}

/** Sends the set-password invitation through SMTP_URL. */
export async function sendInvitation(smtpUrl: string, from: string, inv: Invitation): Promise<void> {
  // Bounded waits: a create request must not hang on a silent mail server.
  const { default: nodemailer } = await import('nodemailer'); // loaded when a mail is first sent
  const transport = nodemailer.createTransport({ url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
  try {
    await transport.sendMail({
      from,
      to: inv.to,
      subject: `Set your password for ${inv.tenantName}`,
      text:
        `An account "${inv.username}" was created for you in ${inv.tenantName}.\n\n` +
        `Choose your password here (the link works once, until ${inv.expiresAt.toISOString()}):\n${inv.url}\n`,
    });
  } finally {
    transport.close();
  }
}

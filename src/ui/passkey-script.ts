/*
 * The hosted pages' one script, served from this site (CSP script-src 'self'): it turns a
 * form marked data-passkey="register" or "authenticate" into a WebAuthn ceremony. The
 * server's options (JSON, base64url fields) are in the form's data-options; the script
 * calls navigator.credentials.create or .get, puts the answer (JSON, base64url fields) in
 * the form's hidden "response" field and submits the form. Everything else stays a plain
 * form POST, checked on the server.
 */
export const PASSKEY_SCRIPT = `(function () {
  'use strict';
  function toBuffer(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  function descriptors(list) {
    return (list || []).map(function (c) { return { type: c.type || 'public-key', id: toBuffer(c.id), transports: c.transports }; });
  }
  function create(o) {
    var publicKey = Object.assign({}, o, {
      challenge: toBuffer(o.challenge),
      user: Object.assign({}, o.user, { id: toBuffer(o.user.id) }),
      excludeCredentials: descriptors(o.excludeCredentials)
    });
    return navigator.credentials.create({ publicKey: publicKey }).then(function (c) {
      var r = c.response;
      return {
        id: c.id, rawId: toBase64url(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || undefined,
        clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
        response: {
          clientDataJSON: toBase64url(r.clientDataJSON),
          attestationObject: toBase64url(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : []
        }
      };
    });
  }
  function get(o) {
    var publicKey = Object.assign({}, o, { challenge: toBuffer(o.challenge), allowCredentials: descriptors(o.allowCredentials) });
    return navigator.credentials.get({ publicKey: publicKey }).then(function (c) {
      var r = c.response;
      return {
        id: c.id, rawId: toBase64url(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || undefined,
        clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
        response: {
          clientDataJSON: toBase64url(r.clientDataJSON),
          authenticatorData: toBase64url(r.authenticatorData),
          signature: toBase64url(r.signature),
          userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined
        }
      };
    });
  }
  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    var status = form.querySelector('.passkey-status');
    var say = function (text) { if (status) status.textContent = text; };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say('This browser cannot use passkeys.');
      form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
      return;
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var options = JSON.parse(form.getAttribute('data-options'));
      var ceremony = form.getAttribute('data-passkey') === 'register' ? create(options) : get(options);
      say('Waiting for your passkey\\u2026');
      ceremony.then(function (answer) {
        form.querySelector('input[name=response]').value = JSON.stringify(answer);
        form.submit();
      }, function (err) {
        say('The passkey was not used' + (err && err.name ? ' (' + err.name + ')' : '') + '. You can try again.');
      });
    });
  });
})();
`;

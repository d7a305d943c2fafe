// The reference OpenID Connect provider (panva's oidc-provider) for convenant's sign-in tests: one client that
// must use PKCE (S256), the users of users.json (one in the mapped group "secretariaat", one in no mapped group),
// a "groups" claim, and a minimal login page of its own that checks the password.
//
// Environment: OIDC_REDIRECT_URI (the app's /sign-in/oidc/callback), OIDC_POST_LOGOUT_URI (where sign-out returns),
// OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, PORT (default 0: a free port). Listens on 127.0.0.1 and prints one JSON
// line, {"issuer": "http://127.0.0.1:PORT"}, once it answers; stops on SIGTERM.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const users = JSON.parse(readFileSync(new URL('./users.json', import.meta.url), 'utf8'));
const redirectUri = env('OIDC_REDIRECT_URI');
const postLogoutUri = env('OIDC_POST_LOGOUT_URI');
const clientId = env('OIDC_CLIENT_ID', 'convenant');
const clientSecret = env('OIDC_CLIENT_SECRET');

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
</head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

const readForm = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    data += chunk;
    if (data.length > 10000) reject(new Error('form too large'));
  });
  req.on('end', () => resolve(new URLSearchParams(data)));
  req.on('error', reject);
});

const server = createServer();
server.listen(Number(env('PORT', '0')), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true },
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'locale'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout"
            value="yes">Yes, sign me out</button>`);
        },
        postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const user = users[sub];
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...user.claims }) };
    },
    // A first-party client: no consent page; every scope the client asks for is granted.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                  accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
      await grant.save();
      return grant;
    },
    ttl: { Session: 3600, Interaction: 600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Grant: 3600 },
  });

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const match = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url, issuer).pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') {
        res.writeHead(501).end('only login is interactive here');
        return;
      }
      let error = '';
      if (req.method === 'POST') {
        const form = await readForm(req);
        const login = form.get('login') || '';
        if (users[login] && users[login].password === form.get('password')) {
          await provider.interactionFinished(req, res, { login: { accountId: login } },
                                             { mergeWithLastSubmission: false });
          return;
        }
        error = '<p role="alert" id="error">Unknown login or wrong password.</p>';
      }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(page('Test provider: sign in', `${error}<form method="post" id="login">
        <label>Login <input name="login" id="login-name" autocomplete="username" required></label>
        <label>Password <input name="password" id="password" type="password" required></label>
        <button type="submit">Sign in</button></form>`));
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`interaction failed: ${err.message}`);
    }
  });
  console.log(JSON.stringify({ issuer }));
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));

// A real OpenID Provider (the npm package oidc-provider) for the single sign-on
// tests, on 127.0.0.1 only. Everything comes from the environment:
//   PORT          the port to listen on
//   CLIENT        JSON {client_id, client_secret, redirect_uris, post_logout_redirect_uris}
//   ACCOUNTS      JSON {account id: {preferred_username, name, groups}}; the dev
//                 login form takes an account id as its login (any password)
// It prints "listening ISSUER" once it accepts connections.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const client = JSON.parse(process.env.CLIENT);
const accounts = JSON.parse(process.env.ACCOUNTS);
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  clients: [{
    ...client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Authorization code flow with PKCE, S256 only, for every client.
  pkce: { methods: ['S256'], required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...accounts[id] }) };
  },
  jwks: { keys: [privateKey.export({ format: 'jwk' })] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  // A first-party client: no consent screen to click through.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile groups');
    await grant.save();
    return grant;
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));

// A test OpenID Connect + CIBA provider shaped like Pro Santé Connect (node oidc-provider 8);
// a second instance on another port (another issuer) stands for PASS Occitanie.
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ACCOUNTS (JSON: {sub: {national_id,
// given_name, family_name, pass_id, [ref_pro: the SubjectRefPro claim]}}), ID_TOKEN_ALG (RS256|ES256), USERINFO_ALG (unset: JSON
// userinfo). TLS_CERT, TLS_KEY, TLS_CA (PEM files): served over https, and every connection must
// show a client certificate issued by TLS_CA (mutual TLS, as PSC requires of relying parties).
// Test control (loopback only, used by the tests): POST /test/config {account, acr, ciba, ciba_ttl},
// GET /test/ciba-last -> {binding_message, login_hint, count}.
// EXTRA_CLIENTS (JSON array of oidc-provider client metadata): more relying parties, e.g. the
// Apache (mod_auth_openidc) and Dovecot (introspection) of tests/integration/rpstack.py.
// Introspection (RFC 7662), revocation (RFC 7009), RP-initiated and back-channel logout are on;
// an account's `email` is added to its access tokens, so introspection answers it (Dovecot's
// username_attribute).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT);
const tls = process.env.TLS_CERT
  ? { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY),
      ca: fs.readFileSync(process.env.TLS_CA), requestCert: true, rejectUnauthorized: true }
  : null;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');

// Test-controlled behaviour: who logs in at the next interaction, with which acr,
// and what the "phone" answers to the next CIBA request.
const control = { account: Object.keys(accounts)[0], acr: 'eidas1', ciba: 'approve', ciba_ttl: 120 };
const last = { binding_message: null, login_hint: null, count: 0 };

function keyPair(type, kid) {
  const opts = type === 'rsa' ? { modulusLength: 2048 } : { namedCurve: 'P-256' };
  const { privateKey } = crypto.generateKeyPairSync(type === 'rsa' ? 'rsa' : 'ec', opts);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: type === 'rsa' ? 'RS256' : 'ES256' };
}

function claimsOf(sub) {
  const a = accounts[sub];
  return {
    sub,
    SubjectNameID: a.national_id,
    preferred_username: a.national_id,
    given_name: a.given_name,
    family_name: a.family_name,
    ...(a.ref_pro ? { SubjectRefPro: a.ref_pro } : {}),
    ...(a.pass_id ? { pass_id: a.pass_id } : {}),
    ...(a.email ? { email: a.email } : {}),
  };
}

let provider;

const configuration = {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: JSON.parse(process.env.REDIRECT_URIS || JSON.stringify([process.env.REDIRECT_URI])),
    response_types: ['code'],
    grant_types: ['authorization_code', 'urn:openid:params:grant-type:ciba'],
    token_endpoint_auth_method: 'client_secret_basic',
    backchannel_token_delivery_mode: 'poll',
    id_token_signed_response_alg: process.env.ID_TOKEN_ALG || 'RS256',
    ...(process.env.USERINFO_ALG ? { userinfo_signed_response_alg: process.env.USERINFO_ALG } : {}),
  }, ...JSON.parse(process.env.EXTRA_CLIENTS || '[]')],
  // kids change at every start: a restarted provider is a key rotation for its relying parties
  jwks: { keys: [keyPair('rsa', `psc-rsa-${crypto.randomUUID()}`), keyPair('ec', `psc-ec-${crypto.randomUUID()}`)] },
  scopes: ['openid', 'scope_all', 'email'],
  claims: {
    openid: ['sub', 'pass_id'],
    email: ['email'],
    scope_all: ['SubjectNameID', 'preferred_username', 'given_name', 'family_name', 'SubjectRefPro'],
  },
  acrValues: ['eidas1'],
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  cookies: { keys: ['medimail-test-cookie-key'] },
  ttl: {
    BackchannelAuthenticationRequest: () => control.ciba_ttl,
  },
  extraTokenClaims: async (ctx, token) => {
    const a = token.kind === 'AccessToken' && accounts[token.accountId];
    return a && a.email ? { email: a.email } : undefined;
  },
  findAccount: async (ctx, sub) => (accounts[sub] ? { accountId: sub, claims: async () => claimsOf(sub) } : undefined),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    jwtUserinfo: { enabled: true },
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      async processLoginHint(ctx, loginHint) {
        const sub = Object.keys(accounts).find((s) => accounts[s].national_id === loginHint);
        if (!sub) throw new errors.UnknownUserId('unknown login_hint');
        return sub;
      },
      async validateRequestContext() {},
      async verifyUserCode() {},
      async triggerAuthenticationDevice(ctx, request, account, client) {
        last.binding_message = request.params.binding_message;
        last.login_hint = request.params.login_hint;
        last.count += 1;
        const mode = control.ciba;
        // The "phone": answers a moment later, as a person would.
        setTimeout(async () => {
          try {
            if (mode === 'approve') {
              const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
              grant.addOIDCScope(request.scope);
              await grant.save();
              await provider.backchannelResult(request, grant, { acr: 'eidas1', authTime: Math.floor(Date.now() / 1000) });
            } else if (mode === 'deny') {
              await provider.backchannelResult(request, new errors.AccessDenied('refused on the phone'));
            } // 'expire': never answers
          } catch (e) { console.error('ciba answer failed', e); }
        }, 300);
      },
    },
  },
};

// Benchmarks only (bench/oidc): STORE_UNBOUNDED=1 replaces the in-memory adapter's 1000-entry
// LRU with a Map, so that codes minted ahead of a run are not evicted before they are redeemed.
if (process.env.STORE_UNBOUNDED) {
  const memory = new URL('./node_modules/oidc-provider/lib/adapters/memory_adapter.js', import.meta.url);
  (await import(memory)).setStorage(new Map());
}

provider = new Provider(issuer, configuration);
provider.proxy = false;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const login = { accountId: control.account };
    if (control.acr) login.acr = control.acr;
    return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; if (data.length > 65536) reject(new Error('too big')); });
    req.on('end', () => resolve(data));
  });
}

const callback = provider.callback();
const handler = async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/.well-known/wallet-openid-configuration') {
      // PSC's non-standard discovery path: the same document.
      req.url = '/.well-known/openid-configuration';
      return callback(req, res);
    }
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res);
    if (url.pathname === '/test/config' && req.method === 'POST') {
      Object.assign(control, JSON.parse(await readBody(req)));
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(control));
    }
    if (url.pathname === '/test/ciba-last') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(last));
    }
    return callback(req, res);
  } catch (e) {
    console.error(e);
    res.writeHead(500);
    return res.end(String(e));
  }
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.on('tlsClientError', (e) => console.log(`tls client refused: ${e.code || e.message}`));
server.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));

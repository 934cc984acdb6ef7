// An OpenID Provider for the tests: the certified `oidc-provider` package, serving two
// issuers from one process on 127.0.0.1 (the main one at the root, another at /other, both
// signing with the same fresh RSA key, so that only `iss` tells their tokens apart).
//
//   node provider.mjs '{"port": 0, "audience": "...", "other_audience": "...", "redirect_uri": "..."}'
//
// Prints one JSON line once it listens: {"port": N, "issuer": "...", "other_issuer": "...", "kid": "..."}.
// Every start makes a new key, so a restart on the same port is a key rotation.
// GET /__test/jwks-fetches answers how many times the main issuer's JWKS was fetched.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `key-${crypto.randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

const serviceClient = (clientId) => ({
  client_id: clientId,
  client_secret: `${clientId}-secret`,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
});

function provider(issuer, clients) {
  const audiences = new Set([settings.audience, settings.other_audience]);
  const oidc = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (!audiences.has(resource)) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      // The shortest lifetime the provider allows, for a token that expires during a test.
      ClientCredentials: (_ctx, _token, client) => (client.clientId === 'short-lived' ? 1 : 600),
    },
  });
  return oidc;
}

let jwksFetches = 0;
let main;
let other;
const server = http.createServer((req, res) => {
  if (req.url === '/__test/jwks-fetches') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ count: jwksFetches }));
    return;
  }
  if (req.url === '/other' || req.url.startsWith('/other/')) {
    req.originalUrl = req.url;
    req.url = req.url.slice('/other'.length) || '/';
    other.callback()(req, res);
    return;
  }
  if (req.url.split('?')[0] === '/jwks') jwksFetches += 1;
  main.callback()(req, res);
});

server.listen(settings.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  main = provider(issuer, [
    serviceClient('alice'),
    serviceClient('bob'),
    serviceClient('short-lived'),
    {
      client_id: 'inspector',
      client_secret: 'inspector-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [settings.redirect_uri],
    },
  ]);
  other = provider(`${issuer}/other`, [serviceClient('alice')]);
  process.stdout.write(
    `${JSON.stringify({ port, issuer, other_issuer: `${issuer}/other`, kid: signingKey.kid })}\n`,
  );
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));

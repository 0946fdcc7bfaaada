// Verifies gatehouse access tokens with jose, as a Node.js game backend
// would: the issuer's discovery document names the key set,
// createRemoteJWKSet keeps it cached (refetching on an unknown kid, at most
// once per cooldown), and jwtVerify checks the signature with the algorithm
// pinned to the key's (jose refuses a header alg that does not fit the key,
// and `algorithms` allows RS256 and ES256 only) and exp, nbf, iss and aud.
//
//   node verify.mjs ISSUER TOKEN      exit 0 and the claims as JSON, or 1 and why
//   node verify.mjs --stdin ISSUER    one token per line: "ok <claims>" / "refused <why>"
//
// In your service, call makeVerifier once at start and verify() per request.
import { createInterface } from 'node:readline';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const AUDIENCE = 'gamebackend';
const SCOPES = new Set(['guest', 'authenticated']);
const MAX_TOKEN = 8192;

export async function makeVerifier(issuer) {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`,
                          { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`discovery document: HTTP ${res.status}`);
  const doc = await res.json();
  if (doc.issuer !== issuer || !doc.jwks_uri)
    throw new Error('the discovery document does not name this issuer');
  const keys = createRemoteJWKSet(new URL(doc.jwks_uri), {
    timeoutDuration: 5000,
    cooldownDuration: 30000,  // least time between fetches
    cacheMaxAge: 600000,      // refetch a key set older than this
  });
  return async function verify(token) {
    if (!token || token.length > MAX_TOKEN) throw new Error('no token, or longer than 8 KiB');
    const { payload } = await jwtVerify(token, keys, {
      issuer,
      audience: AUDIENCE,
      algorithms: ['RS256', 'ES256'],
      requiredClaims: ['exp', 'sub'],
    });
    if (!SCOPES.has(payload.scope)) throw new Error('scope not allowed');
    return payload;
  };
}

function sorted(o) {
  return JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
}

async function main(argv) {
  if (argv.includes('--help') || argv.length !== 2) {
    console.log('usage: node verify.mjs ISSUER TOKEN | node verify.mjs --stdin ISSUER');
    return argv.includes('--help') ? 0 : 2;
  }
  const stdin = argv[0] === '--stdin';
  let verify;
  try {
    verify = await makeVerifier(stdin ? argv[1] : argv[0]);
  } catch (e) {
    console.error(`verify.mjs: cannot read the issuer's documents: ${e.message}`);
    return 1;
  }
  if (!stdin) {
    try {
      console.log(sorted(await verify(argv[1])));
      return 0;
    } catch (e) {
      console.error(`verify.mjs: refused: ${e.code || e.name}: ${e.message}`);
      return 1;
    }
  }
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      console.log('ok ' + sorted(await verify(line.trim())));
    } catch (e) {
      console.log(`refused ${e.code || e.name}: ${e.message}`);
    }
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`)
  process.exitCode = await main(process.argv.slice(2));

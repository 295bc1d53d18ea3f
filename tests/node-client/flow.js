// A marketplace and a provider host talking to Oversight from Node, with nothing but the
// protos/ folder, @grpc/grpc-js, @grpc/proto-loader and Node's own crypto: what an integrator in
// another language does (README, "Integrating").
//
//   node flow.js   (settings from the environment)
//     OVERSIGHT_ADDRESS         host:port of the gRPC endpoint (all three services), e.g. 127.0.0.1:7400
//     OVERSIGHT_PROTOS          the repository's protos/ folder
//     OVERSIGHT_MARKETPLACE     the marketplace id
//     OVERSIGHT_OPERATOR_TOKEN  a bearer token with role operator in that marketplace
//     OVERSIGHT_PROVIDER_TOKEN  a bearer token with role provider, provider claim OVERSIGHT_PROVIDER
//     OVERSIGHT_PROVIDER        the provider id
//
// Steps: create an account, register the provider's ECDSA P-256 key, authorize a lease, sign
// the usage over the documented canonical bytes (docs/attestation-format.md) and submit it,
// wait until enforcement has counted it, authorize the next lease and read the verdict.
// Prints one JSON object on stdout; exits non-zero on any error.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const address = env('OVERSIGHT_ADDRESS');
const protos = env('OVERSIGHT_PROTOS');
const marketplace = env('OVERSIGHT_MARKETPLACE');
const provider = env('OVERSIGHT_PROVIDER');

// keepCase: field names as in the .proto (snake_case); int64 as strings; enums by name.
const definition = protoLoader.loadSync(
  ['oversight/kyc/v1/kyc.proto', 'oversight/attestation/v1/attestation.proto', 'oversight/enforcement/v1/enforcement.proto'],
  { includeDirs: [protos], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const api = grpc.loadPackageDefinition(definition).oversight;
const credentials = grpc.credentials.createInsecure(); // the embedded default listens on loopback, plain text
const kyc = new api.kyc.v1.KycTiering(address, credentials);
const attestation = new api.attestation.v1.WorkloadAttestation(address, credentials);
const enforcement = new api.enforcement.v1.ThresholdEnforcement(address, credentials);

const bearer = (token) => {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};
const operator = bearer(env('OVERSIGHT_OPERATOR_TOKEN'));
const providerHost = bearer(env('OVERSIGHT_PROVIDER_TOKEN'));

// Every call with a deadline; errors keep their gRPC status code and message.
const call = (client, method, request, metadata) => new Promise((resolve, reject) => {
  client[method](request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => {
    if (error) reject(new Error(`${method}: ${grpc.status[error.code]} ${error.details}`));
    else resolve(response);
  });
});

// The canonical bytes of docs/attestation-format.md: a header line, then name=value lines in
// proto field order, each ending in LF; timestamps RFC 3339 UTC whole seconds; enums without prefix.
const rfc3339 = (seconds) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const canonicalBytes = (a) => Buffer.from([
  'oversight.attestation.v1',
  `attestation_id=${a.attestation_id}`,
  `marketplace_id=${a.marketplace_id}`,
  `provider_id=${a.provider_id}`,
  `lease_id=${a.lease_id}`,
  `account_id=${a.account_id}`,
  `accelerator_model=${a.accelerator_model}`,
  `accelerator_count=${a.accelerator_count}`,
  `interval_start=${rfc3339(Number(a.interval_start.seconds))}`,
  `interval_end=${rfc3339(Number(a.interval_end.seconds))}`,
  `final=${a.final ? 'true' : 'false'}`,
  `flop_units=${a.flop_units}`,
  `precision=${a.precision.replace(/^PRECISION_CLASS_/, '')}`,
  `workload_commitment=${a.workload_commitment}`,
  `workload_class=${a.workload_class.replace(/^WORKLOAD_CLASS_/, '')}`,
  `signed_at=${rfc3339(Number(a.signed_at.seconds))}`,
  `sequence=${a.sequence}`,
].map((line) => `${line}\n`).join(''), 'utf8');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const suffix = crypto.randomBytes(6).toString('hex');
  const accountId = `node-acct-${suffix}`;
  const model = 'H100-SXM';

  const created = await call(kyc, 'CreateAccount', { marketplace_id: marketplace, account_id: accountId }, operator);

  // The provider host's key: ECDSA P-256; the operator registers its SubjectPublicKeyInfo PEM.
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await call(attestation, 'RegisterProvider', {
    marketplace_id: marketplace,
    provider_id: provider,
    key_id: 'node-key-1',
    public_key_pem: publicKey.export({ type: 'spki', format: 'pem' }),
    inventory: [{ accelerator_model: model, count: 8 }],
  }, operator);

  // 14 H100-hours at BF16: 989 TFLOP/s x 50,400 s x 0.4 = 19,938,240 units, just inside the
  // anonymous tier's 24-hour budget of 20,000,000.
  const lease = await call(enforcement, 'Authorize', {
    marketplace_id: marketplace, account_id: accountId, lease_id: `lease-${suffix}-1`,
    accelerator_model: model, accelerator_count: 1, duration_seconds: 14 * 3600, precision: 'PRECISION_CLASS_BF16',
  }, operator);

  const end = Math.floor(Date.now() / 1000) - 5;
  const usage = {
    attestation_id: `att-${suffix}`,
    marketplace_id: marketplace,
    provider_id: provider,
    lease_id: `lease-${suffix}-1`,
    account_id: accountId,
    accelerator_model: model,
    accelerator_count: 1,
    interval_start: { seconds: String(end - 14 * 3600), nanos: 0 },
    interval_end: { seconds: String(end), nanos: 0 },
    final: true,
    flop_units: lease.reservation.flop_units,
    precision: 'PRECISION_CLASS_BF16',
    workload_commitment: crypto.createHash('sha256').update(`salt:${suffix}:image`).digest('hex'),
    workload_class: 'WORKLOAD_CLASS_TRAINING',
    signed_at: { seconds: String(end), nanos: 0 },
    sequence: '1',
  };
  const bytes = canonicalBytes(usage);
  // IEEE P1363 (r || s, 64 bytes), the form the service expects; Node's default would be DER.
  const signature = crypto.sign('sha256', bytes, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const submitted = await call(attestation, 'SubmitAttestation', { attestation: usage, key_id: 'node-key-1', signature }, providerHost);
  const receipt = submitted.receipt;
  const localLeafHash = crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), bytes, signature])).digest('hex');

  // Enforcement counts the usage from the bus: wait until it has.
  let counted = '0';
  for (let attempt = 0; attempt < 150 && counted !== String(usage.flop_units); attempt++) {
    const current = await call(enforcement, 'GetUsage', { marketplace_id: marketplace, account_id: accountId }, operator);
    counted = current.windows.find((w) => w.window === '24h' && w.metric === 'METRIC_FLOP_UNITS').usage;
    if (counted !== String(usage.flop_units)) await sleep(200);
  }

  const next = await call(enforcement, 'Authorize', {
    marketplace_id: marketplace, account_id: accountId, lease_id: `lease-${suffix}-2`,
    accelerator_model: model, accelerator_count: 1, duration_seconds: 3600, precision: 'PRECISION_CLASS_BF16',
  }, operator);

  process.stdout.write(JSON.stringify({
    account_id: created.account.account_id,
    tier: created.account.tier.id,
    first_verdict: lease.verdict,
    reserved_flop_units: lease.reservation.flop_units,
    signature_length: signature.length,
    outcome: receipt.outcome,
    leaf_index: receipt.leaf_index,
    leaf_hash: receipt.leaf_hash,
    local_leaf_hash: localLeafHash,
    counted_flop_units: counted,
    next_verdict: next.verdict,
    next_required_tier: next.required_tier ? next.required_tier.id : null,
    next_message: next.message,
  }) + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });

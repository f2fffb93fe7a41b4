'use strict';
// A shop BFF calling recsvc the way a Node frontend would: @grpc/grpc-js with the .proto
// files loaded at run time by @grpc/proto-loader (no generated code, nothing of ours).
//
//   node bff_client.js '<json config>'
//
// config: {target, protos, token, recommend_token, generation, checks: [names],
//          bursts: [{name, calls, cold}], burst_deadline_s, channel_options}
// Prints one JSON object per line: {"check": name, "ok": bool, ...details, "error"?}.
// The process exits 0 whatever the checks found (the caller judges the lines); only a
// crash of this script exits non-zero.

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const config = JSON.parse(process.argv[2]);
const Status = grpc.status;
const codeName = (code) => Object.keys(Status).find((k) => Status[k] === code) || String(code);

const definition = protoLoader.loadSync(
  ['recsvc/api/v1/recommender.proto', 'recsvc/api/v1/segments.proto'],
  { includeDirs: [config.protos], keepCase: true, longs: String, enums: String,
    defaults: true, oneofs: true },
);
const api = grpc.loadPackageDefinition(definition).recsvc.api.v1;

// What the README tells a BFF to set (see "Calling from a BFF"). Every Recommender
// method is safe to retry (Track events carry their idempotency key), so a call the
// server refused before handling it (UNAVAILABLE) is retried, within its deadline.
const RETRY_POLICY = {
  maxAttempts: 3, initialBackoff: '0.05s', maxBackoff: '0.5s', backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};
const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 60000,
  'grpc.keepalive_timeout_ms': 20000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024,
  'grpc.service_config': JSON.stringify({
    methodConfig: [{ name: [{ service: 'recsvc.api.v1.Recommender' }], retryPolicy: RETRY_POLICY }],
  }),
  ...(config.channel_options || {}),
};
for (const [key, value] of Object.entries(CHANNEL_OPTIONS)) {
  if (value === null) delete CHANNEL_OPTIONS[key];
}

function clients() {
  const creds = grpc.credentials.createInsecure();
  return {
    rec: new api.Recommender(config.target, creds, CHANNEL_OPTIONS),
    seg: new api.Segments(config.target, creds, CHANNEL_OPTIONS),
  };
}

function metadata(token) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

const deadline = (ms) => new Date(Date.now() + ms);

// One unary call -> {err, res}; never rejects.
function unary(client, method, request, { timeoutMs = 10000, token = config.recommend_token } = {}) {
  return new Promise((resolve) => {
    client[method](request, metadata(token), { deadline: deadline(timeoutMs) },
      (err, res) => resolve({ err, res }));
  });
}

function fail(message) {
  throw new Error(message);
}

function expectOk({ err, res }, what) {
  if (err) fail(`${what}: ${codeName(err.code)} ${err.details}`);
  return res;
}

function expectError({ err }, code, what) {
  if (!err) fail(`${what}: succeeded, expected ${codeName(code)}`);
  if (err.code !== code) fail(`${what}: ${codeName(err.code)} (${err.details}), expected ${codeName(code)}`);
  return err;
}

const ids = (res) => res.items.map((i) => i.product_id);
const categoryOf = (pid) => ['hats', 'shirts', 'shoes'][Number(pid.slice(1)) % 3];
const unique = (prefix) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

function checkAnswer(res, k, what) {
  if (res.items.length !== k) fail(`${what}: ${res.items.length} items, expected ${k}`);
  if (res.generation !== config.generation) fail(`${what}: generation ${res.generation}, expected ${config.generation}`);
  if (!res.recommendation_id) fail(`${what}: no recommendation_id`);
  const scores = res.items.map((i) => i.score);
  if (scores.some((s, i) => i > 0 && s > scores[i - 1])) fail(`${what}: scores not descending ${scores}`);
}

const checks = {
  async info({ rec }) {
    const res = expectOk(await unary(rec, 'Info', {}), 'Info');
    if (res.generation !== config.generation) fail(`generation ${res.generation}`);
    if (res.counts.users !== '150') fail(`counts.users ${JSON.stringify(res.counts)}`);
    if (Math.abs(res.metrics['ndcg@10'] - 0.31) > 1e-9) fail(`metrics ${JSON.stringify(res.metrics)}`);
    return { generation: res.generation, counts: res.counts };
  },

  async recommend_known({ rec }) {
    const res = expectOk(await unary(rec, 'Recommend', { user_id: 'u0001', k: 3 }), 'Recommend');
    checkAnswer(res, 3, 'known user');
    if (!['SOURCE_STORE', 'SOURCE_CACHE'].includes(res.source)) fail(`source ${res.source}`);
    return { source: res.source, items: ids(res) };
  },

  async recommend_context({ rec }) {
    const request = {
      user_id: 'u0002', k: 4,
      context: { category: 'hats', viewed_product_id: 'P033', exclude_product_ids: ['P036'] },
    };
    const res = expectOk(await unary(rec, 'Recommend', request), 'Recommend with context');
    checkAnswer(res, 4, 'with context');
    const wrong = ids(res).filter((p) => categoryOf(p) !== 'hats' || p === 'P033' || p === 'P036');
    if (wrong.length) fail(`context not applied: ${wrong} in ${ids(res)}`);
    return { source: res.source, items: ids(res) };
  },

  // An anonymous shopper: popular products first; after a tracked VIEW the session's
  // memory shapes the answer and the product just viewed is not offered again.
  async recommend_anonymous_and_track({ rec }) {
    const session = unique('bff-session');
    const before = expectOk(await unary(rec, 'Recommend', { session_id: session, k: 5 }), 'anonymous');
    checkAnswer(before, 5, 'anonymous');
    if (before.source !== 'SOURCE_FALLBACK') fail(`anonymous source ${before.source}`);
    const viewed = before.items[0].product_id;

    const good = { event_id: unique('ev'), session_id: session, event_type: 'VIEW', product_id: viewed,
      recommendation_id: before.recommendation_id };
    const bad = { event_id: unique('ev'), session_id: session, event_type: 'VIEW' };
    const tracked = expectOk(await unary(rec, 'Track', { events: [good, bad] }), 'Track');
    const outcomes = tracked.statuses.map((s) => [s.event_id, s.outcome, s.reason]);
    if (tracked.statuses.length !== 2) fail(`statuses ${JSON.stringify(outcomes)}`);
    const [s0, s1] = tracked.statuses;
    if (s0.event_id !== good.event_id || s0.outcome !== 'ACCEPTED') fail(`good event: ${JSON.stringify(s0)}`);
    if (s1.event_id !== bad.event_id || s1.outcome !== 'REJECTED' || !s1.reason.includes('product_id')) {
      fail(`bad event: ${JSON.stringify(s1)}`);
    }
    if (!tracked.sessions_updated) fail('sessions_updated is false');
    const again = expectOk(await unary(rec, 'Track', { events: [good] }), 'Track retry');
    if (again.statuses[0].outcome !== 'DUPLICATE') fail(`retry: ${JSON.stringify(again.statuses)}`);

    const after = expectOk(await unary(rec, 'Recommend', { session_id: session, k: 5 }), 'anonymous after Track');
    checkAnswer(after, 5, 'anonymous after Track');
    if (after.source !== 'SOURCE_SESSION') fail(`after Track source ${after.source}`);
    if (ids(after).includes(viewed)) fail(`${viewed} was just viewed and is offered again: ${ids(after)}`);
    return { viewed, before: ids(before), after: ids(after), rejected_reason: s1.reason };
  },

  async similar_items({ rec }) {
    const res = expectOk(await unary(rec, 'SimilarItems', { product_ids: ['P003'], k: 3 }), 'SimilarItems');
    checkAnswer(res, 3, 'SimilarItems');
    if (ids(res).includes('P003')) fail(`the product itself is offered: ${ids(res)}`);
    return { source: res.source, items: ids(res) };
  },

  async segment_resume({ seg }) {
    const full = await readSegment(seg, { name: 'high_value', page_size: 50 });
    if (full.error) fail(`full read: ${full.error}`);
    const users = full.members.map((m) => m.user_id);
    if (new Set(users).size !== users.length) fail('full read has duplicates');
    if (users.join() !== [...users].sort().join()) fail('full read is not in user id order');
    // Stop part-way (the client cancels, as a BFF whose page was closed would), then
    // resume after the last member received.
    const part = await readSegment(seg, { name: 'high_value', page_size: 50 }, 70);
    if (part.members.length !== 70) fail(`partial read got ${part.members.length}`);
    const token = part.members[part.members.length - 1].resume_token;
    const rest = await readSegment(seg, { name: 'high_value', page_size: 50, resume_token: token });
    if (rest.error) fail(`resumed read: ${rest.error}`);
    const joined = [...part.members, ...rest.members].map((m) => m.user_id);
    if (new Set(joined).size !== joined.length) fail('resumed read repeats members');
    if (joined.join() !== users.join()) fail(`partial + resumed (${joined.length}) != full read (${users.length})`);
    const generations = new Set(full.members.map((m) => m.generation));
    if (generations.size !== 1 || !generations.has(config.generation)) fail(`generations ${[...generations]}`);
    return { full: users.length, first_part: part.members.length, resumed: rest.members.length,
      cancelled_with: part.error };
  },

  async segment_unauthenticated({ seg }) {
    const res = await readSegment(seg, { name: 'high_value' }, 0, '');
    if (res.code !== Status.UNAUTHENTICATED) fail(`no token: ${res.error || 'succeeded'}`);
    const wrong = await readSegment(seg, { name: 'high_value' }, 0, 'not-the-token');
    if (wrong.code !== Status.UNAUTHENTICATED) fail(`wrong token: ${wrong.error || 'succeeded'}`);
    return { details: res.details };
  },

  async recommend_unauthenticated({ rec }) {
    if (!config.recommend_token) return { skipped: 'the server does not close Recommender' };
    const err = expectError(await unary(rec, 'Recommend', { user_id: 'u0001' }, { token: '' }),
      Status.UNAUTHENTICATED, 'Recommend without token');
    return { details: err.details };
  },

  // A deadline the server cannot meet: 240 members read one store page at a time. (A
  // tiny deadline on Recommend is no test: a memoised answer takes under 1 ms.)
  async deadline_exceeded({ rec, seg }) {
    const stream = await readSegment(seg, { name: 'high_value', page_size: 1 }, 0, config.token, 1);
    if (stream.code !== Status.DEADLINE_EXCEEDED) fail(`Segment with a 1 ms deadline: ${stream.error || 'completed'}`);
    const past = expectError(await unary(rec, 'Recommend', { user_id: 'u0003' }, { timeoutMs: -1000 }),
      Status.DEADLINE_EXCEEDED, 'Recommend with a deadline already passed');
    expectOk(await unary(rec, 'Recommend', { user_id: 'u0003' }), 'Recommend after them');
    return { segment: stream.details, segment_members: stream.members.length, recommend: past.details };
  },

  async invalid_argument({ rec }) {
    const cases = [
      [{ user_id: 'u0001', k: 101 }, 'k'],
      [{ k: 3 }, 'user_id'],
      [{ user_id: 'x'.repeat(129) }, 'user_id'],
      [{ user_id: 'u0001', context: { exclude_product_ids: Array(101).fill('P001') } }, 'exclude_product_ids'],
    ];
    const seen = [];
    for (const [request, field] of cases) {
      const err = expectError(await unary(rec, 'Recommend', request), Status.INVALID_ARGUMENT,
        `Recommend ${JSON.stringify(request).slice(0, 60)}`);
      if (!err.details.includes(`${field}:`)) fail(`message does not name ${field}: ${err.details}`);
      seen.push(err.details);
    }
    const track = expectError(await unary(rec, 'Track', { events: [] }), Status.INVALID_ARGUMENT, 'empty Track');
    if (!track.details.includes('events:')) fail(`empty Track message: ${track.details}`);
    return { details: [...seen, track.details] };
  },
};

// Reads a Segment stream; with stopAfter > 0 cancels the call once that many members
// arrived. -> {members, error, code, details}
function readSegment(seg, request, stopAfter = 0, token = config.token, timeoutMs = 20000) {
  return new Promise((resolve) => {
    const members = [];
    let stopped = false;
    const call = seg.Segment(request, metadata(token), { deadline: deadline(timeoutMs) });
    call.on('data', (m) => {
      if (stopped) return;
      members.push(m);
      if (stopAfter && members.length >= stopAfter) {
        stopped = true;
        call.cancel();
      }
    });
    call.on('error', (e) => resolve({ members, error: `${codeName(e.code)} ${e.details}`,
      code: e.code, details: e.details }));
    call.on('end', () => resolve({ members, code: Status.OK }));
  });
}

// n Recommend calls started in one go on one client (one channel, one connection):
// a BFF rendering many pages at once. Counts outcomes by status code and details.
async function burst(rec, n, connected) {
  if (connected) {
    await new Promise((resolve, reject) => rec.waitForReady(deadline(10000), (e) => (e ? reject(e) : resolve())));
  }
  const started = Date.now();
  const calls = [];
  for (let i = 0; i < n; i += 1) {
    const request = { user_id: `u${String(i % 150).padStart(4, '0')}`, k: 10 };
    calls.push(unary(rec, 'Recommend', request, { timeoutMs: config.burst_deadline_s * 1000 }));
  }
  const results = await Promise.all(calls);
  const outcomes = {};
  let failed = 0;
  for (const { err } of results) {
    const key = err ? `${codeName(err.code)}: ${err.details}` : 'OK';
    outcomes[key] = (outcomes[key] || 0) + 1;
    if (err) failed += 1;
  }
  return { calls: n, failed, outcomes, seconds: (Date.now() - started) / 1000 };
}

async function main() {
  const shared = clients();
  for (const name of config.checks) {
    const started = Date.now();
    try {
      const detail = await checks[name](shared);
      emit({ check: name, ok: true, ms: Date.now() - started, ...detail });
    } catch (e) {
      emit({ check: name, ok: false, ms: Date.now() - started, error: e.message });
    }
  }
  for (const { name, calls, cold } of config.bursts || []) {
    // cold: a new client whose calls all start before it has connected (a BFF instance
    // starting under load); else the shared client, connected and already used.
    const own = cold ? clients() : shared;
    try {
      const result = await burst(own.rec, calls, !cold);
      emit({ check: name, ok: result.failed === 0, ...result });
    } catch (e) {
      emit({ check: name, ok: false, error: e.message });
    }
    if (own !== shared) own.rec.close();
  }
  shared.rec.close();
  shared.seg.close();
}

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(2);
});

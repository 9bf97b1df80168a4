/**
 * The web apps' benchmark, in Debian's Chromium (playwright-core):
 *
 * - **Console overview, time to first chart** with 30 days of metrics (five providers, an
 *   hour row per series and hour for 28 days, a minute row per series and minute for the
 *   last two, as retention keeps them), from navigation to the first chart drawn with data
 *   (the page's `gatehouse:first-chart` mark), signed in, cold cache. Beside it, the
 *   ceiling: the same five series requests the overview makes, sent by `fetch` from the
 *   page with the same token (the data alone, no page, no drawing). Target ≤ 1 s.
 * - **PWA first render** (first contentful paint of `/app/`) and each app's JavaScript,
 *   gzipped, against the 150 kB budget; unthrottled and as Lighthouse's mobile preset
 *   throttles (4× CPU slowdown, 150 ms round trips, 1.6 Mbit/s down).
 *
 *   npm run bench:console                    # Postgres at 127.0.0.1:5432, 5 rounds
 *   npm run bench:console -- --rounds 10
 *   npm run bench:console -- --detail true   # the last round's requests, start → end
 *   BENCH_DATABASE_URL=postgres://... npm run bench:console
 *
 * The server is `gatehouse start` (what `npm start` runs) on a fresh database.
 */
import postgres from 'postgres';
import type { Page } from 'playwright-core';
import { launchChromium } from '../tests/support/chromium.ts';
import { removeDataDir, startFaultServer } from '../tests/faults/support/server.ts';
import { LATENCY_BUCKETS } from '../functions/_shared/metrics/catalog.ts';
import { JS_BUDGET_BYTES, jsSizes } from '../web/build.mjs';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const ROUNDS = Number(args.get('--rounds') ?? 5);
const TARGET_MS = 1_000;
/** `--detail true`: print the last round's request timeline. */
const DETAIL = args.get('--detail') === 'true';
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const PROVIDERS = ['whatsapp', 'stripe', 'paypal', 'ussd', 'standard:github'];
const EMAIL = 'bench-admin@example.com';
const PASSWORD = 'bench console password';

const name = `gh_bench_console_${Deno.pid}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database ${name}`);
const url = new URL(ADMIN_URL);
url.pathname = `/${name}`;
// `gatehouse start` as `npm start` runs it (the web build included), ready before it resolves.
const server = await startFaultServer({ databaseUrl: url.toString() });
const base = server.base;

/** 30 days of metrics: hour rows up to two days ago, minute rows since. */
async function seed(sql: postgres.Sql): Promise<number> {
  const bounds = `{${LATENCY_BUCKETS.join(',')}}`;
  const zeros = LATENCY_BUCKETS.map(() => 0);
  const counts = `{${
    [...zeros.slice(0, 3).map(() => 40), ...zeros.slice(3).map(() => 2), 0].join(',')
  }}`;
  const rows = [] as number[];
  for (
    const [width, from, to, step] of [
      ['1 hour', '30 days', '2 days', '1 hour'],
      ['1 minute', '2 days', '0 minutes', '1 minute'],
    ] as const
  ) {
    const series = `generate_series(date_trunc('hour', now() - interval '${from}'),
                                    now() - interval '${to}', interval '${step}')`;
    const [{ n }] = await sql.unsafe<[{ n: number }]>(
      `with ins as (
         insert into system_metrics (name, labels, bucket, width, kind, value, count)
         select 'gatehouse_webhook_requests_total', jsonb_build_object('provider', p), b,
                interval '${width}', 'counter', 10 + (random() * 20)::int, 0
           from unnest($1::text[]) p, ${series} b
         union all
         select 'gatehouse_webhook_rejected_total', jsonb_build_object('provider', p, 'reason', 'signature'),
                b, interval '${width}', 'counter', (random() * 2)::int, 0
           from unnest($1::text[]) p, ${series} b
         union all
         select 'gatehouse_jobs_total', jsonb_build_object('kind', 'stripe.event', 'outcome', 'dead'), b,
                interval '${width}', 'counter', (random() < 0.1)::int, 0
           from ${series} b
         union all
         select 'gatehouse_http_requests_total',
                jsonb_build_object('function', 'webhooks', 'route', '/webhooks/stripe', 'method', 'POST',
                                   'status', s), b, interval '${width}', 'counter',
                case s when '200' then 100 else (random() * 3)::int end, 0
           from unnest(array['200', '401', '503']) s, ${series} b
         returning 1)
       select count(*)::int as n from ins`,
      [PROVIDERS],
    );
    const [{ n: h }] = await sql.unsafe<[{ n: number }]>(
      `with ins as (
         insert into system_metrics (name, labels, bucket, width, kind, value, count, bounds, counts)
         select 'gatehouse_http_request_duration_seconds',
                jsonb_build_object('function', 'webhooks', 'route', '/webhooks/' || p), b,
                interval '${width}', 'histogram', 1.5, 130, $2::float8[], $3::int8[]
           from unnest($1::text[]) p, ${series} b
         returning 1)
       select count(*)::int as n from ins`,
      [PROVIDERS, bounds, counts],
    );
    rows.push(n, h);
  }
  return rows.reduce((a, b) => a + b, 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const LIGHTHOUSE_MOBILE = {
  latency: 150,
  downloadThroughput: (1.6 * 1024 * 1024) / 8,
  uploadThroughput: (750 * 1024) / 8,
};

async function throttle(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, ...LIGHTHOUSE_MOBILE });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
}

const browser = await launchChromium();
try {
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const seeded = await seed(sql);
  const config = await (await fetch(`${base}/config.json`)).json() as { supabase_anon_key: string };
  const signup = await fetch(`${base}/auth/v1/signup`, {
    method: 'POST',
    headers: { apikey: config.supabase_anon_key, 'content-type': 'application/json' },
    body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
  });
  const { user } = await signup.json() as { user: { id: string } };
  await sql`update auth.users set raw_app_meta_data = raw_app_meta_data || '{"role":"admin"}'
             where id = ${user.id}`;
  await sql.end();

  // Signed in once; every round starts from that session in a fresh context (cold cache).
  const login = await browser.newContext();
  const loginPage = await login.newPage();
  await loginPage.goto(`${base}/`);
  await loginPage.getByLabel('Email').fill(EMAIL);
  await loginPage.getByLabel('Password').fill(PASSWORD);
  await loginPage.getByRole('button', { name: 'Sign in' }).click();
  await loginPage.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  const state = await login.storageState();
  await login.close();

  console.log(`30 days of metrics: ${seeded} rows in system_metrics; ${ROUNDS} rounds each\n`);
  const firstChart: number[] = [];
  const dataAlone: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const context = await browser.newContext({ storageState: state });
    const page = await context.newPage();
    await page.goto(`${base}/#/overview/30d`);
    await page.locator('figure[data-lines*="stripe"] canvas').first().waitFor();
    if (DETAIL && round === ROUNDS - 1) {
      // Where the time went: each request's start and end, and the page's marks.
      const timeline = await page.evaluate(() =>
        [
          ...performance.getEntriesByType('resource').map((entry) => ({
            what: entry.name.replace(location.origin, '').replace(/\?.*name=([a-z_]+).*/, ' $1'),
            start: entry.startTime,
            end: (entry as PerformanceEntry & { responseEnd: number }).responseEnd,
          })),
          ...performance.getEntriesByType('mark').map((entry) => ({
            what: entry.name,
            start: entry.startTime,
            end: entry.startTime,
          })),
        ].sort((a, b) => a.start - b.start)
      );
      for (const entry of timeline) {
        console.log(
          `${entry.start.toFixed(0).padStart(6)} → ${
            entry.end.toFixed(0).padStart(6)
          } ms  ${entry.what}`,
        );
      }
      console.log();
    }
    firstChart.push(
      await page.evaluate(() =>
        performance.getEntriesByName('gatehouse:first-chart')[0]!.startTime
      ),
    );
    dataAlone.push(
      await page.evaluate(async () => {
        const key = Object.keys(localStorage).find((k) => k === 'gatehouse-console')!;
        const token = JSON.parse(localStorage.getItem(key)!).access_token as string;
        const until = new Date().toISOString();
        const since = new Date(Date.now() - 30 * 86_400_000).toISOString();
        const names = [
          ['gatehouse_webhook_requests_total', 'group_by=provider'],
          ['gatehouse_http_request_duration_seconds', 'label=function%3Dwebhooks'],
          ['gatehouse_webhook_rejected_total', ''],
          ['gatehouse_jobs_total', 'label=outcome%3Ddead'],
          ['gatehouse_http_requests_total', 'group_by=status'],
        ];
        const started = performance.now();
        await Promise.all(names.map(([name, extra]) =>
          fetch(
            `/functions/v1/admin/metrics/series?name=${name}&since=${since}&until=${until}&step=21600&${extra}`,
            { headers: { Authorization: `Bearer ${token}` } },
          ).then((res) => res.json())
        ));
        return performance.now() - started;
      }),
    );
    await context.close();
  }
  const subject = median(firstChart);
  const ceiling = median(dataAlone);
  console.log('| measure | median ms | rounds ms |');
  console.log('|---|---:|---|');
  console.log(
    `| console: navigation → first chart, 30 days | ${subject.toFixed(0)} | ${
      firstChart.map((v) => v.toFixed(0)).join(', ')
    } |`,
  );
  console.log(
    `| ceiling: the five series requests alone | ${ceiling.toFixed(0)} | ${
      dataAlone.map((v) => v.toFixed(0)).join(', ')
    } |`,
  );
  console.log(`\nfirst chart / data alone: ${(subject / ceiling).toFixed(2)}x`);
  console.log(
    `target: first chart ≤ ${TARGET_MS} ms: ${subject <= TARGET_MS ? 'met' : 'NOT met'}\n`,
  );

  const paints: Record<string, number[]> = { plain: [], mobile: [] };
  for (const mode of ['plain', 'mobile'] as const) {
    for (let round = 0; round < ROUNDS; round += 1) {
      const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
      const page = await context.newPage();
      if (mode === 'mobile') await throttle(page);
      await page.goto(`${base}/app/`);
      await page.locator('#root :is(h1, form)').first().waitFor();
      paints[mode]!.push(
        await page.evaluate(() =>
          new Promise<number>((resolve) => {
            const seen = performance.getEntriesByName('first-contentful-paint')[0];
            if (seen) return resolve(seen.startTime);
            new PerformanceObserver((list) => resolve(list.getEntries()[0]!.startTime))
              .observe({ type: 'paint', buffered: true });
          })
        ),
      );
      await context.close();
    }
  }
  console.log('| PWA `/app/` first contentful paint | median ms | rounds ms |');
  console.log('|---|---:|---|');
  for (const [mode, values] of Object.entries(paints)) {
    const label = mode === 'plain'
      ? 'unthrottled'
      : 'Lighthouse mobile (4x CPU, 150 ms RTT, 1.6 Mbit/s)';
    console.log(
      `| ${label} | ${median(values).toFixed(0)} | ${values.map((v) => v.toFixed(0)).join(', ')} |`,
    );
  }
  console.log('\n| app | JavaScript gzipped | raw | budget |');
  console.log('|---|---:|---:|---|');
  for (const [app, size] of Object.entries(await jsSizes())) {
    const fits = size.gzip <= JS_BUDGET_BYTES;
    console.log(
      `| ${app} | ${(size.gzip / 1024).toFixed(1)} kB | ${(size.raw / 1024).toFixed(1)} kB | ` +
        `${(JS_BUDGET_BYTES / 1024).toFixed(0)} kB: ${fits ? 'met' : 'NOT met'} |`,
    );
  }
} finally {
  await browser.close();
  await server.stop();
  await removeDataDir(server.dataDir);
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
}

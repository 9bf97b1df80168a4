import postgres from 'postgres';

/**
 * Runs once per `vitest` invocation. Against a real Postgres it removes databases left
 * behind by an earlier run that was killed before its files could drop their own.
 */
export default async function setup(): Promise<void> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) return;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`select 1`;
    const stale = await admin<{ datname: string }[]>`
      select datname from pg_database
      where datname like 'gh\_test\_%'
        and not exists (select 1 from pg_stat_activity a where a.datname = pg_database.datname)`;
    for (const { datname } of stale) {
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
  } catch (error) {
    throw new Error(
      `TEST_DATABASE_URL is set but that Postgres cannot be used: ${(error as Error).message}`,
    );
  } finally {
    await admin.end();
  }
}

import { describe, expect, it, vi } from 'vitest';
import { createLogger, isLogLevel, type LogLevel } from './logger.ts';

function captured(level: LogLevel = 'debug') {
  const lines: Array<{ line: string; level: LogLevel }> = [];
  const logger = createLogger({
    level,
    sink: (line, lineLevel) => lines.push({ line, level: lineLevel }),
  });
  return { logger, lines, records: () => lines.map(({ line }) => JSON.parse(line)) };
}

describe('createLogger', () => {
  it('writes one JSON line per call with time, level, msg, base and fields', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      base: { service: 'gatehouse' },
      sink: (l) => lines.push(l),
    });
    logger.info('started', { port: 54321 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const record = JSON.parse(lines[0]!);
    expect(Object.keys(record)).toEqual(['time', 'level', 'msg', 'service', 'port']);
    expect(record).toMatchObject({
      level: 'info',
      msg: 'started',
      service: 'gatehouse',
      port: 54321,
    });
    expect(new Date(record.time).toISOString()).toBe(record.time);
  });

  it('stamps each line with the clock as it is written, to the millisecond', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { logger, records } = captured();
      vi.setSystemTime(new Date('2026-01-01T00:00:00.000Z'));
      logger.info('a');
      logger.info('b');
      vi.setSystemTime(new Date('2026-01-01T00:00:00.001Z'));
      logger.info('c');
      vi.setSystemTime(new Date('2026-03-04T05:06:07.890Z'));
      logger.child({ request_id: 'r' }).info('d');
      expect(records().map((record) => record.time)).toEqual([
        '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:00:00.001Z',
        '2026-03-04T05:06:07.890Z',
      ]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('drops lines below its level', () => {
    const { logger, records } = captured('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(['warn', 'error']);
  });

  it('child loggers add fields without touching the parent; fields cannot overwrite msg', () => {
    const { logger, records } = captured();
    const child = logger.child({ request_id: 'r1' }).child({ function: 'health' });
    child.info('hello', { msg: 'spoofed', level: 'error' });
    logger.info('parent');
    const [first, second] = records();
    expect(first).toMatchObject({
      msg: 'hello',
      level: 'info',
      request_id: 'r1',
      function: 'health',
    });
    expect(second).not.toHaveProperty('request_id');
  });

  it('serialises errors and redacts secrets in the message and nested fields', () => {
    const { logger, lines, records } = captured();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl';
    logger.error(`query failed on postgres://app:hunter2@db:5432/app with ${jwt}`, {
      request: { headers: { Authorization: `Bearer ${jwt}`, accept: '*/*' } },
      context: { dsn: 'postgres://user:pass@host/db', notes: [`token ${jwt}`] },
      error: new Error('boom'),
    });
    expect(lines[0]!.line).not.toContain('hunter2');
    expect(lines[0]!.line).not.toContain(jwt);
    expect(lines[0]!.line).not.toContain(':pass@');
    const [record] = records();
    expect(record.msg).toBe(
      'query failed on postgres://app:[REDACTED]@db:5432/app with [REDACTED]',
    );
    expect(record.request.headers).toEqual({ Authorization: '[REDACTED]', accept: '*/*' });
    expect(record.context).toEqual({
      dsn: 'postgres://user:[REDACTED]@host/db',
      notes: ['token [REDACTED]'],
    });
    expect(record.error).toMatchObject({ name: 'Error', message: 'boom' });
    expect(record.error.stack).toContain('logger.test.ts');
  });

  it('routes debug/info to stdout and warn/error to stderr by default', () => {
    const out = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const logger = createLogger({ level: 'debug' });
      logger.debug('a');
      logger.info('b');
      logger.warn('c');
      logger.error('d');
      expect(out.mock.calls.map(([line]) => JSON.parse(String(line)).msg)).toEqual(['a', 'b']);
      expect(err.mock.calls.map(([line]) => JSON.parse(String(line)).msg)).toEqual(['c', 'd']);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('never throws into the caller', () => {
    const { logger, records } = captured();
    const hostile = {
      toJSON: () => {
        throw new Error('nope');
      },
    };
    expect(() => logger.info('still written', { hostile })).not.toThrow();
    expect(records()[0]).toMatchObject({
      msg: 'still written',
      log_error: 'fields could not be serialised',
    });
    const failing = createLogger({
      level: 'info',
      sink: () => {
        throw new Error('disk full');
      },
    });
    expect(() => failing.info('x')).not.toThrow();
  });

  it('rejects an unknown level', () => {
    expect(() => createLogger({ level: 'verbose' as LogLevel })).toThrow(
      /debug, info, warn, error/,
    );
    expect(isLogLevel('warn')).toBe(true);
    expect(isLogLevel('WARN')).toBe(false);
    expect(isLogLevel(undefined)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { signatureFailure } from '../../../../tests/support/webhooks/index.ts';
import type { SignatureFailure } from '../types.ts';
import {
  createUssdGate,
  parseUssdForm,
  USSD_SERVICE_CODE_MAX_CHARS,
  USSD_SESSION_ID_MAX_CHARS,
  USSD_TEXT_MAX_CHARS,
  UssdFormError,
  UssdGateError,
} from './callback.ts';

async function expectReason(check: () => void, reason: SignatureFailure) {
  expect(await signatureFailure(check)).toBe(reason);
}

describe('createUssdGate', () => {
  it('refuses every callback when neither tokens nor addresses are configured', async () => {
    const gate = createUssdGate({ pathTokens: [], allowedIps: [] });
    await expectReason(() => gate.check('anything', '196.201.214.10'), 'no_secret_configured');
    // Empty strings are not a configuration either.
    const blank = createUssdGate({ pathTokens: [''], allowedIps: [] });
    await expectReason(() => blank.check('', '196.201.214.10'), 'no_secret_configured');
  });

  describe('path token', () => {
    const gate = createUssdGate({ pathTokens: ['old-token-1', 'new-token-2'], allowedIps: [] });

    it('admits any configured token (rotation)', () => {
      expect(() => gate.check('old-token-1', undefined)).not.toThrow();
      expect(() => gate.check('new-token-2', undefined)).not.toThrow();
    });

    it('refuses a missing token as missing and a wrong one as a mismatch', async () => {
      await expectReason(() => gate.check(undefined, '196.201.214.10'), 'missing_header');
      await expectReason(() => gate.check('', '196.201.214.10'), 'missing_header');
      await expectReason(() => gate.check('new-token-3', undefined), 'signature_mismatch');
      await expectReason(() => gate.check('new-token-2x', undefined), 'signature_mismatch');
      await expectReason(() => gate.check('new-token', undefined), 'signature_mismatch');
    });
  });

  describe('client address', () => {
    const gate = createUssdGate({
      pathTokens: [],
      allowedIps: ['196.201.214.0/24', '41.90.1.7', '2001:DB8::10'],
    });

    it.each([
      '196.201.214.0',
      '196.201.214.200',
      '196.201.214.255',
      '41.90.1.7',
      '::ffff:196.201.214.9',
    ])(
      'admits %s',
      (ip) => expect(() => gate.check(undefined, ip)).not.toThrow(),
    );

    it('admits an IPv6 address however it is spelled', () => {
      expect(() => gate.check(undefined, '2001:db8:0:0:0:0:0:10')).not.toThrow();
      expect(() => gate.check(undefined, '2001:db8::10')).not.toThrow();
    });

    it.each([
      '196.201.215.1',
      '196.201.213.255',
      '41.90.1.8',
      '41.90.1.70',
      '2001:db8::11',
      'not-an-ip',
      '196.201.214',
    ])(
      'refuses %s',
      (ip) => expectReason(() => gate.check(undefined, ip), 'signature_mismatch'),
    );

    it('refuses a callback whose address is unknown', async () => {
      await expectReason(() => gate.check(undefined, undefined), 'missing_header');
    });

    it('reads /0 as every IPv4 address and /32 as one', async () => {
      const any = createUssdGate({ pathTokens: [], allowedIps: ['0.0.0.0/0'] });
      expect(() => any.check(undefined, '8.8.8.8')).not.toThrow();
      const one = createUssdGate({ pathTokens: [], allowedIps: ['10.0.0.1/32'] });
      expect(() => one.check(undefined, '10.0.0.1')).not.toThrow();
      await expectReason(() => one.check(undefined, '10.0.0.2'), 'signature_mismatch');
    });

    it.each([
      '196.201.214.0/33',
      '196.201.214.0/',
      '300.1.1.1',
      '010.1.1.1',
      'example.com',
      '2001:db8::/32',
    ])(
      'refuses to configure %j',
      (entry) => {
        expect(() => createUssdGate({ pathTokens: [], allowedIps: [entry] })).toThrow(TypeError);
      },
    );
  });

  it('refuses a path token when none is configured: the token route does not exist', async () => {
    const gate = createUssdGate({ pathTokens: [], allowedIps: ['196.201.214.0/24'] });
    expect(() => gate.check(undefined, '196.201.214.5')).not.toThrow();
    await expectReason(() => gate.check('anything', '196.201.214.5'), 'signature_mismatch');
  });

  it('says which check refused, so the route can answer 401, 403 or 404', () => {
    const part = (check: () => void) => {
      try {
        check();
      } catch (error) {
        expect(error).toBeInstanceOf(UssdGateError);
        return (error as UssdGateError).part;
      }
      throw new Error('expected a refusal');
    };
    const none = createUssdGate({ pathTokens: [], allowedIps: [] });
    expect(part(() => none.check('x', '10.0.0.1'))).toBe('configuration');
    const both = createUssdGate({ pathTokens: ['token'], allowedIps: ['10.0.0.0/8'] });
    expect(part(() => both.check(undefined, '10.0.0.1'))).toBe('path_token');
    expect(part(() => both.check('wrong', '10.0.0.1'))).toBe('path_token');
    expect(part(() => both.check('token', '11.0.0.1'))).toBe('client_ip');
    expect(part(() => both.check('token', undefined))).toBe('client_ip');
  });

  it('requires both the token and the address when both are configured', async () => {
    const gate = createUssdGate({ pathTokens: ['token'], allowedIps: ['196.201.214.0/24'] });
    expect(() => gate.check('token', '196.201.214.5')).not.toThrow();
    await expectReason(() => gate.check('token', '10.0.0.1'), 'signature_mismatch');
    await expectReason(() => gate.check('wrong', '196.201.214.5'), 'signature_mismatch');
  });
});

describe('parseUssdForm', () => {
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const valid = {
    sessionId: 'ATUid_0a1b2c3d',
    serviceCode: '*384*1234#',
    phoneNumber: '+254711000111',
    networkCode: '63902',
    text: '1*2',
  };

  it('reads the Africa’s Talking callback fields', () => {
    expect(parseUssdForm(form(valid))).toEqual(valid);
    expect(parseUssdForm(
      'sessionId=ATUid_1&serviceCode=*384*1%23&phoneNumber=%2B254711000111&networkCode=99999&text=',
    )).toEqual({
      sessionId: 'ATUid_1',
      serviceCode: '*384*1#',
      phoneNumber: '+254711000111',
      networkCode: '99999',
      text: '',
    });
  });

  it('takes a text up to its limit, in any script', () => {
    const text = `1*${'Ngong Rd 🚗 é'.repeat(100)}`.slice(0, USSD_TEXT_MAX_CHARS);
    expect(parseUssdForm(form({ ...valid, text })).text).toBe(text);
  });

  it('ignores fields it does not know', () => {
    expect(parseUssdForm(`${form(valid)}&extra=1`)).toEqual(valid);
  });

  it.each([
    ['sessionId', { sessionId: '' }, 'must not be empty'],
    ['serviceCode', { serviceCode: '' }, 'must not be empty'],
    ['networkCode', { networkCode: '' }, 'must not be empty'],
    ['phoneNumber', { phoneNumber: '254711000111' }, 'must be + followed by 7 to 15 digits'],
    ['phoneNumber', { phoneNumber: '+25471100011a' }, 'must be + followed by 7 to 15 digits'],
    ['phoneNumber', { phoneNumber: '+2547110001112345' }, 'must be + followed by 7 to 15 digits'],
    [
      'sessionId',
      { sessionId: 'A'.repeat(USSD_SESSION_ID_MAX_CHARS + 1) },
      'must be at most 128 characters',
    ],
    [
      'sessionId',
      { sessionId: 'ATUid 1' },
      'must be visible ASCII (no spaces or control characters)',
    ],
    // Too long and not ASCII: one issue for the field, the first it failed.
    ['sessionId', { sessionId: 'é'.repeat(200) }, 'must be at most 128 characters'],
    [
      'serviceCode',
      { serviceCode: '*'.repeat(USSD_SERVICE_CODE_MAX_CHARS + 1) },
      'must be at most 64 characters',
    ],
    [
      'networkCode',
      { networkCode: '639\u000002' },
      'must be visible ASCII (no spaces or control characters)',
    ],
    ['text', { text: 'x'.repeat(USSD_TEXT_MAX_CHARS + 1) }, 'must be at most 512 characters'],
    ['text', { text: '1*Main\u0000St' }, 'must not contain control characters'],
    ['text', { text: '1*Main\nSt' }, 'must not contain control characters'],
  ])('refuses a bad %s', (field, override, message) => {
    expect(() => parseUssdForm(form({ ...valid, ...override }))).toThrow(
      expect.objectContaining({ issues: [{ field, message }] }),
    );
  });

  it('names every missing field, text included', () => {
    const error = captured(() => parseUssdForm(''));
    expect(error).toBeInstanceOf(UssdFormError);
    expect((error as UssdFormError).issues).toEqual(
      ['sessionId', 'serviceCode', 'phoneNumber', 'networkCode', 'text'].map((field) => ({
        field,
        message: 'is required',
      })),
    );
  });

  it('refuses a field given twice', () => {
    expect(() => parseUssdForm(`${form(valid)}&phoneNumber=%2B254700000000`)).toThrow(
      expect.objectContaining({ issues: [{ field: 'phoneNumber', message: 'must appear once' }] }),
    );
  });
});

function captured(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

import { describe, expect, it } from 'vitest';
import {
  answerUssd,
  dynamic,
  end,
  excerpt,
  input,
  menu,
  renderUssdReply,
  USSD_SCREEN_MAX_CHARS,
  ussdInputs,
} from '../_shared/webhooks/ussd/menu.ts';
import { mobilityMenu } from './ussd-menu.ts';

const MAIN = 'Gatehouse Mobility\n1. Request a ride\n2. My rides\n3. Pay with QR code\n0. Exit';
const PICKUP = 'Where should the driver pick you up?\n0. Back  00. Home';

describe('answerUssd with the mobility menu', () => {
  it('shows the main menu at the start of a session', async () => {
    expect(await answerUssd(mobilityMenu, '')).toEqual({ kind: 'CON', text: MAIN, action: null });
    expect(renderUssdReply(await answerUssd(mobilityMenu, ''))).toBe(`CON ${MAIN}`);
  });

  it('asks for the pickup, then ends the session with a ride request action', async () => {
    expect(await answerUssd(mobilityMenu, '1')).toEqual({
      kind: 'CON',
      text: PICKUP,
      action: null,
    });
    expect(await answerUssd(mobilityMenu, '1*Kenyatta Ave, stage 3')).toEqual({
      kind: 'END',
      text: 'Your ride request (pickup: Kenyatta Ave, stage 3) is recorded.',
      action: { type: 'ride_request', data: { pickup: 'Kenyatta Ave, stage 3' } },
    });
  });

  it('exits on 0 at the main menu, where 0 is an option', async () => {
    expect(renderUssdReply(await answerUssd(mobilityMenu, '0'))).toBe('END Goodbye.');
  });

  it('goes back with 0 and home with 00, from questions too', async () => {
    expect((await answerUssd(mobilityMenu, '1*0')).text).toBe(MAIN);
    expect((await answerUssd(mobilityMenu, '1*00')).text).toBe(MAIN);
    expect((await answerUssd(mobilityMenu, '1*0*1*Market')).action).toEqual({
      type: 'ride_request',
      data: { pickup: 'Market' },
    });
  });

  it('repeats the screen with a notice after an invalid choice, and carries on from there', async () => {
    expect((await answerUssd(mobilityMenu, '9')).text).toBe(`Invalid choice. ${MAIN}`);
    expect((await answerUssd(mobilityMenu, '9')).kind).toBe('CON');
    expect((await answerUssd(mobilityMenu, '9*x*1')).text).toBe(PICKUP);
    expect((await answerUssd(mobilityMenu, '1* ')).text).toBe(`Please type an answer. ${PICKUP}`);
    expect((await answerUssd(mobilityMenu, '1* *Market')).action).toEqual({
      type: 'ride_request',
      data: { pickup: 'Market' },
    });
  });

  it('ignores input after the session ended', async () => {
    expect(renderUssdReply(await answerUssd(mobilityMenu, '0*1*2'))).toBe('END Goodbye.');
  });

  it('keeps every screen within what a handset shows, even for a long pickup', async () => {
    const texts = ['', '9', '1', '1* ', '1*' + 'x'.repeat(500), '0'];
    for (const text of texts) {
      expect(renderUssdReply(await answerUssd(mobilityMenu, text)).length).toBeLessThanOrEqual(
        USSD_SCREEN_MAX_CHARS,
      );
    }
  });

  it('needs the session for the screens it reads from the database', async () => {
    await expect(answerUssd(mobilityMenu, '2')).rejects.toThrow(
      'a dynamic USSD screen needs the session',
    );
  });
});

describe('building blocks', () => {
  it('splits the session text into inputs', () => {
    expect(ussdInputs('')).toEqual([]);
    expect(ussdInputs('1')).toEqual(['1']);
    expect(ussdInputs('1*Main St*')).toEqual(['1', 'Main St', '']);
  });

  it('lets an app build its own menu, with answers threaded into the action', async () => {
    const topUp = menu('Top up', [
      {
        key: '1',
        label: 'M-Pesa',
        next: input('Amount?', (amount) =>
          menu(`Top up ${amount}?`, [
            {
              key: '1',
              label: 'Yes',
              next: end(`Topping up ${amount}.`, { type: 'top_up', data: { amount } }),
            },
            { key: '2', label: 'No', next: end('Cancelled.') },
          ])),
      },
    ]);
    expect(await answerUssd(topUp, '1*50')).toEqual({
      kind: 'CON',
      text: 'Top up 50?\n1. Yes\n2. No\n0. Back  00. Home',
      action: null,
    });
    expect(await answerUssd(topUp, '1*50*1')).toEqual({
      kind: 'END',
      text: 'Topping up 50.',
      action: { type: 'top_up', data: { amount: '50' } },
    });
    expect((await answerUssd(topUp, '1*50*2')).action).toBeNull();
    // Back from the confirmation to the amount, then a different amount.
    expect((await answerUssd(topUp, '1*50*0*70*1')).action).toEqual({
      type: 'top_up',
      data: { amount: '70' },
    });
    // 0 at the root, which has no option 0, stays there.
    expect((await answerUssd(topUp, '0')).text).toBe('Top up\n1. M-Pesa');
  });

  it('builds dynamic screens from the session when they are reached', async () => {
    const seen: string[] = [];
    const root = menu('Hi', [{
      key: '1',
      label: 'Me',
      next: dynamic((session) => {
        seen.push(session.phoneNumber);
        return Promise.resolve(end(`You are ${session.phoneNumber}.`));
      }),
    }]);
    const session = { phoneNumber: '+254711000001', sessionId: 's', serviceCode: '*1#' } as const;
    expect(await answerUssd(root, '', { ...session, db: null as never })).toMatchObject({
      kind: 'CON',
    });
    expect(seen).toEqual([]);
    expect((await answerUssd(root, '1', { ...session, db: null as never })).text).toBe(
      'You are +254711000001.',
    );
    expect(seen).toEqual(['+254711000001']);
  });

  it('shortens long input by characters, not bytes', () => {
    expect(excerpt('short')).toBe('short');
    expect(excerpt('🚗'.repeat(50), 5)).toBe('🚗🚗🚗🚗…');
  });
});

import { describe, expect, it } from 'vitest';
import {
  answerUssd,
  end,
  excerpt,
  input,
  menu,
  renderUssdReply,
  USSD_SCREEN_MAX_CHARS,
  ussdInputs,
} from '../_shared/webhooks/ussd/menu.ts';
import { mobilityMenu } from './ussd-menu.ts';

const MAIN = 'Gatehouse Mobility\n1. Request a ride\n2. My vehicles / balance\n0. Exit';

describe('answerUssd with the mobility menu', () => {
  it('shows the main menu at the start of a session', () => {
    expect(answerUssd(mobilityMenu, '')).toEqual({ kind: 'CON', text: MAIN, action: null });
    expect(renderUssdReply(answerUssd(mobilityMenu, ''))).toBe(`CON ${MAIN}`);
  });

  it('asks for the pickup, then ends the session with a ride request action', () => {
    expect(answerUssd(mobilityMenu, '1')).toEqual({
      kind: 'CON',
      text: 'Where should the driver pick you up?',
      action: null,
    });
    expect(answerUssd(mobilityMenu, '1*Kenyatta Ave, stage 3')).toEqual({
      kind: 'END',
      text: 'Your ride request (pickup: Kenyatta Ave, stage 3) is recorded.',
      action: { type: 'ride_request', data: { pickup: 'Kenyatta Ave, stage 3' } },
    });
  });

  it('ends the session for vehicles / balance and for exit, with no action', () => {
    expect(answerUssd(mobilityMenu, '2')).toEqual({
      kind: 'END',
      text: 'Your vehicles and balance are shown in the app.',
      action: null,
    });
    expect(renderUssdReply(answerUssd(mobilityMenu, '0'))).toBe('END Goodbye.');
  });

  it('repeats the screen with a notice after an invalid choice, and carries on from there', () => {
    expect(answerUssd(mobilityMenu, '9').text).toBe(`Invalid choice. ${MAIN}`);
    expect(answerUssd(mobilityMenu, '9').kind).toBe('CON');
    expect(answerUssd(mobilityMenu, '9*x*1').text).toBe('Where should the driver pick you up?');
    expect(answerUssd(mobilityMenu, '1* ').text).toBe(
      'Please type an answer. Where should the driver pick you up?',
    );
    expect(answerUssd(mobilityMenu, '1* *Market').action).toEqual({
      type: 'ride_request',
      data: { pickup: 'Market' },
    });
  });

  it('ignores input after the session ended', () => {
    expect(renderUssdReply(answerUssd(mobilityMenu, '0*1*2'))).toBe('END Goodbye.');
  });

  it('keeps every screen within what a handset shows, even for a long pickup', () => {
    const texts = ['', '9', '1', '1* ', '1*' + 'x'.repeat(500), '2', '0'];
    for (const text of texts) {
      expect(renderUssdReply(answerUssd(mobilityMenu, text)).length).toBeLessThanOrEqual(
        USSD_SCREEN_MAX_CHARS,
      );
    }
  });
});

describe('building blocks', () => {
  it('splits the session text into inputs', () => {
    expect(ussdInputs('')).toEqual([]);
    expect(ussdInputs('1')).toEqual(['1']);
    expect(ussdInputs('1*Main St*')).toEqual(['1', 'Main St', '']);
  });

  it('lets an app build its own menu, with answers threaded into the action', () => {
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
    expect(answerUssd(topUp, '1*50')).toEqual({
      kind: 'CON',
      text: 'Top up 50?\n1. Yes\n2. No',
      action: null,
    });
    expect(answerUssd(topUp, '1*50*1')).toEqual({
      kind: 'END',
      text: 'Topping up 50.',
      action: { type: 'top_up', data: { amount: '50' } },
    });
    expect(answerUssd(topUp, '1*50*2').action).toBeNull();
  });

  it('shortens long input by characters, not bytes', () => {
    expect(excerpt('short')).toBe('short');
    expect(excerpt('🚗'.repeat(50), 5)).toBe('🚗🚗🚗🚗…');
  });
});

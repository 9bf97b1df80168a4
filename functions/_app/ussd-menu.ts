import { end, excerpt, input, menu, type UssdNode } from '../_shared/webhooks/ussd/menu.ts';

/** The USSD action the menu records: the job kind `ussd.ride_request`. */
export const RIDE_REQUEST = 'ride_request';

/**
 * The mobility hub's USSD menu: request a ride (recorded as a `ride_request` action),
 * vehicles and balance, exit. Built from the platform's `menu`, `input` and `end`.
 */
export const mobilityMenu: UssdNode = menu('Gatehouse Mobility', [
  {
    key: '1',
    label: 'Request a ride',
    next: input(
      'Where should the driver pick you up?',
      (pickup) =>
        end(`Your ride request (pickup: ${excerpt(pickup)}) is recorded.`, {
          type: RIDE_REQUEST,
          data: { pickup },
        }),
    ),
  },
  {
    key: '2',
    label: 'My vehicles / balance',
    next: end('Your vehicles and balance are shown in the app.'),
  },
  { key: '0', label: 'Exit', next: end('Goodbye.') },
]);

import { ApiError } from '../shared/api.ts';
import { h, when } from '../shared/dom.ts';
import { newKey, type Vehicle } from './api.ts';
import type { View } from './context.ts';
import { field, pagedList, submitting } from './ui.ts';

function vehicleItem(vehicle: Vehicle): HTMLLIElement {
  const about = [vehicle.color, vehicle.make, vehicle.model].filter(Boolean).join(' ');
  return h(
    'li',
    { class: 'vehicle', tabindex: '-1', 'data-id': vehicle.id },
    h(
      'p',
      { class: 'route' },
      h('span', { class: 'plate' }, vehicle.plate),
      about ? ` ${about}` : '',
    ),
    h(
      'p',
      { class: 'meta' },
      h(
        'span',
        { class: `badge ${vehicle.status}` },
        vehicle.status === 'active' ? 'Active' : 'Inactive',
      ),
      vehicle.seats ? ` · ${vehicle.seats} seats` : '',
      ' · added ',
      h('time', { datetime: vehicle.created_at }, when(vehicle.created_at)),
    ),
  );
}

const text = (name: string, extra: Record<string, unknown> = {}) =>
  h('input', { id: `vehicle-${name}`, name, type: 'text', maxLength: 60, ...extra });

/** My vehicles: the list, and a form to register one. */
export const vehiclesView: View = (ctx, main) => {
  const notice = h('p', { class: 'notice', role: 'status' });
  const listBox = h('div', { class: 'list' });
  const list = pagedList<Vehicle>(ctx, listBox, {
    path: '/vehicles',
    label: 'Your vehicles',
    noun: 'your vehicles',
    item: vehicleItem,
    empty: 'No vehicles yet. Drivers: add yours below.',
  });

  const plate = field(
    'Number plate',
    text('plate', {
      required: true,
      maxLength: 16,
      autocapitalize: 'characters',
      pattern: '[A-Za-z0-9][A-Za-z0-9 \\-]{0,14}[A-Za-z0-9]',
    }),
    '2 to 16 letters, digits, spaces or dashes, e.g. KDA 123A',
  );
  const make = field('Make (optional)', text('make'));
  const model = field('Model (optional)', text('model'));
  const color = field('Colour (optional)', text('color', { maxLength: 30 }));
  const seats = field(
    'Seats (optional)',
    h('input', {
      id: 'vehicle-seats',
      name: 'seats',
      type: 'number',
      min: 1,
      max: 60,
      inputMode: 'numeric',
    }),
  );
  const error = h('p', { class: 'form-error', role: 'alert', id: 'vehicle-error' });
  const form = h(
    'form',
    { class: 'card', 'aria-describedby': error.id },
    plate.wrap,
    make.wrap,
    model.wrap,
    color.wrap,
    seats.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Add vehicle'),
    error,
  );
  let key: { key: string; for: string } | null = null;
  submitting(form, error, async () => {
    notice.textContent = '';
    const optional = (input: HTMLInputElement) => input.value.trim() || undefined;
    const body = {
      plate: plate.input.value.trim().toUpperCase(),
      make: optional(make.input),
      model: optional(model.input),
      color: optional(color.input),
      seats: seats.input.value ? Number(seats.input.value) : undefined,
    };
    const fingerprint = JSON.stringify(body);
    if (key?.for !== fingerprint) key = { key: newKey(), for: fingerprint };
    try {
      const vehicle = await ctx.api.post<Vehicle>('/vehicles', body, key.key);
      notice.textContent = `Added ${vehicle.plate}.`;
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 409) {
        plate.input.setAttribute('aria-invalid', 'true');
        throw new Error(`You have a vehicle with the plate ${body.plate} already.`);
      }
      throw reason;
    }
    key = null;
    form.reset();
    void list.reload(true);
  }, {
    plate: plate.input,
    make: make.input,
    model: model.input,
    color: color.input,
    seats: seats.input,
  });

  main.append(
    h('h1', { tabindex: '-1' }, 'My vehicles'),
    notice,
    listBox,
    h('h2', null, 'Add a vehicle'),
    form,
  );
  void list.reload();
  ctx.onRefresh(() => void list.reload(true));
  return () => list.stop();
};

// The settings form: its fields, and the checks that answer before the server does.

import { ApiError } from './api.js';
import { h, showAlert } from './dom.js';
import { plural } from './format.js';

// The district's hold thresholds and sync settings (PATCH …/settings), with a preview of what they
// would have held (POST …/settings/preview) before they are saved. The server validates both the
// same way; the checks here only answer sooner, and a server refusal is shown at its field too.
export const SETTINGS_FIELDS = [
  { name: 'removal_pct', group: 'thresholds', kind: 'number', min: 0.01, max: 100, step: 0.01, label: 'Removal share (%)',
    hint: 'Hold a school when this share of a record type (students, teachers, staff, contacts, classes) is removed in one sync.' },
  { name: 'removal_min_count', group: 'thresholds', kind: 'integer', min: 1, max: 1000000, label: 'Fewest removals that count',
    hint: 'A share is held only when at least this many records of the type are removed.' },
  { name: 'removal_max_count', group: 'thresholds', kind: 'integer', min: 1, max: 1000000, label: 'Removals always held',
    hint: 'This many removals of a type are held whatever their share. At least the fewest removals that count.' },
  { name: 'max_guardians', group: 'thresholds', kind: 'integer', min: 2, max: 100, label: 'Linked contacts per student',
    hint: 'Hold when a student newly has this many linked contacts (parents, guardians).' },
  { name: 'blocked_contact_types', group: 'thresholds', kind: 'list', label: 'Contact types to hold',
    hint: 'Comma-separated Clever contact types, e.g. Emergency, Secondary. Leave empty to hold none.' },
  { name: 'sync_interval_minutes', kind: 'integer', min: 5, max: 10080, label: 'Sync every (minutes)',
    hint: 'How often sis-sync asks Clever for new data: 5 minutes to 7 days (10080).' },
  { name: 'apply_safe_changes_automatically', kind: 'boolean', label: 'Apply safe changes automatically',
    hint: 'While a school is on hold, apply its new students, teachers and classes at once; only what tripped a rule waits.' },
];
const MAX_CONTACT_TYPES = 20;
export const settingValue = (settings, field) => (field.group ? settings[field.group]?.[field.name] : settings[field.name]);

export function settingInput(field, value) {
  const id = `setting-${field.name}`;
  const described = `${id}-hint ${id}-error`;
  const common = { id, name: field.name, 'data-testid': id, 'aria-describedby': described };
  let input;
  if (field.kind === 'boolean') input = h('input', { ...common, type: 'checkbox', checked: Boolean(value) });
  else if (field.kind === 'list') input = h('input', { ...common, type: 'text', value: (value ?? []).join(', '), autocomplete: 'off' });
  else {
    input = h('input', { ...common, type: 'number', inputmode: field.kind === 'integer' ? 'numeric' : 'decimal',
      min: field.min, max: field.max, step: field.step ?? 1, required: true, value: String(value) });
  }
  return h('div', { className: `field field-${field.kind}` },
    h('label', { for: id }, field.label),
    input,
    h('p', { className: 'hint', id: `${id}-hint` }, field.hint),
    h('p', { className: 'field-error', id: `${id}-error`, 'data-testid': `${id}-error` }));
}

// The form's values as a PATCH body, or the errors by field name (none sent to the server then).
function readSettings(form, fields) {
  const thresholds = {};
  const patch = {};
  const errors = {};
  for (const field of fields) {
    const input = form.elements.namedItem(field.name);
    let value;
    if (field.kind === 'boolean') value = input.checked;
    else if (field.kind === 'list') {
      value = [...new Set(input.value.split(',').map((t) => t.trim()).filter(Boolean))];
      if (value.length > MAX_CONTACT_TYPES) errors[field.name] = `List at most ${MAX_CONTACT_TYPES} contact types.`;
      else if (value.some((t) => t.length > 64)) errors[field.name] = 'A contact type is at most 64 characters long.';
    } else {
      const text = input.value.trim();
      value = Number(text);
      const whole = field.kind === 'integer';
      if (text === '' || !Number.isFinite(value)) errors[field.name] = 'Enter a number.';
      else if (whole && !Number.isInteger(value)) errors[field.name] = 'Enter a whole number.';
      else if (value < field.min || value > field.max) errors[field.name] = `Enter a number from ${field.min} to ${field.max.toLocaleString('en-US')}.`;
    }
    if (field.group) thresholds[field.name] = value;
    else patch[field.name] = value;
  }
  if (!errors.removal_min_count && !errors.removal_max_count && thresholds.removal_max_count < thresholds.removal_min_count) {
    errors.removal_max_count = 'Must be at least the fewest removals that count.';
  }
  return { patch: { ...patch, thresholds }, errors };
}

function showFieldErrors(form, fields, errors) {
  for (const field of fields) {
    const input = form.elements.namedItem(field.name);
    const message = errors[field.name] ?? '';
    form.querySelector(`#setting-${field.name}-error`).textContent = message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  const first = fields.find((field) => errors[field.name]);
  if (first) {
    form.elements.namedItem(first.name).focus();
    showAlert(`Check the settings: ${plural(Object.keys(errors).length, 'field')} need${Object.keys(errors).length === 1 ? 's' : ''} a change.`);
  }
  return Boolean(first);
}

// A refusal of the server (422) goes to the field it names; one naming no field goes to the alert.
export async function withServerChecks(form, fields, call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 422) throw error;
    const field = fields.find((f) => new RegExp(`\\b${f.name}\\b`).test(error.message));
    if (!field) throw error;
    showFieldErrors(form, fields, { [field.name]: `Not accepted: ${error.message}` });
    return undefined;
  }
}

export function checkedSettings(form, fields) {
  const { patch, errors } = readSettings(form, fields);
  return showFieldErrors(form, fields, errors) ? undefined : patch;
}

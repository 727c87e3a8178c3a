// Words and small pieces shared by every page: counts in words, times, status badges.

import { h } from './dom.js';

export const STATUS_WORDS = {
  connected: 'Connected',
  on_hold: 'On hold',
  not_connected: 'Not connected',
  disconnected: 'Disconnected',
};
const STATUS_MARKS = { connected: '✓', on_hold: '‖', not_connected: '○', disconnected: '✕' };
export const CHANGE_KINDS = [
  ['added', 'Added'],
  ['updated', 'Updated'],
  ['removed', 'Removed'],
  ['source_id_changed', 'Source ID changed'],
];
export const RECORD_TYPES = {
  student: ['student', 'Students'],
  teacher: ['teacher', 'Teachers'],
  staff: ['staff member', 'Staff'],
  contact: ['contact', 'Contacts'],
  section: ['section', 'Sections'],
};

export const numberWord = (n) => ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'][n] ?? String(n);
export const plural = (count, noun) => `${count} ${count === 1 ? noun : `${noun}s`}`;
export const andWords = (parts) => (parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`);
export const countWords = (counts) => counts.filter(([n]) => n > 0).map(([n, one, many]) => `${n} ${n === 1 ? one : many ?? `${one}s`}`);

export function when(iso) {
  if (!iso) return h('span', {}, 'Never');
  const date = new Date(iso);
  return h('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

export function statusBadge(status, props = {}) {
  return h('span', { className: `status status-${status}`, 'data-status': status, ...props },
    h('span', { 'aria-hidden': 'true', className: 'mark' }, STATUS_MARKS[status] ?? '?'), ' ', STATUS_WORDS[status] ?? status);
}

// ["83 removals", "24 updates"]: the kinds of change a change set has, removals first.
const changeParts = (changes) => countWords([[changes?.removed, 'removal'], [changes?.updated, 'update'],
  [changes?.added, 'addition'], [changes?.source_id_changed, 'source ID change']]);

// "83 removals, 24 updates": a change summary in words.
export const changesInWords = (changes) => changeParts(changes).join(', ') || 'no changes';

// "83 removals and 24 updates": what clearing a school's hold applies (its pending change set).
export const appliedWords = (changes) => andWords(changeParts(changes)) || 'the held changes';

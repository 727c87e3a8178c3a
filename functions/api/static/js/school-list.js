// The district's schools: paged by the API, filtered by status, sorted.

import { actionButton } from './actions.js';
import { enc, api } from './api.js';
import { safeNote, applySafeSelectedButton } from './apply-safe.js';
import { checkCleverAction } from './check-clever.js';
import { h, $ } from './dom.js';
import { STATUS_WORDS, CHANGE_KINDS, plural, when, statusBadge } from './format.js';
import { holdTitle } from './hold-reasons.js';
import { toggleSelected, selectAllOnHold, updateSelectedCount, clearSelected } from './holds.js';
import { state } from './state.js';

const SCHOOL_PAGE_SIZES = [25, 50, 100, 200];

const SCHOOL_SORTS = {
  status: 'On hold first',
  name: 'Name, A to Z',
  '-name': 'Name, Z to A',
  '-last_synced_at': 'Last synced, latest first',
  last_synced_at: 'Last synced, oldest first',
};

// What a school's counts are (the API's changes_kind): held and not applied, being applied, applied
// last (with its time), or nothing any more.
const CHANGES_WORDS = {
  pending: 'Pending (held, not applied)',
  applying: 'Being applied',
  last_applied: 'Last applied',
  none: 'No changes pending',
};

function changesLabel(school) {
  const kind = school.changes_kind ?? 'none';
  return h('span', { className: `changes-kind changes-${kind}`, 'data-testid': 'changes-kind', 'data-kind': kind },
    CHANGES_WORDS[kind] ?? kind, kind === 'last_applied' && school.changes_at ? [' ', when(school.changes_at)] : '');
}

export function renderSchoolsSection(d) {
  const sort = h('select', { id: 'school-sort', 'data-testid': 'school-sort', value: state.sort, onchange: (e) => { state.sort = e.target.value; firstSchoolsPage(d); } },
    Object.entries(SCHOOL_SORTS).map(([value, label]) => h('option', { value }, label)));
  const check = actionButton('check-clever', { 'data-testid': 'check-clever', 'aria-haspopup': 'dialog', onclick: () => checkCleverAction(d) }, 'Check for new Clever data');
  return h('section', { 'aria-labelledby': 'schools-title' },
    h('h2', { id: 'schools-title' }, 'Schools'),
    h('div', { className: 'toolbar' }, h('div', { id: 'status-filters', className: 'filters', role: 'group', 'aria-label': 'Show schools' }, renderStatusFilters(d)),
      h('span', { className: 'field' }, h('label', { for: 'school-sort' }, 'Sort by'), sort), check),
    h('p', { className: 'hint' }, 'Any time a school is on hold, open its report, click Download CSV of changes and review the sync changes to ensure they are expected. You can clear holds for one or more schools at once here.'),
    h('div', { id: 'schools-table' }, h('p', {}, 'Loading schools…')),
    h('nav', { id: 'schools-pager', className: 'toolbar pager', 'aria-label': 'Pages of schools' }),
    h('div', { className: 'toolbar' },
      h('span', { className: 'field' }, h('input', { type: 'checkbox', id: 'select-all', onchange: (e) => selectAllOnHold(d, e.target.checked) }), h('label', { for: 'select-all', id: 'select-all-label' }, 'Select all on hold')),
      h('span', { id: 'selected-count', className: 'hint', 'aria-live': 'polite' }),
      actionButton('clear-holds', { className: 'primary', 'data-testid': 'clear-holds', 'aria-describedby': 'selected-count', 'aria-haspopup': 'dialog', onclick: () => clearSelected(d) }, 'Clear holds'),
      applySafeSelectedButton(d)));
}

// Status filters as toggle buttons, each with the district's count (the API's `counts`).
function renderStatusFilters(d) {
  const counts = state.counts ?? {};
  const choices = [['on_hold', STATUS_WORDS.on_hold], ['connected', STATUS_WORDS.connected], ['disconnected', STATUS_WORDS.disconnected],
    ['not_connected', STATUS_WORDS.not_connected], ['', 'All']];
  return choices.map(([value, label]) => h('button', {
    type: 'button', id: `filter-${value || 'all'}`, className: 'filter', 'data-testid': `filter-${value || 'all'}`, 'aria-pressed': String(state.filter === value),
    onclick: () => { state.filter = value; firstSchoolsPage(d); },
  }, label, state.counts ? h('span', { className: 'count' }, ` (${(value ? counts[value] : counts.all) ?? 0})`) : ''));
}

// Which column the list is sorted by, for assistive technology (aria-sort on the column header).
const SORTED_COLUMN = { status: ['Status', 'ascending'], name: ['School', 'ascending'], '-name': ['School', 'descending'],
  last_synced_at: ['Last synced', 'ascending'], '-last_synced_at': ['Last synced', 'descending'] };

function shownRange(count) {
  const first = state.pageIndex * state.pageSize + 1;
  return count ? `${first}–${first + count - 1} of ${state.total}` : `0 of ${state.total}`;
}

function renderSchoolsTable(d, schools) {
  if (!schools.length) return h('p', {}, state.filter ? `No schools are ${STATUS_WORDS[state.filter]}.` : 'This district has no schools yet.');
  const heads = ['School', 'Select', 'Status', 'Hold reasons', 'Changes counted', ...CHANGE_KINDS.map(([, label]) => label), 'Last synced'];
  const [sortedBy, direction] = SORTED_COLUMN[state.sort] ?? [];
  return h('table', { className: 'schools' },
    h('caption', {}, `Schools${state.filter ? ` (${STATUS_WORDS[state.filter]})` : ''}: ${plural(state.total, 'school')}, ${SCHOOL_SORTS[state.sort].toLowerCase()}, showing ${shownRange(schools.length)}`),
    h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col', 'aria-sort': label === sortedBy ? direction : null }, label)))),
    h('tbody', {}, schools.map((school) => renderSchoolRow(d, school))));
}

// Previous / Next and the page size, under the table; the range shown is said politely.
function renderPager(d, count) {
  const size = h('select', { id: 'school-page-size', value: String(state.pageSize), onchange: (e) => { state.pageSize = Number(e.target.value); firstSchoolsPage(d); } },
    SCHOOL_PAGE_SIZES.map((n) => h('option', { value: String(n) }, String(n))));
  return [
    h('button', { type: 'button', id: 'schools-previous', 'data-testid': 'schools-previous', disabled: state.pageIndex === 0, onclick: () => turnSchoolsPage(d, -1) }, '← Previous'),
    h('span', { id: 'schools-range', 'data-testid': 'schools-range', 'aria-live': 'polite' }, `Schools ${shownRange(count)}`),
    h('button', { type: 'button', id: 'schools-next', 'data-testid': 'schools-next', disabled: !state.next, onclick: () => turnSchoolsPage(d, 1) }, 'Next →'),
    h('span', { className: 'field' }, h('label', { for: 'school-page-size' }, 'Schools per page'), size),
  ];
}

function firstSchoolsPage(d) {
  state.cursors = [null];
  state.pageIndex = 0;
  return refreshSchools(d);
}

async function turnSchoolsPage(d, step) {
  if (step > 0 && state.next) state.cursors[state.pageIndex + 1] = state.next;
  state.pageIndex = Math.max(0, state.pageIndex + step);
  await refreshSchools(d);
  // the button pressed may now be disabled (first or last page): keep the focus in the pager
  if (document.activeElement === document.body) ($('#schools-next:not([disabled])') ?? $('#schools-previous'))?.focus();
}

function renderSchoolRow(d, school) {
  const id = school.school_id;
  const selectable = school.status === 'on_hold' && school.pending_sync_id;
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('tr', { 'data-testid': `school-row-${id}`, 'data-status': school.status, 'data-pending-sync-id': school.pending_sync_id },
    h('th', { scope: 'row', 'data-label': 'School' }, h('a', { href: `#/districts/${enc(d)}/schools/${enc(id)}` }, school.name)),
    cell('Select', selectable ? h('input', {
      type: 'checkbox', id: `select-${id}`, 'data-testid': `select-${id}`, 'aria-label': `Select ${school.name}`,
      checked: state.selected.has(id), onchange: (e) => toggleSelected(school, e.target.checked),
    }) : null),
    cell('Status', statusBadge(school.status)),
    cell('Hold reasons', school.holds?.length ? h('ul', { className: 'plain' }, school.holds.map((hold) => h('li', {}, holdTitle(hold)))) : '—'),
    cell('Changes counted', changesLabel(school), safeNote(school)),
    CHANGE_KINDS.map(([kind, label]) => cell(label, school.changes_kind === 'none' ? '—' : h('span', { className: 'num' }, String(school.changes?.[kind] ?? 0)))),
    cell('Last synced', when(school.last_synced_at)));
}

// Loads the page of schools in view (filter, order, page) and re-draws the list, its filters and its
// pager in place. A page left empty (its schools changed status) falls back to the first page.
export async function refreshSchools(d) {
  const query = { status: state.filter, sort: state.sort, limit: state.pageSize, cursor: state.cursors[state.pageIndex] };
  let page = await api.schools(d, query);
  if (!page.schools?.length && state.pageIndex > 0) {
    state.cursors = [null];
    state.pageIndex = 0;
    page = await api.schools(d, { ...query, cursor: null });
  }
  const { schools = [], next_cursor: next = null, total = schools.length, counts = null } = page;
  Object.assign(state, { schools, next, total, counts });
  // a ticked school shown again: keep what is shown now (its newest change set), or drop it if no longer held
  schools.forEach((s) => {
    if (!state.selected.has(s.school_id)) return;
    if (s.status === 'on_hold' && s.pending_sync_id) state.selected.set(s.school_id, s);
    else state.selected.delete(s.school_id);
  });
  const focusedId = document.activeElement?.id;
  $('#schools-table')?.replaceChildren(renderSchoolsTable(d, schools));
  $('#status-filters')?.replaceChildren(...renderStatusFilters(d));
  $('#schools-pager')?.replaceChildren(...renderPager(d, schools.length));
  if (focusedId && document.activeElement === document.body) document.getElementById(focusedId)?.focus();
  const all = $('#select-all');
  if (all) all.checked = Boolean(counts?.on_hold) && state.selected.size >= counts.on_hold;
  updateSelectedCount();
}

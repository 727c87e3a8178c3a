// Match schools: connect each Clever school shared with sis-sync to a school of the district.

import { actionButton, runAction } from './actions.js';
import { api } from './api.js';
import { showDistrict } from './district-page.js';
import { h, showAlert, showResults } from './dom.js';
import { plural } from './format.js';
import { guarded } from './guarded.js';

const MATCH_WORDS = { nces_id: 'same NCES id', state_id: 'same state id', name: 'similar name' };

export function renderMatchSection(d, cleverSchools, notConnected) {
  const section = h('section', { 'aria-labelledby': 'match-title' }, h('h2', { id: 'match-title' }, 'Match schools'));
  if (!cleverSchools.length) {
    section.append(h('p', {}, 'Every Clever school shared with sis-sync is matched.'));
    return section;
  }
  const rows = cleverSchools.map((clever) => renderMatchRow(clever, notConnected));
  section.append(
    h('p', {}, 'You may have schools in your district that are not sending data. If this is intentional, you don\'t have to take any action. To connect a school, choose the school each Clever school belongs to, or add it as a new school, then click Match schools.'),
    h('form', { className: 'match', onsubmit: (e) => { e.preventDefault(); runAction('match-schools', () => matchSchools(d, cleverSchools)); } }, rows,
      actionButton('match-schools', { type: 'submit', className: 'primary', 'data-testid': 'match-schools' }, 'Match schools')));
  return section;
}

function renderMatchRow(clever, notConnected) {
  const id = `match-${clever.clever_school_id}`;
  const suggested = clever.suggestions ?? [];
  const others = notConnected.filter((s) => !suggested.some((g) => g.school_id === s.school_id));
  const ids = [clever.nces_id && `NCES ${clever.nces_id}`, clever.state_id && `state ID ${clever.state_id}`].filter(Boolean).join(', ');
  const select = h('select', { id, value: suggested[0]?.school_id ?? '' },
    h('option', { value: '' }, 'Leave unmatched for now'),
    suggested.length ? h('optgroup', { label: 'Suggested' }, suggested.map((s) => h('option', { value: s.school_id }, `${s.name}${MATCH_WORDS[s.match] ? ` (${MATCH_WORDS[s.match]})` : ''}`))) : null,
    others.length ? h('optgroup', { label: 'Not connected schools' }, others.map((s) => h('option', { value: s.school_id }, s.name))) : null,
    h('option', { value: '__new__' }, 'Add as a new school'));
  return h('div', { className: 'match-row' },
    h('label', { for: id }, h('strong', {}, clever.name), ids ? ` (${ids})` : '', ' in Clever is'), select);
}

async function matchSchools(d, cleverSchools) {
  const matches = cleverSchools
    .map((clever) => ({ clever, value: document.getElementById(`match-${clever.clever_school_id}`).value }))
    .filter(({ value }) => value)
    .map(({ clever, value }) => (value === '__new__' ? { clever_school_id: clever.clever_school_id } : { clever_school_id: clever.clever_school_id, school_id: value }));
  if (!matches.length) return showAlert('Choose a school, or Add as a new school, for at least one Clever school.');
  const chosen = matches.map((m) => m.school_id).filter(Boolean);
  if (new Set(chosen).size !== chosen.length) return showAlert('Each school can be matched to one Clever school only.');
  return guarded(async () => {
    const response = await api.match(d, matches);
    const lines = (response.results ?? []).map((r) => `${r.clever_school_id}: ${String(r.result ?? 'matched').replaceAll('_', ' ')}`);
    showResults(lines.length ? lines : [`${plural(matches.length, 'Clever school')} matched.`]);
    await showDistrict(d);
  });
}

// Apply safe changes now, from the school list and the school report.

import { actionButton, runAction } from './actions.js';
import { token, api } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { refreshDistrict } from './district-page.js';
import { h, showAlert, showResults } from './dom.js';
import { plural, andWords, countWords } from './format.js';
import { guarded } from './guarded.js';
import { pendingChanges, selectedSchools } from './holds.js';
import { poll } from './polling.js';
import { showSchool } from './report-page.js';
import { state } from './state.js';

// Apply safe changes now (DESIGN §7): the part of a held change set that trips no rule (additions and
// updates no rule fires on) is applied at once; the rest stays on hold with the same sync, so that the
// report, its counts and the CSV then list only what still waits, and Clear hold applies the rest.
const APPLY_SAFE_RESULTS = {
  applied_safe: (name) => `${name}: the safe changes are being applied. The rest stays on hold for your review.`,
  nothing_safe: (name) => `${name}: nothing applied. Every change waits for review, or the safe changes were applied already.`,
  stale: (name) => `Newer changes arrived for ${name}: nothing applied. Review them, then try again.`,
  not_on_hold: (name) => `${name}: nothing applied, the school is not on hold.`,
  disconnected: (name) => `${name}: nothing applied. The district is disconnected from Clever and nothing is applied until the connection works again: check your settings in Clever, then click I fixed it.`,
};

const NOTHING_SAFE = (name) => `${name}: nothing safe to apply. Every change waits for review.`;

// What Apply safe changes does at a held school, or null when none of its changes is safe: the
// API's safe_changes counts them. All its additions and updates are safe unless a rule fires on some
// (a blocked contact type, too many guardians): then it says how many of them apply.
function safeOffer(school) {
  const changes = pendingChanges(school);
  const safe = school.safe_changes ?? 0;
  if (school.status !== 'on_hold' || !school.pending_sync_id || !changes || safe <= 0) return null;
  const { added = 0, updated = 0, removed = 0, source_id_changed: rekeyed = 0 } = changes;
  const waiting = added + updated - safe;
  const apply = waiting > 0 ? `${safe} of the ${added + updated} additions and updates`
    : andWords(countWords([[added, 'addition'], [updated, 'update']]));
  const stay = countWords([[removed, 'removal'], [rekeyed, 'source ID change'],
    [waiting, 'addition or update that trips a rule', 'additions and updates that trip a rule']]);
  const staying = removed + rekeyed + Math.max(waiting, 0);
  return { apply, stay: stay.length ? `the ${andWords(stay)} ${staying === 1 ? 'stays' : 'stay'}` : 'the rest stays' };
}

const offerSentence = (offer) => `Apply ${offer.apply} now; ${offer.stay} on hold.`;

// On the school report: the offer in words and its button, wherever the held school has safe changes.
export function renderApplySafeOffer(d, school) {
  const offer = safeOffer(school);
  if (!offer) return null;
  return h('div', { className: 'apply-safe', 'data-testid': 'apply-safe-offer' },
    h('p', { id: 'apply-safe-words' }, h('strong', {}, offerSentence(offer)),
      ' These changes trip no hold rule: new and updated people, contacts and classes are synced now while you review the rest.'),
    h('div', { className: 'toolbar' },
      actionButton('apply-safe', { 'data-testid': 'apply-safe', 'aria-haspopup': 'dialog', 'aria-describedby': 'apply-safe-words', onclick: () => applySafeOne(d, school) }, 'Apply safe changes now')));
}

// In the schools table: how many changes of a held school are safe to apply now.
export function safeNote(school) {
  const safe = safeOffer(school) ? school.safe_changes : 0;
  return safe ? h('div', { className: 'hint', 'data-testid': `safe-${school.school_id}` }, `${plural(safe, 'safe change')} can apply now`) : null;
}

export function applySafeSelectedButton(d) {
  return actionButton('apply-safe-selected', { 'data-testid': 'apply-safe-selected', 'aria-describedby': 'selected-count', 'aria-haspopup': 'dialog', onclick: () => applySafeSelected(d) }, 'Apply safe changes now');
}

const STAYS_WORDS = 'stays on hold for your review: the report and its CSV of changes then list only that, and Clear hold applies it.';

function confirmApplySafe(schools, skipped) {
  if (schools.length === 1 && !skipped.length) {
    const [school] = schools;
    const offer = safeOffer(school);
    return confirmDialog({
      title: `Apply ${offer.apply} at ${school.name} now?`,
      text: `These changes trip no hold rule. Everything else ${STAYS_WORDS}`,
      details: [offerSentence(offer)],
      yes: 'Apply safe changes',
      focusNo: true,
    });
  }
  return confirmDialog({
    title: `Apply the safe changes at ${plural(schools.length, 'school')} now?`,
    text: `These changes trip no hold rule. At each school everything else ${STAYS_WORDS}`,
    details: [...schools.map((s) => `${s.name}: ${offerSentence(safeOffer(s))}`), ...skipped.map((s) => NOTHING_SAFE(s.name))],
    yes: `Apply safe changes at ${plural(schools.length, 'school')}`,
    focusNo: true,
  });
}

function applySafeOne(d, school) {
  return runAction('apply-safe', async () => {
    if (await confirmApplySafe([school], [])) await applySafe(d, [school], [], () => showSchool(d, school.school_id, true));
  });
}

function applySafeSelected(d) {
  return runAction('apply-safe-selected', async () => {
    const selected = await selectedSchools();
    if (!selected.length) return showAlert('Select at least one school on hold, then click Apply safe changes now.');
    const offered = selected.filter((s) => safeOffer(s));
    const skipped = selected.filter((s) => !safeOffer(s));
    if (!offered.length) return showAlert(`None of the selected schools has safe changes to apply: every change waits for review. ${skipped.map((s) => s.name).join(', ')}.`);
    if (!(await confirmApplySafe(offered, skipped))) return undefined;
    return applySafe(d, offered, skipped, () => refreshDistrict(d));
  });
}

// Sends the schools' pending sync ids, says what happened to each school, then refreshes and follows
// the ones started until their safe part is applied (nothing safe left: the page shows only what waits).
async function applySafe(d, schools, skipped, refresh) {
  const body = schools.map((s) => ({ school_id: s.school_id, sync_id: s.pending_sync_id }));
  const nameOf = (id) => schools.find((s) => s.school_id === id)?.name ?? id;
  let started = [];
  await guarded(async () => {
    const { results = [] } = await api.applySafe(d, body);
    showResults([...results.map((r) => (APPLY_SAFE_RESULTS[r.result] ?? ((n) => `${n}: ${r.result}`))(nameOf(r.school_id))),
      ...skipped.map((s) => NOTHING_SAFE(s.name))]);
    state.selected.clear();
    started = results.filter((r) => r.result === 'applied_safe');
  });
  if (!token.get()) return; // the session ended (the sign-in page is showing)
  await guarded(refresh, { clearAlert: false });
  if (started.length) {
    const done = started.length === 1 ? `${nameOf(started[0].school_id)}: safe changes applied. What still waits for review is on hold.`
      : `Safe changes applied at ${plural(started.length, 'school')}. What still waits for review is on hold.`;
    await guarded(() => poll(refresh, () => started.every(safeApplied), done,
      'The safe changes are still being applied. Refresh the page in a minute.'), { clearAlert: false });
  }
}

// A school's safe part is applied when nothing safe is left of that sync (or it is no longer pending).
function safeApplied({ school_id: id, sync_id: syncId }) {
  const school = state.schools.find((s) => s.school_id === id);
  if (!school) return Boolean(state.filter) && state.filter !== 'on_hold';
  return school.pending_sync_id !== syncId || school.safe_changes === 0;
}

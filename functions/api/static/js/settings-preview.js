// What the settings would have decided differently in the last syncs (not saved).

import { h } from './dom.js';
import { plural } from './format.js';
import { reasonTitle } from './hold-reasons.js';

const HAPPENED_WORDS = { on_hold: 'On hold now', applying: 'Being applied', applied: 'Applied', released: 'Released by an admin' };

// "5 %", "at least 5 removals", …: what the admin changed, in the words of the preview's sentence.
export function describeChange(current, patch) {
  const was = current?.thresholds ?? {};
  const now = patch.thresholds;
  const words = [];
  if (now.removal_pct !== was.removal_pct) words.push(`${now.removal_pct} %`);
  if (now.removal_min_count !== was.removal_min_count) words.push(`at least ${plural(now.removal_min_count, 'removal')}`);
  if (now.removal_max_count !== was.removal_max_count) words.push(`${now.removal_max_count} removals always held`);
  if (now.max_guardians !== was.max_guardians) words.push(`${now.max_guardians} linked contacts`);
  if ((now.blocked_contact_types ?? []).join('|') !== (was.blocked_contact_types ?? []).join('|')) {
    words.push(now.blocked_contact_types.length ? `holding ${now.blocked_contact_types.join(', ')} contacts` : 'no contact types held');
  }
  return words.length ? `With ${words.join(', ')}` : 'With these settings';
}

function previewSentence(summary, change) {
  const parts = [];
  if (summary.newly_held) parts.push(`${plural(summary.newly_held, 'more school')} would have been held`);
  if (summary.no_longer_held) parts.push(`${plural(summary.no_longer_held, 'school')} fewer would have been held`);
  const said = parts.length ? parts.join(' and ') : 'no school would have been held differently';
  return `${change}: ${said} in the last three syncs.`;
}

export function renderSettingsPreview(result, change) {
  const { summary, schools = [] } = result;
  const differs = (one) => one.effect !== 'same' && one.effect !== 'unknown'; // unknown ones are counted below
  const differing = schools.filter((school) => school.change_sets.some(differs));
  const heads = ['School', 'Sync', 'What happened', 'Now', 'With these settings'];
  const verdict = (v) => (!v ? 'Unknown' : v.held ? `Held: ${v.reasons.map(reasonTitle).join(', ')}` : 'Not held');
  const rows = differing.flatMap((school) => school.change_sets.filter(differs).map((one) =>
    h('tr', { 'data-testid': `preview-${school.school_id}-${one.sync_id}`, 'data-effect': one.effect },
      h('th', { scope: 'row', 'data-label': 'School' }, school.name),
      h('td', { 'data-label': 'Sync' }, h('code', {}, one.sync_id)),
      h('td', { 'data-label': 'What happened' }, HAPPENED_WORDS[one.happened] ?? one.happened),
      h('td', { 'data-label': 'Now' }, verdict(one.current)),
      h('td', { 'data-label': 'With these settings' }, h('strong', {}, verdict(one.proposed)), one.effect === 'reasons_changed' ? ' (other reasons)' : ''))));
  return h('section', { 'aria-labelledby': 'preview-title' },
    h('h2', { id: 'preview-title' }, 'Preview (not saved)'),
    h('p', { 'data-testid': 'preview-sentence' }, previewSentence(summary, change)),
    h('p', { className: 'hint' }, `Each school's pending sync and its last three applied syncs, judged again: ${plural(summary.change_sets, 'sync')} of ${plural(summary.schools, 'school')}.`
      + (summary.unknown ? ` ${plural(summary.unknown, 'older sync')} no longer stored could not be judged.` : '')),
    rows.length
      ? h('table', { className: 'preview', 'data-testid': 'preview-table' }, h('caption', {}, 'Syncs these settings would have decided differently'),
        h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col' }, label)))), h('tbody', {}, rows))
      : h('p', {}, 'Every sync would have been decided as it was.'));
}

// A school's history (its audit entries) as sentences.

import { h } from './dom.js';
import { when, changesInWords } from './format.js';
import { reasonTitle } from './hold-reasons.js';

const CLEAR_HISTORY = {
  released: 'the changes are being applied',
  stale: 'refused: newer changes had arrived',
  not_on_hold: 'nothing to clear, the school was not on hold',
  disconnected: 'refused: the district was disconnected from Clever',
};

// Apply safe changes now in a school's history (each school's entry carries its own result).
const APPLY_SAFE_HISTORY = {
  applied_safe: 'the safe changes are being applied',
  applying: 'the safe changes are being applied',
  nothing_safe: 'nothing applied, nothing was safe to apply',
  stale: 'refused: newer changes had arrived',
  not_on_hold: 'nothing applied, the school was not on hold',
  disconnected: 'refused: the district was disconnected from Clever',
};

const UNDO_HISTORY = {
  undoing: 'the changes are being taken back',
  not_latest: 'refused, it is not the latest applied sync',
  too_old: 'refused, it was applied more than 30 days ago',
};

// One audit entry of a school as a sentence ("Hold released by admin@… — 83 removals applied").
function historyText(entry) {
  const by = entry.actor && entry.actor !== 'system' ? ` by ${entry.actor}` : '';
  const detail = entry.detail ?? {};
  const reasons = (detail.reasons ?? []).map(reasonTitle).join(', ');
  switch (entry.action) {
    case 'hold':
      return `Put on hold${reasons ? `: ${reasons}` : ''} — ${changesInWords(detail.changes)} pending`;
    case 'auto_release':
      return entry.result === 'unchanged'
        ? 'Hold released automatically: the data in Clever went back to what is applied — nothing applied'
        : `Hold released automatically: the data was fixed in Clever — ${changesInWords(detail.changes)} being applied`;
    case 'hold_released':
      return `Hold released${by} — ${changesInWords(detail.changes)} applied`;
    case 'sync_applied':
      return `Sync applied — ${changesInWords(detail.changes)} applied`;
    case 'clear_holds':
      return `Clear hold${by}: ${CLEAR_HISTORY[entry.result] ?? entry.result}`;
    case 'school_auto_matched':
      return `Matched automatically to Clever school ${entry.result}`;
    case 'schools_matched':
      return `Matched to a Clever school${by}`;
    case 'settings_updated':
      return `Hold settings changed${by}`;
    case 'check_now':
      return `Check for new Clever data${by}`;
    case 'apply_safe_changes':
      return `Apply safe changes now${by}: ${APPLY_SAFE_HISTORY[entry.result] ?? String(entry.result ?? '').replaceAll('_', ' ')}`;
    case 'safe_changes_applied':
      return `Safe changes applied${by || ' automatically'} — ${changesInWords(detail.changes)} applied; ${changesInWords(detail.held)} still on hold`;
    case 'sync_after_reconnect':
      return `Sync after I fixed it${by}`;
    case 'undo_sync':
      return `Undo this sync${by}: ${UNDO_HISTORY[entry.result] ?? String(entry.result ?? '').replaceAll('_', ' ')}`;
    case 'sync_undone':
      return `Sync undone${by} — ${changesInWords(detail.changes)} taken back; on hold for review`;
    default:
      return `${String(entry.action ?? '').replaceAll('_', ' ')}${by}${entry.result ? `: ${String(entry.result).replaceAll('_', ' ')}` : ''}`;
  }
}

export function renderHistory(history) {
  return h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'),
    history.length
      ? h('ol', { className: 'history', 'data-testid': 'history' }, history.map((entry) => h('li', {}, when(entry.at), ' — ', historyText(entry))))
      : h('p', {}, 'Nothing has happened to this school yet.'));
}

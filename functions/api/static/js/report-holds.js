// A hold on the school report: its reason, the counts that fired it and a few examples.

import { h } from './dom.js';
import { RECORD_TYPES, plural, when } from './format.js';
import { REASONS, holdTitle } from './hold-reasons.js';

const EXAMPLES_SHOWN = 5; // per hold, in the report; the CSV of changes lists every one

export function renderHold(hold) {
  const words = REASONS[hold.reason];
  const detail = hold.detail ?? {};
  const { facts, examples } = holdFacts(hold.reason, detail);
  const shown = examples.slice(0, EXAMPLES_SHOWN);
  const more = Math.max(examples.length, exampleTotal(hold.reason, detail)) - shown.length;
  return h('article', { className: 'hold', 'data-testid': `hold-${hold.reason}` },
    h('h3', {}, holdTitle(hold)),
    words ? h('p', {}, words.summary(detail)) : null,
    facts.length ? h('ul', {}, facts.map((fact) => h('li', {}, fact))) : null,
    shown.length ? [h('p', {}, 'For example:'), h('ul', { 'data-testid': 'hold-examples' }, shown.map((ex) => h('li', {}, ex))),
      more > 0 ? h('p', { className: 'hint' }, `and ${more} more: the CSV of changes lists every one.`) : null] : null,
    words ? [h('h4', {}, 'What to do first'), h('ul', {}, words.remedies.map((r) => h('li', {}, r)))] : null);
}

// How many records the hold is about, beyond the examples its rule kept.
function exampleTotal(reason, detail) {
  if (reason === 'large_removals') return Object.values(detail.types ?? {}).reduce((n, c) => n + (c.removed ?? 0) + (c.source_id_changed ?? 0), 0);
  if (reason === 'too_many_parent_connections') return detail.students ?? 0;
  if (reason === 'emergency_contacts') return detail.relationships ?? 0;
  return 0;
}

// The counts that fired the hold, from the detail its rule recorded (same facts as the e-mail).
function holdFacts(reason, detail) {
  const named = (detail.examples ?? []).filter((ex) => ex.name);
  if (reason === 'large_removals') {
    const facts = Object.entries(detail.types ?? {}).map(([type, c]) => {
      const gone = (c.removed ?? 0) + (c.source_id_changed ?? 0);
      const parts = [c.removed ? `${c.removed} removed` : '', c.source_id_changed ? `${c.source_id_changed} with a changed source ID` : ''].filter(Boolean);
      let fact = `${RECORD_TYPES[type]?.[1] ?? type}: ${parts.join(', ') || '0 removed'}`;
      if (c.previous) fact += ` (${gone} of ${c.previous}, ${c.pct ?? '?'}%)`;
      return fact;
    });
    const t = detail.thresholds;
    if (t) facts.push(`A school is held when at least ${t.removal_min_count} records of one type and ${t.removal_pct}% of them are removed or get a new source ID, or ${t.removal_max_count} whatever the share.`);
    const examples = named.map((ex) => `${ex.name} (${RECORD_TYPES[ex.record_type]?.[0] ?? ex.record_type}, ${ex.change === 'source_id_changed' ? 'source ID changed' : 'removed'})`);
    return { facts, examples };
  }
  if (reason === 'too_many_parent_connections') {
    const n = detail.students ?? 0;
    const facts = [`${plural(n, 'student')} now ${n === 1 ? 'has' : 'have'} ${detail.max_guardians ?? 6} or more guardians linked.`];
    const newOnes = (ex) => (ex.contacts ?? []).filter((c) => c.new).map((c) => c.name).filter(Boolean);
    return {
      facts,
      examples: named.map((ex) => `${ex.name}: ${ex.guardians} guardians (previously ${ex.previously})${newOnes(ex).length ? `; newly linked: ${newOnes(ex).join(', ')}` : ''}`),
    };
  }
  if (reason === 'emergency_contacts') {
    const byType = Object.entries(detail.by_type ?? {}).map(([type, count]) => `${type}: ${count}`).join(', ');
    const fact = `${plural(detail.relationships ?? 0, 'new contact relationship')} from ${plural(detail.contacts ?? 0, 'contact')}${byType ? ` (${byType})` : ''}.`;
    const student = (ex) => ex.student_name || ex.student;
    return { facts: [fact], examples: named.map((ex) => `${ex.name} (${ex.type} contact${student(ex) ? ` of ${student(ex)}` : ''})`) };
  }
  if (reason === 'after_pause') {
    const since = detail.pause_start ? [' from ', when(detail.pause_start)] : '';
    const until = detail.pause_end ? [' until ', when(detail.pause_end)] : '';
    return { facts: [h('span', {}, "Clever paused the district's sync", since, until, '.')], examples: [] };
  }
  return { facts: [], examples: [] };
}

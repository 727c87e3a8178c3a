// The settings page: save, or preview first.

import { actionButton, runAction } from './actions.js';
import { enc, api } from './api.js';
import { h, setView, showResults } from './dom.js';
import { guarded } from './guarded.js';
import { renderNav } from './session.js';
import { SETTINGS_FIELDS, settingValue, settingInput, withServerChecks, checkedSettings } from './settings-form.js';
import { describeChange, renderSettingsPreview } from './settings-preview.js';
import { state } from './state.js';

export async function showSettings(d) {
  setView(h('p', { 'aria-busy': 'true' }, 'Loading the settings…'));
  const district = await api.district(d);
  state.district = district;
  renderNav();
  document.title = `${district.name}: settings`;
  const fields = SETTINGS_FIELDS.filter((field) => settingValue(district.settings, field) !== undefined);
  const preview = h('div', { id: 'settings-preview', 'data-testid': 'settings-preview', 'aria-live': 'polite' });
  const form = h('form', { id: 'settings-form', 'data-testid': 'settings-form', novalidate: true,
    onsubmit: (event) => { event.preventDefault(); runAction('save-settings', () => guarded(() => saveSettings(d, form, fields))); } },
  h('p', { className: 'hint', id: 'settings-summary' }, 'Any change applies from the next sync. Preview shows what it would have done to the syncs already made.'),
  fields.map((field) => settingInput(field, settingValue(district.settings, field))),
  h('div', { className: 'toolbar' },
    actionButton('preview-settings', { type: 'button', 'data-testid': 'preview-settings',
      onclick: () => runAction('preview-settings', () => guarded(() => previewSettings(d, form, fields, preview))) }, 'Preview'),
    actionButton('save-settings', { type: 'submit', className: 'primary', 'data-testid': 'save-settings' }, 'Save settings')));
  setView(
    h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: `#/districts/${enc(d)}`, className: 'back' }, `← Back to ${district.name} schools`)),
    h('p', { className: 'meta', 'data-testid': 'district-name' }, district.name),
    h('h1', {}, 'Settings'),
    h('section', { 'aria-labelledby': 'settings-form-title' }, h('h2', { id: 'settings-form-title' }, 'When a sync is held'), form),
    preview);
}

async function saveSettings(d, form, fields) {
  const patch = checkedSettings(form, fields);
  if (!patch) return;
  const saved = await withServerChecks(form, fields, () => api.saveSettings(d, patch));
  if (!saved) return;
  state.district = saved;
  showResults(['Settings saved. They apply from the next sync.']);
}

async function previewSettings(d, form, fields, region) {
  const patch = checkedSettings(form, fields);
  if (!patch) return;
  region.replaceChildren(h('p', { 'aria-busy': 'true' }, 'Judging the last syncs with these settings…'));
  const result = await withServerChecks(form, fields, () => api.previewSettings(d, patch));
  if (!result) { region.replaceChildren(); return; }
  region.replaceChildren(renderSettingsPreview(result, describeChange(state.district?.settings, patch)));
}

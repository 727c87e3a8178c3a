// The confirmation step before an action that changes data.

import { h, $ } from './dom.js';

// A modal confirmation: a native <dialog> (focus moves into it and stays there, Escape cancels,
// the page behind is inert). Resolves once, with the first answer; the dialog is gone by then.
export function confirmDialog({ title, text, details = [], yes, no = 'Cancel', focusNo = false }) {
  document.getElementById('confirm-dialog')?.remove();
  return new Promise((resolve) => {
    let answered = false;
    const answer = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const yesButton = h('button', { type: 'button', className: 'primary', 'data-testid': 'confirm-yes', onclick: () => answer(true) }, yes);
    const noButton = h('button', { type: 'button', 'data-testid': 'confirm-cancel', onclick: () => answer(false) }, no);
    const dialog = h('dialog', {
      id: 'confirm-dialog', className: 'confirm', 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text',
      oncancel: (e) => { e.preventDefault(); answer(false); },
    },
    h('h2', { id: 'confirm-title' }, title),
    h('p', { id: 'confirm-text' }, text),
    details.length ? h('ul', { 'data-testid': 'confirm-details' }, details.map((line) => h('li', {}, line))) : null,
    h('div', { className: 'toolbar' }, yesButton, noButton));
    $('#main').append(dialog);
    dialog.showModal();
    (focusNo ? noButton : yesButton).focus();
  });
}

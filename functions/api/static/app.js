// sis-sync district dashboard: the entry point and the router (#/districts/{id}[/schools/{id}|/syncs|
// /settings]). Plain ES modules under js/, loaded by the browser as they are: no build step.

import { ApiError, token, enc, api } from './js/api.js';
import { currentRoute } from './js/current-route.js';
import { showDistrict } from './js/district-page.js';
import { h, $, showAlert, setView } from './js/dom.js';
import { guarded } from './js/guarded.js';
import { stopPolling } from './js/polling.js';
import { showSchool } from './js/report-page.js';
import { renderSignInProblem, renderSignedOut, signInAgain, renderNav } from './js/session.js';
import { showSettings } from './js/settings-page.js';
import { SIGNED_OUT_KEY, SignInRefused, finishSignIn } from './js/sign-in.js';
import { state } from './js/state.js';
import { showSyncHistory } from './js/sync-history.js';

async function route() {
  stopPolling();
  if (!token.get()) return sessionStorage.getItem(SIGNED_OUT_KEY) ? renderSignedOut() : signInAgain();
  return guarded(async () => {
    if (!state.me) state.me = await api.me();
    renderNav();
    const { districtId, schoolId, syncs, settings, status } = currentRoute();
    if (!districtId) return openFirstDistrict();
    if (status && !schoolId) Object.assign(state, { filter: status, listOf: null }); // a fresh, filtered list
    $('#main').focus({ preventScroll: true });
    if (syncs) return loadPage(() => showSyncHistory(districtId));
    if (settings) return loadPage(() => showSettings(districtId));
    return loadPage(() => (schoolId ? showSchool(districtId, schoolId) : showDistrict(districtId)));
  });
}

// A page that cannot load says why in its place: one error, no "Loading…" left behind. (A failure
// once the page is drawn goes to the alert as any other; an ended session to the sign-in page.)
async function loadPage(load) {
  try {
    return await load();
  } catch (error) {
    if ((error instanceof ApiError && error.status === 401) || !$('#view > [aria-busy="true"]')) throw error;
    if (!(error instanceof ApiError)) console.error(error);
    return renderLoadProblem(error);
  }
}

function renderLoadProblem(error) {
  const { districtId, schoolId } = currentRoute();
  const notFound = error instanceof ApiError && error.status === 404;
  let text = error.message || String(error);
  if (notFound) {
    text = schoolId
      ? `The school “${schoolId}” cannot be found in the district “${districtId}”, or you are not one of the district's administrators.`
      : `The district “${districtId}” cannot be found, or you are not one of its administrators.`;
  }
  const yours = state.me?.district_ids ?? [];
  document.title = 'Not found: SIS sync dashboard';
  showAlert('');
  setView(h('section', { className: 'card', 'data-testid': 'load-problem', 'aria-labelledby': 'load-problem-title' },
    h('h1', { id: 'load-problem-title' }, notFound ? `This ${schoolId ? 'school' : 'district'} cannot be found` : 'This page cannot be shown'),
    h('p', { role: 'alert' }, text),
    yours.length ? h('p', {}, h('a', { href: `#/districts/${enc(yours[0])}` }, yours.length > 1 ? 'Go to your districts' : 'Go to your district')) : null));
}

function openFirstDistrict() {
  const [first] = state.me.district_ids ?? [];
  if (!first) return setView(h('h1', {}, 'No district'), h('p', {}, 'Your account is not an administrator of any district yet.'));
  window.location.replace(`#/districts/${enc(first)}`);
  return undefined;
}

function start() {
  $('.skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    $('#main').focus();
  });
  window.addEventListener('hashchange', () => {
    $('#results').replaceChildren();
    route();
  });
  const answer = new URLSearchParams(window.location.search);
  if (!answer.has('code') && !answer.has('error')) return route();
  return finishSignIn(answer).then(route, (error) => renderSignInProblem(error.message, error instanceof SignInRefused));
}

start();

// The session as the page shows it: the sign-in cards, signing out, an ended session, the account bar.

import { token, enc } from './api.js';
import { h, $, showAlert, setView } from './dom.js';
import { stopPolling } from './polling.js';
import { SIGNED_OUT_KEY, redirectUri, authConfig, rememberedWay, beginSignIn } from './sign-in.js';
import { state } from './state.js';

async function signOut() {
  showAlert(''); // what went wrong before belongs to the session that ended
  $('#results').replaceChildren();
  token.clear();
  state.me = null;
  stopPolling();
  sessionStorage.setItem(SIGNED_OUT_KEY, '1');
  let config;
  try {
    config = await authConfig();
  } catch {
    return renderSignedOut();
  }
  // Ends the authorization server's session too (else the next sign-in would need no prompt).
  const url = new URL(config.logout_url);
  url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
  window.location.assign(url.toString());
  return undefined;
}

export function sessionEnded(message) {
  token.clear();
  state.me = null;
  stopPolling();
  renderSignInProblem(message);
}

// The sign-in card: the e-mail sign-in, and Log in with Clever where the deployment has it. After a
// refused answer it also offers Sign out, which ends the sign-in service's session.
async function signInCard(testid, title, message, buttonText, { offerSignOut = false } = {}) {
  state.me = null;
  renderNav();
  showAlert('');
  $('#results').replaceChildren();
  const clever = await authConfig().then((config) => Boolean(config.clever_client_id), () => false);
  const button = h('button', { type: 'button', className: 'primary', 'data-testid': 'signin-start', onclick: () => startSignIn('email') },
    clever ? 'Sign in with e-mail' : buttonText);
  setView(h('section', { className: 'card signin', 'data-testid': testid, 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, title), message ? h('p', {}, message) : null, button,
    clever ? h('button', { type: 'button', 'data-testid': 'signin-clever', onclick: () => startSignIn('clever') }, 'Log in with Clever') : null,
    offerSignOut ? h('button', { type: 'button', 'data-testid': 'signin-sign-out', onclick: () => signOut() }, 'Sign out') : null));
  button.focus();
}

export const renderSignInProblem = (message, refused = false) => signInCard('signin-problem', 'Not signed in', message, 'Sign in again', { offerSignOut: refused });
export const renderSignedOut = () => signInCard('signed-out', 'You have signed out', '', 'Sign in');
const renderChooseSignIn = () => signInCard('signin-choose', 'Sign in to the SIS sync dashboard', 'District administrators whose district uses Clever can log in with their Clever account.', 'Sign in');

async function startSignIn(way) {
  try {
    await beginSignIn(way);
  } catch (error) {
    renderSignInProblem(error.message);
  }
}

// No token: go the way this browser signed in with last (no prompt while that session lasts); a
// deployment with Clever sign-in asks a browser that has not signed in yet which way.
export async function signInAgain() {
  try {
    const config = await authConfig();
    const way = config.clever_client_id ? rememberedWay() : 'email';
    return way ? await beginSignIn(way) : await renderChooseSignIn();
  } catch (error) {
    return renderSignInProblem(error.message);
  }
}

export function renderNav() {
  const nav = $('#account');
  if (!state.me) return nav.replaceChildren();
  const ids = state.me.district_ids ?? [];
  const picker = ids.length > 1
    ? h('span', { className: 'picker' },
      h('label', { for: 'district-picker' }, 'District'),
      h('select', { id: 'district-picker', value: state.district?.district_id ?? ids[0], onchange: (e) => { window.location.hash = `#/districts/${enc(e.target.value)}`; } },
        ids.map((id) => h('option', { value: id }, id))))
    : null;
  nav.replaceChildren(picker ?? '', h('span', { className: 'who' }, state.me.email),
    h('button', { type: 'button', onclick: () => signOut() }, 'Sign out'));
}

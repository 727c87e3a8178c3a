// Sign-in is OAuth 2.0 authorization code + PKCE against the endpoints GET /v1/auth-config names
// (Cognito's Hosted UI, or the devstack's stand-in); the ID token and the pending sign-in live in this
// tab's sessionStorage only. Log in with Clever is the same flow with the Clever sign-in client and
// identity_provider=Clever; a cookie remembers only which of the two ways this browser signed in with
// last (never a token).

import { BASE, token, api } from './api.js';

const PENDING_KEY = 'sis-sync.pending-sign-in'; // {verifier, state, returnTo, way, clientId} until the code comes back
export const SIGNED_OUT_KEY = 'sis-sync.signed-out';
const WAY_COOKIE = 'sis-sync.sign-in-with'; // 'email' or 'clever': a new tab or an e-mail link goes that way at once
const WAY_DAYS = 30;

const OAUTH_ERRORS = {
  invalid_grant: 'The sign-in code was already used or has expired.',
  access_denied: 'Sign-in was cancelled or refused.',
};
// Cognito wraps a trigger's refusal ("<Trigger> failed with error <message>."): keep the message.
const TRIGGER_REFUSAL = /^\w+ failed with error (.+?)\.?$/s;

export class SignInRefused extends Error {} // an answer that came back refused: the card offers the other ways
export const redirectUri = () => `${window.location.origin}${BASE}/`;

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

let authConfigAnswer;
export async function authConfig() {
  try {
    authConfigAnswer ??= await api.authConfig();
    return authConfigAnswer;
  } catch (error) {
    throw new Error(`The dashboard cannot find where to sign in: ${error.message}`);
  }
}

export const rememberedWay = () => document.cookie.split('; ').find((c) => c.startsWith(`${WAY_COOKIE}=`))?.split('=')[1];

function rememberWay(way) {
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  const age = way ? WAY_DAYS * 24 * 3600 : 0;
  document.cookie = `${WAY_COOKIE}=${way ?? ''}; Max-Age=${age}; Path=${BASE}/; SameSite=Strict${secure}`;
}

// To the authorization server; it comes back to this page with ?code=…&state=… (at once, without a
// prompt, while its own session lasts). The page asked for (#/districts/…) is restored afterwards.
// `way` is 'email' (the Hosted UI) or 'clever' (Cognito goes straight to Clever's login).
export async function beginSignIn(way = 'email') {
  sessionStorage.removeItem(SIGNED_OUT_KEY);
  const config = await authConfig();
  const clever = way === 'clever' && config.clever_client_id;
  const clientId = clever ? config.clever_client_id : config.client_id;
  const pending = { verifier: randomText(48), state: randomText(24), returnTo: window.location.hash, way: clever ? 'clever' : 'email', clientId };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier)));
  const url = new URL(config.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri(),
    scope: config.scopes.join(' '),
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(clever ? { identity_provider: 'Clever' } : {}),
  }).toString();
  window.location.assign(url.toString());
}

// Back from the authorization server: check `state`, exchange the code for tokens (PKCE verifier).
export async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY); // one answer per sign-in started
  // the code must stay neither in the address bar nor in the history
  window.history.replaceState(null, '', `${BASE}/${pending?.returnTo ?? ''}`);
  if (params.has('error')) {
    const description = params.get('error_description');
    const refusal = description?.match(TRIGGER_REFUSAL)?.[1];
    const reason = refusal ?? OAUTH_ERRORS[params.get('error')] ?? description ?? params.get('error');
    if (pending?.way === 'clever') {
      rememberWay(null); // the next visit asks again instead of going back to Clever: no loop
      throw new SignInRefused(`Log in with Clever was refused: ${reason}`);
    }
    throw new SignInRefused(`The sign-in service refused: ${reason}`);
  }
  if (!pending || !params.get('state') || params.get('state') !== pending.state) {
    throw new Error('This sign-in answer does not belong to a sign-in started in this tab, so it was ignored. Nothing was signed in.');
  }
  const config = await authConfig();
  let response;
  try {
    response = await fetch(config.token_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: pending.clientId ?? config.client_id, // the client the flow started with
        code: params.get('code') ?? '',
        redirect_uri: redirectUri(),
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    throw new Error('The dashboard cannot reach the sign-in service. Check your connection and try again.');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.id_token) {
    throw new Error(`Signing in failed: ${OAUTH_ERRORS[answer.error] ?? answer.error_description ?? `the sign-in service answered ${response.status}`}.`);
  }
  token.set(answer.id_token);
  rememberWay(pending.way ?? 'email');
}

// Building the page: the h() element helper and the page's alert, results and view regions.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { value, checked, ...attributes } = props;
  for (const [key, val] of Object.entries(attributes)) {
    if (val === undefined || val === null || val === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), val);
    else el.setAttribute(key === 'className' ? 'class' : key, val === true ? '' : String(val));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  if (value !== undefined) el.value = value;
  if (checked !== undefined) el.checked = checked;
  return el;
}

export const $ = (selector) => document.querySelector(selector);
export const showAlert = (message) => $('#alert').replaceChildren(message ? h('p', {}, message) : '');
export const setView = (...children) => $('#view').replaceChildren(...children.filter(Boolean));

export function showResults(lines, append = false) {
  const list = append ? $('#results ul') ?? h('ul') : h('ul');
  list.append(...lines.map((line) => h('li', {}, line)));
  if (!append || !list.isConnected) $('#results').replaceChildren(list);
}

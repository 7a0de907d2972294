// The Switchboard admin console: one page, no build step. It talks to the REST API under
// /api/v1 with the access key its user logged in with, and renders every text through
// textContent, never as HTML.

import { t, lang, setLang } from './i18n.js';
import { dayColumns, bars, scale, thresholdCurve } from './charts.js';

const STATUSES = ['collecting', 'matching', 'awaiting_choice', 'answered', 'with_human', 'waiting', 'reconfirming', 'closed'];
const TARGETS = ['acknowledge', 'first_reply', 'resolution'];
// The on-call set-up's enums, spelled as in schemas/src/oncall.rs.
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const ESCALATION_TARGETS = ['assignee', 'next_layer', 'leads', 'group_chat'];
const SHIFT_UNITS = ['days', 'weeks'];
const CLOCKS = ['wall', 'working'];
const main = document.getElementById('main');
const session = {
  key: sessionStorage.getItem('sb.key') || localStorage.getItem('sb.key'),
  me: null,
  teams: [],
  team: null,
  detail: null,
  timers: [],
  aborts: [],
};

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/** An element with attributes (`on*` become listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'value') node.value = value;
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An API failure, with the JSON error body's code and message. */
class ApiFailure extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Calls the API; JSON in and out unless `raw` (a Blob or bytes with a content type). */
async function api(method, path, body, { raw, contentType, signal } = {}) {
  const headers = { authorization: `Bearer ${session.key}` };
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['content-type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/me')) {
      logout();
      throw new ApiFailure(401, 'unauthorized', t('login_failed'), data);
    }
    throw new ApiFailure(response.status, data?.code || 'error', data?.message || response.statusText, data);
  }
  return data;
}

/** Shows a short message; errors stay longer. */
function toast(message, kind = 'ok') {
  const node = document.getElementById('toast');
  node.textContent = message;
  node.className = `toast ${kind}`;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, kind === 'error' ? 8000 : 3000);
}

/** Says what went wrong; a version conflict says the view was reloaded. */
function failed(error) {
  if (error instanceof ApiFailure && error.code === 'version_conflict') toast(t('version_conflict'), 'error');
  else toast(`${t('error')}: ${error.message}`, 'error');
}

/** The file name a `Content-Disposition` gives (its UTF-8 `filename*`), if any. */
function dispositionName(header) {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(header || '');
  try { return encoded ? decodeURIComponent(encoded[1]) : null; } catch { return null; }
}

/** Fetches a file with the key and hands it to the browser as a download, under the name
 *  the server gives it (an attachment's fits the type read from its bytes). */
async function download(path, name) {
  try {
    const response = await fetch(`/api/v1${path}`, { headers: { authorization: `Bearer ${session.key}` } });
    if (!response.ok) throw new ApiFailure(response.status, 'error', (await response.json()).message);
    const saved = dispositionName(response.headers.get('content-disposition')) || name;
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: saved });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { failed(e); }
}

/** Shows a picture fetched with the key (an <img> cannot send it) from a blob URL. */
async function showPicture(img, path, pictures, abort) {
  // Fetched once per page, however often the page is drawn again; its memory goes with the page.
  if (!pictures.has(path)) {
    pictures.set(path, (async () => {
      const response = await fetch(path, { headers: { authorization: `Bearer ${session.key}` }, signal: abort.signal });
      if (!response.ok) throw new ApiFailure(response.status, 'error', response.statusText);
      const url = URL.createObjectURL(await response.blob());
      if (abort.signal.aborted) URL.revokeObjectURL(url);
      else abort.signal.addEventListener('abort', () => URL.revokeObjectURL(url));
      return url;
    })());
  }
  try {
    img.src = await pictures.get(path);
  } catch (e) {
    pictures.delete(path);
    if (e.name !== 'AbortError') img.replaceWith(h('span', { class: 'muted' }, `${t('attachment_unavailable')}: ${e.message}`));
  }
}

/** The file size in words. */
function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** One attachment: a thumbnail that opens full size, or a download, or why it is missing. */
function attachmentView(a, pictures, abort) {
  const label = a.name || `${t(`kind_${a.kind}`)} · ${(a.hash || a.attachment_id).slice(0, 8)}`;
  if (a.state === 'fetching') return h('li', { class: 'muted', 'data-test': 'attachment' }, `${label}: ${t('attachment_fetching')}`);
  if (a.state === 'failed') return h('li', { class: 'error', 'data-test': 'attachment' }, `${label}: ${t('attachment_failed')} (${a.failure})`);
  if (a.state === 'removed') return h('li', { class: 'muted', 'data-test': 'attachment' }, `${label}: ${t('attachment_removed').replace('{days}', a.removed_after_days)}`);
  const path = a.url.replace(/^\/api\/v1/, '');
  if (a.inline) {
    const thumb = h('img', { class: 'thumb', alt: label, 'data-test': 'attachment-thumb' });
    showPicture(thumb, a.url, pictures, abort);
    const full = () => {
      const dialog = h('dialog', { class: 'picture', 'data-test': 'attachment-full', onclick: () => { dialog.close(); dialog.remove(); } },
        h('img', { src: thumb.src, alt: label }));
      document.body.append(dialog);
      dialog.showModal();
    };
    return h('li', { 'data-test': 'attachment' }, h('button', { type: 'button', class: 'thumb-button', title: t('attachment_full'), onclick: full }, thumb),
      h('span', { class: 'muted' }, ` ${bytes(a.size)} · ${when(a.at)} `),
      h('a', { href: '#', onclick: (e) => { e.preventDefault(); download(`${path}?name=${encodeURIComponent(label)}`, label); } }, t('download')));
  }
  return h('li', { 'data-test': 'attachment' },
    h('a', { href: '#', 'data-test': 'attachment-download', onclick: (e) => { e.preventDefault(); download(`${path}?name=${encodeURIComponent(label)}`, label); } }, label),
    h('span', { class: 'muted' }, ` ${a.media_type.split(';')[0]} · ${bytes(a.size)} · ${when(a.at)}`));
}

function when(at) {
  if (!at) return '';
  const d = new Date(at);
  return d.toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
}

function seconds(value) {
  if (value === null || value === undefined) return '–';
  if (value < 90) return `${Math.round(value)} s`;
  if (value < 5400) return `${Math.round(value / 60)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function percent(value) { return `${(value * 100).toFixed(1)}%`; }

/** A span of milliseconds as a short "4 min"-like text, for the time left to a target. */
function timeLeft(ms) {
  const secs = Math.max(0, Math.round(ms / 1000));
  if (secs < 60) return t('tl_s', { n: secs });
  const mins = Math.floor(secs / 60);
  if (mins < 60) return t('tl_m', { n: mins });
  if (mins < 48 * 60) return t('tl_h', { h: Math.floor(mins / 60), m: mins % 60 });
  return t('tl_d', { d: Math.floor(mins / 1440), h: Math.floor((mins % 1440) / 60) });
}

/** A response target's name in full ("Acknowledge"), as the on-call set-up names it. */
function targetName(target) {
  return t({ acknowledge: 'oc_t_ack', first_reply: 'oc_t_first_reply', resolution: 'oc_t_resolution' }[target] || `tg_${target}`);
}

function statusBadge(status) { return h('span', { class: `badge st-${status}`, 'data-status': status }, t(`st_${status}`)); }

/**
 * A session's response-target badges: every target it missed, then every target still
 * running with the time left (a warning under five minutes, overdue once past; the server
 * records the miss within seconds).
 */
function targetBadges(s, now = Date.now()) {
  const missed = (s.missed_targets || []).map((target) => h('span', { class: 'badge breached', 'data-test': 'breached-badge', 'data-target': target },
    t('tg_breached', { target: t(`tg_${target}`) })));
  const due = (s.targets_due || []).map(({ target, due_at: dueAt }) => {
    const left = new Date(dueAt).getTime() - now;
    const state = left < 0 ? 'overdue' : left < 5 * 60000 ? 'soon' : 'running';
    return h('span', { class: `badge target-due ${state}`, 'data-test': 'target-due', 'data-target': target, 'data-state': state,
      title: t('tg_due_at', { at: when(dueAt) }) },
    left < 0 ? t('tg_overdue', { target: t(`tg_${target}`), by: timeLeft(-left) }) : t('tg_left', { target: t(`tg_${target}`), left: timeLeft(left) }));
  });
  return [...missed, ...due];
}

function teamPath(rest = '') { return `/teams/${encodeURIComponent(session.team)}${rest}`; }

function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);
}

/** Runs `work` with the button disabled, so a double click does not do it twice. */
async function busy(button, work) {
  button.disabled = true;
  try { await work(); } catch (e) { failed(e); } finally { button.disabled = false; }
}

function later(ms, fn) { session.timers.push(setTimeout(fn, ms)); }

function stopLiveWork() {
  session.timers.forEach(clearTimeout);
  session.timers = [];
  session.aborts.forEach((a) => a.abort());
  session.aborts = [];
}

// ---------------------------------------------------------------------------------------
// Chrome: header, language, login
// ---------------------------------------------------------------------------------------

function renderChrome() {
  document.querySelectorAll('[data-i18n]').forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.getElementById('lang').textContent = lang() === 'zh' ? 'English' : '中文';
  const nav = document.getElementById('nav');
  const logged = Boolean(session.me);
  nav.hidden = !logged || !session.team;
  document.getElementById('logout').hidden = !logged;
  document.getElementById('team-pick').hidden = !logged || session.teams.length < 2;
  document.getElementById('who').textContent = logged
    ? `${session.me.staff} · ${session.me.global_admin ? t('r_admin') + ' (global)' : t(`r_${session.me.role}`)}`
    : '';
  nav.replaceChildren();
  if (logged && session.team) {
    const here = location.hash;
    const links = [['sessions', '/sessions'], ['faqs', '/faqs'], ['candidates', '/candidates'], ['statistics', '/statistics'],
      ['on_call', '/on-call', 'on-call'], ['settings', '/settings']];
    for (const [key, path, test] of links) {
      const href = `#${teamPath(path)}`;
      nav.append(h('a', { href, class: here.startsWith(href) ? 'active' : '', 'data-test': `nav-${test || key}` }, t(key)));
    }
    if (session.me.global_admin) nav.append(h('a', { href: '#/onboarding', 'data-test': 'nav-onboarding', class: here === '#/onboarding' ? 'active' : '' }, t('onboarding')));
  }
  const select = document.getElementById('team-select');
  select.replaceChildren(...session.teams.map((team) => h('option', { value: team.id, selected: team.id === session.team }, `${team.name} (${team.id})`)));
}

function logout() {
  sessionStorage.removeItem('sb.key');
  localStorage.removeItem('sb.key');
  Object.assign(session, { key: null, me: null, teams: [], team: null, detail: null });
  location.hash = '#/login';
}

async function identify() {
  session.me = await api('GET', '/me');
  session.teams = await api('GET', '/teams');
  if (session.me.team) session.team = session.me.team;
  if (!session.team && session.teams.length) session.team = session.teams[0].id;
}

function loginPage() {
  const key = h('input', { type: 'password', autocomplete: 'current-password', 'data-test': 'login-key', required: true, size: 48 });
  const remember = h('input', { type: 'checkbox' });
  const message = h('p', { class: 'error', hidden: true });
  const form = h('form', { class: 'card login', 'data-test': 'login-form', onsubmit: async (event) => {
    event.preventDefault();
    session.key = key.value.trim();
    try {
      await identify();
      (remember.checked ? localStorage : sessionStorage).setItem('sb.key', session.key);
      location.hash = session.team ? `#${teamPath('/sessions')}` : '#/onboarding';
    } catch (e) {
      session.key = null;
      session.me = null;
      message.hidden = false;
      message.textContent = e.status === 401 ? t('login_failed') : `${t('error')}: ${e.message}`;
    }
  } },
  h('h1', {}, 'Switchboard'),
  h('p', {}, t('login_hint')),
  field(t('key'), key),
  h('label', { class: 'check' }, remember, t('remember')),
  message,
  h('button', { type: 'submit', class: 'primary', 'data-test': 'login-submit' }, t('login')));
  main.replaceChildren(form);
  key.focus();
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

async function teamDetail(force = false) {
  if (force || !session.detail || session.detail.id !== session.team) session.detail = await api('GET', teamPath());
  return session.detail;
}

function sessionsPage(params) {
  const filters = {
    status: params.get('status') || '', assignee: params.get('assignee') || '', category: params.get('category') || '',
    text: params.get('text') || '', from: params.get('from') || '', to: params.get('to') || '',
    breached: params.get('breached') === 'true' ? 'true' : '',
  };
  const cursor = params.get('cursor') || '';
  const status = h('select', { name: 'status', 'data-test': 'filter-status' }, h('option', { value: '' }, t('all')),
    STATUSES.map((s) => h('option', { value: s, selected: filters.status === s }, t(`st_${s}`))));
  const input = (name, type = 'text') => h('input', { name, type, value: filters[name], 'data-test': `filter-${name}` });
  const assignee = input('assignee'), category = input('category'), text = input('text'), from = input('from', 'date'), to = input('to', 'date');
  const go = () => {
    const next = new URLSearchParams();
    for (const [name, node] of Object.entries({ status, assignee, category, text, from, to })) if (node.value) next.set(name, node.value);
    if (breached.checked) next.set('breached', 'true');
    location.hash = `#${teamPath('/sessions')}?${next}`;
  };
  // Ticking "breached only" applies at once, like choosing a statistics period.
  const breached = h('input', { type: 'checkbox', name: 'breached', checked: Boolean(filters.breached), 'data-test': 'filter-breached', onchange: go });
  const apply = (event) => {
    event.preventDefault();
    go();
  };
  const form = h('form', { class: 'filters', onsubmit: apply },
    field(t('status'), status), field(t('assignee'), assignee), field(t('category'), category),
    field(t('text'), text), field(t('from'), from), field(t('to'), to),
    h('label', { class: 'check' }, breached, t('breached_only')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-test': 'filter-apply' }, t('filter')),
      h('a', { href: `#${teamPath('/sessions')}`, class: 'button' }, t('reset'))));
  const notice = h('button', { type: 'button', class: 'notice', hidden: true, 'data-test': 'new-sessions', onclick: () => load() });
  const body = h('tbody');
  const pager = h('div', { class: 'pager' });
  const table = h('table', { class: 'list', 'data-test': 'sessions' },
    h('thead', {}, h('tr', {}, [t('opened'), t('user'), t('question'), t('status'), t('oc_targets'), t('assignee'), t('category'), t('messages')].map((c) => h('th', {}, c)))),
    body);
  main.replaceChildren(h('section', {}, h('h1', {}, t('sessions')), form, notice, table, pager));

  const query = () => {
    const q = new URLSearchParams();
    if (filters.status) q.set('status', filters.status);
    for (const name of ['assignee', 'category', 'text']) if (filters[name]) q.set(name, filters[name]);
    if (filters.from) q.set('from', new Date(`${filters.from}T00:00:00`).toISOString());
    if (filters.to) q.set('to', new Date(`${filters.to}T23:59:59.999`).toISOString());
    if (filters.breached) q.set('breached', 'true');
    return q;
  };
  let newest = null;
  let limit = '50';
  let watching = false;
  // The rows shown, by session: the session as last read and its response-target cell.
  const shown = new Map();
  const row = (s) => {
    const targets = h('td', { class: 'targets' }, targetBadges(s));
    shown.set(s.session_id, { session: s, cell: targets });
    return h('tr', { 'data-session': s.session_id, 'data-user': s.user },
      h('td', {}, when(s.opened_at)),
      h('td', {}, h('a', { href: `#${teamPath(`/conversations/${encodeURIComponent(s.user)}`)}`, 'data-test': 'open-session' }, s.user)),
      h('td', { class: 'question' }, s.question || ''),
      h('td', {}, statusBadge(s.status)),
      targets,
      h('td', {}, s.assignee || ''),
      h('td', {}, s.category || ''),
      h('td', { class: 'num' }, `${s.messages_in} / ${s.messages_out}`));
  };
  async function load() {
    notice.hidden = true;
    try {
      const detail = await teamDetail();
      const q = query();
      limit = String(detail.settings.console?.page_size || 50);
      q.set('limit', limit);
      if (cursor) q.set('cursor', cursor);
      const page = await api('GET', `${teamPath('/sessions')}?${q}`);
      newest = page.sessions[0]?.session_id || null;
      shown.clear();
      body.replaceChildren(...(page.sessions.length ? page.sessions.map(row)
        : [h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('none')))]));
      pager.replaceChildren(
        cursor ? h('a', { class: 'button', href: `#${teamPath('/sessions')}?${new URLSearchParams({ ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) })}` }, t('first_page')) : '',
        page.next ? h('a', { class: 'button', 'data-test': 'next-page', href: `#${teamPath('/sessions')}?${new URLSearchParams({ ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)), cursor: page.next })}` }, t('next_page')) : '');
      if (!watching) {
        watching = true;
        watch((detail.settings.console?.refresh_secs || 5) * 1000);
      }
    } catch (e) { failed(e); }
  }
  // The rows' response targets again, from fresher sessions where there are some; the time
  // left is counted again for every row.
  function refreshTargets(sessions) {
    for (const s of sessions) {
      const item = shown.get(s.session_id);
      if (item) item.session = s;
    }
    const now = Date.now();
    for (const item of shown.values()) item.cell.replaceChildren(...targetBadges(item.session, now));
  }
  // Live refresh: on the first page, look for sessions newer than the first row and offer
  // to show them; on every page, bring the rows' response targets up to date.
  function watch(every) {
    later(every, async () => {
      if (!table.isConnected) return;
      try {
        const q = query();
        q.set('limit', cursor ? limit : '100');
        if (cursor) q.set('cursor', cursor);
        const page = await api('GET', `${teamPath('/sessions')}?${q}`);
        if (!cursor) {
          const index = page.sessions.findIndex((s) => s.session_id === newest);
          const fresh = index === -1 ? page.sessions.length : index;
          if (fresh > 0) {
            notice.textContent = t('new_sessions', { n: fresh });
            notice.hidden = false;
          }
        }
        refreshTargets(page.sessions);
      } catch { /* a missed refresh is retried at the next one */ }
      if (table.isConnected) watch(every);
    });
  }
  load();
}

// ---------------------------------------------------------------------------------------
// Conversation detail
// ---------------------------------------------------------------------------------------

function speaker(from) {
  if (from === 'operator') return t('operator');
  if (from === 'switchboard') return t('switchboard');
  return from.replace(/^staff:/, '');
}

function lookupView(lookup) {
  return h('div', { class: 'lookup', 'data-test': 'lookup' },
    h('div', { class: 'lookup-head' },
      h('strong', {}, lookup.query), ' ',
      h('span', { class: `badge d-${lookup.decision}` }, t(`d_${lookup.decision}`)), ' ',
      h('span', { class: 'muted' }, `${t('confidence')} ${lookup.confidence.toFixed(2)} · ${lookup.engine} · ${when(lookup.at)}`)),
    h('table', { class: 'scores' },
      h('thead', {}, h('tr', {}, ['#', t('faq_id'), t('question'), t('score'), t('keyword'), t('semantic')].map((c) => h('th', {}, c)))),
      h('tbody', {}, lookup.candidates.map((c, i) => h('tr', { class: lookup.chosen.includes(c.faq_id) ? 'chosen' : '' },
        h('td', {}, i + 1), h('td', {}, c.faq_id), h('td', {}, c.question),
        h('td', { class: 'num' }, c.score.toFixed(3)),
        h('td', { class: 'num' }, c.keyword_score?.toFixed(3) ?? '–'),
        h('td', { class: 'num' }, c.semantic_score?.toFixed(3) ?? '–'))))));
}

function conversationPage(user) {
  const path = teamPath(`/conversations/${encodeURIComponent(user)}`);
  let view = null;
  const container = h('section', { class: 'conversation' }, h('p', {}, t('loading')));
  main.replaceChildren(container);
  const abort = new AbortController();
  const pictures = new Map();
  session.aborts.push(abort);

  // Acknowledging stops the hand-over's escalation; it needs no version (a repeat changes nothing).
  async function acknowledge(button) {
    await busy(button, async () => {
      await api('POST', `${path}/acknowledge`);
      toast(t('acknowledged'));
      await load();
    });
  }

  async function act(button, action, body = {}) {
    await busy(button, async () => {
      try {
        await api('POST', `${path}/${action}?expected_version=${view.version}`, body);
        toast(t('done'));
      } catch (e) {
        if (e.code === 'version_conflict') { toast(t('stale'), 'error'); } else throw e;
      }
      await load();
    });
  }

  function render() {
    const current = view.sessions[view.sessions.length - 1];
    const open = current && current.status !== 'closed';
    const remark = h('textarea', { rows: 2, placeholder: t('remark_placeholder'), 'data-test': 'remark-text' });
    const reply = h('textarea', { rows: 2, placeholder: t('reply_placeholder'), 'data-test': 'reply-text' });
    const transferTo = h('input', { placeholder: t('staff_id'), size: 14, 'data-test': 'transfer-to' });
    const button = (label, test, onclick, cls = '') => h('button', { type: 'button', class: cls, 'data-test': test, onclick }, label);
    const actions = h('div', { class: 'actions status-actions' },
      current?.status === 'with_human' ? button(t('acknowledge'), 'acknowledge', (e) => acknowledge(e.target), 'primary') : null,
      open ? button(t('take_over'), 'take-over', (e) => act(e.target, 'transfer', { to: session.me.staff })) : null,
      open ? h('span', { class: 'inline' }, transferTo, button(t('transfer'), 'transfer', (e) => act(e.target, 'transfer', transferTo.value.trim() ? { to: transferTo.value.trim() } : {}))) : null,
      open ? button(t('wait'), 'wait', (e) => act(e.target, 'status', { to: 'waiting' })) : null,
      open ? button(t('group_chat'), 'group-chat', (e) => act(e.target, 'group-chat')) : null,
      open ? button(t('close'), 'close-session', (e) => act(e.target, 'close'), 'danger') : button(t('reopen'), 'reopen', (e) => act(e.target, 'reopen')));
    const sessions = view.sessions.slice().reverse().map((s) => h('article', { class: 'card session', 'data-test': 'session', 'data-session': s.session_id },
      h('header', {}, h('strong', {}, `${t('session')} · ${when(s.opened_at)}`), ' ', statusBadge(s.status),
        s.assignee ? h('span', { class: 'muted' }, ` · ${t('assignee')}: ${s.assignee}`) : null,
        s.category ? h('span', { class: 'muted' }, ` · ${t('category')}: ${s.category}`) : null),
      h('div', { class: 'chat' }, s.messages.map((m) => h('div', { class: `bubble ${m.from === 'operator' ? 'in' : 'out'}` },
        h('div', { class: 'meta' }, `${speaker(m.from)} · ${when(m.at)}${m.delivered === false ? ' · …' : ''}`),
        h('div', { class: 'text' }, m.text)))),
      s.attachments.length ? h('div', { class: 'attachments' }, h('h3', {}, `${t('attachments')} (${s.attachments.length})`),
        h('ul', { 'data-test': 'attachments' }, s.attachments.map((a) => attachmentView(a, pictures, abort)))) : null,
      s.matches.length ? h('details', { open: s === current }, h('summary', {}, `${t('matched')} (${s.matches.length})`), s.matches.map(lookupView)) : null,
      h('div', { class: 'remarks' }, h('h3', {}, t('remarks')),
        s.remarks.length ? h('ul', { 'data-test': 'remarks' }, s.remarks.map((r) => h('li', {}, h('span', { class: 'muted' }, `${r.author} · ${when(r.at)}: `), r.text))) : h('p', { class: 'muted' }, t('none')))));
    const canAct = session.me.global_admin || session.me.role !== 'viewer';
    container.replaceChildren(
      h('p', {}, h('a', { href: `#${teamPath('/sessions')}` }, `← ${t('back')}`)),
      h('h1', {}, `${t('conversation')}: ${view.user}`),
      canAct ? actions : null,
      canAct && current ? h('div', { class: 'grid2' },
        h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); if (remark.value.trim()) act(e.submitter, 'remarks', { text: remark.value.trim() }); } },
          h('h3', {}, t('add_remark')), remark, h('button', { type: 'submit', 'data-test': 'remark-submit' }, t('add_remark'))),
        open ? h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); if (reply.value.trim()) act(e.submitter, 'replies', { text: reply.value.trim() }); } },
          h('h3', {}, t('reply')), reply, h('button', { type: 'submit', class: 'primary', 'data-test': 'reply-submit' }, t('send'))) : h('div')) : null,
      ...sessions,
      h('details', { class: 'card' }, h('summary', {}, `${t('timeline')} (${view.timeline.length})`),
        h('ol', { class: 'timeline', 'data-test': 'timeline' }, view.timeline.map((line) => h('li', {}, h('span', { class: 'muted' }, `${when(line.at)} · v${line.version} · ${line.event_type}: `), line.summary)))));
  }

  async function load() {
    try {
      view = await api('GET', path);
      render();
    } catch (e) { container.replaceChildren(h('p', { class: 'error' }, e.message)); }
  }
  // Follow the conversation: wait for its next event, then show it.
  async function follow() {
    while (!abort.signal.aborted) {
      try {
        if (!view) { await new Promise((r) => setTimeout(r, 500)); continue; }
        const page = await api('GET', `${path}/events?after=${view.version}&wait=25`, undefined, { signal: abort.signal });
        if (page.events.length && !abort.signal.aborted) await load();
      } catch (e) {
        if (abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }
  load().then(follow);
}

// ---------------------------------------------------------------------------------------
// FAQ
// ---------------------------------------------------------------------------------------

function faqForm(faq, onDone) {
  const id = h('input', { value: faq?.id || '', disabled: Boolean(faq), 'data-test': 'faq-id', placeholder: 'refund-time' });
  const question = h('input', { value: faq?.question || '', required: true, 'data-test': 'faq-question' });
  const answer = h('textarea', { rows: 4, required: true, 'data-test': 'faq-answer' }, faq?.answer || '');
  const category = h('input', { value: faq?.category || '', 'data-test': 'faq-category' });
  const paraphrases = h('input', { value: (faq?.paraphrases || []).join(' | '), 'data-test': 'faq-paraphrases' });
  const form = h('form', { class: 'card faq-form', 'data-test': 'faq-form', onsubmit: async (event) => {
    event.preventDefault();
    const body = { question: question.value, answer: answer.value, category: category.value || null,
      paraphrases: paraphrases.value.split('|').map((p) => p.trim()).filter(Boolean) };
    await busy(event.submitter, async () => {
      try {
        if (faq) await api('PUT', teamPath(`/faqs/${encodeURIComponent(faq.id)}`), { ...body, expected_revision: faq.revision });
        else await api('POST', teamPath('/faqs'), { ...body, id: id.value.trim() || null });
        toast(t('saved'));
        onDone();
      } catch (e) { failed(e); if (e.code === 'version_conflict') onDone(); }
    });
  } },
  field(t('faq_id'), id), field(t('question'), question), field(t('answer'), answer),
  field(t('category'), category), field(t('paraphrases'), paraphrases),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-test': 'faq-save' }, t('save')),
    h('button', { type: 'button', onclick: () => form.remove() }, t('cancel'))));
  return form;
}

function importPanel(onDone) {
  const file = h('input', { type: 'file', accept: '.csv,.xlsx,.xlsm,.jsonl,.json', 'data-test': 'upload-file' });
  const result = h('div', { class: 'import-result', 'data-test': 'import-result' });
  const format = (name) => {
    const ext = name.split('.').pop().toLowerCase();
    return { csv: 'csv', xlsx: 'xlsx', xls: 'xlsx', ods: 'xlsx', jsonl: 'jsonl', json: 'jsonl' }[ext];
  };
  async function send(dryRun) {
    const chosen = file.files[0];
    if (!chosen) return null;
    const kind = format(chosen.name);
    return api('POST', `${teamPath('/faqs/import')}?format=${kind || 'csv'}&dry_run=${dryRun}`, undefined, { raw: await chosen.arrayBuffer() });
  }
  function show(report) {
    const rows = report.preview.map((r) => h('tr', { class: `change-${r.change}` }, h('td', {}, r.line), h('td', {}, r.id), h('td', {}, r.question), h('td', {}, r.answer), h('td', {}, r.category || ''), h('td', {}, t(r.change))));
    const problems = report.problems.map((p) => h('tr', { class: 'problem' }, h('td', {}, p.line), h('td', {}, p.message)));
    const importButton = h('button', { type: 'button', class: 'primary', 'data-test': 'upload-import', disabled: report.problems.length > 0, onclick: (e) => busy(e.target, async () => {
      const done = await send(false);
      toast(t('imported', { n: done.added + done.updated }));
      result.replaceChildren();
      file.value = '';
      onDone();
    }) }, t('import'));
    result.replaceChildren(
      h('p', {}, `${t('rows')}: ${report.rows} · ${t('added')}: ${report.added} · ${t('updated')}: ${report.updated} · ${t('unchanged')}: ${report.unchanged}`),
      report.problems.length ? h('div', {}, h('h3', { class: 'error' }, `${t('problems')}: ${report.problems.length}`),
        h('table', { class: 'list', 'data-test': 'upload-problems' }, h('thead', {}, h('tr', {}, h('th', {}, t('line')), h('th', {}, t('problem')))), h('tbody', {}, problems))) : null,
      rows.length ? h('table', { class: 'list', 'data-test': 'upload-preview' }, h('thead', {}, h('tr', {}, [t('line'), t('faq_id'), t('question'), t('answer'), t('category'), ''].map((c) => h('th', {}, c)))), h('tbody', {}, rows)) : null,
      importButton);
  }
  file.addEventListener('change', async () => {
    try { const report = await send(true); if (report) show(report); } catch (e) { failed(e); result.replaceChildren(h('p', { class: 'error' }, e.message)); }
  });
  return h('div', { class: 'card' }, h('h3', {}, t('upload')), h('p', { class: 'muted' }, t('upload_hint')), file, result);
}

/**
 * The FAQ page's hit testing: try a question and see the ranked FAQs with their scores and
 * what the team's policy would do. Nothing is written, so every role may use it.
 */
function hitTestPanel() {
  const question = h('input', { type: 'text', class: 'hit-test-question', placeholder: t('ht_placeholder'), 'data-test': 'hit-test-question',
    onkeydown: onEnter(() => run()) });
  const button = h('button', { type: 'button', class: 'primary', 'data-test': 'hit-test-run', onclick: () => run() }, t('ht_run'));
  const result = h('div', { class: 'hit-test-result', 'data-test': 'hit-test-result', 'aria-live': 'polite' });
  function run() {
    const text = question.value.trim();
    if (!text) { question.focus(); return; }
    if (button.disabled) return;
    busy(button, async () => {
      result.replaceChildren(h('p', { class: 'muted' }, t('loading')));
      try {
        result.replaceChildren(...hitTestResult(await api('POST', teamPath('/faq-hit-test'), { question: text })));
      } catch (e) { failed(e); result.replaceChildren(h('p', { class: 'error', 'data-test': 'hit-test-error' }, e.message)); }
    });
  }
  return h('div', { class: 'card hit-test', 'data-test': 'hit-test' }, h('h3', {}, t('ht_title')), h('p', { class: 'muted' }, t('ht_help')),
    h('div', { class: 'actions' }, question, button), result);
}

/** A hit test's outcome: the decision and why, the confidence against the thresholds, the fields asked for first, the candidates. */
function hitTestResult(test) {
  const fixed = (value, digits) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');
  const choices = test.choices || [];
  const missing = test.missing_fields || [];
  const candidates = test.candidates || [];
  const levels = `${t('confidence')} ${fixed(test.confidence, 2)} · ${t('answer_at')} ${fixed(test.answer_at, 2)} · ${t('clarify_at')} ${fixed(test.clarify_at, 2)}`;
  // The row answered from, and the rows offered as choices (numbered as the bot offers them).
  const mark = (c) => {
    if (test.answer_faq_id && c.faq_id === test.answer_faq_id) return { role: 'answer', cls: 'chosen', text: t('ht_answers') };
    const choice = choices.indexOf(c.faq_id);
    return choice >= 0 ? { role: 'choice', cls: 'offered', text: t('ht_choice', { n: choice + 1 }) } : null;
  };
  const row = (c, i) => {
    const m = mark(c);
    return h('tr', { class: m?.cls, 'data-test': 'hit-test-candidate', 'data-faq': c.faq_id, 'data-mark': m?.role },
      h('td', { class: 'num' }, i + 1), h('td', {}, c.faq_id),
      h('td', { class: 'question' }, c.question,
        h('details', {}, h('summary', {}, t('answer')), h('div', { class: 'hit-answer', 'data-test': 'hit-test-answer' }, c.answer))),
      h('td', {}, c.category || ''),
      h('td', { class: 'num' }, fixed(c.score, 3)), h('td', { class: 'num' }, fixed(c.keyword_score, 3)), h('td', { class: 'num' }, fixed(c.semantic_score, 3)),
      h('td', {}, m ? h('span', { class: `badge d-${m.role === 'answer' ? 'answer' : 'clarify'}` }, m.text) : null));
  };
  return [
    h('div', { class: 'hit-test-head' },
      h('strong', {}, test.question),
      h('span', { class: `badge d-${test.decision}`, 'data-test': 'hit-test-decision', 'data-decision': test.decision }, t(`ht_d_${test.decision}`)),
      test.hand_over_reason ? h('span', { class: 'muted', 'data-test': 'hit-test-reason', 'data-reason': test.hand_over_reason }, t(`ht_r_${test.hand_over_reason}`)) : null),
    h('div', { class: 'hit-test-levels' },
      scale(test.confidence, [{ at: test.clarify_at, label: `${t('clarify_at')} ${fixed(test.clarify_at, 2)}` },
        { at: test.answer_at, label: `${t('answer_at')} ${fixed(test.answer_at, 2)}` }], { cls: `fill-${test.decision}`, label: levels }),
      h('span', { 'data-test': 'hit-test-confidence' }, levels), test.engine ? h('span', { class: 'muted' }, `${t('engine')} ${test.engine}`) : null),
    missing.length ? h('p', { class: 'notice-box', 'data-test': 'hit-test-missing' }, t('ht_missing', { fields: missing.join(', ') })) : null,
    h('table', { class: 'list', 'data-test': 'hit-test-candidates' },
      h('thead', {}, h('tr', {}, ['#', t('faq_id'), t('question'), t('category'), t('score'), t('keyword'), t('semantic'), ''].map((c, i) => h('th', { class: i === 0 || (i >= 4 && i <= 6) ? 'num' : null }, c)))),
      h('tbody', {}, candidates.length ? candidates.map(row) : h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('none'))))),
  ].filter(Boolean);
}

/** A threshold as it was set: the server keeps 32-bit floats, shown with up to three digits. */
function threshold(value) { return Number(Number(value).toFixed(3)); }

/** A decision badge (answer, clarify, transfer), named as on the conversation page. */
function decisionBadge(decision, test) {
  return h('span', { class: `badge d-${decision}`, 'data-test': test, 'data-decision': decision }, t(`d_${decision}`));
}

/**
 * The FAQ page's threshold replay: the team's past questions decided again at other
 * thresholds (what changes, what the operators' feedback says, precision and coverage at
 * every answer threshold) before they go live. Nothing is written, so every role may
 * replay; team admins may then save the thresholds replayed, the way the settings page
 * saves the policies (the whole settings as read, with `expected_version`).
 */
function replayPanel() {
  const isAdmin = session.me.global_admin || session.me.role === 'admin';
  const input = (test, label) => h('input', { type: 'number', step: 0.01, min: 0, max: 1, class: 'threshold', 'data-test': test, 'aria-label': label,
    onkeydown: onEnter(() => run()), oninput: () => sync() });
  const answerAt = input('replay-answer-at', t('answer_at'));
  const clarifyAt = input('replay-clarify-at', t('clarify_at'));
  const button = h('button', { type: 'button', class: 'primary', 'data-test': 'replay-run', onclick: () => run() }, t('rp_run'));
  const save = isAdmin ? h('button', { type: 'button', 'data-test': 'replay-save', disabled: true, title: t('rp_save_hint'), onclick: () => store() }, t('rp_save')) : null;
  const now = h('span', { class: 'muted', 'data-test': 'replay-current' });
  // A target precision instead of a raw threshold: Switchboard derives the threshold.
  const precision = h('input', { type: 'number', step: 0.01, min: 0.5, max: 0.99, class: 'threshold', 'data-test': 'target-precision',
    'aria-label': t('pt_precision'), placeholder: '0.95', onkeydown: onEnter(() => deriveTarget()) });
  const deriveButton = h('button', { type: 'button', 'data-test': 'target-derive', onclick: () => deriveTarget() }, t('pt_derive'));
  const saveTarget = isAdmin ? h('button', { type: 'button', 'data-test': 'target-save', disabled: true, onclick: () => storeTarget() }, t('pt_save')) : null;
  const derivedLine = h('p', { class: 'muted', 'data-test': 'target-derived', hidden: true });
  let derived = null;
  const problem = h('p', { class: 'error', 'data-test': 'replay-error', hidden: true });
  const result = h('div', { class: 'replay-result', 'data-test': 'replay-result', 'aria-live': 'polite' });
  // The team as read (its whole settings and version, for saving), the thresholds it runs
  // with, and the replay shown with the thresholds it was run at.
  let detail = null;
  let current = null;
  let shown = null;
  const same = (a, b) => Boolean(a && b) && threshold(a.answer_at) === threshold(b.answer_at) && threshold(a.clarify_at) === threshold(b.clarify_at);
  const say = (message) => { problem.textContent = message || ''; problem.hidden = !message; };
  const showCurrent = () => {
    const target = detail && detail.settings.answer_policy.target;
    now.textContent = current ? t('rp_current', { answer: current.answer_at.toFixed(2), clarify: current.clarify_at.toFixed(2) })
      + (target ? ` · ${t('pt_current', { precision: target.precision.toFixed(2), basis: basisText(target) })}` : '') : '';
    if (current) Object.assign(now.dataset, { answerAt: current.answer_at, clarifyAt: current.clarify_at });
  };
  const read = (node) => (node.value.trim() === '' ? NaN : threshold(node.value));
  const typed = () => ({ answer_at: read(answerAt), clarify_at: read(clarifyAt) });
  // Saving takes the thresholds replayed, while the inputs still say them and they differ from the team's.
  function sync() {
    if (!save) return;
    // A derived threshold is saved as the target (its own button), not by hand.
    const isDerived = Boolean(derived) && threshold(typed().answer_at) === threshold(derived.answer_at);
    const ready = Boolean(detail && shown && current) && same(typed(), shown.tried) && !same(shown.tried, current) && !isDerived;
    save.disabled = !ready;
    save.title = ready ? '' : t('rp_save_hint');
  }
  function redraw() {
    if (shown) result.replaceChildren(...replayResult(shown.replay, shown.tried, current));
    showCurrent();
    sync();
  }
  // The team's settings: the thresholds to start from (the inputs are filled once) and the version to save against.
  async function reread() {
    detail = await teamDetail(true);
    const policy = detail.settings.answer_policy;
    current = { answer_at: threshold(policy.answer_at), clarify_at: threshold(policy.clarify_at) };
    if (answerAt.value === '' && clarifyAt.value === '') { answerAt.value = current.answer_at; clarifyAt.value = current.clarify_at; }
    redraw();
  }
  function run() {
    if (button.disabled) return;
    const tried = typed();
    const inRange = (v) => Number.isFinite(v) && v >= 0 && v <= 1;
    if (!inRange(tried.answer_at) || !inRange(tried.clarify_at) || tried.clarify_at > tried.answer_at) { say(t('rp_bad_thresholds')); return; }
    busy(button, async () => {
      say('');
      result.replaceChildren(h('p', { class: 'muted' }, t('loading')));
      try {
        const replay = await api('POST', teamPath('/threshold-replay'), tried);
        current = { answer_at: threshold(replay.current_answer_at), clarify_at: threshold(replay.current_clarify_at) };
        shown = { replay, tried };
      } catch (e) {
        failed(e);
        say(e.message);
        result.replaceChildren();
        shown = null;
      }
      redraw();
    });
  }
  // The threshold a target gives on the team's past questions, replayed at once.
  function deriveTarget() {
    if (deriveButton.disabled) return;
    // Two decimals, as saving sends it: the server derives again for the same target.
    const wanted = Number(Number(precision.value).toFixed(2));
    if (precision.value.trim() === '' || !(wanted >= 0.5 && wanted <= 0.99)) { say(t('pt_bad')); return; }
    busy(deriveButton, async () => {
      say('');
      try {
        const answer = await api('POST', teamPath('/answer-target/derive'), { precision: wanted });
        derived = answer.target;
      } catch (e) {
        failed(e);
        say(e.message);
        derived = null;
      }
      derivedLine.hidden = !derived;
      if (saveTarget) saveTarget.disabled = !derived;
      if (!derived) return;
      derivedLine.textContent = t('pt_result', { answer: derived.answer_at.toFixed(2), basis: basisText(derived),
        expected: percent(derived.expected_precision), coverage: percent(derived.coverage) });
      Object.assign(derivedLine.dataset, { answerAt: derived.answer_at, basis: derived.basis, count: derived.count });
      answerAt.value = threshold(derived.answer_at);
      // The team's clarify threshold, lowered to the answer threshold: what saving the target keeps.
      clarifyAt.value = threshold(Math.min(current ? current.clarify_at : derived.answer_at, derived.answer_at));
      run();
    });
  }
  // Saves through `request`, then reads the team again. A refusal (someone changed the
  // settings since, say) is said here; the inputs and the replay stay.
  async function saving(button, request) {
    await busy(button, async () => {
      say('');
      try {
        await request();
      } catch (e) {
        failed(e);
        say(e.message);
        await reread().catch(failed);
        return;
      }
      toast(t('saved'));
      await reread().catch(failed);
    });
    redraw();
  }
  async function storeTarget() {
    if (!derived || !detail) return;
    // The precision as typed (a 32-bit float read back is a hair off), and the threshold
    // shown: the server refuses to save another if the questions changed since.
    const body = { precision: Number(derived.precision.toFixed(2)), answer_at: derived.answer_at, expected_version: detail.version };
    await saving(saveTarget, async () => { derived = (await api('PUT', teamPath('/answer-target'), body)).target; });
  }
  async function store() {
    if (!shown || !detail) return;
    const { tried } = shown;
    // Everything as read, but the two thresholds; a threshold by hand replaces a target precision.
    const settings = structuredClone(detail.settings);
    Object.assign(settings.answer_policy, { answer_at: tried.answer_at, clarify_at: tried.clarify_at, target: null });
    await saving(save, async () => {
      await api('PUT', teamPath('/settings'), { settings, expected_version: detail.version });
      current = { ...tried };
    });
  }
  reread().catch((e) => { failed(e); say(e.message); });
  return h('div', { class: 'card replay', 'data-test': 'replay' }, h('h3', {}, t('rp_title')), h('p', { class: 'muted' }, t('rp_help')),
    h('div', { class: 'actions' }, field(t('answer_at'), answerAt), field(t('clarify_at'), clarifyAt), button, save, now),
    h('div', { class: 'actions' }, field(t('pt_precision'), precision), deriveButton, saveTarget),
    h('p', { class: 'muted' }, t('pt_help')), derivedLine, problem, result);
}

/** What a derived threshold came from, with the count (the team's verdicts or questions). */
function basisText(target) {
  return t(target.basis === 'outcomes' ? 'pt_outcomes' : 'pt_calibration', { count: target.count });
}

/** A replay's outcome at the thresholds `tried`, the team's `current` ones beside them. */
function replayResult(replay, tried, current) {
  const fixed = (value, digits) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');
  const share = (part, whole) => (whole > 0 ? percent(part / whole) : '—');
  const changes = replay.changes || [];
  const curve = replay.curve || [];
  const flips = replay.flips || [];
  const judged = replay.judged || {};
  const table = (test, heads, rows, empty) => h('table', { class: 'list', 'data-test': test },
    h('thead', {}, h('tr', {}, heads.map(([text, num]) => h('th', { class: num ? 'num' : null }, text)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: heads.length, class: 'empty' }, empty || t('none')))));
  const change = (c) => h('tr', { class: c.was === c.now ? 'same' : 'changed', 'data-test': 'replay-change', 'data-was': c.was, 'data-now': c.now },
    h('td', {}, decisionBadge(c.was)),
    h('td', {}, decisionBadge(c.now), c.was === c.now ? h('span', { class: 'muted' }, ` ${t('rp_same')}`) : null),
    h('td', { class: 'num' }, c.count), h('td', { class: 'num' }, share(c.count, replay.total)));
  // Good: a confirmed answer kept, or a bad one withheld; bad: the other way round.
  const verdicts = [['kept_good', 'good'], ['withheld_bad', 'good'], ['lost_good', 'bad'], ['kept_bad', 'bad'], ['new_good', 'good'], ['new_bad', 'bad'], ['new_unjudged', 'neutral']];
  const verdict = ([key, tone]) => h('tr', { class: `tone-${tone}`, 'data-judged': key },
    h('td', {}, t(`rp_${key}`)), h('td', { class: 'num', 'data-test': `replay-judged-${key.replaceAll('_', '-')}` }, judged[key] ?? 0));
  const point = (p) => h('tr', { class: threshold(p.answer_at) === tried.answer_at ? 'tried' : null },
    h('td', { class: 'num' }, fixed(p.answer_at, 2)), h('td', { class: 'num' }, typeof p.coverage === 'number' ? percent(p.coverage) : '—'),
    h('td', { class: 'num' }, typeof p.precision === 'number' ? percent(p.precision) : '—'), h('td', { class: 'num' }, p.judged ?? 0));
  const feedback = (resolved) => (resolved === true ? t('rp_resolved') : resolved === false ? t('rp_not_resolved') : '—');
  const flip = (f) => h('tr', { 'data-test': 'replay-flip', 'data-was': f.was, 'data-now': f.now, 'data-resolved': typeof f.resolved === 'boolean' ? String(f.resolved) : null },
    h('td', { class: 'question' }, f.question), h('td', { class: 'num' }, fixed(f.confidence, 2)), h('td', {}, f.faq_id || '—'),
    h('td', { class: 'flip' }, decisionBadge(f.was), ' → ', decisionBadge(f.now)),
    h('td', { class: `feedback ${f.resolved === true ? 'good' : f.resolved === false ? 'bad' : ''}` }, feedback(f.resolved)));
  const marks = [{ at: tried.answer_at, cls: 'mark-tried', label: t('rp_mark_tried', { v: fixed(tried.answer_at, 2) }) }];
  if (current) marks.push({ at: current.answer_at, cls: 'mark-current', label: t('rp_mark_current', { v: fixed(current.answer_at, 2) }) });
  const labels = { title: t('rp_curve'), x: t('answer_at'), coverage: t('rp_coverage'), precision: t('rp_precision'), judged: t('rp_judged_n') };
  return [
    h('p', { class: 'replay-summary', 'data-test': 'replay-summary', 'data-answer-at': tried.answer_at, 'data-clarify-at': tried.clarify_at,
      'data-total': replay.total, 'data-with-feedback': replay.with_feedback },
    h('strong', {}, t('rp_summary', { total: replay.total ?? 0, feedback: replay.with_feedback ?? 0 })), ' · ',
    h('span', { class: 'muted' }, t('rp_tried', { answer: fixed(tried.answer_at, 2), clarify: fixed(tried.clarify_at, 2) }))),
    replay.total ? null : h('p', { class: 'notice-box', 'data-test': 'replay-empty' }, t('rp_empty')),
    h('div', { class: 'grid2' },
      h('div', {}, h('h4', {}, t('rp_changes')),
        table('replay-changes', [[t('rp_was')], [t('rp_now')], [t('rp_count'), true], [t('rp_share'), true]], changes.map(change))),
      h('div', {}, h('h4', {}, t('rp_judged')), h('p', { class: 'muted' }, t('rp_judged_help')),
        table('replay-judged', [[t('rp_outcome')], [t('rp_count'), true]], verdicts.map(verdict)))),
    h('div', { class: 'replay-curve', 'data-test': 'replay-curve' }, h('h4', {}, t('rp_curve')), h('p', { class: 'muted' }, t('rp_curve_help')),
      thresholdCurve(curve, marks, { labels }),
      h('details', {}, h('summary', {}, t('rp_curve_table')),
        table('replay-curve-table', [[t('answer_at'), true], [t('rp_coverage'), true], [t('rp_precision'), true], [t('rp_judged_n'), true]], curve.map(point)))),
    h('h4', {}, t('rp_flips')),
    table('replay-flips', [[t('question')], [t('confidence'), true], [t('faq_id')], [t('rp_change')], [t('rp_feedback')]], flips.map(flip), t('rp_no_flips')),
  ].filter(Boolean);
}

async function faqsPage() {
  const canEdit = session.me.global_admin || session.me.role !== 'viewer';
  const search = h('input', { type: 'search', placeholder: t('search'), 'data-test': 'faq-search' });
  const editor = h('div');
  const body = h('tbody');
  let catalog = { faqs: [] };
  const render = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = catalog.faqs.filter((f) => !needle || [f.id, f.question, f.answer, f.category || '', ...f.paraphrases].join(' ').toLowerCase().includes(needle));
    body.replaceChildren(...shown.map((f) => h('tr', { 'data-faq': f.id },
      h('td', {}, f.id), h('td', {}, f.question, f.paraphrases.length ? h('div', { class: 'muted' }, f.paraphrases.join(' | ')) : null),
      h('td', { class: 'answer' }, f.answer), h('td', {}, f.category || ''),
      h('td', {}, canEdit ? [
        h('button', { type: 'button', class: 'link', 'data-test': 'faq-edit', onclick: () => editor.replaceChildren(faqForm(f, load)) }, t('edit')),
        h('button', { type: 'button', class: 'link danger', 'data-test': 'faq-delete', onclick: async (e) => {
          if (!confirm(t('confirm_delete'))) return;
          await busy(e.target, async () => { await api('DELETE', `${teamPath(`/faqs/${encodeURIComponent(f.id)}`)}?expected_revision=${f.revision}`); toast(t('done')); await load(); });
        } }, t('delete'))] : null))));
    if (!shown.length) body.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('none'))));
  };
  async function load() {
    try { catalog = await api('GET', teamPath('/faqs')); editor.replaceChildren(); render(); } catch (e) { failed(e); }
  }
  search.addEventListener('input', render);
  main.replaceChildren(h('section', {},
    h('h1', {}, t('faqs')),
    h('div', { class: 'actions' }, search,
      canEdit ? h('button', { type: 'button', class: 'primary', 'data-test': 'faq-new', onclick: () => editor.replaceChildren(faqForm(null, load)) }, t('new_faq')) : null,
      h('button', { type: 'button', 'data-test': 'export-csv', onclick: () => download(`${teamPath('/faqs/export')}?format=csv`, `faqs-${session.team}.csv`) }, `${t('export')} CSV`),
      h('button', { type: 'button', 'data-test': 'export-xlsx', onclick: () => download(`${teamPath('/faqs/export')}?format=xlsx`, `faqs-${session.team}.xlsx`) }, `${t('export')} Excel`)),
    editor,
    hitTestPanel(),
    replayPanel(),
    canEdit ? importPanel(load) : null,
    h('table', { class: 'list', 'data-test': 'faqs' }, h('thead', {}, h('tr', {}, [t('faq_id'), t('question'), t('answer'), t('category'), ''].map((c) => h('th', {}, c)))), body)));
  await load();
}

// ---------------------------------------------------------------------------------------
// FAQ candidates
// ---------------------------------------------------------------------------------------

async function candidatesPage() {
  const list = h('div', { 'data-test': 'candidates' });
  main.replaceChildren(h('section', {}, h('h1', {}, t('candidates')), list));
  const canAct = session.me.global_admin || session.me.role !== 'viewer';
  let faqs = [];
  async function load() {
    try {
      const [groups, catalog] = await Promise.all([api('GET', teamPath('/faq-candidates')), api('GET', teamPath('/faqs'))]);
      faqs = catalog.faqs;
      list.replaceChildren(...(groups.length ? groups.map(card) : [h('p', { class: 'empty' }, t('none'))]));
    } catch (e) { failed(e); }
  }
  function card(group) {
    const question = h('input', { value: group.representative, 'data-test': 'candidate-question' });
    const answer = h('textarea', { rows: 3, 'data-test': 'candidate-answer' });
    const category = h('input', { value: group.category || '', 'data-test': 'candidate-category' });
    const into = h('select', { 'data-test': 'candidate-into' }, h('option', { value: '' }, '—'), faqs.map((f) => h('option', { value: f.id }, `${f.id}: ${f.question}`)));
    const approve = (e) => busy(e.target, async () => {
      let body;
      if (into.value) body = { sessions: group.members, into: into.value, wordings: group.examples };
      else if (!answer.value.trim()) { toast(t('answer_required'), 'error'); answer.focus(); return; } else body = { sessions: group.members, faq: { question: question.value, answer: answer.value, category: category.value || null, paraphrases: group.examples.filter((x) => x !== question.value) } };
      const done = await api('POST', teamPath('/faq-candidates/approve'), body);
      toast(`${t('approved')}: ${done.faq_id}`);
      node.remove();
    });
    const reject = (e) => busy(e.target, async () => {
      await api('POST', teamPath('/faq-candidates/reject'), { sessions: group.members });
      toast(t('rejected'));
      node.remove();
    });
    const node = h('article', { class: 'card candidate', 'data-test': 'candidate' },
      h('header', {}, h('strong', {}, group.representative), ' ', h('span', { class: 'badge' }, `${t('count')}: ${group.count}`), ' ',
        group.reasons.map((r) => h('span', { class: 'badge muted' }, `${t(`c_${r.reason}`)} ${r.count}`)),
        h('span', { class: 'muted' }, ` · ${when(group.last_seen)}`)),
      h('p', { class: 'muted' }, `${t('examples')}: ${group.examples.join(' / ')}`),
      canAct ? h('div', { class: 'grid2' },
        h('div', {}, field(t('question'), question), field(t('answer'), answer), field(t('category'), category)),
        h('div', {}, field(t('merge_into'), into),
          h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', 'data-test': 'candidate-approve', onclick: approve }, t('approve')),
            h('button', { type: 'button', 'data-test': 'candidate-reject', onclick: reject }, t('reject'))))) : null);
    return node;
  }
  await load();
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

async function statisticsPage(params) {
  const days = Number(params.get('days') || 30);
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  to.setUTCDate(to.getUTCDate() + 1);
  const from = new Date(to.getTime() - days * 86400000);
  const period = h('select', { 'data-test': 'stats-period', onchange: (e) => { location.hash = `#${teamPath('/statistics')}?days=${e.target.value}`; } },
    [7, 30, 90].map((d) => h('option', { value: d, selected: d === days }, t(`days${d}`))));
  const content = h('div', {}, t('loading'));
  main.replaceChildren(h('section', {}, h('h1', {}, t('statistics')), field(t('period'), period), content));
  try {
    const s = await api('GET', `${teamPath('/statistics')}?from=${from.toISOString()}&to=${to.toISOString()}`);
    const dayList = [];
    for (let d = new Date(from); d < to; d = new Date(d.getTime() + 86400000)) dayList.push(d.toISOString().slice(0, 10));
    const series = (rows) => new Map(rows.map((r) => [r.key, r.count]));
    const kpi = (label, value, test, attrs = {}) => h('div', { class: 'kpi', 'data-test': test, ...attrs }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label));
    const ranked = (rows, none = '—') => rows.map((r) => ({ label: r.key || none, count: r.count }));
    content.replaceChildren(
      h('div', { class: 'kpis' },
        kpi(t('s_opened'), s.opened, 'kpi-opened'), kpi(t('s_closed'), s.closed, 'kpi-closed'),
        kpi(t('s_auto_rate'), percent(s.automatic_resolution_rate), 'kpi-auto'), kpi(t('s_transfer_rate'), percent(s.transfer_rate), 'kpi-transfer'),
        kpi(t('s_first_answer'), `${seconds(s.time_to_first_answer.median_secs)} / ${seconds(s.time_to_first_answer.p90_secs)}`, 'kpi-first'),
        kpi(t('s_resolution'), `${seconds(s.time_to_resolution.median_secs)} / ${seconds(s.time_to_resolution.p90_secs)}`, 'kpi-resolution'),
        kpi(t('s_reconfirmed'), s.reconfirmed, 'kpi-reconfirmed'), kpi(t('s_auto_closed'), s.auto_closed, 'kpi-stale')),
      h('div', { class: 'card', 'data-test': 'chart-per-day' }, h('h3', {}, t('per_day')),
        dayColumns(dayList, [{ label: t('s_opened'), cls: 'series-a', values: series(s.opened_per_day) }, { label: t('s_closed'), cls: 'series-b', values: series(s.closed_per_day) }])),
      h('div', { class: 'grid3' },
        h('div', { class: 'card', 'data-test': 'chart-top-faqs' }, h('h3', {}, t('top_faqs')), s.top_faqs.length ? bars(ranked(s.top_faqs)) : h('p', { class: 'muted' }, t('none'))),
        h('div', { class: 'card', 'data-test': 'chart-categories' }, h('h3', {}, t('per_category')), s.per_category.length ? bars(ranked(s.per_category)) : h('p', { class: 'muted' }, t('none'))),
        h('div', { class: 'card', 'data-test': 'chart-assignees' }, h('h3', {}, t('per_assignee')), s.per_assignee.length ? bars(ranked(s.per_assignee)) : h('p', { class: 'muted' }, t('none')))),
      s.handover ? handoverStats(s, kpi) : null);
  } catch (e) { failed(e); content.replaceChildren(h('p', { class: 'error' }, e.message)); }
}

/**
 * How hand-overs went: the targets met, the times to acknowledge and to the first reply,
 * the misses; then the same per engineer and per category. "—" where there is no figure.
 */
function handoverStats(s, kpi) {
  const dash = (value) => (value === null || value === undefined ? '—' : seconds(value));
  const pair = (figures) => `${dash(figures?.median_secs)} / ${dash(figures?.p90_secs)}`;
  const missedOf = (row, target) => (row.missed || []).find((m) => m.key === target)?.count || 0;
  const missedSum = (row) => (row.missed || []).reduce((n, m) => n + m.count, 0);
  const hv = s.handover;
  const met = hv.met || [];
  // The targets to count misses for: those the team tracks and any missed, in order.
  const known = new Set([...met.map((m) => m.target), ...(hv.missed || []).map((m) => m.key)]);
  const targets = [...TARGETS.filter((x) => known.has(x)), ...[...known].filter((x) => !TARGETS.includes(x))];
  const table = (rows, test, keyLabel) => h('table', { class: 'list', 'data-test': test },
    h('thead', {}, h('tr', {}, [keyLabel, t('hv_handed_over'), t('hv_ack_p50'), t('hv_ack_p90'), t('hv_reply_p50'), t('hv_reply_p90'), t('hv_missed')]
      .map((c, i) => h('th', { class: i ? 'num' : null }, c)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', { 'data-key': r.key },
      h('td', {}, r.key || '—'),
      h('td', { class: 'num', 'data-test': 'handed-over' }, r.handed_over),
      h('td', { class: 'num' }, dash(r.time_to_acknowledge?.median_secs)),
      h('td', { class: 'num' }, dash(r.time_to_acknowledge?.p90_secs)),
      h('td', { class: 'num' }, dash(r.time_to_first_reply?.median_secs)),
      h('td', { class: 'num' }, dash(r.time_to_first_reply?.p90_secs)),
      h('td', { class: 'num', 'data-test': 'missed' }, missedSum(r))))
      : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, t('none')))));
  return h('div', { class: 'card', 'data-test': 'handover-stats' },
    h('h2', {}, t('hv_title')),
    h('div', { class: 'kpis' },
      kpi(t('hv_handed_over'), hv.handed_over, 'kpi-handed-over'),
      met.length ? met.map((m) => kpi(t('hv_met', { target: targetName(m.target) }), percent(m.rate), 'kpi-met', { 'data-target': m.target }))
        : kpi(t('hv_met_any'), '—', 'kpi-met'),
      kpi(t('hv_ack'), pair(hv.time_to_acknowledge), 'kpi-ack'),
      kpi(t('hv_first_reply'), pair(hv.time_to_first_reply), 'kpi-first-reply'),
      targets.length ? targets.map((x) => kpi(t('hv_missed_of', { target: targetName(x) }), missedOf(hv, x), 'kpi-missed', { 'data-target': x }))
        : kpi(t('hv_missed'), missedSum(hv), 'kpi-missed')),
    h('h3', {}, t('per_assignee')), table(s.handover_per_assignee || [], 'handover-per-assignee', t('hv_engineer')),
    h('h3', {}, t('per_category')), table(s.handover_per_category || [], 'handover-per-category', t('category')));
}

// ---------------------------------------------------------------------------------------
// On call: who is on call now and next, away and back, the coming shifts, overrides, time
// off, the team calendar and the set-up
// ---------------------------------------------------------------------------------------

/** A datetime-local input's value for an instant, in the browser's time zone. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local input's value (the browser's time zone) as an RFC 3339 UTC instant. */
function utc(value) {
  const at = new Date(value);
  if (!value || Number.isNaN(at.getTime())) throw new Error(t('oc_bad_time'));
  return at.toISOString();
}

/** An instant as a short weekday, date and time, in the browser's time zone. */
function short(at) {
  return new Date(at).toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB',
    { weekday: 'short', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
}

/** "09:00:00" as "09:00". */
function hhmm(time) { return (time || '').slice(0, 5); }

/** The schedules with layers of their own: the default one (null) first, then the categories'. */
function onCallSchedules(settings) {
  return [null, ...Object.keys(settings.categories || {}).filter((c) => settings.categories[c].length)];
}

function layersOf(settings, schedule) { return (schedule ? settings.categories?.[schedule] : settings.default) || []; }

function scheduleLabel(schedule) { return schedule ? `${t('category')}: ${schedule}` : t('oc_default_schedule'); }

/** Everyone the set-up names, for the staff inputs' suggestions. */
function onCallPeople(doc) {
  const s = doc.on_call;
  const people = new Set([...(s.leads || []), ...doc.away, session.me.staff]);
  for (const layer of [...(s.default || []), ...Object.values(s.categories || {}).flat()]) layer.participants.forEach((p) => people.add(p));
  return [...people].sort();
}

/** A from/until pair of datetime-local inputs, from now for `hours`. */
function spanInputs(test, hours) {
  const start = new Date();
  return [
    h('input', { type: 'datetime-local', required: true, value: localInput(start), 'data-test': `${test}-from` }),
    h('input', { type: 'datetime-local', required: true, value: localInput(new Date(start.getTime() + hours * 3600000)), 'data-test': `${test}-until` }),
  ];
}

function nowView(schedule, now) {
  const covering = (l) => l.override_id && l.scheduled && l.scheduled !== l.on_call;
  return h('div', { class: 'now-card', 'data-test': 'on-call-schedule', 'data-schedule': schedule || 'default' },
    h('header', {}, h('strong', {}, scheduleLabel(schedule)),
      now.working ? h('span', { class: 'badge working', 'data-test': 'working' }, t('oc_working'))
        : h('span', { class: 'badge off-hours', 'data-test': 'working' }, t('oc_after_hours'))),
    !now.working && now.back_at ? h('p', { class: 'muted', 'data-test': 'back-at' }, t('oc_back_at', { at: when(now.back_at) })) : null,
    now.layers.length ? h('table', { class: 'now-layers' },
      h('thead', {}, h('tr', {}, [t('oc_layer'), t('oc_on_call_now'), t('oc_until'), t('oc_next')].map((c) => h('th', {}, c)))),
      h('tbody', {}, now.layers.map((l) => h('tr', { 'data-layer': l.layer, class: l.override_id ? 'override' : '' },
        h('td', {}, l.layer),
        h('td', {}, l.on_call ? h('strong', { class: 'on-call-person', 'data-test': 'on-call-person', 'data-staff': l.on_call }, l.on_call)
          : h('span', { class: 'muted' }, t('oc_nobody')),
        covering(l) ? h('div', { class: 'covering', 'data-test': 'covering' }, t('oc_covering', { who: l.scheduled })) : null,
        l.override_id && !covering(l) ? h('span', { class: 'badge override' }, t('oc_override')) : null),
        h('td', {}, l.until ? when(l.until) : '–'),
        h('td', {}, l.next || '–')))))
      : h('p', { class: 'muted' }, t('oc_no_layers')),
    h('p', { class: 'routed', 'data-test': 'routed-to' }, `${t('oc_routed_to')}: `,
      now.routed_to ? h('strong', { 'data-staff': now.routed_to }, now.routed_to) : h('span', { class: 'error' }, t('oc_nobody'))));
}

/** The now-and-next card; it refreshes itself every minute while it is shown. */
function nowCard(doc) {
  const schedules = onCallSchedules(doc.on_call);
  const cards = h('div', { class: 'now-cards' }, t('loading'));
  const card = h('div', { class: 'card', 'data-test': 'on-call-now' }, h('h2', {}, t('oc_now_next')), cards);
  const nowPath = (c) => `${teamPath('/on-call/now')}${c ? `?category=${encodeURIComponent(c)}` : ''}`;
  async function refresh() {
    const nows = await Promise.all(schedules.map((c) => api('GET', nowPath(c))));
    cards.replaceChildren(...schedules.map((c, i) => nowView(c, nows[i])));
  }
  function follow() {
    later(60000, async () => {
      if (!card.isConnected) return;
      try { await refresh(); } catch { /* a missed refresh is retried at the next one */ }
      follow();
    });
  }
  return { card, refresh, follow };
}

function awayCard(doc, reload) {
  const me = session.me.staff;
  const away = doc.away.includes(me);
  const set = (staff, value) => (e) => busy(e.target, async () => {
    await api('PUT', teamPath(`/on-call/availability/${encodeURIComponent(staff)}`), { away: value });
    toast(value ? t('oc_now_away', { who: staff }) : t('oc_now_back', { who: staff }));
    await reload();
  });
  return h('div', { class: 'card', 'data-test': 'on-call-away' },
    h('h2', {}, t('oc_away_back')),
    h('div', { class: 'actions' },
      h('span', { class: away ? 'badge off-hours' : 'badge working' }, away ? t('oc_you_are_away', { who: me }) : t('oc_you_are_available', { who: me })),
      h('button', { type: 'button', class: away ? 'primary' : '', 'data-test': 'toggle-away', 'data-away': String(away), onclick: set(me, !away) },
        away ? t('oc_mark_back') : t('oc_mark_away'))),
    h('p', { class: 'muted' }, t('oc_away_help')),
    h('h3', {}, t('oc_away_list')),
    doc.away.length ? h('ul', { class: 'away-list', 'data-test': 'away-list' }, doc.away.map((s) => h('li', { 'data-staff': s }, s,
      s !== me ? h('button', { type: 'button', class: 'link', 'data-test': 'mark-back', onclick: set(s, false) }, t('oc_mark_other_back')) : null)))
      : h('p', { class: 'muted', 'data-test': 'away-list' }, t('oc_nobody_away')));
}

function shiftsCard(doc, shifts) {
  const settings = doc.on_call;
  // Schedule ('' for the default one) → layer → its shifts, in the set-up's order.
  const groups = new Map(onCallSchedules(settings).map((c) => [c || '', new Map(layersOf(settings, c).map((l) => [l.name, []]))]));
  for (const s of shifts) {
    const key = s.schedule || '';
    if (!groups.has(key)) groups.set(key, new Map());
    const layers = groups.get(key);
    if (!layers.has(s.layer)) layers.set(s.layer, []);
    layers.get(s.layer).push(s);
  }
  const notes = new Map(doc.overrides.map((o) => [o.override_id, o.note]));
  const chip = (s) => h('span', { class: s.override_id ? 'shift override' : 'shift', 'data-staff': s.staff, 'data-override': s.override_id,
    title: s.override_id ? notes.get(s.override_id) || t('oc_override') : null },
  h('strong', {}, s.staff), h('span', { class: 'muted' }, `${short(s.from)} – ${short(s.until)}`),
  s.override_id ? h('span', { class: 'badge override' }, t('oc_override')) : null);
  const tables = [...groups].filter(([, layers]) => layers.size).map(([schedule, layers]) => h('div', { class: 'shift-group', 'data-schedule': schedule || 'default' },
    h('h3', {}, scheduleLabel(schedule)),
    h('table', { class: 'list shifts-table' }, h('tbody', {}, [...layers].map(([layer, list]) => h('tr', { 'data-layer': layer },
      h('th', {}, layer),
      h('td', {}, list.length ? h('div', { class: 'shifts' }, list.map(chip)) : h('span', { class: 'muted' }, t('none')))))))));
  // The feed's address carries a key of its own, never the key this console is used with:
  // a dedicated viewer key is issued for it (team admins), shown once, revocable.
  const feedUrl = (key, staff) => `${location.origin}/api/v1${teamPath('/on-call/feed.ics')}?key=${encodeURIComponent(key)}${staff ? `&staff=${encodeURIComponent(staff)}` : ''}`;
  const feedInput = (url, test) => h('input', { value: url, readonly: true, class: 'code feed-url', 'data-test': test, onfocus: (e) => e.target.select() });
  const copy = (input) => h('button', { type: 'button', onclick: async () => {
    input.select();
    try { await navigator.clipboard.writeText(input.value); toast(t('oc_copied')); } catch { toast(t('oc_copy_hint')); }
  } }, t('oc_copy'));
  const placeholder = '<feed-key>';
  const all = feedInput(feedUrl(placeholder), 'feed-url'), mine = feedInput(feedUrl(placeholder, session.me.staff), 'feed-url-mine');
  const create = session.me.global_admin ? h('span', { class: 'muted' }, t('oc_feed_team_key')) : h('button', { type: 'button', 'data-test': 'feed-create', onclick: (e) => busy(e.target, async () => {
    try {
      const issued = await api('POST', teamPath('/keys'), { label: t('oc_feed_label'), role: 'viewer', staff: session.me.staff });
      all.value = feedUrl(issued.token);
      mine.value = feedUrl(issued.token, session.me.staff);
      toast(t('oc_feed_created'));
    } catch (error) { failed(error); }
  }) }, t('oc_feed_create'));
  return h('div', { class: 'card', 'data-test': 'on-call-calendar' },
    h('h2', {}, t('oc_coming')), h('p', { class: 'muted' }, t('oc_times_local')),
    tables.length ? tables : h('p', { class: 'empty' }, t('none')),
    h('div', { class: 'feed' }, h('h3', {}, t('oc_subscribe')), h('p', { class: 'muted' }, t('oc_feed_hint')),
      h('p', {}, create),
      field(t('oc_feed_all'), h('span', { class: 'inline' }, all, copy(all))),
      field(t('oc_feed_mine'), h('span', { class: 'inline' }, mine, copy(mine))),
      h('p', { class: 'muted' }, t('oc_feed_note'))));
}

function overridesCard(doc, reload) {
  const settings = doc.on_call;
  const layer = h('select', { required: true, 'data-test': 'override-layer' });
  const schedule = h('select', { 'data-test': 'override-schedule', onchange: () => fillLayers() },
    onCallSchedules(settings).map((c) => h('option', { value: c || '' }, scheduleLabel(c))));
  const fillLayers = () => layer.replaceChildren(...layersOf(settings, schedule.value || null).map((l) => h('option', { value: l.name }, l.name)));
  fillLayers();
  const staff = h('input', { required: true, list: 'on-call-people', placeholder: t('staff_id'), 'data-test': 'override-staff' });
  const [from, until] = spanInputs('override', 24);
  const note = h('input', { maxlength: 200, 'data-test': 'override-note' });
  const form = h('form', { class: 'span-form', 'data-test': 'override-form', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const body = { layer: layer.value, staff: staff.value.trim(), from: utc(from.value), until: utc(until.value) };
      if (schedule.value) body.category = schedule.value;
      if (note.value.trim()) body.note = note.value.trim();
      await api('POST', teamPath('/on-call/overrides'), body);
      toast(t('saved'));
      await reload();
    });
  } },
  field(t('oc_schedule'), schedule), field(t('oc_layer'), layer), field(t('staff'), staff), field(t('from'), from), field(t('to'), until),
  field(t('oc_note'), note), h('button', { type: 'submit', class: 'primary', 'data-test': 'add-override' }, t('oc_add_override')));
  const rows = doc.overrides.slice().sort((a, b) => new Date(a.from) - new Date(b.from)).map((o) => h('tr', { 'data-override': o.override_id, 'data-staff': o.staff },
    h('td', {}, scheduleLabel(o.category)), h('td', {}, o.layer), h('td', {}, o.staff), h('td', {}, when(o.from)), h('td', {}, when(o.until)), h('td', {}, o.note || ''),
    h('td', {}, h('button', { type: 'button', class: 'link danger', 'data-test': 'remove-override', onclick: (e) => busy(e.target, async () => {
      await api('DELETE', teamPath(`/on-call/overrides/${encodeURIComponent(o.override_id)}`));
      toast(t('done'));
      await reload();
    }) }, t('remove')))));
  return h('div', { class: 'card' }, h('h2', {}, t('oc_overrides')), h('p', { class: 'muted' }, t('oc_overrides_help')), form,
    h('table', { class: 'list', 'data-test': 'overrides' },
      h('thead', {}, h('tr', {}, [t('oc_schedule'), t('oc_layer'), t('staff'), t('from'), t('to'), t('oc_note'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, t('none'))))));
}

function timeOffCard(doc, reload) {
  const staff = h('input', { required: true, list: 'on-call-people', value: session.me.staff, 'data-test': 'time-off-staff' });
  const [from, until] = spanInputs('time-off', 24);
  const note = h('input', { maxlength: 200, 'data-test': 'time-off-note' });
  const form = h('form', { class: 'span-form', 'data-test': 'time-off-form', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const body = { staff: staff.value.trim(), from: utc(from.value), until: utc(until.value) };
      if (note.value.trim()) body.note = note.value.trim();
      await api('POST', teamPath('/on-call/time-off'), body);
      toast(t('saved'));
      await reload();
    });
  } },
  field(t('staff'), staff), field(t('from'), from), field(t('to'), until), field(t('oc_note'), note),
  h('button', { type: 'submit', class: 'primary', 'data-test': 'add-time-off' }, t('oc_add_time_off')));
  const rows = doc.time_off.slice().sort((a, b) => new Date(a.from) - new Date(b.from)).map((o) => h('tr', { 'data-time-off': o.time_off_id, 'data-staff': o.staff },
    h('td', {}, o.staff), h('td', {}, when(o.from)), h('td', {}, when(o.until)), h('td', {}, o.note || ''),
    h('td', {}, h('button', { type: 'button', class: 'link danger', 'data-test': 'remove-time-off', onclick: (e) => busy(e.target, async () => {
      await api('DELETE', teamPath(`/on-call/time-off/${encodeURIComponent(o.time_off_id)}`));
      toast(t('done'));
      await reload();
    }) }, t('remove')))));
  return h('div', { class: 'card' }, h('h2', {}, t('oc_time_off')), h('p', { class: 'muted' }, t('oc_time_off_help')), form,
    h('table', { class: 'list', 'data-test': 'time-off' },
      h('thead', {}, h('tr', {}, [t('staff'), t('from'), t('to'), t('oc_note'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('none'))))));
}

function teamCalendarCard(doc, reload) {
  const s = doc.on_call;
  const calendar = s.calendar || { hours: [], holidays: [], workdays: [] };
  const hours = WEEKDAYS.map((day) => [day, calendar.hours.filter((x) => x.weekday === day)]).filter(([, spans]) => spans.length);
  const file = h('input', { type: 'file', accept: '.ics,text/calendar', 'data-test': 'ics-import' });
  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    file.disabled = true;
    try {
      const done = await api('POST', teamPath('/on-call/calendar/import'), undefined, { raw: await chosen.arrayBuffer(), contentType: 'text/calendar' });
      toast(t('oc_imported', { holidays: done.holidays, workdays: done.workdays }));
      await reload();
    } catch (e) { failed(e); } finally { file.disabled = false; file.value = ''; }
  });
  return h('div', { class: 'card', 'data-test': 'team-calendar' },
    h('h2', {}, t('oc_team_calendar')),
    h('p', {}, `${t('oc_time_zone')}: `, h('code', { 'data-test': 'time-zone' }, s.time_zone)),
    h('h3', {}, t('oc_hours')),
    hours.length ? h('ul', { class: 'days', 'data-test': 'working-hours' }, hours.map(([day, spans]) => h('li', { 'data-weekday': day },
      h('strong', {}, t(`wd_${day}`)), ' ', spans.map((x) => `${hhmm(x.from)}–${hhmm(x.until)}`).join(', '))))
      : h('p', { class: 'muted', 'data-test': 'working-hours' }, t('oc_around_clock')),
    h('div', { class: 'grid2' },
      h('div', {}, h('h3', {}, t('oc_holidays')),
        calendar.holidays.length ? h('ul', { class: 'days', 'data-test': 'holidays' }, calendar.holidays.map((d) => h('li', { 'data-date': d.date },
          h('code', {}, d.date), ' ', d.name))) : h('p', { class: 'muted', 'data-test': 'holidays' }, t('none'))),
      h('div', {}, h('h3', {}, t('oc_workdays')),
        calendar.workdays.length ? h('ul', { class: 'days', 'data-test': 'workdays' }, calendar.workdays.map((d) => h('li', { 'data-date': d.date },
          h('code', {}, d.date), ' ', d.name, h('span', { class: 'muted' }, ` · ${t('oc_hours_of', { day: t(`wd_${d.hours_of}`) })}`))))
          : h('p', { class: 'muted', 'data-test': 'workdays' }, t('none')))),
    h('h3', {}, t('oc_import_ics')), h('p', { class: 'muted' }, t('oc_import_hint')), file);
}

function setupSummary(doc) {
  const s = doc.on_call;
  const shift = (l) => (l.shift.unit === 'weeks' ? t('oc_every_weeks', { n: l.shift.count }) : t('oc_every_days', { n: l.shift.count }));
  const handoff = (l) => (l.handoff.weekday ? t('oc_handoff_on', { day: t(`wd_${l.handoff.weekday}`), time: hhmm(l.handoff.time) })
    : t('oc_handoff_at', { time: hhmm(l.handoff.time) }));
  const layerRows = onCallSchedules(s).flatMap((c) => layersOf(s, c).map((l) => h('tr', { 'data-schedule': c || 'default', 'data-layer': l.name },
    h('td', {}, scheduleLabel(c)), h('td', {}, l.name), h('td', {}, l.participants.join(' → ')), h('td', {}, shift(l)), h('td', {}, handoff(l)), h('td', {}, l.starts_on))));
  const minutes = (value) => (value === null || value === undefined ? '–' : `${value} min`);
  const targets = (x) => `${t('oc_t_ack')} ${minutes(x.acknowledge_minutes)} · ${t('oc_t_first_reply')} ${minutes(x.first_reply_minutes)} · ${t('oc_t_resolution')} ${minutes(x.resolution_minutes)} · ${t('oc_clock')}: ${t(`clock_${x.clock || 'wall'}`)}`;
  const steps = s.escalation?.steps || [];
  return h('div', { class: 'setup-summary', 'data-test': 'on-call-summary' },
    h('h3', {}, t('oc_layers')),
    layerRows.length ? h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, [t('oc_schedule'), t('oc_layer'), t('oc_participants'), t('oc_shift'), t('oc_handoff'), t('oc_starts_on')].map((c) => h('th', {}, c)))),
      h('tbody', {}, layerRows)) : h('p', { class: 'muted' }, t('oc_no_layers')),
    h('div', { class: 'grid3' },
      h('div', {}, h('h3', {}, t('oc_escalation')),
        steps.length ? h('ol', { class: 'steps', 'data-test': 'escalation-steps' }, steps.map((step) => h('li', {},
          t('oc_step', { who: step.notify.map((n) => t(`esc_${n}`)).join(' + '), wait: step.wait_minutes }))))
          : h('p', { class: 'muted' }, t('oc_no_escalation')),
        steps.length ? h('p', { class: 'muted' }, `${t('oc_clock')}: ${t(`clock_${s.escalation.clock || 'wall'}`)}`) : null),
      h('div', {}, h('h3', {}, t('oc_targets')),
        h('p', { 'data-test': 'targets' }, targets(s.targets || {})),
        Object.entries(s.category_targets || {}).map(([c, x]) => h('p', {}, h('strong', {}, `${scheduleLabel(c)}: `), targets(x)))),
      h('div', {}, h('h3', {}, t('oc_leads')), h('p', { 'data-test': 'leads' }, (s.leads || []).length ? s.leads.join(', ') : '–'))));
}

// How the set-up editor's inputs show and store a field: text (trimmed), a number (empty:
// none), a time of day ("9:00" typed, "09:00" shown, "09:00:00" stored, as the server
// writes it; what does not match is kept as typed, for the input's pattern to refuse).
const AS_TEXT = { read: (v) => v, write: (v) => v.trim() };
const AS_NUMBER = { read: (v) => v, write: (v) => (v === '' ? null : Number(v)) };
const AS_TIME = {
  read: hhmm,
  write: (v) => v.trim().replace(/^(\d{1,2}):(\d{2})$/, (_, hours, minutes) => `${hours.padStart(2, '0')}:${minutes}:00`),
};

/**
 * A time-of-day input: text, not type=time, so that it shows 24-hour "HH:MM" in every
 * browser locale (a span's end of midnight is "00:00", not "12:00 AM").
 */
function timeInput(ed, obj, key, attrs) {
  return boundInput(ed, obj, key, { ...attrs, required: true, size: 5, maxlength: 5, placeholder: 'HH:MM',
    pattern: '([01]?[0-9]|2[0-3]):[0-5][0-9]' }, AS_TIME);
}

/** An input bound to `obj[key]`: every edit is written to the draft at once. */
function boundInput(ed, obj, key, attrs, as = AS_TEXT) {
  return h('input', { ...attrs, value: as.read(obj[key]) ?? '', oninput: (e) => { obj[key] = as.write(e.target.value); ed.touched(); } });
}

/** A select bound to `obj[key]` over `[value, label]` pairs; the empty value stores null. */
function boundSelect(ed, obj, key, options, attrs) {
  return h('select', { ...attrs, onchange: (e) => { obj[key] = e.target.value || null; ed.touched(); } },
    options.map(([value, label]) => h('option', { value, selected: (obj[key] ?? '') === value }, label)));
}

function clockSelect(ed, obj, test) {
  return boundSelect(ed, obj, 'clock', CLOCKS.map((c) => [c, t(`clock_${c}`)]), { 'data-test': test });
}

function weekdayOptions() { return WEEKDAYS.map((d) => [d, t(`wd_${d}`)]); }

/** A labelled group of several controls (a <label> would hand its clicks to the first button). */
function group(label, ...children) { return h('div', { class: 'field' }, h('span', {}, label), ...children); }

/** A keydown listener that runs `action` on Enter instead of submitting the form (not while an IME composes). */
function onEnter(action) {
  return (e) => { if (e.key === 'Enter' && !e.isComposing) { e.preventDefault(); action(); } };
}

function removeButton(ed, list, i, test) {
  return h('button', { type: 'button', class: 'link danger', title: t('remove'), 'aria-label': t('remove'), 'data-test': `remove-${test}`,
    onclick: () => { list.splice(i, 1); ed.redraw(); } }, '×');
}

/** Move-up, move-down and remove buttons for item `i` of an ordered list. */
function itemTools(ed, list, i, test) {
  const move = (by) => () => { list.splice(i + by, 0, ...list.splice(i, 1)); ed.redraw(); };
  return h('span', { class: 'item-tools' },
    h('button', { type: 'button', class: 'link', title: t('oc_move_up'), 'aria-label': t('oc_move_up'), disabled: i === 0, 'data-test': `${test}-up`, onclick: move(-1) }, '↑'),
    h('button', { type: 'button', class: 'link', title: t('oc_move_down'), 'aria-label': t('oc_move_down'), disabled: i === list.length - 1,
      'data-test': `${test}-down`, onclick: move(1) }, '↓'),
    removeButton(ed, list, i, test));
}

/** An input and a button that add an entry to `map` under the category typed. */
function addCategory(ed, map, make, test, label) {
  const name = h('input', { placeholder: t('category'), maxlength: 64, size: 16, 'data-test': `${test}-name`, onkeydown: onEnter(() => add()) });
  const add = () => {
    const category = name.value.trim();
    if (!category) return;
    if (Object.hasOwn(map, category)) { toast(t('oc_category_exists'), 'error'); return; }
    map[category] = make();
    ed.redraw();
  };
  return h('div', { class: 'actions' }, name, h('button', { type: 'button', 'data-test': test, onclick: add }, label));
}

/**
 * An ordered list of staff ids with an input (suggesting the people the set-up names) to add
 * one; after Enter the input keeps the focus, for typing the next.
 */
function peopleEditor(ed, list, test, focus) {
  const input = h('input', { list: 'on-call-people', placeholder: t('staff_id'), size: 14, 'data-test': `${test}-input`, 'data-focus': focus,
    onkeydown: onEnter(() => add(focus)) });
  const add = (refocus) => {
    const who = input.value.trim();
    if (!who) return;
    list.push(who);
    ed.redraw(refocus);
  };
  return h('div', { class: 'people-editor' },
    list.length ? h('ol', { class: 'people' }, list.map((who, i) => h('li', { 'data-test': test, 'data-staff': who }, who, itemTools(ed, list, i, test)))) : null,
    h('span', { class: 'inline' }, input, h('button', { type: 'button', 'data-test': `add-${test}`, onclick: () => add() }, t('oc_add'))));
}

/** A new layer: the next name in line and the timing of the layer above, as layers mostly change hands together. */
function newLayer(layers) {
  const above = layers[layers.length - 1];
  return {
    name: ['primary', 'secondary', 'tertiary'][layers.length] ?? `layer${layers.length + 1}`,
    participants: [],
    shift: above ? { ...above.shift } : { count: 1, unit: 'weeks' },
    handoff: above ? { ...above.handoff } : { weekday: 'mon', time: '09:00:00' },
    starts_on: above?.starts_on ?? localInput(new Date()).slice(0, 10),
  };
}

function layerEditor(ed, layers, i, schedule) {
  const layer = layers[i];
  return h('fieldset', { class: 'layer', 'data-test': 'layer', 'data-schedule': schedule, 'data-layer': i },
    h('legend', {}, t('oc_layer_n', { n: i + 1 }), itemTools(ed, layers, i, 'layer')),
    h('div', { class: 'editor-row' },
      field(t('oc_name'), boundInput(ed, layer, 'name', { required: true, maxlength: 32, size: 12, 'data-test': 'layer-name' })),
      field(t('oc_shift'), h('span', { class: 'inline' },
        boundInput(ed, layer.shift, 'count', { type: 'number', min: 1, max: 366, required: true, class: 'narrow', 'data-test': 'shift-count' }, AS_NUMBER),
        boundSelect(ed, layer.shift, 'unit', SHIFT_UNITS.map((u) => [u, t(`oc_unit_${u}`)]), { 'data-test': 'shift-unit' }))),
      field(t('oc_handoff_day'), boundSelect(ed, layer.handoff, 'weekday', [['', t('oc_handoff_any')], ...weekdayOptions()], { 'data-test': 'handoff-weekday' })),
      field(t('oc_handoff_time'), timeInput(ed, layer.handoff, 'time', { 'data-test': 'handoff-time' })),
      field(t('oc_starts_on'), boundInput(ed, layer, 'starts_on', { type: 'date', required: true, 'data-test': 'starts-on' }))),
    group(t('oc_participants'), peopleEditor(ed, layer.participants, 'participant', `${schedule}/${i}`)));
}

/** One schedule's layers; `remove` (categories only) drops the whole schedule. */
function scheduleEditor(ed, layers, schedule, remove) {
  const key = schedule || 'default';
  return h('div', { class: 'schedule-editor', 'data-test': 'schedule', 'data-schedule': key },
    h('h4', {}, scheduleLabel(schedule),
      remove ? h('button', { type: 'button', class: 'link danger', 'data-test': 'remove-schedule', onclick: remove }, t('oc_remove_schedule')) : null),
    layers.length ? layers.map((_, i) => layerEditor(ed, layers, i, key)) : h('p', { class: 'muted' }, schedule ? t('oc_uses_default') : t('oc_no_layers')),
    h('button', { type: 'button', 'data-test': 'add-layer', onclick: () => { layers.push(newLayer(layers)); ed.redraw(); } }, t('oc_add_layer')));
}

function schedulesEditor(ed, s) {
  const removal = (c) => () => { delete s.categories[c]; ed.redraw(); };
  return h('section', { 'data-test': 'schedules-editor' },
    h('h3', {}, t('oc_schedules')), h('p', { class: 'muted' }, t('oc_schedules_help')),
    scheduleEditor(ed, s.default, null),
    Object.keys(s.categories).map((c) => scheduleEditor(ed, s.categories[c], c, removal(c))),
    addCategory(ed, s.categories, () => [newLayer([])], 'add-schedule', t('oc_add_schedule')));
}

/** The first step suggested for a new escalation step, by its position. */
const SUGGESTED_STEPS = ['assignee', 'next_layer', 'leads'];

function stepEditor(ed, steps, i) {
  const step = steps[i];
  // Kept in the enum's order, so the JSON does not depend on the order of the clicks.
  const toggle = (target) => (e) => {
    step.notify = ESCALATION_TARGETS.filter((x) => (x === target ? e.target.checked : step.notify.includes(x)));
    ed.touched();
  };
  return h('li', { class: 'step', 'data-test': 'step', 'data-step': i },
    h('div', { class: 'editor-row' },
      group(t('oc_notify'), h('span', { class: 'inline' }, ESCALATION_TARGETS.map((x) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', checked: step.notify.includes(x), 'data-test': 'step-notify', 'data-target': x, onchange: toggle(x) }), t(`esc_${x}`))))),
      field(t('oc_wait_minutes'), boundInput(ed, step, 'wait_minutes', { type: 'number', min: 1, max: 43200, required: true, class: 'narrow', 'data-test': 'step-wait' }, AS_NUMBER)),
      itemTools(ed, steps, i, 'step')));
}

function escalationEditor(ed, escalation) {
  const { steps } = escalation;
  const add = () => { steps.push({ notify: [SUGGESTED_STEPS[steps.length] ?? 'leads'], wait_minutes: 10 }); ed.redraw(); };
  return h('section', { 'data-test': 'escalation-editor' },
    h('h3', {}, t('oc_escalation')), h('p', { class: 'muted' }, t('oc_escalation_help')),
    steps.length ? h('ol', { class: 'step-list' }, steps.map((_, i) => stepEditor(ed, steps, i))) : h('p', { class: 'muted' }, t('oc_no_escalation')),
    h('div', { class: 'actions' }, h('button', { type: 'button', 'data-test': 'add-step', onclick: add }, t('oc_add_step')),
      field(t('oc_clock'), clockSelect(ed, escalation, 'escalation-clock'))));
}

/** One set of response targets; `remove` (categories only) drops it. */
function targetsEditor(ed, targets, category, remove) {
  return h('div', { class: 'targets-edit', 'data-test': 'targets-of', 'data-category': category || 'default' },
    h('h4', {}, category ? `${t('category')}: ${category}` : t('oc_every_category'),
      remove ? h('button', { type: 'button', class: 'link danger', 'data-test': 'remove-category-targets', onclick: remove }, t('remove')) : null),
    h('div', { class: 'editor-row' },
      TARGETS.map((x) => field(t('oc_minutes_of', { target: targetName(x) }), boundInput(ed, targets, `${x}_minutes`,
        { type: 'number', min: 1, max: 43200, placeholder: t('oc_no_target'), class: 'narrow', 'data-test': `target-${x}` }, AS_NUMBER))),
      field(t('oc_clock'), clockSelect(ed, targets, 'target-clock'))));
}

function targetsSection(ed, s) {
  const removal = (c) => () => { delete s.category_targets[c]; ed.redraw(); };
  return h('section', { 'data-test': 'targets-editor' },
    h('h3', {}, t('oc_targets')), h('p', { class: 'muted' }, t('oc_targets_help')),
    targetsEditor(ed, s.targets, null),
    Object.keys(s.category_targets).map((c) => targetsEditor(ed, s.category_targets[c], c, removal(c))),
    addCategory(ed, s.category_targets, () => ({ ...s.targets }), 'add-category-targets', t('oc_add_category_targets')));
}

function hoursEditor(ed, hours) {
  // A day's first span takes the times of the last one filled in, so a working week is a
  // few clicks. A further span of a day starts where the day's latest one ends (a copy would
  // only repeat it), for an hour; after 23:00 no such hour is left, so it starts empty and
  // the form asks for its times.
  const add = (weekday) => () => {
    const last = hours.findLast((x) => x.from && x.until);
    const end = hours.filter((x) => x.weekday === weekday).map((x) => (x.until === '00:00:00' ? '24:00:00' : x.until)).sort().at(-1);
    if (end === undefined) hours.push({ weekday, from: last?.from ?? '09:00:00', until: last?.until ?? '18:00:00' });
    else if (!end || end >= '23:00') hours.push({ weekday, from: '', until: '' });
    else hours.push({ weekday, from: end, until: `${String(Number(end.slice(0, 2)) + 1).padStart(2, '0')}${end.slice(2)}` });
    ed.redraw();
  };
  const span = (i) => h('span', { class: 'inline hours-span', 'data-test': 'hours-span' },
    timeInput(ed, hours[i], 'from', { 'aria-label': t('from'), 'data-test': 'hours-from' }), '–',
    timeInput(ed, hours[i], 'until', { 'aria-label': t('to'), 'data-test': 'hours-until' }),
    removeButton(ed, hours, i, 'hours-span'));
  return h('table', { class: 'list hours-editor' }, h('tbody', {}, WEEKDAYS.map((day) => {
    const spans = hours.flatMap((x, i) => (x.weekday === day ? [span(i)] : []));
    return h('tr', { 'data-test': 'hours-day', 'data-weekday': day },
      h('th', {}, t(`wd_${day}`)),
      h('td', {}, spans.length ? spans : h('span', { class: 'muted' }, hours.length ? t('oc_day_off') : '–')),
      h('td', {}, h('button', { type: 'button', class: 'link', 'data-test': 'add-hours-span', onclick: add(day) }, t('oc_add_span'))));
  })));
}

/** Holidays, or make-up workdays (which also say whose weekday's hours they have). */
function daysEditor(ed, days, test, makeUp) {
  const add = () => { days.push(makeUp ? { date: '', name: '', hours_of: 'mon' } : { date: '', name: '' }); ed.redraw(); };
  return h('div', {},
    days.map((day, i) => h('div', { class: 'editor-row', 'data-test': test, 'data-date': day.date },
      field(t('oc_date'), boundInput(ed, day, 'date', { type: 'date', required: true, 'data-test': `${test}-date` })),
      field(t('oc_name'), boundInput(ed, day, 'name', { size: 14, 'data-test': `${test}-name` })),
      makeUp ? field(t('oc_hours_of_day'), boundSelect(ed, day, 'hours_of', weekdayOptions(), { 'data-test': `${test}-hours-of` })) : null,
      removeButton(ed, days, i, test))),
    h('button', { type: 'button', 'data-test': `add-${test}`, onclick: add }, makeUp ? t('oc_add_workday') : t('oc_add_holiday')));
}

function calendarEditor(ed, calendar) {
  return h('section', { 'data-test': 'calendar-editor' },
    h('h3', {}, t('oc_team_calendar')),
    h('h4', {}, t('oc_hours')), h('p', { class: 'muted' }, t('oc_hours_help')),
    hoursEditor(ed, calendar.hours),
    h('div', { class: 'grid2' },
      h('div', {}, h('h4', {}, t('oc_holidays')), daysEditor(ed, calendar.holidays, 'holiday', false)),
      h('div', {}, h('h4', {}, t('oc_workdays')), daysEditor(ed, calendar.workdays, 'workday', true))));
}

function editorSections(ed, s) {
  return [
    h('div', { class: 'grid2' },
      h('section', {}, h('h3', {}, t('oc_time_zone')),
        field(t('oc_time_zone'), boundInput(ed, s, 'time_zone', { required: true, list: 'time-zones', placeholder: 'Asia/Shanghai', 'data-test': 'time-zone-input' }),
          t('oc_time_zone_help'))),
      h('section', { 'data-test': 'leads-editor' }, h('h3', {}, t('oc_leads')), h('p', { class: 'muted' }, t('oc_leads_help')),
        peopleEditor(ed, s.leads, 'lead', 'leads'))),
    schedulesEditor(ed, s),
    h('div', { class: 'grid2' }, escalationEditor(ed, s.escalation), targetsSection(ed, s)),
    calendarEditor(ed, s.calendar),
  ];
}

/**
 * Fills in what a set-up leaves out with the server's own defaults, so the form has every
 * part to show (saving them changes nothing). Refuses what is not an object.
 */
function completeSetUp(s) {
  if (!s || typeof s !== 'object' || Array.isArray(s)) throw new Error(t('oc_json_not_object'));
  s.time_zone ??= 'Asia/Shanghai';
  s.default ??= [];
  s.categories ??= {};
  s.calendar ??= {};
  s.calendar.hours ??= [];
  s.calendar.holidays ??= [];
  s.calendar.workdays ??= [];
  s.escalation ??= {};
  s.escalation.steps ??= [];
  s.escalation.clock ??= 'wall';
  s.targets ??= {};
  s.category_targets ??= {};
  s.leads ??= [];
  for (const layer of [...s.default, ...Object.values(s.categories).flat()]) {
    layer.participants ??= [];
    layer.shift ??= { count: 1, unit: 'weeks' };
    layer.handoff ??= { weekday: 'mon', time: '00:00:00' };
    layer.starts_on ??= '1970-01-05';
  }
  return s;
}

/**
 * The set-up editor. The form and the JSON are two views of one draft, a deep copy of the
 * loaded set-up: a form edit rewrites the JSON, a JSON edit that the form can show redraws
 * the form; while the JSON cannot be shown the form is locked, so neither overwrites the
 * other. Both save the same request.
 *
 * `state` is the page's record of the editor, so the page's other actions can rebuild the
 * page without losing it: the unsaved draft (the JSON text; none until something is
 * edited), the problem shown, whether the JSON is open, and the set-up the draft was edited
 * from (`base`) at which team version. The editor keeps it up to date.
 */
function setupEditor(doc, reload, state) {
  const pretty = (value) => JSON.stringify(value, null, 2);
  const shown = pretty(doc.on_call);
  // Away, overrides, time off move the team's version on without touching the set-up, and a
  // draft of the same set-up is saved against the new version; if the set-up itself changed
  // since the draft's was read, it keeps the old one, so saving is refused (409) rather
  // than undo that change.
  if (state.draft === undefined || (state.base ?? shown) === shown) Object.assign(state, { base: shown, version: doc.version });
  let draft;
  const body = h('fieldset', { class: 'setup-form' });
  const raw = h('textarea', { rows: 24, class: 'code', spellcheck: 'false', 'data-test': 'on-call-json', oninput: () => { state.draft = raw.value; adopt(raw.value); } });
  const jsonProblem = h('p', { class: 'error', 'data-test': 'on-call-json-error', hidden: true });
  const problem = h('p', { class: 'error', 'data-test': 'on-call-error', hidden: !state.problem }, state.problem || '');
  const saveForm = h('button', { type: 'submit', class: 'primary', 'data-test': 'save-on-call-form' }, t('save'));
  const advanced = h('details', { open: state.advanced, ontoggle: () => { state.advanced = advanced.open; } },
    h('summary', { 'data-test': 'on-call-json-open' }, t('oc_json')), h('p', { class: 'muted' }, t('oc_json_help')), raw,
    h('div', { class: 'actions' }, h('button', { type: 'button', 'data-test': 'save-on-call', onclick: (e) => saveJson(e.target) }, t('oc_save_json'))));
  const ed = {
    touched: () => { raw.value = state.draft = pretty(draft); },
    // Rebuilds the form from the draft after a change of its shape; `focus` names the input to keep typing in.
    redraw: (focus) => {
      body.replaceChildren(...editorSections(ed, draft));
      ed.touched();
      if (focus) [...body.querySelectorAll('[data-focus]')].find((n) => n.dataset.focus === focus)?.focus();
    },
  };
  function adopt(text) {
    let next, sections;
    try {
      next = completeSetUp(JSON.parse(text));
      sections = editorSections(ed, next);
    } catch (err) {
      jsonProblem.textContent = `${t('oc_form_locked')}: ${err.message}`;
      jsonProblem.hidden = false;
      body.disabled = saveForm.disabled = true;
      return;
    }
    draft = next;
    body.replaceChildren(...sections);
    jsonProblem.hidden = true;
    body.disabled = saveForm.disabled = false;
  }
  const show = (message) => { problem.textContent = state.problem = message; problem.hidden = false; };
  const hide = () => { problem.hidden = true; state.problem = undefined; };
  const save = (button, onCall) => busy(button, async () => {
    hide();
    try {
      await api('PUT', teamPath('/on-call'), { on_call: onCall, expected_version: state.version });
    } catch (err) {
      // Someone changed it meanwhile: show the new set-up above, keep the edits below.
      if (err.status === 409) await reload({ draft: raw.value, problem: `${err.message} — ${t('oc_draft_kept')}`, advanced: advanced.open });
      else show(err.message);
      throw err;
    }
    toast(t('saved'));
    await reload({}); // saved: nothing left to keep, the editor shows the saved set-up
  });
  function saveJson(button) {
    let onCall;
    try { onCall = JSON.parse(raw.value); } catch (err) { show(`${t('oc_bad_json')}: ${err.message}`); return; }
    save(button, onCall);
  }
  const reset = () => {
    Object.assign(state, { draft: undefined, base: shown, version: doc.version });
    raw.value = shown;
    adopt(raw.value);
    hide();
  };
  raw.value = state.draft ?? shown;
  adopt(raw.value);
  return h('form', { class: 'setup-editor', 'data-test': 'on-call-form', onsubmit: (e) => { e.preventDefault(); save(e.submitter, draft); } },
    h('h3', {}, t('oc_edit_setup')), h('p', { class: 'muted' }, t('oc_edit_help')),
    body, advanced, jsonProblem,
    h('datalist', { id: 'time-zones' }, (Intl.supportedValuesOf?.('timeZone') ?? []).map((z) => h('option', { value: z }))),
    problem,
    h('div', { class: 'actions' }, saveForm, h('button', { type: 'button', 'data-test': 'reset-on-call', onclick: reset }, t('reset'))));
}

function setupCard(doc, reload, state = {}) {
  return h('div', { class: 'card', 'data-test': 'on-call-setup' },
    h('h2', {}, t('oc_setup')),
    doc.configured ? null : h('p', { class: 'notice-box', 'data-test': 'not-configured' }, t('oc_not_configured')),
    setupSummary(doc),
    setupEditor(doc, reload, state));
}

async function onCallPage() {
  const container = h('section', { class: 'on-call' }, t('loading'));
  main.replaceChildren(container);
  // What the set-up editor has not saved (see setupEditor). Reading everything again after
  // another action on the page keeps it; a save or the refused save of a draft the set-up
  // moved under (409) replaces it with the `state` given.
  let editing = {};
  const reload = async (state) => {
    if (state) editing = state;
    const doc = await api('GET', teamPath('/on-call'));
    const now = nowCard(doc);
    const [shifts] = await Promise.all([api('GET', `${teamPath('/on-call/shifts')}?days=28`), now.refresh()]);
    container.replaceChildren(
      h('h1', {}, t('on_call')),
      h('datalist', { id: 'on-call-people' }, onCallPeople(doc).map((p) => h('option', { value: p }))),
      now.card, awayCard(doc, reload), shiftsCard(doc, shifts), overridesCard(doc, reload), timeOffCard(doc, reload),
      teamCalendarCard(doc, reload), setupCard(doc, reload, editing));
    now.follow();
  };
  try { await reload(); } catch (e) { failed(e); container.replaceChildren(h('h1', {}, t('on_call')), h('p', { class: 'error' }, e.message)); }
}

// ---------------------------------------------------------------------------------------
// Team settings: policies, roster, keys, WeCom
// ---------------------------------------------------------------------------------------

function policiesCard(detail, reload) {
  const s = detail.settings;
  const num = (value, step = 1) => h('input', { type: 'number', value, step, min: 0 });
  const reconfirm = num(s.reconfirm_after_secs), close = num(s.close_after_secs);
  // Thresholds are 32-bit floats: show them as the two or three digits they were set with.
  const answerAt = num(Number(s.answer_policy.answer_at.toFixed(3)), 0.01);
  const clarifyAt = num(Number(s.answer_policy.clarify_at.toFixed(3)), 0.01);
  const keywords = h('input', { value: s.human_keywords.join(', ') });
  const groupChat = h('input', { type: 'checkbox', checked: s.group_chat_on_transfer });
  const language = h('select', {}, ['zh', 'en'].map((l) => h('option', { value: l, selected: s.console.language === l }, l === 'zh' ? '中文' : 'English')));
  const pageSize = num(s.console.page_size), refresh = num(s.console.refresh_secs);
  const raw = h('textarea', { rows: 12, class: 'code', 'data-test': 'settings-json' }, JSON.stringify(s, null, 2));
  const save = (settings) => api('PUT', teamPath('/settings'), { settings, expected_version: detail.version });
  return h('form', { class: 'card', 'data-test': 'policies', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const next = structuredClone(s);
      next.reconfirm_after_secs = Number(reconfirm.value);
      next.close_after_secs = Number(close.value);
      next.answer_policy.answer_at = Number(answerAt.value);
      next.answer_policy.clarify_at = Number(clarifyAt.value);
      next.human_keywords = keywords.value.split(/[,，]/).map((k) => k.trim()).filter(Boolean);
      next.group_chat_on_transfer = groupChat.checked;
      next.console = { language: language.value, page_size: Number(pageSize.value), refresh_secs: Number(refresh.value) };
      try { await save(next); toast(t('saved')); } finally { await reload(); }
    });
  } },
  h('h2', {}, t('policies')),
  h('div', { class: 'grid2' }, field(t('reconfirm_after'), reconfirm), field(t('close_after'), close),
    field(t('answer_at'), answerAt), field(t('clarify_at'), clarifyAt), field(t('human_keywords'), keywords),
    h('label', { class: 'check' }, groupChat, t('group_chat_on_transfer')),
    field(t('console_language'), language), field(t('page_size'), pageSize), field(t('refresh_secs'), refresh)),
  h('button', { type: 'submit', class: 'primary', 'data-test': 'policies-save' }, t('save')),
  h('details', {}, h('summary', {}, t('advanced')), raw,
    h('button', { type: 'button', onclick: (e) => busy(e.target, async () => {
      try { await save(JSON.parse(raw.value)); toast(t('saved')); } finally { await reload(); }
    }) }, t('save'))));
}

function rosterCard(detail, reload) {
  const rows = h('tbody');
  const row = (name, people) => h('tr', {},
    h('td', {}, h('input', { value: name, class: 'category', placeholder: t('category') })),
    h('td', {}, h('input', { value: people.join(', '), class: 'people', size: 40 })),
    h('td', {}, h('button', { type: 'button', class: 'link danger', onclick: (e) => e.target.closest('tr').remove() }, '×')));
  const fallback = h('input', { value: detail.roster.default.join(', '), size: 40, 'data-test': 'roster-default' });
  Object.entries(detail.roster.categories).forEach(([name, people]) => rows.append(row(name, people)));
  const split = (text) => text.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
  return h('form', { class: 'card', 'data-test': 'roster', onsubmit: (e) => {
    e.preventDefault();
    const categories = {};
    rows.querySelectorAll('tr').forEach((tr) => {
      const name = tr.querySelector('.category').value.trim();
      if (name) categories[name] = split(tr.querySelector('.people').value);
    });
    busy(e.submitter, async () => {
      try { await api('PUT', teamPath('/roster'), { roster: { categories, default: split(fallback.value) }, expected_version: detail.version }); toast(t('saved')); } finally { await reload(); }
    });
  } },
  h('h2', {}, t('roster')), field(`${t('default_roster')} — ${t('people')}`, fallback),
  h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, t('category')), h('th', {}, t('people')), h('th', {}))), rows),
  h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => rows.append(row('', [])) }, t('add_category')),
    h('button', { type: 'submit', class: 'primary', 'data-test': 'roster-save' }, t('save'))));
}

async function keysCard() {
  const body = h('tbody');
  const shown = h('div');
  const label = h('input', { placeholder: t('label'), required: true, 'data-test': 'key-label' });
  const staff = h('input', { placeholder: t('staff_id'), required: true, 'data-test': 'key-staff' });
  const role = h('select', { 'data-test': 'key-role' }, ['viewer', 'agent', 'admin'].map((r) => h('option', { value: r, selected: r === 'agent' }, t(`r_${r}`))));
  async function load() {
    const keys = await api('GET', teamPath('/keys'));
    body.replaceChildren(...keys.map((k) => h('tr', {}, h('td', {}, k.label), h('td', {}, k.staff), h('td', {}, t(`r_${k.role}`)),
      h('td', {}, h('button', { type: 'button', class: 'link danger', onclick: (e) => busy(e.target, async () => { await api('DELETE', teamPath(`/keys/${k.key_id}`)); await load(); }) }, t('revoke'))))));
  }
  const card = h('form', { class: 'card', 'data-test': 'keys', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const issued = await api('POST', teamPath('/keys'), { label: label.value, staff: staff.value.trim(), role: role.value });
      shown.replaceChildren(h('p', { class: 'token' }, t('token_once'), ' ', h('code', { 'data-test': 'issued-token' }, issued.token)));
      label.value = ''; staff.value = '';
      await load();
    });
  } },
  h('h2', {}, t('keys')), h('table', { class: 'list' }, h('thead', {}, h('tr', {}, [t('label'), t('staff'), t('role'), ''].map((c) => h('th', {}, c)))), body),
  h('div', { class: 'actions' }, label, staff, role, h('button', { type: 'submit', 'data-test': 'key-issue' }, t('issue_key'))), shown);
  await load();
  return card;
}

async function webhooksCard() {
  const hooks = h('tbody');
  const deliveries = h('tbody');
  const shown = h('div');
  const label = h('input', { placeholder: t('label'), required: true, 'data-test': 'hook-label' });
  const url = h('input', { placeholder: 'https://…', required: true, type: 'url', size: 40, 'data-test': 'hook-url' });
  const types = h('input', { placeholder: t('hook_types_hint'), size: 30, 'data-test': 'hook-types' });
  const status = h('select', { 'data-test': 'delivery-status', onchange: () => loadDeliveries() },
    h('option', { value: '' }, t('all')), ['pending', 'failed', 'delivered', 'gave_up'].map((s) => h('option', { value: s }, t(`d_${s}`))));
  const when = (v) => (v ? new Date(v).toLocaleString() : '');
  async function loadDeliveries() {
    const query = status.value ? `?status=${status.value}` : '';
    const page = await api('GET', teamPath(`/webhooks/deliveries${query}`));
    deliveries.replaceChildren(...page.deliveries.map((d) => h('tr', { 'data-status': d.status }, h('td', {}, when(d.occurred_at)), h('td', {}, d.event_type),
      h('td', {}, h('span', { class: `badge ${d.status}` }, t(`d_${d.status}`))), h('td', {}, String(d.attempts)),
      h('td', { class: 'error' }, d.last_error || (d.last_status ? String(d.last_status) : '')),
      h('td', {}, d.status === 'pending' ? '' : h('button', { type: 'button', class: 'link', 'data-test': 'delivery-replay', onclick: (e) => busy(e.target, async () => {
        await api('POST', teamPath(`/webhooks/deliveries/${d.delivery_id}/replay`)); toast(t('replayed')); await loadDeliveries();
      }) }, t('replay'))))));
  }
  async function load() {
    const list = await api('GET', teamPath('/webhooks'));
    hooks.replaceChildren(...list.map((w) => h('tr', {}, h('td', {}, w.label), h('td', {}, h('code', {}, w.url)),
      h('td', {}, w.event_types.length ? w.event_types.join(', ') : t('all')), h('td', {}, w.secret_available ? '✓' : h('span', { class: 'error' }, t('secret_missing'))),
      h('td', {}, h('button', { type: 'button', class: 'link danger', onclick: (e) => busy(e.target, async () => { await api('DELETE', teamPath(`/webhooks/${w.webhook_id}`)); await load(); }) }, t('remove'))))));
    await loadDeliveries();
  }
  const card = h('form', { class: 'card', 'data-test': 'webhooks', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const event_types = types.value.split(/[\s,，]+/).filter(Boolean);
      const created = await api('POST', teamPath('/webhooks'), { label: label.value, url: url.value.trim(), event_types });
      shown.replaceChildren(h('p', { class: 'token' }, t('hook_secret_once'), ' ', h('code', { 'data-test': 'hook-secret' }, created.secret)));
      label.value = ''; url.value = ''; types.value = '';
      await load();
    });
  } },
  h('h2', {}, t('webhooks')), h('p', { class: 'muted' }, t('webhooks_help')),
  h('table', { class: 'list' }, h('thead', {}, h('tr', {}, [t('label'), 'URL', t('hook_types'), t('signing_secret'), ''].map((c) => h('th', {}, c)))), hooks),
  h('div', { class: 'actions' }, label, url, types, h('button', { type: 'submit', 'data-test': 'hook-add' }, t('add_webhook'))), shown,
  h('h3', {}, t('deliveries'), ' ', status),
  h('table', { class: 'list', 'data-test': 'deliveries' }, h('thead', {}, h('tr', {}, [t('time'), t('event'), t('status'), t('attempts'), t('last_error'), ''].map((c) => h('th', {}, c)))), deliveries));
  await load();
  return card;
}

function wecomCard(detail, reload) {
  const w = detail.wecom;
  const status = h('p', {}, `${t('receiving')}: ${w.receiving ? t('yes') : t('no')} · ${t('sending')}: ${w.sending ? t('yes') : t('no')}`,
    w.problem ? h('span', { class: 'error' }, ` — ${w.problem}`) : null);
  const url = h('p', {}, `${t('callback_url')}: `, h('code', { 'data-test': 'callback-url' }, w.callback_url));
  const report = h('p', { 'data-test': 'verify-result' });
  const verify = h('button', { type: 'button', 'data-test': 'wecom-verify', disabled: !w.receiving, onclick: (e) => busy(e.target, async () => {
    const r = await api('POST', teamPath('/wecom/verify'));
    report.className = r.ok ? 'ok' : 'error';
    report.textContent = r.message;
  }) }, t('verify'));
  if (w.source === 'configuration') return h('div', { class: 'card', 'data-test': 'wecom' }, h('h2', {}, t('wecom')), h('p', {}, t('from_config')), url, status, verify, report);
  const input = (name, value, attrs = {}) => h('input', { name, value: value ?? '', 'data-test': `wecom-${name}`, ...attrs });
  const corp = input('corp_id', w.corp_id, { required: true }), agent = input('agent_id', w.agent_id, { type: 'number', required: true });
  const token = input('token', '', { placeholder: w.source === 'console' ? t('keep_secret') : '' });
  const aes = input('encoding_aes_key', '', { placeholder: w.source === 'console' ? t('keep_secret') : '', size: 50 });
  const secret = input('secret', '', { type: 'password', placeholder: w.source === 'console' ? t('keep_secret') : '' });
  const apiBase = input('api_base', w.api_base), consoleUrl = input('console_url', w.console_url || location.origin), greeting = input('greeting', w.greeting);
  return h('form', { class: 'card', 'data-test': 'wecom', onsubmit: (e) => {
    e.preventDefault();
    const value = (node) => node.value.trim() || null;
    busy(e.submitter, async () => {
      try {
        await api('PUT', teamPath('/wecom'), {
          corp_id: corp.value.trim(), agent_id: Number(agent.value), token: value(token), encoding_aes_key: value(aes), secret: value(secret),
          api_base: value(apiBase), console_url: value(consoleUrl), greeting: value(greeting), expected_version: detail.version,
        });
        toast(t('saved'));
      } finally { await reload(); }
    });
  } },
  h('h2', {}, t('wecom')), url, status,
  h('div', { class: 'grid2' }, field(t('corp_id'), corp), field(t('agent_id'), agent), field(t('token'), token), field(t('aes_key'), aes),
    field(t('secret'), secret), field(t('api_base'), apiBase), field(t('console_url'), consoleUrl), field(t('greeting'), greeting)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-test': 'wecom-save' }, t('save')), verify,
    w.source === 'console' ? h('button', { type: 'button', class: 'danger', onclick: (ev) => busy(ev.target, async () => { await api('DELETE', teamPath('/wecom')); await reload(); }) }, t('remove_wecom')) : null),
  report);
}

async function settingsPage() {
  const container = h('section', {}, t('loading'));
  main.replaceChildren(container);
  const reload = async () => {
    const detail = await teamDetail(true);
    const isAdmin = session.me.global_admin || session.me.role === 'admin';
    const checklist = h('div', { class: 'card', 'data-test': 'checklist' }, h('h2', {}, t('checklist')),
      h('ul', { class: 'checklist' }, detail.checklist.map((item) => h('li', { class: item.done ? 'done' : 'todo', 'data-item': item.key }, item.done ? '✓ ' : '○ ', t(`ck_${item.key}`)))));
    const parts = [h('h1', {}, `${t('settings')}: ${detail.name} (${detail.id})`), checklist];
    if (isAdmin) parts.push(wecomCard(detail, reload), rosterCard(detail, reload), policiesCard(detail, reload), await keysCard(), await webhooksCard());
    else parts.push(h('pre', { class: 'code' }, JSON.stringify(detail.settings, null, 2)));
    container.replaceChildren(...parts);
  };
  try { await reload(); } catch (e) { failed(e); }
}

// ---------------------------------------------------------------------------------------
// Onboarding (global administrators)
// ---------------------------------------------------------------------------------------

function onboardingPage() {
  const id = h('input', { required: true, pattern: '[A-Za-z0-9_\\-]+', 'data-test': 'new-team-id' });
  const name = h('input', { required: true, 'data-test': 'new-team-name' });
  const template = h('select', { 'data-test': 'new-team-template' }, h('option', { value: '' }, t('no_template')),
    session.teams.map((team) => h('option', { value: team.id }, `${team.name} (${team.id})`)));
  const people = h('input', { type: 'checkbox' });
  const form = h('form', { class: 'card', 'data-test': 'onboarding', onsubmit: (e) => {
    e.preventDefault();
    busy(e.submitter, async () => {
      const created = await api('POST', '/teams', { id: id.value.trim(), name: name.value.trim(), template: template.value || null, copy_people: people.checked });
      toast(t('created'));
      session.teams = [...session.teams, { id: created.id, name: created.name }];
      session.team = created.id;
      session.detail = created;
      location.hash = `#${teamPath('/settings')}`;
    });
  } },
  h('h1', {}, t('new_team')), field(t('team_id'), id), field(t('team_name'), name), field(t('template'), template),
  h('label', { class: 'check' }, people, t('copy_people')),
  h('button', { type: 'submit', class: 'primary', 'data-test': 'new-team-create' }, t('create')));
  main.replaceChildren(form);
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

const routes = [
  [/^\/login$/, () => loginPage()],
  [/^\/onboarding$/, () => onboardingPage()],
  [/^\/teams\/([^/]+)\/sessions$/, (m, q) => sessionsPage(q)],
  [/^\/teams\/([^/]+)\/conversations\/([^/]+)$/, (m) => conversationPage(decodeURIComponent(m[2]))],
  [/^\/teams\/([^/]+)\/faqs$/, () => faqsPage()],
  [/^\/teams\/([^/]+)\/candidates$/, () => candidatesPage()],
  [/^\/teams\/([^/]+)\/statistics$/, (m, q) => statisticsPage(q)],
  [/^\/teams\/([^/]+)\/on-call$/, () => onCallPage()],
  [/^\/teams\/([^/]+)\/settings$/, () => settingsPage()],
];

async function render() {
  stopLiveWork();
  const [path, search] = (location.hash.slice(1) || '/').split('?');
  if (!session.key && path !== '/login') { location.hash = '#/login'; return; }
  if (session.key && !session.me) {
    try { await identify(); } catch { logout(); return; }
    const chosen = session.detail?.settings?.console?.language;
    if (!localStorage.getItem('sb.lang') && chosen) setLang(chosen);
  }
  const teamMatch = path.match(/^\/teams\/([^/]+)/);
  if (teamMatch) {
    const wanted = decodeURIComponent(teamMatch[1]);
    if (wanted !== session.team) { session.team = wanted; session.detail = null; }
  }
  renderChrome();
  for (const [pattern, page] of routes) {
    const match = path.match(pattern);
    if (match) { page(match, new URLSearchParams(search || '')); return; }
  }
  location.hash = session.me ? (session.team ? `#${teamPath('/sessions')}` : '#/onboarding') : '#/login';
}

document.getElementById('lang').addEventListener('click', () => { setLang(lang() === 'zh' ? 'en' : 'zh'); render(); });
document.getElementById('logout').addEventListener('click', logout);
document.getElementById('team-select').addEventListener('change', (e) => {
  session.team = e.target.value;
  session.detail = null;
  location.hash = `#${teamPath('/sessions')}`;
});
window.addEventListener('hashchange', render);
setLang(lang());
render();

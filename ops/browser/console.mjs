// The admin console used as a person would, in headless Chromium: log in, open a session,
// see an operator's screenshot (thumbnail, full size), add a remark, close it, upload an FAQ file (a bad one first), try a question, replay past
// questions at other thresholds (and save them, derive and save a threshold from a target
// precision, then put them back), approve a candidate, read the statistics (hand-overs too),
// show only the sessions that missed a response target,
// set up on call (now and next, the set-up built in its form and changed as JSON, an
// override, time off, away and back, holidays from an .ics file), onboard a team by cloning
// a template and verify its WeCom callback URL, switch language. A screenshot of every page
// goes to $SCREENSHOTS.
//
// Environment: BASE (the running `switchboard serve --demo`), SCREENSHOTS (a folder),
// CHROMIUM (default /usr/bin/chromium), TEAM_KEY, ADMIN_KEY. Exits non-zero on the first
// step that does not behave.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.BASE;
const shots = process.env.SCREENSHOTS;
const teamKey = process.env.TEAM_KEY;
const adminKey = process.env.ADMIN_KEY;
if (!base || !shots || !teamKey || !adminKey) {
  console.error('set BASE, SCREENSHOTS, TEAM_KEY and ADMIN_KEY');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN', acceptDownloads: true });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// The browser logs every refused request; the refusals a step provokes on purpose (a wrong
// key) are not problems, anything else is.
const expected = /Failed to load resource: the server responded with a status of 401/;
page.on('console', (m) => { if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console error: ${m.text()}`); });
page.setDefaultTimeout(15000);

let step = 0;
async function check(name, work) {
  step += 1;
  const started = Date.now();
  const fail = async (why) => {
    console.error(`FAIL ${step}. ${name}: ${why}`);
    await browser.close();
    process.exit(1);
  };
  try {
    await work();
  } catch (e) {
    await page.screenshot({ path: join(shots, `failed-${step}.png`), fullPage: true }).catch(() => {});
    await fail(e.message);
  }
  if (problems.length) await fail(problems.join('; '));
  console.log(`ok ${step}. ${name} (${Date.now() - started} ms)`);
}
function expect(condition, message) { if (!condition) throw new Error(message); }
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const text = (selector) => page.locator(selector).first().innerText();

// The demo team's API as the team administrator, for what a step arranges or checks behind the page.
const teamApi = (path, init = {}) =>
  fetch(`${base}/api/v1/teams/demo${path}`, { ...init, headers: { authorization: `Bearer ${teamKey}`, ...init.headers } });

async function login(key) {
  await page.goto(`${base}/console/`);
  await page.waitForSelector('[data-test=login-key]');
  await page.fill('[data-test=login-key]', key);
  await page.click('[data-test=login-submit]');
}

await check('a wrong key is refused on the login page', async () => {
  await login('sbk.demo.not-a-key');
  await page.waitForSelector('.login .error:not([hidden])');
  expect((await text('.login .error')).includes('无效'), 'the refusal says the key is not valid');
  await shot('01-login');
});

await check('logging in shows the session list', async () => {
  await login(teamKey);
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  const rows = await page.locator('[data-test=sessions] tr[data-session]').count();
  expect(rows >= 4, `the seeded sessions are listed (${rows})`);
  await shot('02-sessions');
});

await check('filters narrow the list', async () => {
  await page.selectOption('[data-test=filter-status]', 'with_human');
  await page.click('[data-test=filter-apply]');
  await page.waitForFunction(() => location.hash.includes('status=with_human'));
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  const statuses = await page.locator('[data-test=sessions] [data-status]').evaluateAll((n) => n.map((x) => x.dataset.status));
  expect(statuses.length > 0 && statuses.every((s) => s === 'with_human'), `only sessions with a person: ${statuses}`);
});

await check('a new session appears while the list is open', async () => {
  await page.click('a.button[href$="/sessions"]');
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  const response = await teamApi('/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'live_user', text: '活动报名人数上限在哪里设置' }),
  });
  expect(response.ok, `the message was accepted (${response.status})`);
  await page.waitForSelector('[data-test=new-sessions]:not([hidden])', { timeout: 20000 });
  await page.click('[data-test=new-sessions]');
  await page.waitForSelector('[data-test=sessions] tr[data-user=live_user]');
});

await check('a session opens with its timeline and matched FAQs with scores', async () => {
  await page.click('[data-test=sessions] tr[data-user=lisi] [data-test=open-session]');
  await page.waitForSelector('[data-test=session]');
  expect(await page.locator('[data-test=lookup]').count() >= 1, 'the FAQ lookup is shown');
  const scores = await page.locator('table.scores tbody tr').count();
  expect(scores >= 1, 'ranked candidates with scores');
  await shot('03-conversation');
});

await check('a screenshot sent in WeCom shows as a thumbnail and opens full size', async () => {
  await page.goto(`${base}/console/#/teams/demo/conversations/photo_user`);
  await page.waitForSelector('[data-test=attachment-thumb]');
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-test=attachment-thumb]');
    return img && img.complete && img.naturalWidth === 320;
  });
  await page.click('.thumb-button');
  await page.waitForSelector('[data-test=attachment-full][open]');
  const full = await page.locator('[data-test=attachment-full] img').evaluate((img) => img.naturalWidth);
  expect(full === 320, `the full-size picture is shown (${full} px)`);
  await shot('05-attachment');
  await page.click('[data-test=attachment-full]');
  await page.goto(`${base}/console/#/teams/demo/conversations/lisi`);
  await page.waitForSelector('[data-test=session]');
});

await check('a remark is added inline', async () => {
  await page.fill('[data-test=remark-text]', '运营反馈活动 10086 白屏，已联系前端');
  await page.click('[data-test=remark-submit]');
  await page.waitForSelector('[data-test=remarks] li:has-text("已联系前端")');
});

await check('the session is closed from its page', async () => {
  await page.click('[data-test=close-session]');
  await page.waitForSelector('[data-test=session] [data-status=closed]');
  await page.waitForSelector('[data-test=reopen]');
  await shot('04-conversation-closed');
});

await check('a bad FAQ file is previewed with its bad rows and cannot be imported', async () => {
  await page.click('[data-test=nav-faqs]');
  await page.waitForSelector('[data-test=faqs] tr[data-faq]');
  await page.setInputFiles('[data-test=upload-file]', {
    name: 'bad.csv', mimeType: 'text/csv',
    buffer: Buffer.from('id,question,answer,category\nok-row,退款多久到账,三个工作日,billing\nbad id,问题,,\n'),
  });
  await page.waitForSelector('[data-test=upload-problems]');
  const lines = await page.locator('[data-test=upload-problems] tbody tr').count();
  expect(lines === 2, `two problems on line 3 (id and answer): ${lines}`);
  expect(await page.locator('[data-test=upload-import]').isDisabled(), 'import is refused while rows are bad');
});

await check('a good FAQ file (Excel-compatible CSV) is previewed and imported', async () => {
  await page.setInputFiles('[data-test=upload-file]', {
    name: 'faqs.csv', mimeType: 'text/csv',
    buffer: Buffer.from('\ufeffid,question,answer,category,paraphrases\nrefund-time,退款多久到账,退款在三个工作日内原路返回。,billing,退款什么时候到|how long does a refund take\n'),
  });
  await page.waitForSelector('[data-test=upload-preview] tr.change-added');
  await shot('05-faq-upload-preview');
  await page.click('[data-test=upload-import]');
  await page.waitForSelector('[data-test=faqs] tr[data-faq=refund-time]');
  await shot('06-faqs');
});

await check('an FAQ is edited in place', async () => {
  await page.click('[data-test=faqs] tr[data-faq=refund-time] [data-test=faq-edit]');
  await page.fill('[data-test=faq-answer]', '退款在三个工作日内原路返回；节假日顺延。');
  await page.click('[data-test=faq-save]');
  await page.waitForSelector('[data-test=faqs] tr[data-faq=refund-time]:has-text("节假日顺延")');
});

await check('a question is tried on the FAQ page: ranked FAQs with their scores and the decision', async () => {
  await page.fill('[data-test=hit-test-question]', '退款多久能到账');
  await page.click('[data-test=hit-test-run]');
  await page.waitForSelector('[data-test=hit-test-result] [data-test=hit-test-candidate]');
  const first = page.locator('[data-test=hit-test-candidate]').first();
  expect(await first.getAttribute('data-faq') === 'refund-time', 'the imported refund FAQ ranks first');
  const decision = await page.locator('[data-test=hit-test-decision]').getAttribute('data-decision');
  expect(['answer', 'clarify', 'transfer'].includes(decision), `a decision is shown (${decision})`);
  const tried = await (await teamApi('/faq-hit-test', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: '退款多久能到账' }) })).json();
  const shown = await page.locator('[data-test=hit-test-confidence]').innerText();
  expect(shown.includes(tried.confidence.toFixed(2)) && shown.includes(tried.answer_at.toFixed(2)), `the confidence ${tried.confidence} is shown next to the thresholds: ${shown}`);
  await shot('06b-hit-test');
  await page.fill('[data-test=hit-test-question]', '转人工');
  await page.press('[data-test=hit-test-question]', 'Enter');
  await page.waitForSelector('[data-test=hit-test-reason][data-reason=asked_for_person]');
});

await check('past questions are replayed at other thresholds on the FAQ page, saved, and put back', async () => {
  // The team's settings as the API has them (the team, GET …/teams/demo: there is no GET of …/settings alone).
  const policy = async () => (await (await teamApi('')).json()).settings.answer_policy;
  const close = (a, b) => Math.abs(a - b) < 1e-6;
  const was = await policy();
  // Thresholds are 32-bit floats: the page shows and replays them with three digits at most.
  const original = { answer_at: Number(was.answer_at.toFixed(3)), clarify_at: Number(was.clarify_at.toFixed(3)) };
  const replay = async (answerAt, clarifyAt) => {
    await page.fill('[data-test=replay-answer-at]', String(answerAt));
    await page.fill('[data-test=replay-clarify-at]', String(clarifyAt));
    await page.click('[data-test=replay-run]');
    await page.waitForSelector(`[data-test=replay-result] [data-test=replay-summary][data-answer-at="${answerAt}"][data-clarify-at="${clarifyAt}"]`);
  };
  const save = async () => {
    await page.waitForSelector('#toast', { state: 'hidden' });
    await page.click('[data-test=replay-save]');
    await page.waitForSelector('#toast.ok:has-text("已保存")');
  };
  // The inputs start at the team's thresholds.
  await page.waitForFunction(() => document.querySelector('[data-test=replay-answer-at]')?.value !== '');
  const shown = Number(await page.inputValue('[data-test=replay-answer-at]'));
  expect(shown === original.answer_at, `the answer threshold is prefilled: ${shown} (the team's ${original.answer_at})`);
  expect(!close(original.answer_at, 0.9), `the demo team does not already answer at 0.9 (${original.answer_at})`);
  await replay(0.9, 0.2);
  const expected = await (await teamApi('/threshold-replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ answer_at: 0.9, clarify_at: 0.2 }) })).json();
  expect(expected.total > 0, `the demo has past matches to replay: ${JSON.stringify(expected)}`);
  const summary = await text('[data-test=replay-result] [data-test=replay-summary]');
  expect(summary.includes(String(expected.total)), `the summary counts the ${expected.total} questions replayed: ${summary}`);
  const total = Number(await page.getAttribute('[data-test=replay-summary]', 'data-total'));
  expect(total === expected.total, `the page shows the replay the API makes (${total} against ${expected.total})`);
  const changes = await page.locator('[data-test=replay-changes] [data-test=replay-change]').count();
  expect(changes === expected.changes.length, `every change is listed (${changes} rows for ${expected.changes.length})`);
  const flips = await page.locator('[data-test=replay-flip]').count();
  expect(flips === expected.flips.length, `every flipping question is shown (${flips} for ${expected.flips.length})`);
  expect(await page.locator('[data-test=replay-curve] svg polyline, [data-test=replay-curve] svg path').count() >= 1, 'the coverage line is drawn');
  await shot('06c-threshold-replay');
  await save();
  const saved = await policy();
  expect(close(saved.answer_at, 0.9) && close(saved.clarify_at, 0.2), `the thresholds are saved: ${JSON.stringify(saved)}`);
  // A target precision instead: the page derives the threshold the API derives, replays it and saves it with its basis.
  await page.fill('[data-test=target-precision]', '0.9');
  await page.click('[data-test=target-derive]');
  await page.waitForSelector('[data-test=target-derived]:not([hidden])');
  const api = await (await teamApi('/answer-target/derive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ precision: 0.9 }) })).json();
  const derivedAt = Number(await page.getAttribute('[data-test=target-derived]', 'data-answer-at'));
  const basis = await page.getAttribute('[data-test=target-derived]', 'data-basis');
  expect(close(derivedAt, api.target.answer_at) && basis === api.target.basis, `the page shows the API's derivation: ${derivedAt} ${basis} against ${JSON.stringify(api.target)}`);
  const line = await text('[data-test=target-derived]');
  expect(line.includes(String(api.target.count)), `the count it rests on is shown: ${line}`);
  await page.waitForSelector(`[data-test=replay-result] [data-test=replay-summary][data-answer-at="${Number(api.target.answer_at.toFixed(3))}"]`);
  await shot('06d-target-precision');
  await page.waitForSelector('#toast', { state: 'hidden' });
  await page.click('[data-test=target-save]');
  await page.waitForSelector('#toast.ok:has-text("已保存")');
  const targeted = await policy();
  expect(targeted.target && close(targeted.target.precision, 0.9) && close(targeted.answer_at, api.target.answer_at),
    `the target is saved with its threshold: ${JSON.stringify(targeted)}`);
  await page.waitForSelector('[data-test=replay-current]:has-text("目标准确率 0.90")');
  // Back to what they were, the same way, so later steps are not affected.
  await replay(original.answer_at, original.clarify_at);
  await save();
  const back = await policy();
  expect(close(back.answer_at, was.answer_at) && close(back.clarify_at, was.clarify_at) && back.max_choices === was.max_choices,
    `the thresholds are back: ${JSON.stringify(back)} (were ${JSON.stringify(was)})`);
  expect(back.target === undefined, `thresholds saved by hand remove the target: ${JSON.stringify(back)}`);
});

await check('an FAQ candidate is approved in one click', async () => {
  await page.click('[data-test=nav-candidates]');
  await page.waitForSelector('[data-test=candidate]');
  const before = await page.locator('[data-test=candidate]').count();
  const card = page.locator('[data-test=candidate]').filter({ hasText: '发票' }).first();
  await card.locator('[data-test=candidate-answer]').fill('发票在活动结束后 7 个工作日内开具，在「财务 → 发票」下载。');
  await shot('07-candidates');
  await card.locator('[data-test=candidate-approve]').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-test=candidate]').length === n - 1, before);
  const faqs = await (await teamApi('/faqs')).json();
  expect(faqs.faqs.some((f) => f.answer.includes('7 个工作日')), 'the approved candidate is an FAQ');
});

await check('statistics show figures and charts', async () => {
  await page.click('[data-test=nav-statistics]');
  await page.waitForSelector('[data-test=chart-per-day] svg rect', { state: 'attached' });
  const opened = Number(await text('[data-test=kpi-opened] .value'));
  expect(opened >= 5, `sessions counted: ${opened}`);
  expect(await page.locator('[data-test=chart-top-faqs] svg rect').count() >= 1, 'top FAQs drawn');
  await shot('08-statistics');
});

await check('statistics show how hand-overs went', async () => {
  await page.waitForSelector('[data-test=handover-stats] [data-test=kpi-handed-over] .value');
  const shown = (await text('[data-test=handover-stats] [data-test=kpi-handed-over] .value')).trim();
  expect(/^\d+$/.test(shown), `the hand-overs are counted: ${JSON.stringify(shown)}`);
  // The page's period: the last 30 days up to the end of today (UTC).
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  to.setUTCDate(to.getUTCDate() + 1);
  const from = new Date(to.getTime() - 30 * 86400000);
  const response = await teamApi(`/statistics?from=${from.toISOString()}&to=${to.toISOString()}`);
  expect(response.ok, `the statistics are read (${response.status})`);
  const figures = await response.json();
  expect(figures.handover && Number(shown) === figures.handover.handed_over, `the page shows the API's ${figures.handover?.handed_over} hand-overs: ${shown}`);
  for (const [test, rows] of [['handover-per-assignee', figures.handover_per_assignee], ['handover-per-category', figures.handover_per_category]]) {
    await page.waitForSelector(`[data-test=${test}] tbody tr`);
    const listed = await page.locator(`[data-test=${test}] tbody tr:has([data-test=handed-over])`).count();
    expect(Array.isArray(rows) && listed === rows.length, `${test}: a row for each of the API's ${rows?.length} (${listed})`);
  }
  await page.locator('[data-test=handover-stats]').screenshot({ path: join(shots, '08b-handovers.png') });
});

await check('the session list filters sessions that missed a response target', async () => {
  await page.click('[data-test=nav-sessions]');
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  const toggle = '[data-test=filter-breached]';
  expect(!(await page.locator(toggle).isChecked()), 'the breached filter starts off');
  // Waits for the list that the hash change put in place of `old`, filled by its first load;
  // an error shown meanwhile fails at once, saying what it was.
  const renewed = async (old, what) => {
    let outcome;
    try {
      outcome = await (await page.waitForFunction((before) => {
        const toast = document.querySelector('#toast.error:not([hidden])');
        if (toast) return { error: toast.textContent };
        const table = document.querySelector('[data-test=sessions]');
        return table && table !== before && table.querySelector('tbody tr') !== null && { shown: true };
      }, old)).jsonValue();
    } catch {
      throw new Error(`${what}: the list was not shown again (hash ${await page.evaluate(() => location.hash)})`);
    }
    expect(!outcome.error, `${what}: the page says ${outcome.error}`);
  };
  let old = await page.$('[data-test=sessions]');
  await page.check(toggle);
  await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1] || '').get('breached') === 'true');
  await renewed(old, 'breached only');
  expect(await page.locator(toggle).isChecked(), 'the filter stays on once applied');
  expect(await page.locator('#toast.error:not([hidden])').count() === 0, `no error: ${await page.locator('#toast').innerText()}`);
  // Every session listed missed a target and says so; an empty list is fine.
  const rows = await page.locator('[data-test=sessions] tr[data-session]').count();
  const marked = await page.locator('[data-test=sessions] tr[data-session]:has([data-test=breached-badge])').count();
  expect(marked === rows, `every breached session shows its miss (${marked} of ${rows})`);
  if (rows === 0) await page.waitForSelector('[data-test=sessions] td.empty');
  await shot('02b-sessions-breached');
  old = await page.$('[data-test=sessions]');
  await page.uncheck(toggle);
  await page.waitForFunction(() => !location.hash.includes('breached'));
  await renewed(old, 'breached filter off');
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  expect(!(await page.locator(toggle).isChecked()), 'the filter is off again');
});

await check('team settings show the roster, keys and checklist', async () => {
  await page.click('[data-test=nav-settings]');
  await page.waitForSelector('[data-test=checklist] li');
  await page.waitForSelector('[data-test=keys] tbody tr');
  await shot('09-settings');
});

await check('a webhook is added, its failed deliveries are shown and replayed', async () => {
  // Nothing listens on the discard port: every attempt fails and is shown as such.
  await page.fill('[data-test=hook-label]', 'CRM');
  await page.fill('[data-test=hook-url]', 'http://127.0.0.1:9/hook');
  await page.fill('[data-test=hook-types]', 'SessionOpened');
  await page.click('[data-test=hook-add]');
  const secret = await page.locator('[data-test=hook-secret]').innerText();
  expect(secret.startsWith('whsec_'), `the signing secret is shown once: ${secret}`);
  const sent = await teamApi('/messages', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'webhook-watcher', text: '活动怎么下线' }),
  });
  expect(sent.ok, `a message opens a session: ${sent.status}`);
  await page.waitForFunction(async () => {
    document.querySelector('[data-test=delivery-status]').dispatchEvent(new Event('change'));
    await new Promise((r) => setTimeout(r, 300));
    return document.querySelector('[data-test=deliveries] tr[data-status=failed]') !== null;
  }, null, { timeout: 20000, polling: 500 });
  const error = await text('[data-test=deliveries] tr[data-status=failed] td.error');
  expect(error.includes('cannot reach'), `the failure says why: ${error}`);
  await shot('09b-webhooks');
  await page.locator('[data-test=deliveries] tr[data-status=failed] [data-test=delivery-replay]').first().click();
  await page.waitForSelector('#toast.ok:has-text("已重新排队")');
});

// On call: the default schedule's layers on the now-and-next card, and the local
// datetime-local values of a span from now (in the browser's time zone, as the page reads them).
const nowCard = '[data-test=on-call-now] [data-schedule=default]';
const onCall = (layer) => `${nowCard} tr[data-layer=${layer}] [data-test=on-call-person]`;
const span = (startHours, hours) => page.evaluate(([start, length]) => {
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const from = new Date(Date.now() + start * 3600000);
  return [local(from), local(new Date(from.getTime() + length * 3600000))];
}, [startHours, hours]);

/** Waits until an element of `selector` shows `pattern`; fails saying what was shown instead. */
async function shows(selector, pattern, what) {
  try {
    await page.locator(selector).filter({ hasText: pattern }).first().waitFor();
  } catch {
    const seen = await page.locator(selector).allInnerTexts().catch(() => []);
    throw new Error(`${what}: expected ${pattern} in ${selector}, the page shows ${JSON.stringify(seen)}`);
  }
}

// The on-call set-up editor: its form, a layer of the default schedule by position, and the
// escalation steps the walkthrough builds.
const form = '[data-test=on-call-form]';
const layer = (i) => `${form} [data-test=layer][data-schedule=default][data-layer="${i}"]`;
const steps = [
  { notify: ['assignee'], wait_minutes: 5 },
  { notify: ['next_layer'], wait_minutes: 10 },
  { notify: ['leads', 'group_chat'], wait_minutes: 15 },
];

/** Empties a list of the editor (`test`: participant, step, lead…) with its remove buttons. */
async function clear(within, test) {
  const remove = page.locator(`${within} [data-test=remove-${test}]`);
  for (let left = await remove.count(); left > 0; left -= 1) await remove.first().click();
  expect(await remove.count() === 0, `every ${test} is removed`);
}

/** Adds people to a list of the editor, typing each and pressing Enter. */
async function addPeople(within, test, people) {
  for (const who of people) {
    await page.fill(`${within} [data-test=${test}-input]`, who);
    await page.press(`${within} [data-test=${test}-input]`, 'Enter');
    await page.waitForSelector(`${within} [data-test=${test}][data-staff="${who}"]`);
  }
}

/** Gives layer `i` of the default schedule weekly turns from Monday 2026-11-30, 09:00. */
async function timeLayer(i) {
  await page.fill(`${layer(i)} [data-test=shift-count]`, '1');
  await page.selectOption(`${layer(i)} [data-test=shift-unit]`, 'weeks');
  await page.selectOption(`${layer(i)} [data-test=handoff-weekday]`, 'mon');
  await page.fill(`${layer(i)} [data-test=handoff-time]`, '09:00');
  await page.fill(`${layer(i)} [data-test=starts-on]`, '2026-11-30');
}

/** Clicks a save button of the set-up editor; fails with what the page said unless it saved. */
async function saveOnCall(test) {
  await page.waitForSelector('#toast', { state: 'hidden' });
  await page.click(`${form} [data-test=${test}]`);
  const said = await (await page.waitForFunction(() => {
    const problem = document.querySelector('[data-test=on-call-error]:not([hidden])');
    const toast = document.querySelector('#toast:not([hidden])');
    return (problem && `problem: ${problem.textContent}`) || (toast && `${toast.className}: ${toast.textContent}`);
  })).jsonValue();
  expect(said === 'toast ok: 已保存', `the set-up is saved: ${said}`);
}

await check('the on-call page shows who is on call now and next', async () => {
  await page.click('[data-test=nav-on-call]');
  await page.waitForSelector(`${nowCard} [data-test=on-call-person]`);
  const who = (await text(`${nowCard} [data-test=on-call-person]`)).trim();
  expect(who.length > 0, 'someone is on call for the default schedule');
  await page.waitForSelector('[data-test=on-call-calendar] .shift');
  await page.waitForSelector(`${layer(0)} [data-test=participant]`);
  await shot('on-call');
});

await check('an on-call set-up is built in the form of the set-up editor', async () => {
  await page.fill(`${form} [data-test=time-zone-input]`, 'Asia/Shanghai');
  // The default schedule: its one layer becomes the primary of li_lei then han_meimei (added
  // the other way round, then reordered), and a secondary layer of zhang_wei is added.
  const schedule = `${form} [data-test=schedule][data-schedule=default]`;
  expect(await page.locator(`${schedule} [data-test=layer]`).count() === 1, 'the demo\'s default schedule has one layer');
  await page.fill(`${layer(0)} [data-test=layer-name]`, 'primary');
  await clear(layer(0), 'participant');
  await addPeople(layer(0), 'participant', ['han_meimei', 'li_lei']);
  await page.click(`${layer(0)} [data-test=participant][data-staff=li_lei] [data-test=participant-up]`);
  await timeLayer(0);
  await page.click(`${schedule} [data-test=add-layer]`);
  await page.fill(`${layer(1)} [data-test=layer-name]`, 'secondary');
  await addPeople(layer(1), 'participant', ['zhang_wei']);
  await timeLayer(1);
  // Three escalation steps, from nothing.
  const escalation = `${form} [data-test=escalation-editor]`;
  await clear(escalation, 'step');
  for (const [i, { notify, wait_minutes: wait }] of steps.entries()) {
    await page.click(`${escalation} [data-test=add-step]`);
    const row = `${escalation} [data-test=step][data-step="${i}"]`;
    for (const target of ['assignee', 'next_layer', 'leads', 'group_chat']) {
      await page.setChecked(`${row} [data-test=step-notify][data-target=${target}]`, notify.includes(target));
    }
    await page.fill(`${row} [data-test=step-wait]`, String(wait));
  }
  await page.selectOption(`${escalation} [data-test=escalation-clock]`, 'wall');
  const targets = `${form} [data-test=targets-of][data-category=default]`;
  await page.fill(`${targets} [data-test=target-acknowledge]`, '10');
  await page.fill(`${targets} [data-test=target-first_reply]`, '30');
  await page.fill(`${targets} [data-test=target-resolution]`, '');
  await page.selectOption(`${targets} [data-test=target-clock]`, 'wall');
  const leads = `${form} [data-test=leads-editor]`;
  await clear(leads, 'lead');
  await page.fill(`${leads} [data-test=lead-input]`, 'zhao_min');
  await page.click(`${leads} [data-test=add-lead]`);
  await page.waitForSelector(`${leads} [data-test=lead][data-staff=zhao_min]`);
  await shot('on-call-editor');
  await saveOnCall('save-on-call-form');
  await shows(onCall('primary'), /^(li_lei|han_meimei)$/, 'the primary rotation is on call');
  await shows(onCall('secondary'), /^zhang_wei$/, 'the secondary layer is on call');
  await page.waitForSelector('[data-test=escalation-steps] li >> nth=2');
  const saved = await (await teamApi('/on-call')).json();
  expect(saved.configured, 'the set-up is saved');
  const s = saved.on_call;
  expect(s.time_zone === 'Asia/Shanghai' && s.leads.join() === 'zhao_min', `as built: ${JSON.stringify(s)}`);
  const [primary, secondary] = s.default;
  expect(s.default.length === 2 && primary.name === 'primary' && primary.participants.join() === 'li_lei,han_meimei'
    && secondary.name === 'secondary' && secondary.participants.join() === 'zhang_wei', `the layers as built: ${JSON.stringify(s.default)}`);
  for (const l of s.default) {
    const weekly = l.shift.count === 1 && l.shift.unit === 'weeks' && l.handoff.weekday === 'mon' && l.handoff.time === '09:00:00'
      && l.starts_on === '2026-11-30';
    expect(weekly, `${l.name} turns over weekly on Mondays at 09:00: ${JSON.stringify(l)}`);
  }
  expect(s.escalation.clock === 'wall' && JSON.stringify(s.escalation.steps) === JSON.stringify(steps),
    `the escalation as built: ${JSON.stringify(s.escalation)}`);
  expect(s.targets.acknowledge_minutes === 10 && s.targets.first_reply_minutes === 30 && s.targets.resolution_minutes === null,
    `the targets as built: ${JSON.stringify(s.targets)}`);
});

await check('the JSON editor shows the form\'s draft and still saves', async () => {
  await page.click(`${form} [data-test=on-call-json-open]`);
  const json = `${form} [data-test=on-call-json]`;
  const draft = JSON.parse(await page.locator(json).inputValue());
  expect(draft.leads.join() === 'zhao_min' && draft.default.length === 2, `the JSON is the set-up shown: ${JSON.stringify(draft)}`);
  // A lead added in the JSON shows in the form at once; the JSON is saved as written.
  await page.fill(json, JSON.stringify({ ...draft, leads: ['zhao_min', 'li_lei'] }, null, 2));
  await page.waitForSelector(`${form} [data-test=leads-editor] [data-test=lead][data-staff=li_lei]`);
  await saveOnCall('save-on-call');
  await shows('[data-test=on-call-summary] [data-test=leads]', /^zhao_min, li_lei$/, 'the lead added in the JSON is saved');
  expect((await (await teamApi('/on-call')).json()).on_call.leads.join() === 'zhao_min,li_lei', 'the API has the lead added');
  // Back to one lead, through the form.
  await page.click(`${form} [data-test=leads-editor] [data-test=lead][data-staff=li_lei] [data-test=remove-lead]`);
  await saveOnCall('save-on-call-form');
  await shows('[data-test=on-call-summary] [data-test=leads]', /^zhao_min$/, 'the lead removed in the form is saved');
  expect((await (await teamApi('/on-call')).json()).on_call.leads.join() === 'zhao_min', 'the API has one lead again');
});

await check('an override puts someone else on call and is marked in the calendar', async () => {
  const [from, until] = await span(0, 2);
  expect(await page.locator('[data-test=override-schedule]').inputValue() === '', 'the default schedule is chosen first');
  await page.selectOption('[data-test=override-layer]', 'primary');
  await page.fill('[data-test=override-staff]', 'zhang_wei');
  await page.fill('[data-test=override-from]', from);
  await page.fill('[data-test=override-until]', until);
  await page.fill('[data-test=override-note]', '换班');
  await page.click('[data-test=add-override]');
  await page.waitForSelector('[data-test=overrides] tr[data-staff=zhang_wei] [data-test=remove-override]');
  await shows(onCall('primary'), /^zhang_wei$/, 'the override is on call');
  await shows(`${nowCard} tr[data-layer=primary] [data-test=covering]`, /li_lei|han_meimei/, 'the card says whom the override covers for');
  await page.waitForSelector('[data-test=on-call-calendar] [data-schedule=default] tr[data-layer=primary] .shift.override[data-staff=zhang_wei]');
  await shot('on-call-override');
});

await check('a calendar feed address gets a viewer key of its own, and serves iCalendar', async () => {
  await page.click('[data-test=feed-create]');
  await page.waitForFunction(() => !document.querySelector('[data-test=feed-url]').value.includes(encodeURIComponent('<feed-key>')));
  const url = await page.locator('[data-test=feed-url]').inputValue();
  expect(!url.includes(encodeURIComponent(teamKey)) && !url.includes(teamKey), 'the console key is not in the address');
  const response = await page.request.get(url);
  const shown = url.replace(/key=[^&]+/, (k) => `${k.slice(0, 16)}…`);
  expect(response.status() === 200, `the feed at ${shown} answers 200, not ${response.status()}: ${await response.text()}`);
  expect((response.headers()['content-type'] || '').startsWith('text/calendar'), 'the feed is text/calendar');
  expect((await response.text()).startsWith('BEGIN:VCALENDAR'), 'the feed is an iCalendar');
});

await check('a time off is recorded and taken back', async () => {
  const [from, until] = await span(24, 8);
  await page.fill('[data-test=time-off-staff]', 'han_meimei');
  await page.fill('[data-test=time-off-from]', from);
  await page.fill('[data-test=time-off-until]', until);
  await page.fill('[data-test=time-off-note]', '体检');
  await page.click('[data-test=add-time-off]');
  const row = '[data-test=time-off] tr[data-staff=han_meimei]';
  await page.waitForSelector(row);
  const recorded = await (await teamApi('/on-call')).json();
  expect(recorded.time_off.some((x) => x.staff === 'han_meimei' && x.note === '体检'), `the time off is recorded: ${JSON.stringify(recorded.time_off)}`);
  await page.click(`${row} [data-test=remove-time-off]`);
  await page.waitForSelector(row, { state: 'detached' });
  const left = await (await teamApi('/on-call')).json();
  expect(!left.time_off.some((x) => x.staff === 'han_meimei'), `the time off is gone: ${JSON.stringify(left.time_off)}`);
});

await check('marking oneself away and back', async () => {
  const me = await (await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${teamKey}` } })).json();
  expect(me.staff, `the key's staff id: ${JSON.stringify(me)}`);
  const listed = `[data-test=away-list] li[data-staff="${me.staff}"]`;
  await page.click('[data-test=toggle-away][data-away=false]');
  await page.waitForSelector(listed);
  await page.waitForSelector('[data-test=toggle-away][data-away=true]');
  const away = await (await teamApi('/on-call')).json();
  expect(away.away.includes(me.staff), `recorded as away: ${away.away}`);
  await page.click('[data-test=toggle-away][data-away=true]');
  await page.waitForSelector('[data-test=toggle-away][data-away=false]');
  expect(await page.locator(listed).count() === 0, 'no longer listed as away');
});

await check('holidays and a make-up workday are imported from an .ics file', async () => {
  const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Switchboard walkthrough//CN',
    'BEGIN:VEVENT', 'UID:new-year-2027@walkthrough', 'DTSTART;VALUE=DATE:20270101', 'DTEND;VALUE=DATE:20270102', 'SUMMARY:元旦', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:makeup-2027@walkthrough', 'DTSTART;VALUE=DATE:20270220', 'DTEND;VALUE=DATE:20270221', 'SUMMARY:春节调休上班', 'END:VEVENT',
    'END:VCALENDAR', ''].join('\r\n');
  await page.setInputFiles('[data-test=ics-import]', { name: 'holidays.ics', mimeType: 'text/calendar', buffer: Buffer.from(ics) });
  await page.waitForSelector('[data-test=holidays] li[data-date="2027-01-01"]');
  await page.waitForSelector('[data-test=workdays] li[data-date="2027-02-20"]');
  expect((await text('[data-test=holidays] li[data-date="2027-01-01"]')).includes('元旦'), 'the holiday keeps its name');
  expect((await text('[data-test=workdays] li[data-date="2027-02-20"]')).includes('调休上班'), 'the make-up workday keeps its name');
  await shot('on-call-calendar');
});

await check('the console speaks English too', async () => {
  await page.click('[data-test=lang]');
  await page.waitForSelector('[data-test=nav-sessions]:has-text("Sessions")');
  await page.click('[data-test=nav-sessions]');
  await page.waitForSelector('[data-test=sessions] tr[data-session]');
  expect((await text('h1')) === 'Sessions', 'headings in English');
  await shot('10-sessions-en');
  await page.click('[data-test=lang]');
});

await check('a global administrator clones the demo into a new team', async () => {
  await page.click('[data-test=logout]');
  await login(adminKey);
  await page.waitForSelector('[data-test=nav-onboarding]');
  await page.click('[data-test=nav-onboarding]');
  await page.fill('[data-test=new-team-id]', 'ops-sh');
  await page.fill('[data-test=new-team-name]', '上海运营');
  await page.selectOption('[data-test=new-team-template]', 'demo');
  await shot('11-onboarding');
  await page.click('[data-test=new-team-create]');
  await page.waitForSelector('[data-test=checklist] li[data-item=faq].done');
  await page.waitForSelector('[data-test=checklist] li[data-item=wecom].todo');
  const url = await text('[data-test=callback-url]');
  expect(url.endsWith('/wecom/ops-sh/callback'), `the callback URL is shown: ${url}`);
});

await check('its WeCom application is set up and the URL verification passes', async () => {
  await page.fill('[data-test=wecom-corp_id]', 'wwopssh0001');
  await page.fill('[data-test=wecom-agent_id]', '1000009');
  await page.fill('[data-test=wecom-token]', 'OpsShanghai2026');
  await page.fill('[data-test=wecom-encoding_aes_key]', 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C');
  await page.click('[data-test=wecom-save]');
  await page.waitForSelector('[data-test=checklist] li[data-item=wecom].done');
  await page.click('[data-test=wecom-verify]');
  await page.waitForSelector('[data-test=verify-result].ok');
  await shot('12-team-wecom');
});

await browser.close();
console.log(`all ${step} steps passed; screenshots in ${shots}`);

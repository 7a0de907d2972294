// The chat widget used as an operator would, in headless Chromium: ask a question and get
// the FAQ answer, say it did not help and be handed to a person, read the engineer's reply
// as it arrives, reload without losing or repeating anything, end the session, use the
// widget framed in another page, and see a clear notice for a bad token. A screenshot of
// every step goes to $SCREENSHOTS.
//
// Environment: BASE (the running `switchboard serve --demo`), SCREENSHOTS (a folder),
// CHROMIUM (default /usr/bin/chromium), TOKEN (a channel token of the demo team for the
// operator), TOKEN_RENEWED (another for the same operator), TEAM_KEY (the demo team's key, for the engineer's reply). Exits non-zero on
// the first step that does not behave.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.BASE;
const shots = process.env.SCREENSHOTS;
const token = process.env.TOKEN;
const renewed = process.env.TOKEN_RENEWED;
const teamKey = process.env.TEAM_KEY;
if (!base || !shots || !token || !renewed || !teamKey) {
  console.error('set BASE, SCREENSHOTS, TOKEN, TOKEN_RENEWED and TEAM_KEY');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const user = JSON.parse(Buffer.from(token.split('.')[2], 'base64url').toString()).u;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 480, height: 720 }, locale: 'zh-CN' });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
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
    await page.screenshot({ path: join(shots, `widget-failed-${step}.png`), fullPage: true }).catch(() => {});
    await fail(e.message);
  }
  if (problems.length) await fail(problems.join('; '));
  console.log(`ok ${step}. ${name} (${Date.now() - started} ms)`);
}
function expect(condition, message) { if (!condition) throw new Error(message); }
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const bubbles = () => page.locator('#log li').allInnerTexts();
const widgetUrl = `${base}/widget/demo/#token=${encodeURIComponent(token)}`;

await check('the widget connects with a channel token', async () => {
  await page.goto(widgetUrl);
  await page.waitForSelector('#state[data-state=online]');
  expect((await page.innerText('#send')) === '发送', 'Chinese by default');
});

await check('a question is answered from the FAQ with feedback buttons', async () => {
  await page.fill('#text', '奖品库存不足怎么办');
  await page.press('#text', 'Enter');
  await page.waitForSelector('#log li.bot[data-purpose=answer] button[data-action=resolved]');
  const mine = page.locator('#log li.operator');
  expect(await mine.count() === 1, 'the question shows once');
  expect(!(await mine.first().getAttribute('class')).includes('pending'), 'the question was recorded');
  await shot('w01-answered');
});

await check('"not resolved" hands the session to a person', async () => {
  await page.click('button[data-action=unresolved]');
  await page.waitForSelector('#log li.bot[data-purpose=transfer_notice]');
  const all = (await bubbles()).join('\n');
  expect(all.includes('你已反馈：未解决'), 'the feedback is shown');
  expect(all.includes('已转'), 'the transfer is shown');
  expect(await page.locator('button[data-action=resolved]').isDisabled(), 'old feedback buttons are retired');
  expect(await page.locator('#human').isDisabled(), 'no second request for a person');
  await shot('w02-transferred');
});

await check("the engineer's reply arrives live", async () => {
  const response = await fetch(`${base}/api/v1/teams/demo/conversations/${user}/replies`, {
    method: 'POST',
    headers: { authorization: `Bearer ${teamKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: '库存已经帮你补上了' }),
  });
  expect(response.ok, `the reply was recorded (${response.status})`);
  await page.waitForSelector('#log li.bot[data-purpose=human_reply]');
  expect((await bubbles()).some((b) => b.includes('库存已经帮你补上了')), 'the reply text is shown');
  await shot('w03-human-reply');
});

await check('a reload shows the same conversation, nothing lost or repeated', async () => {
  const before = await bubbles();
  await page.reload();
  await page.waitForSelector('#log li.bot[data-purpose=human_reply]');
  await page.waitForTimeout(300);
  const after = await bubbles();
  expect(JSON.stringify(after) === JSON.stringify(before), `same bubbles: ${before.length} before, ${after.length} after`);
});

await check('ending the session closes it', async () => {
  await page.click('#end');
  await page.waitForSelector('#log li.system:has-text("会话已结束")');
  expect(await page.locator('#end').isDisabled(), 'the end button is retired');
  await shot('w04-closed');
});

await check('the widget works framed in another page, in English', async () => {
  const host = await context.newPage();
  await host.setContent(`<h1>Ops portal</h1><iframe id="chat" src="${base}/widget/demo/#token=${encodeURIComponent(token)}&lang=en" width="460" height="560"></iframe>`);
  const frame = host.frameLocator('#chat');
  await frame.locator('#state[data-state=online]').waitFor();
  expect((await frame.locator('#send').innerText()) === 'Send', 'English on request');
  await frame.locator('#log li.system', { hasText: 'The session ended' }).first().waitFor();
  await host.screenshot({ path: join(shots, 'w05-framed.png'), fullPage: true });
  await host.close();
});

await check('a renewed token in the fragment reconnects and keeps the conversation', async () => {
  const before = await bubbles();
  await page.evaluate((t) => { location.hash = `token=${encodeURIComponent(t)}`; }, renewed);
  await page.waitForSelector('#state[data-state=online]');
  await page.waitForTimeout(300);
  expect(JSON.stringify(await bubbles()) === JSON.stringify(before), 'the same conversation, shown once');
});

await check('a bad token gets a clear notice instead of a silent failure', async () => {
  await page.goto(`${base}/widget/demo/#token=sbu.demo.forged.token`);
  await page.waitForSelector('#notice:not([hidden])');
  expect((await page.innerText('#notice')).includes('过期'), 'the notice says to open the page again');
  expect(await page.locator('#send').isDisabled(), 'nothing can be sent');
  await shot('w06-bad-token');
});

await browser.close();
console.log(`all ${step} steps passed; screenshots in ${shots}`);

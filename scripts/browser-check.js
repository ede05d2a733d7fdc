// Opens a page in headless Chromium (Debian's, driven by playwright-core) and reports on it as
// JSON: its SVG charts and their bars, console errors and page errors, whether the live page
// refreshed itself, and a screenshot. Usage: node browser-check.js URL SCREENSHOT [WAIT_MS]
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

(async () => {
  const [url, shot, wait] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  const response = await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('svg.chart', { timeout: 10000 });
  const before = await page.textContent('#generated');
  const charts = await page.$$eval('svg.chart', (svgs) =>
    svgs.map((s) => ({ id: s.id, bars: s.querySelectorAll('rect.bar').length })));
  if (wait) { await page.waitForTimeout(Number(wait)); }
  const after = await page.textContent('#generated');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({
    status: response.status(), title: await page.title(), charts, errors,
    refreshed: before !== after,
  }));
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });

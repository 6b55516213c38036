// Drives `weft pair --browser` in headless Chromium with a stand-in EIP-1193 wallet
// (window.ethereum) that signs with weft's local wallet in another home — the same EIP-191
// personal_sign a real browser wallet performs.
// Usage: node pair.cjs URL ADDRESS   (env: WEFT_BIN, SIGNER_HOME, CHROMIUM)
const { chromium } = require('playwright-core');
const { execFileSync } = require('node:child_process');

(async () => {
  const [url, address] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.exposeFunction('weftTestSign', (hex) => execFileSync(
      process.env.WEFT_BIN, ['wallet', 'sign', '--stdin'],
      { input: Buffer.from(hex.slice(2), 'hex'), env: { ...process.env, WEFT_HOME: process.env.SIGNER_HOME } },
    ).toString().trim());
    await page.addInitScript((addr) => {
      window.ethereum = {
        request: async ({ method, params }) => {
          if (method === 'eth_requestAccounts') return [addr];
          if (method === 'personal_sign') return await window.weftTestSign(params[0]);
          throw new Error('unsupported method ' + method);
        },
      };
    }, address);
    await page.goto(url);
    await page.click('#sign');
    await page.waitForFunction(
      () => document.getElementById('status').textContent.startsWith('Paired'),
      null, { timeout: 30000 });
    console.log(await page.textContent('#status'));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });

// The journeys of issue 5 in Chromium, as people would walk them. Run by tests/browser.rs
// with BASE (server), ORG, CHROMIUM (executable), SHOTS (screenshot directory) and NODE_PATH
// (where playwright-core is installed). Exits non-zero on the first step that fails.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("node:fs");
const path = require("node:path");

const { BASE, ORG, CHROMIUM, SHOTS } = process.env;
const shot = (name) => path.join(SHOTS, name);
const step = (name) => console.log("- " + name);

async function expectText(page, text) {
  await page.getByText(text, { exact: false }).first().waitFor({ state: "visible" });
}

async function newPage(browser, problems, viewport) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: viewport || { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => problems.push("page error: " + e));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console error: " + m.text());
  });
  return page;
}

async function signIn(page, area, email, password) {
  await page.goto(`${BASE}/${area}/${ORG}/login`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/${area}`);
}

(async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const problems = [];
  try {
    // --- The customer ------------------------------------------------------------------
    const page = await newPage(browser, problems);
    step("customer signs in");
    await signIn(page, "portal", "anna@alpha.example", "portal-password-1");
    await expectText(page, "Anna Schmidt");
    await expectText(page, "Starter");
    await page.screenshot({ path: shot("portal-overview.png"), fullPage: true });

    step("reads an invoice");
    await page.getByRole("link", { name: "Invoices" }).click();
    await page.locator("table tbody a").first().click();
    await expectText(page, "Onboarding workshop");
    await expectText(page, "€150.00");
    await page.screenshot({ path: shot("portal-invoice.png"), fullPage: true });

    step("downloads its PDF");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download PDF" }).click(),
    ]);
    const pdf = fs.readFileSync(await download.path());
    if (pdf.subarray(0, 5).toString() !== "%PDF-") throw new Error("the download is not a PDF");
    if (!download.suggestedFilename().endsWith(".pdf")) throw new Error("PDF file name: " + download.suggestedFilename());

    step("previews and confirms an upgrade");
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByRole("link", { name: "Change plan or quantity" }).click();
    await page.getByLabel("Plan", { exact: true }).selectOption({ label: "Pro" });
    await page.getByRole("button", { name: "Preview" }).click();
    const preview = page.getByTestId("preview");
    await preview.waitFor({ state: "visible" });
    await expectText(page, "Charged now for the rest of this period");
    const due = await page.getByTestId("preview-due").innerText();
    if (!due.startsWith("€")) throw new Error("preview amount due: " + due);
    await page.screenshot({ path: shot("portal-change-preview.png"), fullPage: true });
    await page.getByRole("button", { name: "Confirm change" }).click();
    await expectText(page, "Your plan has been changed.");
    // The prorated invoice of the upgrade is shown, for the amount the preview promised.
    const remaining = await page.getByTestId("remaining").innerText();
    if (remaining !== due) throw new Error(`invoice ${remaining} != preview ${due}`);

    step("pays");
    await page.getByRole("button", { name: /Pay now/ }).click();
    await expectText(page, "Thank you: the payment went through.");
    if ((await page.getByTestId("remaining").innerText()) !== "€0.00") throw new Error("still owed after paying");

    step("opens a ticket");
    await page.getByRole("link", { name: "Support" }).click();
    await page.getByRole("link", { name: "Ask a question" }).click();
    await page.getByLabel("Topic").selectOption("invoice_discrepancy");
    await page.getByLabel("Subject").fill("Why this amount?");
    await page.getByLabel("Message").fill("The onboarding workshop was billed, but it did not happen yet.");
    await page.getByRole("button", { name: "Send" }).click();
    await expectText(page, "Thank you: we have your question");
    await page.screenshot({ path: shot("portal-ticket.png"), fullPage: true });

    step("chats (no agent online: the chat becomes a ticket)");
    await page.getByRole("link", { name: "Chat" }).click();
    await page.getByRole("button", { name: "Start chat" }).click();
    await page.locator(".chat-status").filter({ hasText: "T-" }).waitFor();

    step("adds a card and reads the profile");
    await page.getByRole("link", { name: "Payment methods" }).click();
    await page.getByLabel("Card token").fill("tok_mastercard");
    await page.getByRole("button", { name: "Add a card" }).click();
    await expectText(page, "The card has been added.");
    await expectText(page, "•••• 4444");
    await page.screenshot({ path: shot("portal-payment-methods.png"), fullPage: true });
    await page.getByRole("link", { name: "Profile" }).click();
    await expectText(page, "Billing address");
    await page.screenshot({ path: shot("portal-profile.png"), fullPage: true });

    step("adds a product and, cancelling, takes the retention offer");
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByRole("link", { name: "Add a product" }).click();
    await page.getByLabel("Product", { exact: true }).selectOption({ label: "Priority support" });
    await page.getByRole("button", { name: "Preview" }).click();
    await page.getByTestId("preview").waitFor({ state: "visible" });
    const addDue = await page.getByTestId("preview-due").innerText();
    await page.getByRole("button", { name: "Confirm change" }).click();
    const addInvoice = await page.getByTestId("remaining").innerText();
    if (addInvoice !== addDue) throw new Error(`add-on invoice ${addInvoice} != preview ${addDue}`);
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByRole("link", { name: "Cancel subscription" }).click();
    await page.getByTestId("offer").waitFor();
    await expectText(page, "Stay and get 20 % off for 3 months");
    await page.screenshot({ path: shot("portal-cancel-offer.png"), fullPage: true });
    await page.getByRole("button", { name: "Accept offer" }).click();
    await expectText(page, "Thank you for staying");

    step("the portal on a phone");
    const phone = await newPage(browser, problems, { width: 390, height: 844 });
    await signIn(phone, "portal", "anna@alpha.example", "portal-password-1");
    await phone.screenshot({ path: shot("portal-phone.png"), fullPage: true });
    for (const where of ["/portal", "/portal/payment-methods", "/portal/profile"]) {
      await phone.goto(BASE + where);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      if (overflow) throw new Error(`${where} scrolls sideways on a phone`);
    }

    // --- The agent -----------------------------------------------------------------------
    const agent = await newPage(browser, problems);
    step("agent signs in and takes the ticket");
    await signIn(agent, "console", "alex@northwind.example", "staff-password-1");
    await agent.screenshot({ path: shot("console-queue.png"), fullPage: true });
    await agent.getByRole("link", { name: /^T-/ }).first().waitFor();
    await agent.locator("tr", { hasText: "Why this amount?" }).getByRole("link").first().click();
    await agent.getByRole("button", { name: "Take" }).click();
    await expectText(agent, "Alex Agent");

    step("logs the call and verifies the caller");
    await agent.getByRole("button", { name: "Log a call" }).click();
    await expectText(agent, "Call logged.");
    await agent.getByLabel("Postal code").fill("10115");
    await agent.getByLabel("Card last four").fill("4242");
    await agent.getByRole("button", { name: "Start", exact: true }).click();
    await agent.getByTestId("verification").filter({ hasText: "verified" }).waitFor();

    step("issues a credit within authority");
    await agent.getByLabel("Action", { exact: true }).selectOption("goodwill_credit");
    await agent.getByLabel(/^Amount/).fill("20.00");
    await agent.getByLabel("Reason", { exact: true }).fill("Workshop billed early");
    await agent.getByRole("button", { name: "Request" }).click();
    await expectText(agent, "Done");

    step("asks for one above it");
    await agent.getByLabel("Action", { exact: true }).selectOption("goodwill_credit");
    await agent.getByLabel(/^Amount/).fill("120.00");
    await agent.getByLabel("Reason", { exact: true }).fill("Workshop cancelled: refund its value");
    await agent.getByRole("button", { name: "Request" }).click();
    await expectText(agent, "Sent for approval");
    await agent.screenshot({ path: shot("console-ticket.png"), fullPage: true });

    // --- The supervisor ------------------------------------------------------------------
    const sup = await newPage(browser, problems);
    step("a supervisor approves it");
    await signIn(sup, "console", "sam@northwind.example", "staff-password-1");
    await sup.getByRole("link", { name: "Approvals" }).click();
    await expectText(sup, "Workshop cancelled");
    await sup.screenshot({ path: shot("console-approvals.png"), fullPage: true });
    await sup.getByRole("button", { name: "Approve" }).click();
    await expectText(sup, "Done");
    await expectText(sup, "Nothing waits for approval.");

    step("a supervisor reads the KPIs");
    await sup.getByRole("link", { name: "KPIs" }).click();
    await expectText(sup, "First contact resolution");
    if ((await sup.locator("svg.chart").count()) !== 5) throw new Error("the KPI page should draw five charts");
    await sup.screenshot({ path: shot("console-kpis.png"), fullPage: true });

    step("a live chat: the agent goes online, accepts, answers and ends it");
    await agent.getByRole("link", { name: "Live chat" }).click();
    await agent.getByRole("button", { name: "Go online" }).click();
    await expectText(agent, "You are online");
    await page.getByRole("link", { name: "Chat" }).click();
    await page.getByRole("button", { name: "Start chat" }).click();
    await page.locator(".chat-status").filter({ hasText: "in the queue" }).waitFor();
    await agent.getByRole("button", { name: "Accept" }).click();
    await agent.locator(".chat-with").filter({ hasText: "T-" }).waitFor();
    await page.locator(".chat-status").filter({ hasText: "An agent has joined" }).waitFor();
    await page.getByLabel("Message").fill("Was my card charged twice?");
    await page.getByRole("button", { name: "Send" }).click();
    await agent.locator(".chat-log").filter({ hasText: "Was my card charged twice?" }).waitFor();
    await agent.getByLabel("Message").fill("No: once, on the 1st.");
    await agent.getByRole("button", { name: "Send" }).click();
    await page.locator(".chat-log").filter({ hasText: "No: once, on the 1st." }).waitFor();
    await agent.screenshot({ path: shot("console-chat.png"), fullPage: true });
    await agent.getByRole("button", { name: "End chat" }).click();
    await agent.locator(".chat-status").filter({ hasText: "has ended" }).waitFor();
    await page.locator(".chat-status").filter({ hasText: "The chat has ended." }).waitFor();

    step("the console in Russian");
    await sup.getByRole("link", { name: "Approvals" }).click();
    await sup.getByRole("link", { name: "RU" }).click();
    await expectText(sup, "Нет запросов на согласование.");

    if (problems.length) throw new Error("browser problems:\n" + problems.join("\n"));
    console.log("all journeys passed");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});

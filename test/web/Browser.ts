/**
 * The real browser for the web app's tests: Debian's Chromium driven by
 * `playwright-core` (a fresh profile per launch, which Playwright makes),
 * pages checked by axe-core, and screenshots at a phone's width (375 px)
 * and a desktop's (1440 px) saved under `build/web-screenshots/`.
 */
import AxeBuilder from "@axe-core/playwright"
import { Effect } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..", "..")

/** Where the screenshots go (`build/` is not committed). */
export const screenshotDir = NodePath.join(root, "build", "web-screenshots")

/** The Chromium the tests drive: `CHROMIUM_PATH`, else Debian's. */
const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** A browser for the life of the scope. */
export const launchBrowser = Effect.acquireRelease(
  Effect.promise(async () => {
    await NodeFs.mkdir(screenshotDir, { recursive: true })
    return chromium.launch({ executablePath: chromiumPath, args: chromiumFlags })
  }),
  (browser) => Effect.promise(() => browser.close())
)

/** A page in a context of its own (its own cookies), at 1440×900, in a fixed locale and time zone. */
export const newPage = (browser: Browser) =>
  Effect.promise(async () => {
    const context = await browser.newContext({
      viewport: { width: 1440, height: 900 },
      locale: "en-GB",
      timezoneId: "UTC",
      acceptDownloads: true
    })
    return context.newPage()
  })

/** The serious and critical accessibility violations axe-core finds on the page, as `rule: target` lines (none is the goal). */
export const seriousViolations = async (page: Page): Promise<ReadonlyArray<string>> => {
  const results = await new AxeBuilder({ page }).analyze()
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .flatMap((violation) => violation.nodes.map((node) => `${violation.id}: ${node.target.join(" ")} — ${violation.help}`))
}

/** Screenshots of the whole page as `<name>-1440.png` and `<name>-375.png`; the page is left at 1440 px. */
export const screenshots = async (page: Page, name: string): Promise<void> => {
  for (const width of [375, 1440]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 })
    await page.screenshot({ path: NodePath.join(screenshotDir, `${name}-${width}.png`), fullPage: true })
  }
}

/**
 * The web marketplace in a real browser (Chromium through playwright-core)
 * against the real server and a real command executor: signing in with a
 * key and with `agnt ui`'s one-time link, search and tag filters, ordering with a
 * folder of files through the form generated from the agent's
 * `input_schema`, the job's log arriving live, cancel, downloading a result
 * byte for byte, a sanitised Markdown preview, another buyer's job as the
 * 404 page, the seller view, and no serious or critical axe-core violation
 * on any page. Screenshots at 375 and 1440 px go to `build/web-screenshots/`.
 */
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import type { Page } from "playwright-core"
import { beforeAll, inject } from "vitest"
import { ApiKeys } from "../../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../../packages/server/src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../../packages/server/src/Testing.js"
import { buildWeb } from "../../scripts/build.js"
import { agentPublished, buyerClient, jobWhen, startExecutor, writeCommandExecutor } from "../Executors.js"
import { binPath, run } from "../Processes.js"
import { launchBrowser, newPage, screenshotDir, screenshots, seriousViolations } from "./Browser.js"

/** The agent's parameters: what the generated form shows. */
const inputSchema = {
  type: "object",
  properties: {
    style: { type: "string", title: "Style", enum: ["brief", "full"] },
    depth: { type: "integer", title: "Depth", minimum: 1, maximum: 5, default: 2 }
  },
  required: ["style"]
}

/**
 * The agent's program: says how many files it got, then (unless the prompt
 * says "forever") logs a line every half second until the test creates
 * `release` in its directory, and returns a copy of `project/data.bin`, its
 * params and a Markdown report with a script-bearing image in it.
 */
const script = (dir: string) =>
  [
    `prompt=$(cat)`,
    `echo "received $(find "$AGNT_WORKSPACE" -type f | wc -l) files for: $prompt"`,
    `case "$prompt" in *forever*) exec sleep 120;; esac`,
    `n=0`,
    `while [ ! -e ${dir}/release ]; do n=$((n+1)); echo "working $n"; sleep 0.5; [ $n -gt 600 ] && exit 3; done`,
    `mkdir -p "$AGNT_OUT_DIR"`,
    `cp "$AGNT_WORKSPACE/project/data.bin" "$AGNT_OUT_DIR/data.bin"`,
    `printf '%s' "$AGNT_PARAMS" > "$AGNT_OUT_DIR/params.json"`,
    `printf '# Report\\n\\nAll **files** read.\\n\\n<img src=x onerror="window.pwned=1">\\n' > "$AGNT_OUT_DIR/report.md"`
  ].join("\n")

/** Order a job of `agentId` with `prompt`, brief style, and no files, through the API. */
const order = (client: Effect.Effect.Success<ReturnType<typeof buyerClient>>, agentId: AgentId, prompt: string) => {
  const form = new FormData()
  form.append("agent_id", agentId)
  form.append("prompt", prompt)
  form.append("params", JSON.stringify({ style: "brief" }))
  return client.jobs.create({ headers: {}, payload: form })
}

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** A buyer key, an executor key, and the command agent served by a real executor with the executor key. */
const marketplace = Effect.gen(function*() {
  const url = yield* serverUrl
  const keys = yield* ApiKeys
  const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
  const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
  const dir = yield* temporaryDirectory("agnt-web-")
  const config = yield* writeCommandExecutor(dir, "files", script(dir), {}, { tags: ["files", "web-test"], input_schema: inputSchema })
  const agentId: AgentId = makeAgentId()
  yield* startExecutor(["command", "--agent-id", agentId, "--config", config, "--no-sandbox"], {
    cwd: dir,
    env: { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: url, AGNT_API_KEY: executorKey }
  })
  const client = yield* buyerClient(url, buyerKey)
  yield* agentPublished(client, agentId)
  const browser = yield* launchBrowser
  return { url, buyerKey, executorKey, dir, agentId, client, browser }
})

/** Accessibility and screenshots of the page as it is now. */
const checkPage = async (page: Page, name: string) => {
  expect(await seriousViolations(page), `axe on ${name}`).toEqual([])
  await screenshots(page, name)
}

const signInWithKey = async (page: Page, url: string, key: string) => {
  await page.goto(`${url}/`)
  await page.waitForURL(/\/sign-in/)
  await page.getByLabel("API key").fill(key)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { name: "Find an agent" }).waitFor()
}

beforeAll(async () => {
  await buildWeb()
  console.log(`web screenshots: ${screenshotDir}`)
}, 180_000)

layer(TestLive, { timeout: 240_000, excludeTestServices: true })("the web marketplace in a browser", (it) => {
  it.scoped("a buyer signs in, finds the agent, orders with a folder through the generated form, watches the log live and downloads the result", () =>
    Effect.gen(function*() {
      const { agentId, browser, buyerKey, dir, url } = yield* marketplace
      const project = NodePath.join(dir, "upload", "project")
      const data = NodeCrypto.randomBytes(70_000)
      yield* Effect.promise(async () => {
        await NodeFs.mkdir(NodePath.join(project, "src"), { recursive: true })
        await NodeFs.writeFile(NodePath.join(project, "data.bin"), data)
        await NodeFs.writeFile(NodePath.join(project, "src", "main.ts"), "export const one = 1\n")
        await NodeFs.writeFile(NodePath.join(project, "naïve notes.txt"), "é\n")
      })
      const page = yield* newPage(browser)
      yield* Effect.promise(async () => {
        await page.goto(`${url}/`)
        await page.waitForURL(/\/sign-in\?next=/)
        await checkPage(page, "sign-in")
        await page.getByLabel("API key").fill("agnt_buyer_bogus")
        await page.getByRole("button", { name: "Sign in" }).click()
        await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/not valid|revoked/)
        await page.getByLabel("API key").fill(buyerKey)
        await page.getByRole("button", { name: "Sign in" }).click()
        await page.getByRole("heading", { name: "Find an agent" }).waitFor()
        // Nothing a page script can read holds the key or the session.
        expect(await page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]")).toEqual([0, 0, ""])

        await page.getByLabel("Search agents").fill("files")
        await page.getByRole("button", { name: "Search" }).click()
        await page.getByRole("button", { name: "web-test" }).first().click()
        await page.waitForURL(/tags=web-test/)
        await page.getByRole("link", { name: "Test files" }).waitFor()
        await checkPage(page, "marketplace")

        await page.getByRole("link", { name: "Test files" }).click()
        await page.getByRole("heading", { name: "Test files" }).waitFor()
        await page.getByLabel("Prompt").fill("Count the files")
        await page.locator("input[webkitdirectory]").setInputFiles(project)
        await page.getByText("3 of 1000 files").waitFor()
        await page.getByRole("button", { name: "Order job" }).click()
        await page.getByText("Style is required").first().waitFor()
        expect(page.url()).toContain(`/agents/${agentId}`)
        await page.getByLabel("Style").selectOption("full")
        await checkPage(page, "agent")
        await page.getByRole("button", { name: "Order job" }).click()
        await page.waitForURL(/\/jobs\/job_/)

        const log = page.getByTestId("log")
        await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain("working 2")
        await expect.poll(() => log.textContent()).toContain("received 3 files for: Count the files")
        expect(await page.getByTestId("job-status").textContent()).toBe("running")
        await checkPage(page, "job-running")
      })

      yield* Effect.promise(() => NodeFs.writeFile(NodePath.join(dir, "release"), ""))
      yield* Effect.promise(async () => {
        await expect.poll(() => page.getByTestId("job-status").textContent(), { timeout: 30_000 }).toBe("completed")
        await page.getByRole("region", { name: "Input files" }).getByText("project/naïve notes.txt").first().waitFor()
        const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download data.bin" }).click()])
        const downloaded = await NodeFs.readFile(await download.path())
        expect(downloaded.equals(data)).toBe(true)
        await page.getByText("Preview report.md").click()
        await page.locator(".markdown strong", { hasText: "files" }).waitFor()
        expect(await page.evaluate("'pwned' in window")).toBe(false)
        await page.getByText("Preview params.json").click()
        await page.getByText("{\"depth\":2,\"style\":\"full\"}").waitFor()
        await checkPage(page, "job-completed")

        await page.getByRole("link", { name: "Jobs", exact: true }).click()
        await page.getByRole("table").getByText("completed").waitFor()
        await checkPage(page, "jobs")
      })
    }))

  it.scoped("agnt ui's sign-in link signs the browser in once; a running job is canceled from its page; another buyer's job is the 404 page", () =>
    Effect.gen(function*() {
      const { agentId, browser, buyerKey, client, dir, url } = yield* marketplace
      const ui = yield* run(binPath("cli", "agnt.js"), ["ui", "--no-open"], {
        cwd: dir,
        env: { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: url, AGNT_API_KEY: buyerKey }
      })
      expect([ui.code, ui.stderr]).toEqual([0, ""])
      const link: string = JSON.parse(ui.stdout).url
      const running = yield* order(client, agentId, "wait forever")
      const keys = yield* ApiKeys
      const other = yield* buyerClient(url, Redacted.value((yield* keys.create({ role: "buyer" })).key))
      const foreign = yield* order(other, agentId, "not yours")
      const page = yield* newPage(browser)
      yield* Effect.promise(async () => {
        await page.goto(link)
        await page.getByRole("heading", { name: "Find an agent" }).waitFor()
        expect(page.url()).not.toContain("token")
        const again = await page.context().browser()?.newPage()
        await again?.goto(link)
        await expect.poll(() => again?.getByRole("alert").textContent()).toContain("already used")
        await again?.close()

        await page.goto(`${url}/jobs/${running.job_id}`)
        await expect.poll(() => page.getByTestId("log").textContent(), { timeout: 30_000 }).toContain("received 0 files for: wait forever")
        await page.getByRole("button", { name: "Cancel job" }).click()
        await expect.poll(() => page.getByTestId("job-status").textContent(), { timeout: 30_000 }).toBe("canceled")
        await page.getByText("canceled by the buyer").first().waitFor()
        await checkPage(page, "job-canceled")

        await page.goto(`${url}/jobs/${foreign.job_id}`)
        await page.getByRole("heading", { name: "Not found" }).waitFor()
        await page.getByText(`job ${foreign.job_id} not found`).waitFor()
        await checkPage(page, "job-not-yours")
        await page.goto(`${url}/no/such/page`)
        await page.getByRole("heading", { name: "Not found" }).waitFor()
        await checkPage(page, "not-found")
      })
      yield* jobWhen(client, running.job_id satisfies JobId, (job) => job.status === "canceled", "5 seconds", "canceled")
    }))

  it.scoped("an executor key's seller view shows its agent online and the jobs it served; the server keeps API 404s as JSON", () =>
    Effect.gen(function*() {
      const { agentId, browser, client, executorKey, url } = yield* marketplace
      const served = yield* order(client, agentId, "wait forever")
      const page = yield* newPage(browser)
      yield* Effect.promise(async () => {
        await signInWithKey(page, url, executorKey)
        await page.getByRole("link", { name: "Seller" }).click()
        await page.getByRole("heading", { name: "Your agents", exact: true }).waitFor()
        await page.getByRole("main").getByRole("listitem").getByRole("link", { name: "Test files" }).waitFor()
        await page.getByText("Executors online1").waitFor()
        await page.getByRole("table").getByRole("link", { name: new RegExp(served.job_id.slice(0, 14)) }).waitFor()
        await checkPage(page, "seller")

        const index = await fetch(`${url}/jobs`)
        expect([index.status, index.headers.get("cache-control"), index.headers.get("content-security-policy")]).toEqual([
          200,
          "no-cache",
          expect.stringContaining("default-src 'self'")
        ])
        const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1] ?? ""
        expect((await fetch(`${url}${asset}`)).headers.get("cache-control")).toBe("public, max-age=31536000, immutable")
        const api = await fetch(`${url}/v1/nothing-here`)
        expect([api.status, await api.text()]).toEqual([404, expect.stringContaining(`"_tag":"RouteNotFound"`)])
      })
    }))
})

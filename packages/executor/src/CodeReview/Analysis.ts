/**
 * Static-analysis core of the built-in code-review executor: lint a buyer's
 * workspace with ESLint into a `ReviewReport` (`Report.ts`), rendered by
 * `Markdown.ts` (review.md) and `Sarif.ts` (review.sarif).
 *
 * Rules come from `@eslint/js` "recommended" (all JS and TS files) plus
 * `typescript-eslint` "recommended" — the syntactic set — for
 * `.ts`/`.tsx`/`.mts`/`.cts`, or its type-checked set when the input files
 * hold a `tsconfig.json` (`TypeCheck.ts`, in a bounded worker thread). Each finding's severity comes
 * from its rule's `meta.type` (`Report.ts` `Severity`). Each file gets the
 * globals of where it runs — Node, browser or both, plus its test
 * framework's — decided by `Environment.ts` from the workspace's files.
 *
 * The workspace is untrusted input, so it is only ever read as text and
 * data: ESLint never looks for a config file there (`overrideConfigFile:
 * true`, every setting comes from this module; a `package.json` only picks
 * among this module's fixed sets of globals), no plugin is resolved from it,
 * no ignore file or suppressions file is applied, and inline
 * `/* eslint … *\/` comments (including `eslint-disable`) are ignored,
 * so a file cannot switch rules off or configure a rule with a
 * catastrophic regular expression.
 *
 * Pure library: no HTTP, no jobs.
 */
import js from "@eslint/js"
import { Array as Arr, Effect, Order } from "effect"
import { ESLint, type Linter } from "eslint"
import { defineConfig } from "eslint/config"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import tseslint from "typescript-eslint"
import { changedLines } from "./Changes.js"
import { type Environment, environmentsOf, type SourceFile } from "./Environment.js"
import {
  type Artifact,
  CodeReviewError,
  type Excerpt,
  type Finding,
  type ReviewReport,
  type RuleInfo,
  RuleKind,
  severityOfKind
} from "./Report.js"
import { defaultTypeCheckLimits, lockedEslintOptions, typeCheckedLint, type TypeCheckLimits, type TypeCheckOutcome } from "./TypeCheck.js"

// ---------------------------------------------------------------------------
// ESLint configuration
// ---------------------------------------------------------------------------

const scriptExtensions = [".js", ".mjs", ".cjs", ".jsx"]
const typeScriptExtensions = [".ts", ".tsx", ".mts", ".cts"]
const lintableExtensions: ReadonlySet<string> = new Set([...scriptExtensions, ...typeScriptExtensions])

const isTypeScript = (file: string) => typeScriptExtensions.includes(NodePath.extname(file))

const patternsFor = (extensions: ReadonlyArray<string>) => extensions.map((extension) => `**/*${extension}`)

/** typescript-eslint's syntactic recommended set, for TypeScript files. */
const syntacticTypeScript: ReadonlyArray<Linter.Config> = defineConfig({
  files: patternsFor(typeScriptExtensions),
  extends: [tseslint.configs.recommended],
  // typescript-eslint warns on stderr for TypeScript releases newer than it knows.
  languageOptions: { parserOptions: { warnOnUnsupportedTypeScriptVersion: false } }
})

/**
 * The whole ESLint configuration for files of one environment, without
 * types; nothing is read from the workspace. (`type-check-worker.mjs` builds
 * the type-checked one for TypeScript files.)
 */
const reviewConfig = (environment: Environment): Array<Linter.Config> =>
  defineConfig(
    {
      files: patternsFor([...scriptExtensions, ...typeScriptExtensions]),
      extends: [js.configs.recommended],
      languageOptions: { globals: environment.globals },
      linterOptions: { reportUnusedDisableDirectives: "off" }
    },
    {
      files: ["**/*.jsx"],
      languageOptions: { parserOptions: { ecmaFeatures: { jsx: true } } }
    },
    ...syntacticTypeScript
  )

const parseErrorRule: RuleInfo = { id: "parse-error", description: "The file could not be parsed.", severity: "error" }
const noRuleId = "eslint"

// ---------------------------------------------------------------------------
// analyze
// ---------------------------------------------------------------------------

/**
 * Which files to review: `root` is absolute, `files` are relative to it.
 * `type_check` (default true): when a `tsconfig.json` is among `files`,
 * lint TypeScript files with type information (`TypeCheck.ts`) within
 * `type_check_limits` (default `defaultTypeCheckLimits`).
 * `base`: a directory among `files` (relative, e.g. `"base"`) holding the
 * base version of the tree; then only the other files are reviewed, a file
 * identical to its base version is not linted, and only findings on lines
 * added or edited since the base are reported (a file without a base version
 * is all new).
 */
export interface AnalyzeOptions {
  readonly root: string
  readonly files: ReadonlyArray<string>
  readonly type_check?: boolean
  readonly type_check_limits?: TypeCheckLimits
  readonly base?: string
}

const attempt = <A>(message: string, evaluate: () => Promise<A>): Effect.Effect<A, CodeReviewError> =>
  Effect.tryPromise({ try: evaluate, catch: (cause) => new CodeReviewError({ message, cause }) })

const toPosix = (path: string) => path.split(NodePath.sep).join("/")

/** `child` is `parent` itself or lies below it (both absolute, normalised). */
const isInside = (parent: string, child: string) => {
  const relative = NodePath.relative(parent, child)
  return relative !== "" && relative !== ".." && !relative.startsWith(`..${NodePath.sep}`) &&
    !NodePath.isAbsolute(relative)
}

interface Located {
  readonly file: string
  readonly absolute: string
  readonly real: string
  readonly lintable: boolean
}

const locate = (root: string, realRoot: string, file: string): Effect.Effect<Located, CodeReviewError> =>
  Effect.gen(function*() {
    if (file === "" || NodePath.isAbsolute(file)) {
      return yield* new CodeReviewError({ message: `file path must be relative to the root: ${JSON.stringify(file)}` })
    }
    const absolute = NodePath.resolve(root, file)
    if (!isInside(root, absolute)) {
      return yield* new CodeReviewError({ message: `file path escapes the root: ${JSON.stringify(file)}` })
    }
    const relative = toPosix(NodePath.relative(root, absolute))
    const real = yield* attempt(`cannot read ${relative}`, () => NodeFs.realpath(absolute))
    const stats = yield* attempt(`cannot read ${relative}`, () => NodeFs.stat(real))
    const lintable = isInside(realRoot, real) && stats.isFile() &&
      lintableExtensions.has(NodePath.extname(absolute))
    return { file: relative, absolute, real, lintable }
  })

/** A reviewed file read once: its text (for environments and excerpts) and its artifact record. */
interface ReadFile extends SourceFile {
  readonly artifact: Artifact
}

const readSource = (entry: Located): Effect.Effect<ReadFile, CodeReviewError> =>
  attempt(`cannot read ${entry.file}`, () => NodeFs.readFile(entry.real)).pipe(
    Effect.map((bytes) => ({
      file: entry.file,
      absolute: entry.absolute,
      text: bytes.toString("utf8"),
      artifact: {
        file: entry.file,
        length: bytes.length,
        sha256: NodeCrypto.createHash("sha256").update(bytes).digest("hex")
      }
    }))
  )

type LintMessage = TypeCheckOutcome["results"][number]["messages"][number]

interface RuleMeta {
  readonly type?: string | undefined
  readonly docs?: { readonly description?: string | undefined; readonly url?: string | undefined } | undefined
}

/** What a lint gave, from ESLint in this process or from the type-check worker. */
interface EslintOutcome {
  readonly results: ReadonlyArray<{ readonly filePath: string; readonly messages: ReadonlyArray<LintMessage> }>
  readonly rulesMeta: Readonly<Record<string, RuleMeta | undefined>>
}

const mergeOutcomes = (outcomes: ReadonlyArray<EslintOutcome>): EslintOutcome => ({
  results: outcomes.flatMap((outcome) => outcome.results),
  rulesMeta: Object.assign({}, ...outcomes.map((outcome) => outcome.rulesMeta))
})

const runEslint = (
  root: string,
  absolutePaths: ReadonlyArray<string>,
  config: Array<Linter.Config>
): Effect.Effect<EslintOutcome, CodeReviewError> =>
  attempt("ESLint failed", async () => {
    const eslint = new ESLint({ ...lockedEslintOptions, cwd: root, overrideConfig: config })
    const results = await eslint.lintFiles([...absolutePaths])
    return { results, rulesMeta: eslint.getRulesMetaForResults(results) }
  })

const findingOrder: Order.Order<Finding> = Order.combineAll([
  Order.mapInput(Order.string, (finding: Finding) => finding.file),
  Order.mapInput(Order.number, (finding: Finding) => finding.line),
  Order.mapInput(Order.number, (finding: Finding) => finding.column),
  Order.mapInput(Order.string, (finding: Finding) => finding.rule_id)
])

const maxExcerptLineLength = 200

/** ESLint's line breaks: `\r\n`, `\r`, `\n`, U+2028, U+2029. */
const linesOf = (text: string) => text.split(/\r\n|[\r\n\u2028\u2029]/)

/** Lines `line`..`endLine` (at most 3 of them) with one line before and after: 3 to 5 lines where the file has them. */
export const excerptOf = (lines: ReadonlyArray<string>, line: number, endLine: number): Excerpt | undefined => {
  if (line > lines.length) return undefined
  const ownEnd = Math.min(Math.max(line, endLine), line + 2, lines.length)
  const first = Math.max(1, Math.min(line - 1, lines.length - (ownEnd - line) - 2))
  const last = Math.min(lines.length, Math.max(ownEnd + 1, first + 2))
  return {
    start_line: first,
    lines: lines.slice(first - 1, last).map((text) => text.length > maxExcerptLineLength ? `${text.slice(0, maxExcerptLineLength)}…` : text)
  }
}

const kindOf = (meta: RuleMeta | undefined) => RuleKind.literals.find((kind) => kind === meta?.type)

const toFinding = (
  file: string,
  lines: ReadonlyArray<string>,
  message: LintMessage,
  rulesMeta: EslintOutcome["rulesMeta"]
): Finding => {
  const rule_id = message.ruleId ?? (message.fatal === true ? parseErrorRule.id : noRuleId)
  const meta = message.ruleId === null ? undefined : rulesMeta[message.ruleId]
  const help_uri = meta?.docs?.url
  // ESLint passes a parser's error column through as is: espree's is 1-based,
  // typescript-eslint's (8.x) is 0-based, so shift the latter.
  const column = (message.column ?? 1) + (message.fatal === true && isTypeScript(file) && message.column !== undefined ? 1 : 0)
  const line = Math.max(1, message.line ?? 1)
  const excerpt = excerptOf(lines, line, message.endLine ?? line)
  return {
    file,
    line,
    column: Math.max(1, column),
    ...(message.endLine === undefined ? {} : { end_line: message.endLine }),
    ...(message.endColumn === undefined ? {} : { end_column: message.endColumn }),
    rule_id,
    severity: message.fatal === true ? "error" : severityOfKind(kindOf(meta)),
    message: message.message,
    ...(help_uri === undefined ? {} : { help_uri }),
    ...(excerpt === undefined ? {} : { excerpt })
  }
}

const ruleInfo = (id: string, rulesMeta: EslintOutcome["rulesMeta"]): RuleInfo => {
  if (id === parseErrorRule.id) return parseErrorRule
  const meta = rulesMeta[id]
  const docs = meta?.docs
  const kind = kindOf(meta)
  return {
    id,
    ...(docs?.description === undefined ? {} : { description: docs.description }),
    ...(docs?.url === undefined ? {} : { help_uri: docs.url }),
    ...(kind === undefined ? {} : { kind }),
    severity: id === noRuleId ? "warning" : severityOfKind(kind)
  }
}

const noEnvironment: Environment = { key: "", globals: {} }

/** `sources` grouped by environment, each group with its environment. */
const byEnvironment = (sources: ReadonlyArray<ReadFile>, environments: Map<string, Environment>) =>
  Object.values(Arr.groupBy(sources, (source) => environments.get(source.file)?.key ?? "")).map((group) => ({
    environment: environments.get(group[0].file) ?? noEnvironment,
    sources: group
  }))

/** Lint each environment's files with its own configuration (untyped), one ESLint run per environment. */
const lintByEnvironment = (
  root: string,
  sources: ReadonlyArray<ReadFile>,
  environments: Map<string, Environment>
): Effect.Effect<EslintOutcome, CodeReviewError> =>
  sources.length === 0
    ? Effect.succeed({ results: [], rulesMeta: {} })
    : Effect.forEach(
      byEnvironment(sources, environments),
      ({ environment, sources: group }) => runEslint(root, group.map((source) => source.absolute), reviewConfig(environment))
    ).pipe(Effect.map(mergeOutcomes))

/** The project service's fatal error for a file no tsconfig.json includes. */
const outsideProject = (message: LintMessage) => message.fatal === true && message.message.includes("was not found by the project service")

/**
 * A `no-unsafe-*` finding about a type TypeScript could not resolve — an
 * import of a package that is not among the input files — rather than about the code.
 */
const unresolvedType = (message: LintMessage) =>
  message.ruleId?.startsWith("@typescript-eslint/no-unsafe-") === true && /(?:could not|cannot) be resolved/.test(message.message)

interface Linted {
  readonly outcome: EslintOutcome
  readonly notes: ReadonlyArray<string>
  readonly type_checked: boolean
}

/**
 * Lint `sources`: TypeScript files with type information when `typed`
 * (falling back to the untyped rules, with a note, when that fails or a file
 * is in no project), everything else untyped.
 */
const lintWorkspace = Effect.fn("CodeReview.lintWorkspace")(function*(
  root: string,
  realRoot: string,
  sources: ReadonlyArray<ReadFile>,
  environments: Map<string, Environment>,
  typed: boolean,
  limits: TypeCheckLimits
) {
  const [scripts, typeScript] = typed ? Arr.partition(sources, (source) => isTypeScript(source.file)) : [sources, []]
  if (typeScript.length === 0) {
    return { outcome: yield* lintByEnvironment(root, sources, environments), notes: [], type_checked: false } satisfies Linted
  }
  const groups = byEnvironment(typeScript, environments).map(({ environment, sources: group }) => ({
    globals: environment.globals,
    files: group.map((source) => source.absolute)
  }))
  const typedOutcome = yield* Effect.either(typeCheckedLint(root, realRoot, groups, limits))
  if (typedOutcome._tag === "Left") {
    return {
      outcome: yield* lintByEnvironment(root, sources, environments),
      notes: [
        `Type information was not used: ${typedOutcome.left.reason}. TypeScript files were linted with the rules that need no types.`
      ],
      type_checked: false
    } satisfies Linted
  }
  const [inProject, outside] = Arr.partition(typedOutcome.right.results, (result) => result.messages.some(outsideProject))
  const unresolved = inProject.reduce((count, result) => count + result.messages.filter(unresolvedType).length, 0)
  const retried = new Set(outside.map((result) => result.filePath))
  const untyped = yield* lintByEnvironment(root, [...scripts, ...typeScript.filter((source) => retried.has(source.absolute))], environments)
  return {
    outcome: mergeOutcomes([
      {
        results: inProject.map((result) => ({ ...result, messages: result.messages.filter((message) => !unresolvedType(message)) })),
        rulesMeta: typedOutcome.right.rulesMeta
      },
      untyped
    ]),
    notes: [
      ...(outside.length === 0
        ? []
        : [`${outside.length} TypeScript file(s) are in no tsconfig.json's project and were linted without type information.`]),
      ...(unresolved === 0 ? [] : [
        `${unresolved} finding(s) of the no-unsafe-* rules about types that could not be resolved ` +
        "(imports of packages that are not among the input files) were left out."
      ])
    ],
    type_checked: inProject.length > 0
  } satisfies Linted
})

/** What a `base` tree gives: the changed lines of each file to review (`undefined`: all new) and what was set aside. */
interface BaseComparison {
  readonly changed: ReadonlyMap<string, ReadonlySet<number> | undefined>
  readonly unchanged: number
  readonly base_files: number
}

/** The directory `base` names, `/`-separated without `./` or a trailing `/`; fails when it is absolute or escapes. */
const baseDirectory = (base: string): Effect.Effect<string, CodeReviewError> => {
  const normalised = NodePath.posix.normalize(base.replaceAll("\\", "/")).replace(/\/+$/, "")
  return normalised === "" || normalised === "." || normalised.startsWith("../") || normalised === ".." ||
      NodePath.posix.isAbsolute(normalised)
    ? Effect.fail(new CodeReviewError({ message: `base must be a directory inside the input: ${JSON.stringify(base)}` }))
    : Effect.succeed(normalised)
}

/** Set the `base` tree apart from `located` and compare each lintable file of the rest with its base version. */
const compareWithBase = Effect.fn("CodeReview.compareWithBase")(function*(base: string, located: ReadonlyArray<Located>) {
  const directory = yield* baseDirectory(base)
  const [tree, baseEntries] = Arr.partition(located, (entry) => entry.file.startsWith(`${directory}/`))
  if (baseEntries.length === 0) {
    return yield* new CodeReviewError({ message: `no input file lies under the base directory ${JSON.stringify(directory)}` })
  }
  const baseOf = new Map(baseEntries.filter((entry) => entry.lintable).map((entry) => [entry.file.slice(directory.length + 1), entry]))
  const sources = yield* Effect.forEach(tree.filter((entry) => entry.lintable), readSource, { concurrency: 16 })
  const changed = new Map<string, ReadonlySet<number> | undefined>()
  for (const source of sources) {
    const previous = baseOf.get(source.file)
    const before = previous === undefined ? undefined : linesOf((yield* readSource(previous)).text)
    const lines = before === undefined ? undefined : changedLines(before, linesOf(source.text))
    if (lines === undefined || lines.size > 0) changed.set(source.file, lines)
  }
  return {
    tree,
    sources: sources.filter((source) => changed.has(source.file)),
    comparison: { changed, unchanged: sources.length - changed.size, base_files: baseEntries.length } satisfies BaseComparison
  }
})

/** Keep the findings that touch a changed line; count the rest. */
const onChangedLines = (findings: ReadonlyArray<Finding>, comparison: BaseComparison) => {
  const [leftOut, kept] = Arr.partition(findings, (finding) => {
    const lines = comparison.changed.get(finding.file)
    if (lines === undefined) return true
    for (let line = finding.line; line <= Math.max(finding.line, finding.end_line ?? finding.line); line++) {
      if (lines.has(line)) return true
    }
    return false
  })
  const note = `Only what changed since the base tree was reviewed: ${comparison.base_files} base file(s) set apart, ` +
    `${comparison.unchanged} unchanged file(s) not linted, ${leftOut.length} finding(s) on unchanged lines left out.`
  return { findings: kept, note }
}

/**
 * Lint `files` (relative to the absolute directory `root`) with ESLint.
 *
 * Files with an extension ESLint is set up for (`.js .mjs .cjs .jsx .ts
 * .tsx .mts .cts`, case-sensitive, as ESLint's globs are) are reviewed; the
 * rest are listed in `files_skipped`.
 * Duplicate paths are reviewed once. A file that fails to parse yields one
 * fatal `parse-error` finding and the run goes on.
 *
 * Fails with `CodeReviewError` when `root` is not an absolute directory, a
 * path is absolute or escapes `root` (`../x`), a listed file does not exist,
 * or ESLint throws.
 */
export const analyze: (options: AnalyzeOptions) => Effect.Effect<ReviewReport, CodeReviewError> = Effect.fn(
  "CodeReview.analyze"
)(function*(options: AnalyzeOptions) {
  if (!NodePath.isAbsolute(options.root)) {
    return yield* new CodeReviewError({ message: `root must be an absolute path: ${JSON.stringify(options.root)}` })
  }
  const root = NodePath.resolve(options.root)
  const realRoot = yield* attempt(`cannot read root ${root}`, () => NodeFs.realpath(root))
  const rootStats = yield* attempt(`cannot read root ${root}`, () => NodeFs.stat(realRoot))
  if (!rootStats.isDirectory()) {
    return yield* new CodeReviewError({ message: `root is not a directory: ${root}` })
  }

  const located = Arr.dedupeWith(
    yield* Effect.forEach(options.files, (file) => locate(root, realRoot, file), { concurrency: 16 }),
    (a, b) => a.file === b.file
  )
  const compared = options.base === undefined ? undefined : yield* compareWithBase(options.base, located)
  const tree = compared?.tree ?? located
  const skipped = tree.filter((entry) => !entry.lintable)
  const sources = Arr.sort(
    compared?.sources ?? (yield* Effect.forEach(tree.filter((entry) => entry.lintable), readSource, { concurrency: 16 })),
    Order.mapInput(Order.string, (source: ReadFile) => source.file)
  )
  const environments = yield* Effect.promise(() => environmentsOf(root, realRoot, sources))

  const typed = options.type_check !== false && tree.some((entry) => NodePath.basename(entry.file) === "tsconfig.json")
  // Never call ESLint with no paths (lintByEnvironment doesn't): it would then lint the whole root.
  const { notes, outcome, type_checked } = yield* lintWorkspace(
    root,
    realRoot,
    sources,
    environments,
    typed,
    options.type_check_limits ?? defaultTypeCheckLimits
  )

  const sourceOf = new Map(sources.map((source) => [source.absolute, source]))
  const linted = Arr.sort(
    outcome.results.flatMap((result) => {
      const source = sourceOf.get(result.filePath)
      const file = source?.file ?? toPosix(NodePath.relative(root, result.filePath))
      const lines = linesOf(source?.text ?? "")
      return result.messages.map((message) => toFinding(file, lines, message, outcome.rulesMeta))
    }),
    findingOrder
  )
  const changedOnly = compared === undefined ? undefined : onChangedLines(linted, compared.comparison)
  const findings = changedOnly?.findings ?? linted
  const ruleIds = Arr.sort(Arr.dedupe(findings.map((finding) => finding.rule_id)), Order.string)
  const environmentCounts: Record<string, number> = {}
  for (const environment of environments.values()) {
    environmentCounts[environment.key] = (environmentCounts[environment.key] ?? 0) + 1
  }

  return {
    files_reviewed: sources.map((source) => source.file),
    files_skipped: Arr.sort(skipped.map((entry) => entry.file), Order.string),
    artifacts: sources.map((source) => source.artifact),
    environments: environmentCounts,
    findings,
    rules: ruleIds.map((id) => ruleInfo(id, outcome.rulesMeta)),
    notes: [...notes, ...(changedOnly === undefined ? [] : [changedOnly.note])],
    type_checked,
    tool: { name: "eslint", version: ESLint.version }
  }
})

/**
 * Help that teaches, in the shape `gh` prints it, for the programs built
 * with `@effect/cli` (`agnt`, `agnt-executor`): a one-line summary, USAGE
 * with the program's name, the arguments and flags with the descriptions
 * their `Args`/`Options` declare (`withDescription`), EXAMPLES, then the
 * program's own sections (environment, config file, exit codes).
 *
 * The flags come from the command itself — `Command.getUsage` tells names,
 * values, optional and repeated; `Command.getHelp` the descriptions — so a
 * flag's help cannot drift from the flag. `@effect/cli`'s own wording (the
 * type's "A user-defined piece of text.", "This setting is optional.") and
 * its built-in flags (`--wizard`, `--completions`, `--log-level`) are left
 * out of the pages, and the programs refuse `--wizard` and `--log-level` as unknown
 * flags (`helpRequest`). Help is plain text; headings are bold only when `color` is set (a
 * terminal without `NO_COLOR`, `colorWanted`).
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import type * as Usage from "@effect/cli/Usage"
import { Config, Effect, Option } from "effect"

/** Any `@effect/cli` command, whatever it needs and yields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- its name (invariant), environment and result are irrelevant to its help
export type AnyCommand = Command.Command<any, any, any, any>

/** One row of a two-column list: a term (flag, argument, variable, code) and what it means. */
export type Row = readonly [term: string, meaning: string]

/** A titled block of help: rows, or lines printed as they are. */
export interface Section {
  readonly title: string
  readonly rows?: ReadonlyArray<Row>
  readonly lines?: ReadonlyArray<string>
}

/** What a command's help says beyond its declared flags. */
export interface CommandHelp {
  /** The words after the program's name that run it, e.g. `["run", "command"]`. */
  readonly path: ReadonlyArray<string>
  readonly command: AnyCommand
  /** Paragraphs after the summary, when one line is not enough. */
  readonly details?: ReadonlyArray<string>
  /** Command lines, shown after `$ `. */
  readonly examples: ReadonlyArray<string>
}

/** A program's help: its commands and the sections every page ends with. */
export interface ProgramHelp {
  readonly name: string
  readonly summary: string
  readonly commands: ReadonlyArray<CommandHelp>
  /** Flags of the program itself, beside `-h, --help`. */
  readonly flags: ReadonlyArray<Row>
  readonly examples: ReadonlyArray<string>
  /** Environment, config file, exit codes…: printed on every page, in order. */
  readonly sections: ReadonlyArray<Section>
}

/** A flag or argument as its command declares it. */
export interface Parameter {
  /** `--prompt`, `-f, --follow`, or `<agent-id>`. */
  readonly names: ReadonlyArray<string>
  /** The value's placeholder (`TEXT`, `N`, `a | b`), `None` for a boolean flag or an argument. */
  readonly value: Option.Option<string>
  readonly optional: boolean
  readonly repeated: boolean
  /** What its `withDescription` says, with `(default …)` when it has a default it does not mention. */
  readonly description: string
}

const isArgument = (name: string) => name.startsWith("<")
const isFlag = (name: string) => name.startsWith("-")

/** The flags and arguments of a usage tree, in order, with whether each is optional or repeated. */
const parametersOf = (usage: Usage.Usage, optional = false, repeated = false): Array<Omit<Parameter, "description">> => {
  switch (usage._tag) {
    case "Named":
      return usage.names.some((name) => isFlag(name) || isArgument(name))
        ? [{ names: usage.names, value: usage.acceptedValues, optional, repeated }]
        : []
    case "Optional":
      return parametersOf(usage.usage, true, repeated)
    case "Repeated":
      return parametersOf(usage.usage, true, true)
    case "Alternation":
      return [...parametersOf(usage.left, true, repeated), ...parametersOf(usage.right, true, repeated)]
    case "Concat":
      return [...parametersOf(usage.left, optional, repeated), ...parametersOf(usage.right, optional, repeated)]
    case "Empty":
    case "Mixed":
      return []
  }
}

/** The plain text of a span. */
const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
  }
}

/** Every paragraph of a help document, in order. */
const paragraphs = (doc: HelpDoc.HelpDoc): Array<string> => {
  switch (doc._tag) {
    case "Paragraph":
      return [spanText(doc.value)]
    case "Sequence":
      return [...paragraphs(doc.left), ...paragraphs(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(paragraphs)
    case "Header":
    case "DescriptionList":
    case "Empty":
      return []
  }
}

/** The plain text of a help document's paragraphs, on one line (e.g. an `@effect/cli` `ValidationError`'s). */
export const helpDocText = (doc: HelpDoc.HelpDoc): string => paragraphs(doc).join(" ").trim()

/** Every definition of every description list in a help document. */
const definitions = (doc: HelpDoc.HelpDoc): Array<readonly [Span.Span, HelpDoc.HelpDoc]> => {
  switch (doc._tag) {
    case "DescriptionList":
      return [...doc.definitions]
    case "Sequence":
      return [...definitions(doc.left), ...definitions(doc.right)]
    default:
      return []
  }
}

/** `@effect/cli`'s sentences about optional, repeated and fallback values, which the help says its own way. */
const libraryNote = /^(This setting is optional|This option (may|must) be repeated|This option can be set from|Will prompt)/

/**
 * The description of each flag and argument of `command`, by each of its
 * names: the paragraphs its `withDescription` added (the first paragraph,
 * the value type's wording, and `@effect/cli`'s notes dropped), and
 * `(default …)` when the option has a default the text does not mention.
 */
const descriptionsOf = (command: AnyCommand): Map<string, string> => {
  const byName = new Map<string, string>()
  for (const [term, doc] of definitions(Command.getHelp(command, CliConfig.make({ showBuiltIns: false })))) {
    const [, ...rest] = paragraphs(doc)
    const own = rest.filter((text) => !libraryNote.test(text)).join(" ")
    const fallback = rest.map((text) => /Defaults to: (.+)$/.exec(text)?.[1]).find((value) => value !== undefined)
    const shown = fallback === undefined || fallback === "false" || /default/i.test(own) || own === ""
      ? own
      : `${own} (default ${fallback})`
    for (const name of spanText(term).match(/--?[\w-]+|<[\w-]+>/g) ?? []) byName.set(name, shown)
  }
  return byName
}

/** What `command` does, in one line: its `Command.withDescription`. */
export const summaryOf = (command: AnyCommand): string =>
  paragraphs(Command.getHelp(command, CliConfig.make({ showBuiltIns: false })))[0] ?? ""

/** The flags and arguments `command` declares, each with its description (empty when it has none). */
export const parametersOfCommand = (command: AnyCommand): Array<Parameter> => {
  const descriptions = descriptionsOf(command)
  return parametersOf(Command.getUsage(command)).map((parameter) => ({
    ...parameter,
    description: parameter.names.map((name) => descriptions.get(name)).find((text) => text !== undefined) ?? ""
  }))
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/** The help flag every command takes. */
export const helpRow: Row = ["-h, --help", "Show help for the command"]

const placeholder = (parameter: Parameter): string =>
  Option.match(parameter.value, {
    onNone: () => "",
    // A choice lists its values in the description instead.
    onSome: (value) => value.includes(" | ") ? ` ${(parameter.names.at(-1) ?? "").replace(/^-+/, "").toUpperCase()}` : ` ${value}`
  })

/** A description as a sentence starts: capitalised. */
const capitalised = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}`

/** A flag's row: `--param KEY=VALUE` and its description, its choices and whether it repeats. */
const flagRow = (parameter: Parameter): Row => {
  const choices = Option.filter(parameter.value, (value) => value.includes(" | "))
  const notes = [
    Option.match(choices, { onNone: () => "", onSome: (values) => ` (one of: ${values.split(" | ").join(", ")})` }),
    parameter.repeated ? " (repeatable)" : ""
  ].join("")
  return [`${parameter.names.join(", ")}${placeholder(parameter)}`, capitalised(`${parameter.description}${notes}`)]
}

/** The USAGE line of a command: its arguments as declared (`[<query>]` when optional), then `[flags]`. */
const usageLine = (program: string, help: CommandHelp, parameters: ReadonlyArray<Parameter>): string => {
  const args = parameters
    .filter((parameter) => parameter.names.some(isArgument))
    .map((parameter) => {
      const name = `${parameter.names[0]}${parameter.repeated ? "..." : ""}`
      return parameter.optional ? `[${name}]` : name
    })
  return [program, ...help.path, ...args, "[flags]"].join(" ")
}

/** Rows aligned in two columns, indented two spaces. */
const renderRows = (rows: ReadonlyArray<Row>): Array<string> => {
  const width = Math.max(...rows.map(([term]) => term.length))
  return rows.map(([term, meaning]) => meaning === "" ? `  ${term}` : `  ${term.padEnd(width)}   ${meaning}`)
}

/** Sections as text; headings in bold when `color`. */
const renderSections = (sections: ReadonlyArray<Section>, color: boolean): string =>
  sections
    .filter((section) => (section.rows?.length ?? 0) + (section.lines?.length ?? 0) > 0)
    .map((section) =>
      [
        color ? `\u001b[1m${section.title}\u001b[0m` : section.title,
        ...renderRows(section.rows ?? []),
        ...(section.lines ?? []).map((line) => line === "" ? "" : `  ${line}`)
      ].join("\n")
    )
    .join("\n\n")

/** `$ `-prefixed examples. */
const exampleLines = (examples: ReadonlyArray<string>) => examples.map((example) => `$ ${example}`)

/** The help of the program itself: summary, usage, its commands, its flags, examples, then its sections. */
export const renderProgramHelp = (program: ProgramHelp, color: boolean): string => {
  const commands = program.commands.map((help): Row => [help.path.join(" "), summaryOf(help.command)])
  return `${program.summary}\n\n${
    renderSections([
      { title: "USAGE", lines: [`${program.name} <command> [flags]`] },
      { title: "COMMANDS", rows: commands },
      { title: "FLAGS", rows: [helpRow, ...program.flags] },
      { title: "EXAMPLES", lines: exampleLines(program.examples) },
      ...program.sections,
      {
        title: "LEARN MORE",
        lines: [`Use \`${program.name} <command> --help\` or \`${program.name} help <command>\` for more about a command.`]
      }
    ], color)
  }\n`
}

/** The help of one command: summary, details, usage, arguments, flags, examples, then the program's sections. */
export const renderCommandHelp = (program: ProgramHelp, help: CommandHelp, color: boolean): string => {
  const parameters = parametersOfCommand(help.command)
  const args = parameters.filter((parameter) => parameter.names.some(isArgument))
  const flags = parameters.filter((parameter) => parameter.names.some(isFlag))
  const intro = [summaryOf(help.command), ...(help.details ?? [])].join("\n\n")
  return `${intro}\n\n${
    renderSections([
      { title: "USAGE", lines: [usageLine(program.name, help, parameters)] },
      { title: "ARGUMENTS", rows: args.map((arg): Row => [arg.names.join(", "), capitalised(arg.description)]) },
      { title: "FLAGS", rows: [...flags.map(flagRow), helpRow] },
      { title: "EXAMPLES", lines: exampleLines(help.examples) },
      ...program.sections
    ], color)
  }\n`
}

// ---------------------------------------------------------------------------
// Reading the command line
// ---------------------------------------------------------------------------

/**
 * What the command line asks for: to run (`Run`), the program's help page,
 * a command's page, a word that names no command (`Unknown`), a flag the
 * command does not take (`UnknownFlag`, `command` its words, empty for the
 * program), or no command at all, or only the start of one (`Missing`, as
 * `agnt-executor run`): the last three are usage errors that should say
 * what there is.
 */
export type HelpRequest =
  | { readonly _tag: "Run" }
  | { readonly _tag: "Program" }
  | { readonly _tag: "Command"; readonly help: CommandHelp }
  | { readonly _tag: "Unknown"; readonly word: string }
  | { readonly _tag: "UnknownFlag"; readonly flag: string; readonly command: ReadonlyArray<string> }
  | { readonly _tag: "Missing" }

/** The longest command path that `words` start with. */
const commandAt = (program: ProgramHelp, words: ReadonlyArray<string>): CommandHelp | undefined =>
  program.commands
    .filter((help) => help.path.every((word, index) => words[index] === word))
    .sort((a, b) => b.path.length - a.path.length)[0]

/**
 * The flags `help`'s command takes (or, without one, the program itself),
 * each with whether it takes a value: its own, the program's (`--version`,
 * `--completions SHELL`: the terms of `program.flags`) and `-h`/`--help`.
 * `@effect/cli`'s other built-ins are not among them, so `--wizard` (a
 * prompt on the terminal, which hangs a script) and `--log-level` are
 * unknown flags.
 */
const flagsOf = (program: ProgramHelp, help: CommandHelp | undefined): Map<string, boolean> => {
  const flags = new Map<string, boolean>([["--help", false], ["-h", false]])
  for (const [term] of program.flags) {
    const [name, value] = term.split(" ")
    if (name !== undefined) flags.set(name, value !== undefined)
  }
  for (const parameter of help === undefined ? [] : parametersOfCommand(help.command)) {
    for (const name of parameter.names.filter(isFlag)) flags.set(name, Option.isSome(parameter.value))
  }
  return flags
}

/** The first of `args` that looks like a flag (`-x`, `--name`, `--name=value`) and is not one of `flags`; values of flags skipped. */
const unknownFlagIn = (flags: ReadonlyMap<string, boolean>, args: ReadonlyArray<string>): string | undefined => {
  let isValue = false
  for (const arg of args) {
    const name = arg.split("=")[0] ?? arg
    const takesValue = flags.get(name)
    if (isValue || !/^--?[A-Za-z]/.test(arg)) {
      isValue = false
    } else if (takesValue === undefined) {
      return name
    } else {
      isValue = takesValue && !arg.includes("=")
    }
  }
  return undefined
}

/**
 * What `args` (the arguments after the program's name) ask for: `help
 * [command…]`, or `-h`/`--help` anywhere before a `--` (the page of the
 * command the leading words name, else the program's), or to run. A first
 * word that is no flag and starts no command is `Unknown`, with or without
 * help asked; a flag the command does not take is `UnknownFlag`.
 */
export const helpRequest = (program: ProgramHelp, args: ReadonlyArray<string>): HelpRequest => {
  const asksHelp = args[0] === "help"
  const words = asksHelp ? args.slice(1) : args
  const end = words.indexOf("--")
  const before = end === -1 ? words : words.slice(0, end)
  const first = before[0]
  if (first !== undefined && !first.startsWith("-") && !program.commands.some((help) => help.path[0] === first)) {
    return { _tag: "Unknown", word: first }
  }
  const help = commandAt(program, before)
  if (asksHelp || before.some((arg) => arg === "--help" || arg === "-h")) {
    return help === undefined ? { _tag: "Program" } : { _tag: "Command", help }
  }
  const flag = unknownFlagIn(flagsOf(program, help), before.slice(help?.path.length ?? 0))
  if (flag !== undefined) return { _tag: "UnknownFlag", flag, command: help?.path ?? [] }
  return help === undefined && (first === undefined || !first.startsWith("-")) ? { _tag: "Missing" } : { _tag: "Run" }
}

/** The commands of `program`, as a sentence: `search, info, …`. */
const commandList = (program: ProgramHelp): string => program.commands.map((help) => help.path.join(" ")).join(", ")

/**
 * Answer what `args` ask of help before the command line is parsed: print
 * the page asked for on stdout (colour only when `isTTY` and `NO_COLOR` is
 * unset) and yield `true`; yield `false` when a command should run; fail
 * with `usageError` of a one-line message for an unknown or missing
 * command, or an unknown flag.
 */
export const answerHelp = <E>(
  program: ProgramHelp,
  args: ReadonlyArray<string>,
  isTTY: boolean,
  usageError: (message: string) => E
): Effect.Effect<boolean, E> =>
  Effect.gen(function*() {
    const request = helpRequest(program, args)
    const more = `(${program.name} --help)`
    switch (request._tag) {
      case "Run":
        return false
      case "Unknown":
        return yield* Effect.fail(
          usageError(`unknown command ${JSON.stringify(request.word)}: use one of ${commandList(program)} ${more}`)
        )
      case "Missing":
        return yield* Effect.fail(usageError(`missing command: use one of ${commandList(program)} ${more}`))
      case "UnknownFlag": {
        const command = [program.name, ...request.command].join(" ")
        return yield* Effect.fail(usageError(`unknown flag ${request.flag} for ${command} (${command} --help)`))
      }
      case "Program":
      case "Command": {
        const color = yield* colorWanted(isTTY)
        const page = request._tag === "Program"
          ? renderProgramHelp(program, color)
          : renderCommandHelp(program, request.help, color)
        yield* Effect.sync(() => process.stdout.write(page))
        return true
      }
    }
  })

/** Whether help may use colour: stdout is a terminal and `NO_COLOR` is unset or empty (https://no-color.org). */
export const colorWanted = (isTTY: boolean): Effect.Effect<boolean> =>
  Config.option(Config.string("NO_COLOR")).pipe(
    Effect.map((noColor) => isTTY && Option.getOrElse(noColor, () => "") === ""),
    Effect.orElseSucceed(() => false)
  )

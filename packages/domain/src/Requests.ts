/**
 * Requests as the API takes them: strict and readable (DESIGN.md "API v1":
 * 400 invalid input).
 *
 * - Strict: a field of a JSON body, or a query parameter, that the API does
 *   not know is refused, never silently dropped — what `/openapi.json`
 *   promises with `additionalProperties: false`.
 * - Readable: a request that fails its schema gets a 400 whose `message` is
 *   one sentence naming each field at fault, what it must be and what came,
 *   e.g. "`limit` must be an integer from 1 to 100; got \"abc\"",
 *   "unknown field `pricingx` in the body", "`lease_id` is required".
 *
 * Every request schema of `Api.ts` carries one of the annotation sets below
 * (`jsonBody`, `queryParams`, `pathParams`, `requestHeaders`). The API
 * builder decodes each part of a request with its schema and turns a
 * failure into `HttpApiDecodeError`, whose `issues` list the failure issue
 * by issue (`ParseResult.ArrayFormatter`). A request schema restates its
 * failure while decoding, where the whole issue tree is at hand
 * (`requestIssue`): one issue per problem, at the field's path, its message
 * a clause naming the field. The server's edge sets the error's `message`
 * to those clauses joined (`describeIssues`). The fields of the multipart
 * endpoints (`CreateJobFields`, `CompleteJobFields`), which the server
 * decodes itself as parts stream in, carry `jsonBody` too.
 */
import { type Array as Arr, Either, Option, ParseResult, Schema, SchemaAST } from "effect"

/** The part of a request a schema decodes; it names the subject of a sentence. */
export type RequestPart = "body" | "query" | "path" | "headers"

/** One thing wrong with a request, at a path inside its part. */
type Problem =
  | { readonly kind: "missing"; readonly path: ReadonlyArray<PropertyKey>; readonly message: string | undefined }
  | { readonly kind: "unexpected"; readonly path: ReadonlyArray<PropertyKey>; readonly actual: unknown }
  | { readonly kind: "invalid"; readonly path: ReadonlyArray<PropertyKey>; readonly ast: SchemaAST.AST; readonly actual: unknown }

/** The outermost schema node met at the current path: what the value there must be, and the value. */
interface Outer {
  readonly ast: SchemaAST.AST
  readonly actual: unknown
}

const isList = <A>(items: ParseResult.SingleOrNonEmpty<A>): items is Arr.NonEmptyReadonlyArray<A> => Array.isArray(items)
const listOf = <A>(items: ParseResult.SingleOrNonEmpty<A>): ReadonlyArray<A> => isList(items) ? items : [items]

/** A union member's failure that only says an optional field could have been left out. */
const onlyUndefinedRejected = (issue: ParseResult.ParseIssue) => issue._tag === "Type" && SchemaAST.isUndefinedKeyword(issue.ast)

/** "an object" or "an array" for a schema that takes one on the wire (a struct, a class, a struct with defaults). */
const containerPhrase = (ast: SchemaAST.AST): string | undefined => {
  const encoded = SchemaAST.encodedAST(ast)
  return SchemaAST.isTypeLiteral(encoded) ? "an object" : SchemaAST.isTupleType(encoded) ? "an array" : undefined
}

/** A description written as a sentence ("The agent charges nothing.") as a noun phrase to follow "must be". */
const asPhrase = (description: string) => description.replace(/\.$/, "").replace(/^([A-Z])(?=[a-z ])/, (initial) => initial.toLowerCase())

/**
 * What a schema accepts, as a noun phrase ("an integer from 1 to 100",
 * "one of \"accepted\", \"rejected\""): its `description` annotation (the
 * one `/openapi.json` shows; Effect writes one for every built-in filter),
 * else a phrase for its kind. A union of objects is "an object": which one
 * is for the fields inside to say.
 */
export const describeSchema = (ast: SchemaAST.AST): string => {
  const description = SchemaAST.getDescriptionAnnotation(ast)
  if (Option.isSome(description)) return asPhrase(description.value)
  switch (ast._tag) {
    case "Refinement":
      return describeSchema(ast.from)
    case "Transformation":
      // Other transformations than from an object or array are told by what they make.
      return containerPhrase(ast) ?? describeSchema(ast.to)
    case "Suspend":
      return describeSchema(ast.f())
    case "Union": {
      const members = ast.types.filter((member) => !SchemaAST.isUndefinedKeyword(member))
      if (members.every(SchemaAST.isLiteral)) return `one of ${members.map((member) => JSON.stringify(member.literal)).join(", ")}`
      return [...new Set(members.map((member) => containerPhrase(member) ?? describeSchema(member)))].join(" or ")
    }
    case "Literal":
      return JSON.stringify(ast.literal)
    case "TypeLiteral":
      return "an object"
    case "TupleType":
      return "an array"
    default:
      return String(ast)
  }
}

/** Longest piece of a received string quoted back, in characters. */
const maxQuoted = 40

/** A received value, briefly: strings quoted (and cut), containers by their kind and size, never their insides. */
const describeValue = (part: RequestPart, value: unknown): string => {
  if (value === undefined) return "nothing"
  if (typeof value === "string") return JSON.stringify(value.length > maxQuoted ? `${value.slice(0, maxQuoted)}…` : value)
  if (Array.isArray(value)) {
    return part === "query" ? `${value.length} values` : `an array of ${value.length} item${value.length === 1 ? "" : "s"}`
  }
  if (typeof value === "object" && value !== null) return "an object"
  return String(value)
}

const fieldName = (path: ReadonlyArray<PropertyKey>) =>
  path.map((key, index) => typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`).join("")

/** The subject of a sentence about the value at `path` of `part`. */
const subject = (part: RequestPart, path: ReadonlyArray<PropertyKey>) => {
  if (path.length === 0) return part === "body" ? "the body" : part === "query" ? "the query" : part === "path" ? "the path" : "the headers"
  const name = `\`${fieldName(path)}\``
  return part === "headers" ? `header ${name}` : name
}

/**
 * The problems under `issue`: one per missing, unknown or invalid value.
 * A value that fails is described by the outermost schema at its path (so
 * an optional integer parameter reads "an integer from 1 to 100", not
 * "a string"), except that a failing filter describes itself (a string too
 * short is "at least 1 character long", whatever else its field requires).
 */
const problems = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, outer: Outer | undefined): ReadonlyArray<Problem> => {
  const invalid = (at: Outer): Problem => ({ kind: "invalid", path, ast: at.ast, actual: at.actual })
  switch (issue._tag) {
    case "Pointer":
      return problems(issue.issue, [...path, ...listOf(issue.path)], undefined)
    case "Missing":
      return [{ kind: "missing", path, message: issue.message }]
    case "Unexpected":
      return [{ kind: "unexpected", path, actual: issue.actual }]
    case "Type":
    case "Forbidden":
      return [invalid(outer ?? issue)]
    case "Refinement":
      // A filter that failed says what it wanted, unless it pointed at fields of its own (a rule across fields).
      return issue.kind === "Predicate" && issue.issue._tag === "Type" ? [invalid(issue)] : problems(issue.issue, path, outer ?? issue)
    case "Transformation":
      return issue.kind === "Transformation" ? [invalid(outer ?? issue)] : problems(issue.issue, path, outer ?? issue)
    case "Composite": {
      const here = outer ?? issue
      if (SchemaAST.isUnion(issue.ast)) {
        const members = listOf(issue.issues).filter((member) => !onlyUndefinedRejected(member))
        const [only] = members
        return members.length === 1 && only !== undefined ? problems(only, path, here) : [invalid(here)]
      }
      return listOf(issue.issues).flatMap((member) => problems(member, path, here))
    }
  }
}

/** A clause about one problem, naming its field: "`lease_id` is required", "unknown field `x` in the body", "`limit` must be …; got …". */
const clause = (part: RequestPart, problem: Problem): string => {
  switch (problem.kind) {
    case "missing":
      return `${subject(part, problem.path)} ${problem.message ?? "is required"}`
    case "unexpected":
      return part === "query"
        ? `unknown query parameter \`${fieldName(problem.path)}\``
        : `unknown field \`${fieldName(problem.path)}\` in the ${part}`
    case "invalid":
      return `${subject(part, problem.path)} must be ${describeSchema(problem.ast)}; got ${describeValue(part, problem.actual)}`
  }
}

/**
 * A request part's failure as it is reported: one issue per problem, at
 * its path, whose message is a clause naming the field — what
 * `ParseResult.ArrayFormatter` lists as an `HttpApiDecodeError`'s `issues`,
 * and `describeIssues` joins into its `message`.
 */
export const requestIssue = (part: RequestPart, issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  const leaves = problems(issue, [], undefined).map((problem): ParseResult.ParseIssue => {
    const message = clause(part, problem)
    const leaf = problem.kind === "missing"
      ? new ParseResult.Missing(new SchemaAST.Type(SchemaAST.unknownKeyword), message)
      : problem.kind === "unexpected"
      ? new ParseResult.Unexpected(problem.actual, message)
      // Under a schema of no message of its own, so that the clause is what formatters say.
      : new ParseResult.Type(SchemaAST.unknownKeyword, problem.actual, message)
    const [head, ...tail] = problem.path
    return head === undefined ? leaf : new ParseResult.Pointer([head, ...tail], issue.actual, leaf)
  })
  const [first, ...rest] = leaves
  return first === undefined ? issue : new ParseResult.Composite(SchemaAST.unknownKeyword, issue.actual, [first, ...rest])
}

/** At most this many clauses in one message; the rest are counted. */
const maxClauses = 5

/**
 * One sentence from the issues of a request's failure (each a clause, see
 * `requestIssue`): the clauses joined by "; ", the same said once, at most
 * five and a count of the rest.
 */
export const describeIssues = (issues: ReadonlyArray<{ readonly message: string }>): string => {
  const unique = [...new Set(issues.map((issue) => issue.message))]
  const shown = unique.slice(0, maxClauses)
  if (unique.length > maxClauses) shown.push(`and ${unique.length - maxClauses} more problems`)
  return shown.length === 0 ? "the request is not acceptable" : shown.join("; ")
}

/** The annotations that make a request schema strict (or not) and report its failures clause by clause. */
export type RequestAnnotations = {
  readonly parseOptions: SchemaAST.ParseOptions
  readonly decodingFallback: (issue: ParseResult.ParseIssue) => Either.Either<never, ParseResult.ParseIssue>
}

const requestAnnotations = (part: RequestPart, unknownKeys: "error" | "ignore"): RequestAnnotations => ({
  // Every problem, not just the first, so that one answer names all that is wrong.
  parseOptions: { errors: "all", onExcessProperty: unknownKeys },
  // Not a fallback: the failure, restated where the whole issue tree is at hand (decoding only).
  decodingFallback: (issue) => Either.left(requestIssue(part, issue))
})

/** For a JSON body (`setPayload`): unknown fields are refused. */
export const jsonBody = requestAnnotations("body", "error")

/** For query parameters (`setUrlParams`): unknown parameters are refused. */
export const queryParams = requestAnnotations("query", "error")

/** For path parameters (`setPath`). */
export const pathParams = requestAnnotations("path", "error")

/** For request headers (`setHeaders`): only the declared ones are read; every other header is fine. */
export const requestHeaders = requestAnnotations("headers", "ignore")

/**
 * An integer query parameter from `minimum` to `maximum` (inclusive):
 * decoded from its text, documented in `/openapi.json` as
 * `type: integer` with its bounds, described as `description` in both the
 * document and a refusal.
 */
export const QueryInteger = (options: { readonly minimum: number; readonly maximum?: number; readonly description: string }) => {
  const { description, maximum, minimum } = options
  const bounded = maximum === undefined
    ? Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(minimum))
    : Schema.NumberFromString.pipe(Schema.int(), Schema.between(minimum, maximum))
  return bounded.annotations({
    description,
    jsonSchema: { type: "integer", minimum, ...(maximum === undefined ? {} : { maximum }), description }
  })
}

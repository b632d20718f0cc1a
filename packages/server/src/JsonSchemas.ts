/**
 * JSON Schema validation with ajv (draft 2020-12, plus `ajv-formats`):
 * checks agents' `input_schema`s on publish and jobs' `params` against them
 * on order (DESIGN.md "API v1": params are validated on `POST /v1/jobs`).
 * Compiled validators are cached per schema text.
 */
import { InvalidManifest, InvalidParams, type ValidationIssue } from "@agnt/domain/Errors"
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js"
import addFormatsModule from "ajv-formats"
import { Effect } from "effect"

const addFormats = addFormatsModule.default

const issuesOf = (errors: ReadonlyArray<ErrorObject> | null | undefined): ReadonlyArray<ValidationIssue> =>
  (errors ?? []).map((error) => ({
    path: error.instancePath === "" ? "/" : error.instancePath,
    message: error.keyword === "additionalProperties" && "additionalProperty" in error.params
      ? `${error.message ?? "is invalid"}: ${String(error.params["additionalProperty"])}`
      : error.message ?? "is invalid"
  }))

/** Validating JSON documents against agents' JSON Schemas. */
export class JsonSchemas extends Effect.Service<JsonSchemas>()("@agnt/server/JsonSchemas", {
  sync: () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true })
    addFormats(ajv)
    const cache = new Map<string, ValidateFunction>()

    /**
     * @fails InvalidManifest naming each problem when `schema` is not a valid JSON Schema.
     */
    const checkSchema = (schema: Record<string, unknown>): Effect.Effect<void, InvalidManifest> =>
      Effect.suspend(() => {
        try {
          if (ajv.validateSchema(schema) === true) {
            ajv.compile(schema)
            return Effect.void
          }
          return Effect.fail(new InvalidManifest({ message: "input_schema is not a valid JSON Schema", issues: issuesOf(ajv.errors).map((issue) => ({ ...issue, path: `/input_schema${issue.path === "/" ? "" : issue.path}` })) }))
        } catch (cause) {
          return Effect.fail(new InvalidManifest({ message: `input_schema does not compile: ${String(cause)}`, issues: [] }))
        }
      })

    /**
     * @fails InvalidParams with one issue per failing JSON Pointer (RFC 6901) path.
     */
    const validate = (schema: Record<string, unknown>, params: unknown): Effect.Effect<void, InvalidParams> =>
      Effect.suspend(() => {
        const text = JSON.stringify(schema)
        let check = cache.get(text)
        if (check === undefined) {
          check = ajv.compile(schema)
          cache.set(text, check)
        }
        return check(params) === true
          ? Effect.void
          : Effect.fail(new InvalidParams({ message: "params do not match the agent's input_schema", issues: issuesOf(check.errors) }))
      })

    return { checkSchema, validate } as const
  }
}) {}

/**
 * The order form's JSON Schema validator for react-jsonschema-form, on
 * `@cfworker/json-schema` (draft 2020-12, as the server's Ajv checks it),
 * which interprets schemas rather than compiling them to code: the page's
 * Content-Security-Policy allows no `eval`, which Ajv's compiled
 * validators (`@rjsf/validator-ajv8`) need. The server checks `params`
 * again on `POST /v1/jobs` (400 `InvalidParams`).
 */
import { type OutputUnit, type Schema, Validator } from "@cfworker/json-schema"
import {
  createErrorHandler,
  type CustomValidator,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  toErrorSchema,
  type UiSchema,
  unwrapErrorHandler,
  type ValidationData,
  validationDataMerge,
  type ValidatorType
} from "@rjsf/utils"

/** Keywords whose error only says that one of the errors under it happened (those are reported themselves). */
const wrappers = new Set([
  "properties",
  "items",
  "prefixItems",
  "allOf",
  "$ref",
  "$dynamicRef",
  "patternProperties",
  "dependentSchemas",
  "if",
  "then",
  "else"
])

const missing = /required property "([^"]+)"/

/** The form's dotted path of a JSON Pointer fragment (`#/a/0` → `.a.0`). */
const propertyOf = (instanceLocation: string) =>
  instanceLocation.replace(/^#/, "").split("/").slice(1).map((part) => `.${part.replace(/~1/g, "/").replace(/~0/g, "~")}`).join("")

const titleOf = (schema: RJSFSchema, name: string): string => {
  const property = schema.properties?.[name]
  return typeof property === "object" && typeof property.title === "string" ? property.title : name
}

/** One failing keyword as the form shows it: beside its field, a required property's error beside that property. */
export const toFormError = (schema: RJSFSchema) => (unit: OutputUnit): RJSFValidationError => {
  const absent = unit.keyword === "required" ? missing.exec(unit.error)?.[1] : undefined
  const property = propertyOf(unit.instanceLocation) + (absent === undefined ? "" : `.${absent}`)
  const message = absent === undefined ? unit.error.replace(/^Instance /, "value ") : `${titleOf(schema, absent)} is required`
  return { name: unit.keyword, property, message, stack: message, schemaPath: unit.keywordLocation }
}

/** `schema` as the validator takes it: the JSON Schema object the form library holds is one. */
const asSchema = (schema: RJSFSchema): Schema => Object.fromEntries(Object.entries(schema).filter(([, value]) => value !== undefined))

const validate = (schema: RJSFSchema, data: unknown) => new Validator(asSchema(schema), "2020-12", false).validate(data)

/** The validator the order form gives react-jsonschema-form. */
export const schemaValidator: ValidatorType = {
  validateFormData: (
    formData: unknown,
    schema: RJSFSchema,
    customValidate?: CustomValidator,
    transformErrors?: ErrorTransformer,
    uiSchema?: UiSchema
  ): ValidationData<unknown> => {
    const units = validate(schema, formData ?? {}).errors.filter((unit) => !wrappers.has(unit.keyword))
    const found = units.map(toFormError(schema))
    const errors = transformErrors === undefined ? found : transformErrors(found, uiSchema)
    const data = { errors, errorSchema: toErrorSchema<unknown>(errors) }
    if (customValidate === undefined) return data
    return validationDataMerge(data, unwrapErrorHandler(customValidate(formData, createErrorHandler(formData), uiSchema)))
  },
  isValid: (schema: RJSFSchema, formData: unknown, rootSchema: RJSFSchema) =>
    validate({ ...schema, $defs: rootSchema.$defs, definitions: rootSchema.definitions }, formData).valid,
  // Only react-jsonschema-form's schema parser (`@rjsf/utils/parser`) calls it, and it expects Ajv's errors; the form never does.
  rawValidation: () => ({ validationError: new Error("this validator reports its errors through validateFormData") })
}

import { describe, expect, it } from "@effect/vitest"
import type { RJSFSchema } from "@rjsf/utils"
import { schemaValidator } from "../src/order/SchemaValidator.js"

const schema: RJSFSchema = {
  type: "object",
  properties: {
    style: { type: "string", title: "Style", enum: ["brief", "full"] },
    depth: { type: "integer", title: "Depth", minimum: 1, maximum: 5 }
  },
  required: ["style"]
}

describe("the order form's JSON Schema validator", () => {
  it("a missing required property is an error beside that property, named by its title", () => {
    const { errorSchema, errors } = schemaValidator.validateFormData({ depth: 2 }, schema)
    expect(errors.map((error) => [error.property, error.message])).toEqual([[".style", "Style is required"]])
    expect(errorSchema).toEqual({ style: { __errors: ["Style is required"] } })
  })

  it("a value its schema refuses is an error beside its field; valid params have none", () => {
    const { errors } = schemaValidator.validateFormData({ style: "brief", depth: 9 }, schema)
    expect(errors.map((error) => [error.property, error.name])).toEqual([[".depth", "maximum"]])
    expect(schemaValidator.validateFormData({ style: "full", depth: 2 }, schema).errors).toEqual([])
    expect(schemaValidator.isValid(schema, { style: "full" }, schema)).toBe(true)
    expect(schemaValidator.isValid(schema, { style: "other" }, schema)).toBe(false)
  })
})

/**
 * The order form of an agent: the prompt, a form generated from the agent's
 * `input_schema` (react-jsonschema-form, checked by `SchemaValidator.ts`
 * before anything is sent; the server checks it again), and the files. One idempotency key per
 * filled-in form, so a second click cannot order twice.
 */
import type { Agent } from "@agnt/domain/Agent"
import Form from "@rjsf/core"
import type { RJSFSchema } from "@rjsf/utils"
import { useNavigate } from "@tanstack/react-router"
import { type FormEvent, useRef, useState } from "react"
import { api } from "../Api.js"
import { buttonClass, ErrorBox, inputClass } from "../Ui.js"
import { FilePicker } from "./FilePicker.js"
import { checkFiles, orderBody, type OrderFile } from "./Files.js"
import { schemaValidator } from "./SchemaValidator.js"

const hasParams = (schema: Readonly<Record<string, unknown>>) => Object.keys(schema).length > 0

/**
 * An agent's `input_schema` as the form library takes it: the server
 * accepted it as a JSON Schema when the agent was published
 * (`JsonSchemas.ts`), so every object it holds is one.
 */
const isJsonSchema = (schema: object): schema is RJSFSchema => typeof schema === "object"

const useOrder = (agent: Agent) => {
  const navigate = useNavigate()
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const idempotencyKey = useRef(crypto.randomUUID())
  const order = async (prompt: string, params: unknown, files: ReadonlyArray<OrderFile>) => {
    setBusy(true)
    setError(null)
    try {
      const payload = await orderBody({ agentId: agent.agent_id, prompt, params, files })
      const job = await api((client) => client.jobs.create({ payload, headers: { "idempotency-key": idempotencyKey.current } }))
      await navigate({ to: "/jobs/$jobId", params: { jobId: job.job_id } })
    } catch (failure) {
      setError(failure)
      setBusy(false)
    }
  }
  return { order, error, busy }
}

/** The order form. */
export const OrderForm = ({ agent }: { readonly agent: Agent }) => {
  const { busy, error, order } = useOrder(agent)
  const [prompt, setPrompt] = useState("")
  const [params, setParams] = useState<unknown>({})
  const [files, setFiles] = useState<ReadonlyArray<OrderFile>>([])
  const paramsForm = useRef<Form>(null)
  const [promptMissing, setPromptMissing] = useState(false)
  const [attempted, setAttempted] = useState(false)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setAttempted(true)
    // Every check at once, each message beside its field (the browser's own checks stop at the first).
    const paramsValid = paramsForm.current === null || paramsForm.current.validateForm()
    setPromptMissing(prompt.trim() === "")
    if (paramsValid && prompt.trim() !== "") void order(prompt, params, files)
  }
  const blocked = checkFiles(files).problems.length > 0
  return (
    <form onSubmit={submit} noValidate className="space-y-5" aria-label={`Order ${agent.name}`}>
      <div>
        <label htmlFor="prompt" className="block text-sm font-medium">Prompt</label>
        <textarea
          id="prompt"
          required
          rows={4}
          value={prompt}
          onChange={(event) => setPrompt(event.target.value)}
          className={`${inputClass} mt-1`}
          placeholder="What should the agent do?"
          aria-invalid={promptMissing}
          aria-describedby={promptMissing ? "prompt-error" : undefined}
        />
        {promptMissing ? <p id="prompt-error" className="mt-1 text-sm text-red-800">Write a prompt for the agent.</p> : null}
      </div>
      {hasParams(agent.input_schema) && isJsonSchema(agent.input_schema)
        ? (
          <div className="rjsf rounded-md border border-slate-200 bg-white p-4">
            <Form
              ref={paramsForm}
              tagName="div"
              schema={agent.input_schema}
              validator={schemaValidator}
              formData={params}
              onChange={(change) => setParams(change.formData)}
              showErrorList="top"
              liveValidate={attempted ? "onChange" : false}
              noHtml5Validate
              uiSchema={{ "ui:submitButtonOptions": { norender: true } }}
            />
          </div>
        )
        : null}
      <FilePicker files={files} onChange={setFiles} />
      {error === null ? null : <ErrorBox error={error} />}
      <button type="submit" disabled={busy || blocked} className={buttonClass}>
        {busy ? "Ordering…" : "Order job"}
      </button>
    </form>
  )
}

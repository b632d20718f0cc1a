/**
 * The second baseline of `bench/get.ts`, the framework's floor:
 * `GET /v1/jobs/{id}` as an `HttpApi` of one endpoint served by
 * `HttpApiBuilder` over `NodeHttpServer`, selecting the job with
 * `@effect/sql-pg` (agnt's pool and type parsers, `Database.pgLayer`) and
 * agnt's job columns, decoded into the domain `Job` and encoded back by
 * its schema — what agnt's server does for this request, without
 * authentication, rate limits or agnt's middleware. Tracing is off, as in
 * agnt's server.
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/floorGetServer.ts
 *
 * It listens on a free loopback port and prints `listening <port>`.
 */
import { JobNotFound } from "@agnt/domain/Errors"
import { JobId } from "@agnt/domain/Ids"
import { Job } from "@agnt/domain/Job"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Config, Console, Context, Effect, Layer, Option, Schema } from "effect"
import * as NodeHttp from "node:http"
import { pgLayer } from "../packages/server/src/Database.js"
import { jobColumns } from "../packages/server/src/Jobs/Sql.js"

class FloorGroup extends HttpApiGroup.make("jobs").add(
  HttpApiEndpoint.get("get", "/v1/jobs/:job_id").setPath(Schema.Struct({ job_id: JobId })).addSuccess(Job).addError(JobNotFound)
) {}

class FloorApi extends HttpApi.make("floor").add(FloorGroup) {}

const FloorGroupLive = HttpApiBuilder.group(FloorApi, "jobs", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const findById = SqlSchema.findOne({
      Request: JobId,
      Result: Job,
      execute: (jobId) => sql`SELECT ${sql.literal(jobColumns)} FROM jobs j WHERE j.job_id = ${jobId}`
    })
    return handlers.handle("get", ({ path }) =>
      findById(path.job_id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(JobNotFound.of(path.job_id)), onSome: Effect.succeed }))
      ))
  }))

HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(FloorApi).pipe(Layer.provide(FloorGroupLive))),
  Layer.provide(Layer.unwrapEffect(Effect.map(Config.redacted("DATABASE_URL"), pgLayer))),
  Layer.provideMerge(NodeHttpServer.layer(() => NodeHttp.createServer({ keepAliveTimeout: 60_000 }), { port: 0, host: "127.0.0.1" })),
  Layer.tap((context) => {
    const address = Context.get(context, HttpServer.HttpServer).address
    return Console.log(`listening ${address._tag === "TcpAddress" ? address.port : 0}`)
  }),
  Layer.provide(Layer.setTracerEnabled(false)),
  Layer.launch,
  NodeRuntime.runMain
)

#!/usr/bin/env node
// Development only: the workspace's bin runs the TypeScript sources through tsx, with no build
// step, for the tests (test/Processes.ts) and scripts (npm run demo) of this repository. What a
// user installs never runs this file: `npm run dist` packs the bundles of `npm run build` (and
// `agnt` compiled by Bun) with bins of their own.
import { register } from "tsx/esm/api"

register()
await import("../src/bin.ts")

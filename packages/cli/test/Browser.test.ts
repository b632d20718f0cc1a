import { describe, expect, it } from "@effect/vitest"
import { openerOf } from "../src/Browser.js"

describe("the platform opener of agnt ui", () => {
  it("is xdg-open on Linux, open on macOS, and cmd's start (with an empty window title) on Windows", () => {
    const url = "http://127.0.0.1:8080/sign-in#token=abc"
    expect(openerOf("linux", url)).toEqual({ program: "xdg-open", args: [url] })
    expect(openerOf("freebsd", url)).toEqual({ program: "xdg-open", args: [url] })
    expect(openerOf("darwin", url)).toEqual({ program: "open", args: [url] })
    expect(openerOf("win32", url)).toEqual({ program: "cmd", args: ["/c", "start", "", url] })
  })
})

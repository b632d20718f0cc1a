/**
 * The web app's build: React through esbuild's automatic JSX runtime,
 * Tailwind through its Vite plugin, hashed files under `dist/assets/`
 * (served with a year's immutable cache by the server's `Web.ts`), and a
 * chunk per lazy route. `npm run build` (scripts/build.ts) runs it and
 * prints each chunk's gzipped size.
 */
import tailwindcss from "@tailwindcss/vite"
import { defineConfig } from "vite"

export default defineConfig({
  plugins: [tailwindcss()],
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1000,
    rollupOptions: {
      // React's "use client" marks of TanStack and rjsf mean nothing in a client-only bundle.
      onwarn: (warning, warn) => warning.code === "MODULE_LEVEL_DIRECTIVE" ? undefined : warn(warning)
    }
  },
  server: { proxy: { "/v1": "http://127.0.0.1:8080" } }
})

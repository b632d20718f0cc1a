/** The page of a path that leads nowhere, or of something that does not exist or is not yours. */
import { Link } from "@tanstack/react-router"

/** "Not found", with the server's message when there is one, and the way back. */
export const NotFound = ({ message }: { readonly message?: string }) => (
  <section className="mx-auto max-w-lg py-16 text-center">
    <p className="text-5xl font-bold text-slate-500">404</p>
    <h1 className="mt-2 text-2xl font-semibold">Not found</h1>
    <p className="mt-2 text-slate-700">{message ?? "There is nothing at this address."}</p>
    <Link to="/" search={{ q: undefined, tags: undefined }} className="mt-6 inline-block text-indigo-700 underline">
      Back to the marketplace
    </Link>
  </section>
)

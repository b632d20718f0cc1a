/** A table of jobs: status, agent, created, duration and progress, each job linking to its page. */
import type { Job } from "@agnt/domain/Job"
import { Link } from "@tanstack/react-router"
import { formatDuration, formatTime, ProgressBar, StatusBadge } from "./Ui.js"

/** The jobs table (scrolls sideways on a narrow screen). */
export const JobsTable = ({ jobs, caption = "Jobs" }: { readonly jobs: ReadonlyArray<Job>; readonly caption?: string }) => (
  <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
    <table className="w-full text-left text-sm">
      <caption className="sr-only">{caption}</caption>
      <thead className="bg-slate-50 text-xs text-slate-700 uppercase">
        <tr>
          <th scope="col" className="px-2 py-2 sm:px-3">Job</th>
          <th scope="col" className="px-2 py-2 sm:px-3">Status</th>
          <th scope="col" className="hidden px-2 py-2 sm:px-3 md:table-cell">Agent</th>
          <th scope="col" className="hidden px-2 py-2 sm:px-3 sm:table-cell">Created</th>
          <th scope="col" className="hidden px-2 py-2 sm:px-3 sm:table-cell">Duration</th>
          <th scope="col" className="px-2 py-2 sm:px-3">Progress</th>
        </tr>
      </thead>
      <tbody className="divide-y divide-slate-100">
        {jobs.map((job) => (
          <tr key={job.job_id}>
            <td className="px-2 py-2 sm:px-3">
              <Link to="/jobs/$jobId" params={{ jobId: job.job_id }} className="font-mono text-indigo-800 underline">
                {job.job_id.slice(0, 14)}…
              </Link>
              <p className="max-w-56 truncate text-xs text-slate-600">{job.prompt}</p>
            </td>
            <td className="px-2 py-2 sm:px-3">
              <StatusBadge status={job.status} />
            </td>
            <td className="hidden px-2 py-2 sm:px-3 md:table-cell">
              <Link to="/agents/$agentId" params={{ agentId: job.agent_id }} className="font-mono text-xs text-slate-800 underline">
                {job.agent_id.slice(0, 16)}…
              </Link>
            </td>
            <td className="hidden px-2 py-2 sm:px-3 whitespace-nowrap sm:table-cell">{formatTime(job.created_at)}</td>
            <td className="hidden px-2 py-2 sm:px-3 tabular-nums sm:table-cell">{formatDuration(job.duration_seconds)}</td>
            <td className="px-2 py-2 sm:px-3">
              <ProgressBar value={job.progress} label={`Progress of ${job.job_id}`} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
)

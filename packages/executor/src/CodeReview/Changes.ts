/**
 * A review of what changed: which lines of a file are new or edited compared
 * with its base version, by a line diff (Myers' O((N+M)·D) algorithm, after
 * the common head and tail are set aside). Pure functions, no I/O.
 */

/** Past this many differing lines the diff stops and counts the rest of the middle as changed. */
const maxEdits = 4000

/**
 * Myers' greedy forward search; returns, for each edit distance d, the
 * furthest-reaching x per diagonal, for the backtrack. Undefined when the
 * distance would pass `maxEdits`.
 */
const searchEdits = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): Array<Int32Array> | undefined => {
  const offset = a.length + b.length + 1
  let v = new Int32Array(2 * offset + 1)
  const trace: Array<Int32Array> = []
  for (let d = 0; d <= Math.min(a.length + b.length, maxEdits); d++) {
    trace.push(v.slice())
    const next = v.slice()
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0))
        ? v[offset + k + 1] ?? 0
        : (v[offset + k - 1] ?? 0) + 1
      let y = x - k
      while (x < a.length && y < b.length && a[x] === b[y]) {
        x += 1
        y += 1
      }
      next[offset + k] = x
      if (x >= a.length && y >= b.length) {
        trace.push(next)
        return trace
      }
    }
    v = next
  }
  return undefined
}

/** The indices of `b` matched to a line of `a`, walking the search's trace back. */
const matchedIndices = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, trace: Array<Int32Array>): Set<number> => {
  const offset = a.length + b.length + 1
  const matched = new Set<number>()
  let x = a.length
  let y = b.length
  for (let d = trace.length - 2; d >= 0 && (x > 0 || y > 0); d--) {
    const v = trace[d] ?? new Int32Array(0)
    const k = x - y
    const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0))
    const previousK = down ? k + 1 : k - 1
    const previousX = v[offset + previousK] ?? 0
    const previousY = previousX - previousK
    while (x > previousX && y > previousY) {
      x -= 1
      y -= 1
      matched.add(y)
    }
    x = previousX
    y = previousY
  }
  while (x > 0 && y > 0) {
    x -= 1
    y -= 1
    matched.add(y)
  }
  return matched
}

/**
 * The 1-based numbers of the lines of `after` that are not in `before`
 * (added or edited), by a line diff. Identical texts give an empty set.
 */
export const changedLines = (before: ReadonlyArray<string>, after: ReadonlyArray<string>): Set<number> => {
  let start = 0
  while (start < before.length && start < after.length && before[start] === after[start]) start += 1
  let endBefore = before.length
  let endAfter = after.length
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore -= 1
    endAfter -= 1
  }
  const a = before.slice(start, endBefore)
  const b = after.slice(start, endAfter)
  const trace = searchEdits(a, b)
  const matched = trace === undefined ? new Set<number>() : matchedIndices(a, b, trace)
  const changed = new Set<number>()
  for (let index = 0; index < b.length; index++) {
    if (!matched.has(index)) changed.add(start + index + 1)
  }
  return changed
}

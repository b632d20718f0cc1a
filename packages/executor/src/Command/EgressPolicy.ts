/**
 * The rules of a sandboxed job's network egress, pure: which host names an
 * agent may reach (its allow-list) and which addresses no job may reach
 * whatever name led to them. `EgressProxy.ts` applies them to each request.
 *
 * Names: an allow-list entry is a DNS name (`api.anthropic.com`, matched
 * exactly, case-insensitive, a trailing dot ignored) or a wildcard
 * `*.example.com`, which matches names below `example.com` at any depth
 * (`a.example.com`, `a.b.example.com`) and never `example.com` itself nor
 * `evil-example.com`. IP addresses are not names: a request naming one is
 * refused, and an allow-list entry that is one is an error.
 *
 * Addresses: a name's every resolved address must be public unicast — one
 * private answer refuses the request, so a name cannot mix a public and an
 * internal address to reach the inside. Classification is `ipaddr.js`'s
 * special ranges (IANA's special-purpose registries, RFC 6890):
 * - IPv4: only `unicast`, so refused are 0/8 "this network" and unspecified
 *   (RFC 1122), 127/8 loopback (RFC 1122), 10/8, 172.16/12, 192.168/16
 *   private (RFC 1918), 100.64/10 shared CGNAT (RFC 6598; Alibaba Cloud's
 *   metadata 100.100.100.200 is in it), 169.254/16 link-local (RFC 3927;
 *   the AWS, GCP, Azure, OCI and DigitalOcean metadata 169.254.169.254 and
 *   ECS's 169.254.170.2 are in it), 224/4 multicast (RFC 5771), 240/4 and
 *   255.255.255.255 reserved and broadcast (RFC 1112, RFC 919), and the
 *   documentation, benchmarking and protocol ranges (RFC 5737, RFC 2544,
 *   RFC 6890);
 * - IPv6: only `unicast` inside 2000::/3, the global unicast space (RFC 4291
 *   §2.4, IANA's IPv6 address space), so refused are :: and ::1 (RFC 4291),
 *   ::/96 IPv4-compatible (deprecated, RFC 4291 §2.5.5.1), fc00::/7 unique
 *   local (RFC 4193; AWS's IPv6 metadata fd00:ec2::254 is in it), fe80::/10
 *   link-local and fec0::/10 site-local (RFC 4291, RFC 3879), ff00::/8
 *   multicast, 2001::/23 protocol assignments incl. Teredo (RFC 2928,
 *   RFC 4380), 2001:db8::/32 documentation (RFC 3849), 2002::/16 6to4
 *   (RFC 3056, which embeds any IPv4 address);
 * - IPv4 inside IPv6 is judged as the IPv4 address it carries: ::ffff:0:0/96
 *   mapped (RFC 4291 §2.5.5.2) and 64:ff9b::/96 NAT64 (RFC 6052), so
 *   `::ffff:127.0.0.1` and `64:ff9b::a9fe:a9fe` are refused like 127.0.0.1
 *   and 169.254.169.254, while a DNS64 answer for a public host passes;
 * - metadata services on public addresses: Azure's WireServer 168.63.129.16.
 */
import ipaddr from "ipaddr.js"

/** An allow-list entry: a DNS name, or `*.` and a DNS name for the names below it. */
export interface HostPattern {
  /** The lower-case name without a trailing dot (for a wildcard, the part after `*.`). */
  readonly name: string
  readonly wildcard: boolean
}

/** Why an allow-list entry is not one: `entry` as written, `reason` in one sentence. */
export interface InvalidHostPattern {
  readonly entry: string
  readonly reason: string
}

const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** Lower case, trailing dot removed; `undefined` unless `host` is a DNS name (RFC 1123 labels, ≤ 253 characters). */
export const normalizeHostName = (host: string): string | undefined => {
  const name = host.toLowerCase().replace(/\.$/, "")
  if (name.length === 0 || name.length > 253 || isIpLiteral(name)) return undefined
  return name.split(".").every((part) => label.test(part)) ? name : undefined
}

/**
 * True when `host` is an IP address in any form a resolver or URL parser
 * would take as one: dotted, bracketed IPv6, and the legacy IPv4 forms
 * `inet_aton` takes (`2130706433`, `0x7f.1`, `0177.0.0.1`) — any name whose
 * last label is a number (the WHATWG URL host parser's "ends in a number").
 */
export const isIpLiteral = (host: string): boolean => {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
  const last = bare.replace(/\.$/, "").split(".").pop() ?? ""
  return ipaddr.isValid(bare) || /^(?:0x[0-9a-f]*|[0-9]+)$/i.test(last)
}

/** Parse one allow-list entry (see the module comment). */
export const parseHostPattern = (entry: string): HostPattern | InvalidHostPattern => {
  const wildcard = entry.startsWith("*.")
  const rest = wildcard ? entry.slice(2) : entry
  if (isIpLiteral(rest)) return { entry, reason: "an IP address is not a host name; list the name the program uses" }
  const name = normalizeHostName(rest)
  if (name === undefined) {
    return { entry, reason: "not a DNS name (letters, digits and hyphens in dot-separated labels, or *. and such a name)" }
  }
  return { name, wildcard }
}

/** True when `host` (already normalized) matches `pattern`: exactly, or strictly below a wildcard's name. */
export const matchesPattern = (host: string, pattern: HostPattern): boolean =>
  pattern.wildcard ? host.endsWith(`.${pattern.name}`) : host === pattern.name

/** Addresses outside every special range that still reach a cloud's metadata or platform service. */
const metadataAddresses: ReadonlyArray<string> = ["168.63.129.16"]

const globalUnicast = ipaddr.IPv6.parseCIDR("2000::/3")
const nat64 = ipaddr.IPv6.parseCIDR("64:ff9b::/96")

const ipv4Refusal = (address: ipaddr.IPv4): string | undefined => {
  if (metadataAddresses.includes(address.toString())) return "cloud metadata"
  const range = address.range()
  return range === "unicast" ? undefined : range
}

/**
 * Why no job may connect to `address` (the range's name, e.g. `loopback`,
 * `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`, `cloud metadata`),
 * or `undefined` when it is public unicast. An unparsable address is refused.
 */
export const addressRefusal = (address: string): string | undefined => {
  if (!ipaddr.isValid(address)) return "not an IP address"
  const parsed = ipaddr.parse(address)
  if (parsed.kind() === "ipv4") return ipv4Refusal(ipaddr.IPv4.parse(address))
  const ipv6 = ipaddr.IPv6.parse(address)
  if (ipv6.isIPv4MappedAddress()) return ipv4Refusal(ipv6.toIPv4Address())
  if (ipv6.match(nat64)) return ipv4Refusal(ipaddr.IPv4.parse(ipv6.parts.slice(6).flatMap((part) => [part >> 8, part & 0xff]).join(".")))
  const range = ipv6.range()
  if (range !== "unicast") return range
  return ipv6.match(globalUnicast) ? undefined : "not global unicast"
}

/** NOVALA_ALLOWED_HOSTS: the hosts a key may be sent to, and the check of each URL. */
import { HostNotAllowedError } from "./errors.js";

/** NOVALA_ALLOWED_HOSTS when it is unset: any tenant of novala.ai, over https on port 443. */
export const DEFAULT_ALLOWED_HOSTS = "*.novala.ai";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);
const HTTPS_PORT = "443";

interface HostPattern {
  wildcardSuffix?: string;
  host?: string;
  port?: string;
}

/**
 * The hosts a key may be sent to, from NOVALA_ALLOWED_HOSTS: comma-separated host patterns (their grammar is checked by
 * parseAllowedHosts, lambdas/contract/environment.ts). `*.novala.ai` matches exactly one label in front of
 * `.novala.ai` (a tenant); any other pattern matches its host exactly. A pattern may end in `:port`. Keys go over
 * https to a matching host, on port 443 unless the pattern names another port; plain http only to a loopback host
 * listed exactly (local runs and tests), on the port the pattern names or, without one, any port (a simulator listens
 * on a free port).
 *
 * @example
 * const hosts = new AllowedHosts("*.novala.ai,127.0.0.1");
 * hosts.isAllowed("https://acme.novala.ai"); // true
 * hosts.check("https://evil.example"); // throws HostNotAllowedError
 */
export class AllowedHosts {
  private readonly patterns: HostPattern[];

  constructor(readonly spec: string) {
    this.patterns = spec
      .split(",")
      .map((part) => part.trim().toLowerCase())
      .filter((part) => part.length > 0)
      .map(parsePattern);
  }

  /** Throws HostNotAllowedError unless a key may be sent to `url`. Returns the parsed URL. */
  check(url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new HostNotAllowedError("baseUrl is not a valid URL");
    }
    const host = unbracket(parsed.hostname.toLowerCase());
    const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
    if (parsed.username || parsed.password) {
      throw new HostNotAllowedError(`URL for ${host} must not carry credentials`);
    }
    if (parsed.protocol === "https:") {
      // A pattern without a port means the https default: `*.novala.ai` must not reach some other service's port.
      if (this.patterns.some((pattern) => matches(pattern, host, port, HTTPS_PORT))) return parsed;
      throw new HostNotAllowedError(
        `host ${host} port ${port} is not in NOVALA_ALLOWED_HOSTS (${this.spec}); a pattern without a port allows ${HTTPS_PORT} only`,
      );
    }
    if (parsed.protocol === "http:") {
      const listedExactly = this.patterns.some(
        (pattern) => pattern.host === host && matches(pattern, host, port, undefined),
      );
      if (LOOPBACK_HOSTS.has(host) && listedExactly) return parsed;
      throw new HostNotAllowedError(
        `plain http is allowed only to a loopback host listed exactly in NOVALA_ALLOWED_HOSTS, not to ${host}`,
      );
    }
    throw new HostNotAllowedError(`protocol ${parsed.protocol} is not allowed for ${host}`);
  }

  isAllowed(url: string): boolean {
    try {
      this.check(url);
      return true;
    } catch {
      return false;
    }
  }
}

function parsePattern(raw: string): HostPattern {
  const bracketed = raw.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (bracketed) return { host: bracketed[1], port: canonicalPort(bracketed[2]) };
  const colons = raw.split(":").length - 1;
  // A bare IPv6 address has several colons and no port.
  const [host, rawPort] = colons === 1 ? (raw.split(":") as [string, string]) : [raw, undefined];
  const port = canonicalPort(rawPort);
  if (host.startsWith("*.")) return { wildcardSuffix: host.slice(1), port };
  return { host, port };
}

/** `defaultPort`: the only port a pattern without one allows; undefined allows any. */
function matches(pattern: HostPattern, host: string, port: string, defaultPort: string | undefined): boolean {
  const allowedPort = pattern.port ?? defaultPort;
  if (allowedPort !== undefined && allowedPort !== port) return false;
  if (pattern.host !== undefined) return pattern.host === host;
  const suffix = pattern.wildcardSuffix ?? "";
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label);
}

/** "0443" → "443", as URL writes a port. */
function canonicalPort(port: string | undefined): string | undefined {
  return port === undefined || port === "" ? undefined : String(Number(port));
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

import { HostNotAllowedError } from "./errors.js";

/**
 * NOVALA_ALLOWED_HOSTS: comma-separated host patterns. `*.novala.ai` matches exactly one label in front of
 * `.novala.ai` (a tenant); any other pattern matches its host exactly. A pattern may end in `:port`.
 * Keys go over https to a matching host; plain http only to a loopback host listed exactly (local runs and tests).
 */
export const DEFAULT_ALLOWED_HOSTS = "*.novala.ai";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

interface HostPattern {
  wildcardSuffix?: string;
  host?: string;
  port?: string;
}

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
      if (this.patterns.some((pattern) => matches(pattern, host, port))) return parsed;
      throw new HostNotAllowedError(`host ${host} is not in NOVALA_ALLOWED_HOSTS (${this.spec})`);
    }
    if (parsed.protocol === "http:") {
      const listedExactly = this.patterns.some((pattern) => pattern.host === host && matches(pattern, host, port));
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
  if (bracketed) return { host: bracketed[1], port: bracketed[2] };
  const colons = raw.split(":").length - 1;
  // A bare IPv6 address has several colons and no port.
  const [host, port] = colons === 1 ? (raw.split(":") as [string, string]) : [raw, undefined];
  if (host.startsWith("*.")) return { wildcardSuffix: host.slice(1), port };
  return { host, port };
}

function matches(pattern: HostPattern, host: string, port: string): boolean {
  if (pattern.port && pattern.port !== port) return false;
  if (pattern.host !== undefined) return pattern.host === host;
  const suffix = pattern.wildcardSuffix ?? "";
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label);
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
